/*
 * group.c -- a group as a setting names it: by number or by name.
 */
#include "group.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* Long enough for any group entry /etc/group holds; a longer one is looked up again. */
#define GROUP_BUF 4096
#define GROUP_BUF_MAX (1 << 20)

/* The highest gid a setting may give: (gid_t)-1 means "leave the group" to chown(2). */
#define GID_MAX 2147483646UL

int fcw_group_id(const char *text, gid_t *gid) {
    if (text == NULL || text[0] == '\0') return -EINVAL;
    if (strspn(text, "0123456789") == strlen(text)) {
        if (strlen(text) > 10) return -EINVAL;
        unsigned long n = strtoul(text, NULL, 10);
        if (n > GID_MAX) return -EINVAL;
        *gid = (gid_t)n;
        return 0;
    }
    int rc = -ENOENT;
    for (size_t len = GROUP_BUF; len <= GROUP_BUF_MAX; len *= 4) {
        char *buf = malloc(len);
        if (buf == NULL) return -ENOMEM;
        struct group g, *found = NULL;
        int e = getgrnam_r(text, &g, buf, len, &found);
        if (e == 0 && found != NULL) *gid = g.gr_gid;
        free(buf);
        if (e == ERANGE) continue;
        rc = e != 0 ? -e : found != NULL ? 0 : -ENOENT;
        break;
    }
    return rc;
}

const char *fcw_group_strerror(int rc) {
    if (rc == -EINVAL) return "expected a group name or number";
    if (rc == -ENOENT) return "no such group";
    return fcw_strerror(rc);
}
