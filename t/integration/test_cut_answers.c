/*
 * test_cut_answers.c -- an answer that breaks off after it started streaming
 * must reach the client as a broken one: the connection closes before its
 * framing ends (short of its Content-Length, or without the last chunk),
 * and the End line carries the function error. The handler's own
 * Content-Length goes through, so a client sees how much is missing. Exec
 * programs (t/fixtures/exec/half-length.sh, slow-stream.sh) and an HTTP
 * [app] (t/fixtures/app/cut.py), through the real nginx and fcworker; whole
 * answers stay whole on a kept connection.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char tmp[256];          /* this run's scratch directory, removed by main */
static char marker[300];       /* FCW_CUT_TEST=tmp: in the environment of all we start */
static const proc_mark MARK = {marker, tmp, 0};
static rt R;

static void up(void) {
    static const char *const env[] = {"FCWORKER_INVOKE_TIMEOUT=30", NULL};
    char text[2048];
    int app_port = free_port();
    snprintf(text, sizeof text,
             "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
             "[invoke]\nhandler = app\n"
             "[route /exec-half/]\nhandler = exec:%s\ntimeout = 30\n"
             "[route /exec-slow/]\nhandler = exec:%s\ntimeout = 2\n",
             fixture_path("app", "cut.py"), app_port, exec_fixture("half-length.sh"),
             exec_fixture("slow-stream.sh"));
    rt_start_marked(&R, &MARK, "cut", text, env);
}

static void down(void) { rt_stop_marked(&R, &MARK); }

/* GET path with request id id: the answer as the client's connection saw it. */
static void get(const char *path, const char *id, http_framing *f) {
    char hdr[128];
    snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
    ck_assert_msg(http_get_framing(R.port, path, hdr, 20000, f) == 0,
                  "GET %s: neither a whole answer nor a closed connection within 20 s", path);
}

/*
 * Started as 200, then cut: the client cannot take it for a whole answer.
 * When the break reaches nginx with the answer's first bytes, nginx closes
 * the connection before the head has gone out: no answer at all, which no
 * client takes for a whole one either.
 */
static void assert_cut(const http_framing *f, const char *path) {
    ck_assert_msg(f->status == 200 || f->status == 0, "GET %s: status %d:\n%s", path,
                  f->status, f->head);
    ck_assert_msg(!f->whole && f->closed,
                  "GET %s: the client got a complete answer (%zu body bytes, Content-Length "
                  "%lld, chunked %d) for one that broke off:\n%s",
                  path, f->body_len, f->declared, f->chunked, f->head);
}

static void assert_failed_end(const char *id) {
    char line[256];
    snprintf(line, sizeof line, "FC Invoke End RequestId: %s" FAILED_END, id);
    ck_assert_msg(wait_for_count(R.out_path, line, 1, 10000) == 1, "no failed End line for %s",
                  id);
}

/* The runtime answers the next request as usual: the cut broke nothing else. */
static void assert_still_serves(void) {
    http_framing f;
    get("/ok", "cut-after", &f);
    ck_assert_msg(f.whole && f.status == 200, "after a cut answer: status %d, whole %d:\n%s",
                  f.status, f.whole, f.head);
    http_framing_free(&f);
}

START_TEST(exec_half_content_length_then_exit_1) {
    http_framing f;
    get("/exec-half/", "cut-exec-half", &f);
    assert_cut(&f, "/exec-half/");
    ck_assert_msg(f.declared == 400000, "the program's Content-Length: 400000 did not reach the "
                  "client:\n%s", f.head);
    ck_assert_uint_lt(f.body_len, 400000);
    http_framing_free(&f);
    assert_failed_end("cut-exec-half");
    assert_in_file(R.err_path, "half-length.sh exited with status 1 after writing its response");
    assert_still_serves();
}
END_TEST

START_TEST(exec_whole_content_length_passes_through) {
    http_framing f;
    get("/exec-half/?whole", "cut-exec-whole", &f);
    ck_assert_int_eq(f.status, 200);
    ck_assert_msg(f.whole && f.declared == 400000 && f.body_len == 400000 && !f.chunked,
                  "whole %d, Content-Length %lld, %zu bytes, chunked %d:\n%s", f.whole,
                  f.declared, f.body_len, f.chunked, f.head);
    http_framing_free(&f);
}
END_TEST

START_TEST(exec_timeout_mid_stream) {
    http_framing f;
    get("/exec-slow/", "cut-exec-slow", &f);
    assert_cut(&f, "/exec-slow/");
    ck_assert_msg(f.chunked, "expected a streamed (chunked) answer:\n%s", f.head);
    http_framing_free(&f);
    assert_failed_end("cut-exec-slow");
    assert_in_file(R.err_path, "slow-stream.sh: timed out after 2 s");
    assert_still_serves();
}
END_TEST

START_TEST(app_declared_length_cut) {
    http_framing f;
    get("/declared-cut", "cut-app-declared", &f);
    assert_cut(&f, "/declared-cut");
    ck_assert_msg(f.declared == 2000000, "the app's Content-Length: 2000000 did not reach the "
                  "client:\n%s", f.head);
    ck_assert_uint_lt(f.body_len, 2000000);
    http_framing_free(&f);
    assert_failed_end("cut-app-declared");
    assert_still_serves();
}
END_TEST

START_TEST(app_chunked_without_last_chunk) {
    http_framing f;
    get("/chunked-cut", "cut-app-chunked", &f);
    assert_cut(&f, "/chunked-cut");
    http_framing_free(&f);
    assert_failed_end("cut-app-chunked");
    assert_still_serves();
}
END_TEST

START_TEST(app_whole_content_length_passes_through) {
    http_framing f;
    get("/declared-whole", "cut-app-whole", &f);
    ck_assert_int_eq(f.status, 200);
    ck_assert_msg(f.whole && f.declared == 2000000 && f.body_len == 2000000,
                  "whole %d, Content-Length %lld, %zu bytes:\n%s", f.whole, f.declared,
                  f.body_len, f.head);
    http_framing_free(&f);
}
END_TEST

static Suite *make_suite(void) {
    snprintf(marker, sizeof marker, "FCW_CUT_TEST=%s", tmp);
    Suite *s = suite_create("cut_answers");
    TCase *tc = tcase_create("cut");
    tcase_add_unchecked_fixture(tc, up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, exec_half_content_length_then_exit_1);
    tcase_add_test(tc, exec_whole_content_length_passes_through);
    tcase_add_test(tc, exec_timeout_mid_stream);
    tcase_add_test(tc, app_declared_length_cut);
    tcase_add_test(tc, app_chunked_without_last_chunk);
    tcase_add_test(tc, app_whole_content_length_passes_through);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    int rc = run_suite_in_tmp_dir(make_suite, tmp, sizeof tmp, "/tmp/fcw-cut-test-XXXXXX");
    marked_processes(&MARK, NULL, 0, SIGKILL);
    return rc;
}
