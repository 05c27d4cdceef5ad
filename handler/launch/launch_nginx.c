/*
 * launch_nginx.c -- nginx for the launcher: its configuration rendered from
 * the template (conf/nginx.conf's @PORT@, @RUN_DIR@, @LISTEN_V6@, @USER@),
 * the one it starts on while an app starts, its start, and the signs that
 * it has read its configuration and that it listens.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "launch.h"

/* The whole file as a string, or NULL with errno set. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "re");
    if (f == NULL) return NULL;
    size_t cap = 8192, len = 0;
    char *text = malloc(cap);
    size_t n;
    while (text != NULL && (n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *more = realloc(text, cap *= 2);
            if (more == NULL) free(text);
            text = more;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (text == NULL || failed) {
        free(text);
        if (failed) errno = EIO;
        return NULL;
    }
    text[len] = '\0';
    return text;
}

int fcw_launch_render_nginx(fcw_launch *l) {
    char port[8], listen_v6[64] = "";
    snprintf(port, sizeof port, "%d", l->port);
    /* IPv6 as well, where the kernel has it (a container may not). */
    if (access("/proc/net/if_inet6", F_OK) == 0)
        snprintf(listen_v6, sizeof listen_v6, "listen [::]:%d default_server backlog=4096;",
                 l->port);
    const char *const marks[][2] = {
        {"@PORT@", port},
        {"@RUN_DIR@", l->run_dir},
        {"@LISTEN_V6@", listen_v6},
        {"@USER@", l->user_line},
    };
    char *text = read_text(l->template_path);
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = text != NULL ? open_memstream(&out, &out_len) : NULL;
    if (f == NULL) {
        fcw_launch_say("cannot read %s: %s", l->template_path, fcw_strerror(fcw_errno()));
        free(text);
        return -1;
    }
    for (const char *p = text; *p != '\0';) {
        size_t i, n = sizeof marks / sizeof marks[0];
        for (i = 0; i < n; i++)
            if (strncmp(p, marks[i][0], strlen(marks[i][0])) == 0) break;
        if (i < n) {
            fputs(marks[i][1], f);
            p += strlen(marks[i][0]);
        } else {
            fputc(*p++, f);
        }
    }
    free(text);
    if (fclose(f) != 0 || out == NULL) {
        fcw_launch_say("out of memory rendering %s", l->template_path);
        free(out);
        return -1;
    }
    l->conf = out;
    return 0;
}

int fcw_launch_write_nginx(const fcw_launch *l, const char *text) {
    size_t len = strlen(text), done = 0;
    int fd = open(l->nginx_conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    while (fd >= 0 && done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
    }
    if (fd < 0 || done < len || close(fd) != 0) {
        fcw_launch_say("cannot write %s: %s", l->nginx_conf, fcw_strerror(fcw_errno()));
        if (fd >= 0) close(fd);
        return -1;
    }
    return 0;
}

int fcw_launch_write_nginx_idle(const fcw_launch *l) {
    char text[PATH_MAX + 512];
    int n = snprintf(text, sizeof text, "%s\npid %s;\nerror_log stderr warn;\n"
                     "events { worker_connections 16; }\n", l->user_line, l->nginx_pid_file);
    if (n < 0 || (size_t)n >= sizeof text) {
        fcw_launch_say("cannot write %s: too long a path", l->nginx_conf);
        return -1;
    }
    return fcw_launch_write_nginx(l, text);
}

int fcw_launch_start_nginx(fcw_launch *l) {
    char *argv[] = {(char *)l->nginx, "-p", (char *)l->run_dir, "-c", l->nginx_conf, "-e",
                    "stderr", "-g", "daemon off;", NULL};
    pid_t pid = fcw_launch_spawn(argv, 0);
    if (pid < 0) {
        fcw_launch_say("cannot start %s: %s", l->nginx, fcw_strerror(pid));
        return -1;
    }
    l->nginx_pid = pid;
    l->nginx_status = -1;
    return 0;
}

/*
 * nginx writes its pid file after setting its signal handlers, before it
 * forks the workers that accept.
 */
bool fcw_launch_nginx_has_handlers(const fcw_launch *l) {
    FILE *f = fopen(l->nginx_pid_file, "re");
    long pid = 0;
    if (f == NULL) return false;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    return got == 1 && l->nginx_pid > 0 && pid == (long)l->nginx_pid;
}

bool fcw_launch_port_accepts(int port) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool yes = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return yes;
}
