/*
 * program.c -- find a program on PATH, check it and its #! interpreter.
 */
#include "program.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int executable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The first executable name in PATH's directories, malloc'd, or NULL. */
static char *search_path(const char *name) {
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    if (path == NULL || path[0] == '\0') path = DEFAULT_PATH;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        /* An empty PATH entry is the working directory, as for execvp. */
        int len = n == 0 ? snprintf(buf, sizeof buf, "./%s", name)
                         : snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, name);
        if (len > 0 && (size_t)len < sizeof buf && executable_file(buf)) return strdup(buf);
        p += n;
        if (*p == ':') p++;
    }
    return NULL;
}

char *fcw_program_find(const char *name, const char *dir, char *err, size_t errlen) {
    char *path = NULL;
    if (strchr(name, '/') == NULL) {
        path = search_path(name);
        if (path == NULL)
            snprintf(err, errlen, "program '%s' is not on PATH (%s): install it or give its "
                     "absolute path", name, getenv("PATH") ? getenv("PATH") : DEFAULT_PATH);
        return path;
    }
    if (name[0] == '/' || dir == NULL) path = strdup(name);
    else if (asprintf(&path, "%s/%s", dir, name) < 0) path = NULL;
    if (path == NULL) snprintf(err, errlen, "out of memory");
    return path;
}

/*
 * The interpreter line of a script: "#!/usr/bin/env python3" gives
 * interp "/usr/bin/env" and arg "python3". Returns 1 for a script, 0 for
 * anything else (an ELF binary).
 */
static int read_shebang(const char *path, char *interp, size_t ilen, char *arg, size_t alen) {
    char line[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n < 3 || line[0] != '#' || line[1] != '!') return 0;
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
    return 1;
}

int fcw_program_check(const char *path, char *err, size_t errlen) {
    struct stat st;
    char interp[256], arg[256];

    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "program %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "program %s is not a regular file (%s)", path,
                 S_ISDIR(st.st_mode) ? "a directory" : "a device, socket or pipe");
        return -1;
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
        return -1;
    }
    if (!read_shebang(path, interp, sizeof interp, arg, sizeof arg)) return 0;
    if (interp[0] == '\0' || !executable_file(interp)) {
        snprintf(err, errlen, "program %s: its #! interpreter '%s' is missing or not "
                 "executable: install it, or change the script's first line", path, interp);
        return -1;
    }
    const char *base = strrchr(interp, '/');
    base = base ? base + 1 : interp;
    if (strcmp(base, "env") == 0 && arg[0] != '\0' && strchr(arg, '=') == NULL) {
        char *found = strchr(arg, '/') ? (executable_file(arg) ? strdup(arg) : NULL)
                                       : search_path(arg);
        if (found == NULL) {
            snprintf(err, errlen, "program %s: its #! line runs '%s', which is not on PATH: "
                     "install it (in the image too), or change the script's first line",
                     path, arg);
            return -1;
        }
        free(found);
    }
    return 0;
}
