/*
 * http_assert.c -- what an answer from the runtime must hold, asserted: a
 * header's value, how often a header comes, and how FC sees an invocation end.
 */
#include "http_assert.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "file_text.h"

void assert_header(const http_resp *r, const char *name, const char *want) {
    char v[512];
    ck_assert_msg(http_header(r, name, v, sizeof v) != NULL, "no %s header in:\n%s", name,
                  r->head);
    ck_assert_msg(strcmp(v, want) == 0, "%s: '%s', expected '%s' in:\n%s", name, v, want,
                  r->head);
}

int header_count(const http_resp *r, const char *name) {
    int n = 0;
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2] != '\r' && p[2] != '\0';
         p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') n++;
    return n;
}

/* The status, x-fc-status once with fc_status, and end_line in run's stdout. */
static void assert_invocation_end(const rt *run, const http_resp *r, int status,
                                  const char *fc_status, const char *end_line) {
    ck_assert_msg(r->status == status, "status %d, expected %d:\n%s%s", r->status, status,
                  r->head, r->body);
    ck_assert_msg(header_count(r, "x-fc-status") == 1, "x-fc-status not exactly once:\n%s",
                  r->head);
    assert_header(r, "x-fc-status", fc_status);
    assert_in_file(run->out_path, end_line);
}

void assert_function_error(const rt *run, const http_resp *r, int status, const char *id) {
    char line[256];
    snprintf(line, sizeof line, "FC Invoke End RequestId: %s" FAILED_END, id);
    assert_invocation_end(run, r, status, "404", line);
}

void assert_function_success(const rt *run, const http_resp *r, int status, const char *id) {
    char line[256];
    snprintf(line, sizeof line, "FC Invoke End RequestId: %s\n", id);
    assert_invocation_end(run, r, status, "200", line);
}
