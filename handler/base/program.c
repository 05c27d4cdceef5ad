/*
 * program.c -- find a program on PATH, check it and its #! interpreter.
 */
#include "program.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static bool executable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The first executable name in PATH's directories, malloc'd into *out: 0, -ENOENT, -ENOMEM. */
static int search_path(const char *name, char **out) {
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    if (path == NULL || path[0] == '\0') path = DEFAULT_PATH;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        /* An empty PATH entry is the working directory, as for execvp. */
        int len = n == 0 ? snprintf(buf, sizeof buf, "./%s", name)
                         : snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, name);
        if (len > 0 && (size_t)len < sizeof buf && executable_file(buf))
            return (*out = strdup(buf)) != NULL ? 0 : -ENOMEM;
        p += n;
        if (*p == ':') p++;
    }
    return -ENOENT;
}

int fcw_program_find(const char *name, const char *dir, char **out, char *err, size_t errlen) {
    *out = NULL;
    if (strchr(name, '/') == NULL) {
        int rc = search_path(name, out);
        if (rc == -ENOENT)
            snprintf(err, errlen, "program '%s' is not on PATH (%s): install it or give its "
                     "absolute path", name, getenv("PATH") ? getenv("PATH") : DEFAULT_PATH);
        else if (rc < 0)
            snprintf(err, errlen, "out of memory");
        return rc;
    }
    if (name[0] == '/' || dir == NULL) *out = strdup(name);
    else if (asprintf(out, "%s/%s", dir, name) < 0) *out = NULL;
    if (*out != NULL) return 0;
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

/*
 * The interpreter line of a script: "#!/usr/bin/env python3" gives
 * interp "/usr/bin/env" and arg "python3". True for a script, false for
 * anything else (an ELF binary).
 */
static bool read_shebang(const char *path, char *interp, size_t ilen, char *arg, size_t alen) {
    char line[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n < 3 || line[0] != '#' || line[1] != '!') return false;
    line[n] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    char *p = line + 2 + strspn(line + 2, " \t");
    size_t i = strcspn(p, " \t");
    snprintf(interp, ilen, "%.*s", (int)i, p);
    p += i;
    p += strspn(p, " \t");
    /* env's own options (-S, -i) come before the program it runs. */
    while (*p == '-') {
        p += strcspn(p, " \t");
        p += strspn(p, " \t");
    }
    snprintf(arg, alen, "%.*s", (int)strcspn(p, " \t"), p);
    return true;
}

int fcw_program_check(const char *path, char *err, size_t errlen) {
    struct stat st;
    char interp[256], arg[256];

    if (stat(path, &st) != 0) {
        int e = fcw_errno();
        snprintf(err, errlen, "program %s: %s", path, fcw_strerror(e));
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "program %s is not a regular file (%s)", path,
                 S_ISDIR(st.st_mode) ? "a directory" : "a device, socket or pipe");
        return -EINVAL;
    }
    if (access(path, X_OK) != 0) {
        /* The mode may allow it and the user still not be one it allows. */
        if (st.st_mode & 0111)
            snprintf(err, errlen, "program %s (mode %04o, owner uid %u) is not executable "
                     "by uid %u: change its owner or group, or its mode",
                     path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                     (unsigned)geteuid());
        else
            snprintf(err, errlen, "program %s is not executable (mode %04o): chmod +x it",
                     path, (unsigned)(st.st_mode & 07777));
        return -EACCES;
    }
    if (!read_shebang(path, interp, sizeof interp, arg, sizeof arg)) return 0;
    if (interp[0] == '\0' || !executable_file(interp)) {
        snprintf(err, errlen, "program %s: its #! interpreter '%s' is missing or not "
                 "executable: install it, or change the script's first line", path, interp);
        return -ENOENT;
    }
    const char *base = strrchr(interp, '/');
    base = base ? base + 1 : interp;
    if (strcmp(base, "env") == 0 && arg[0] != '\0' && strchr(arg, '=') == NULL) {
        char *found = NULL;
        int rc = strchr(arg, '/') ? (executable_file(arg) ? 0 : -ENOENT) : search_path(arg, &found);
        free(found);
        if (rc == -ENOENT)
            snprintf(err, errlen, "program %s: its #! line runs '%s', which is not on PATH: "
                     "install it (in the image too), or change the script's first line",
                     path, arg);
        else if (rc < 0)
            snprintf(err, errlen, "out of memory");
        if (rc < 0) return rc;
    }
    return 0;
}
