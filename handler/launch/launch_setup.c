/*
 * launch_setup.c -- the launcher's settings, from the environment, and what
 * must hold before it starts anything: a port nobody holds, the programs,
 * a run directory of this user's that no running worker uses.
 *
 * Environment: PORT or FC_CUSTOM_LISTEN_PORT (default 9000), FCWORKER_RUN_DIR
 * (default /tmp/fcworker-PORT: two runtimes on two ports never share a
 * socket; made by the worker when missing), FCWORKER_BIN (default: fcworker
 * beside this program), NGINX_CONF (the template, default
 * ../conf/nginx.conf from this program, else ../share/fcworker/nginx.conf
 * as make install lays it out), NGINX_BIN, NGINX_USER (as root,
 * default www-data), NGINX_RELOAD_TIMEOUT (seconds nginx may take to listen
 * once reloaded, default 10), and every FCWORKER_* variable fcworker reads.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "launch.h"

#define DEFAULT_PORT 9000
#define DEFAULT_RELOAD_TIMEOUT_S 10

/* The variable's value, or NULL when it is unset or empty. */
static const char *env(const char *name) {
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* A copy of dir/name, or dies. */
static char *path_join(const char *dir, const char *name) {
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0) fcw_launch_die("out of memory");
    return p;
}

/* The directory this program is in: the worker is beside it, conf/ one up. */
static const char *own_dir(void) {
    static char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0) return ".";
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash != NULL) *slash = '\0';
    return dir;
}

/* The template beside a checkout's build/ (../conf), else where make install puts it. */
static const char *default_template(const char *dir) {
    char *in_checkout = path_join(dir, "../conf/nginx.conf");
    if (access(in_checkout, F_OK) == 0) return in_checkout;
    free(in_checkout);
    return path_join(dir, "../share/fcworker/nginx.conf");
}

/* Whole digits only, from 1 to max: the value, or 0. */
static unsigned long whole_number(const char *v, size_t max_digits, unsigned long max) {
    size_t len = strlen(v);
    if (len == 0 || len > max_digits || strspn(v, "0123456789") != len) return 0;
    unsigned long n = strtoul(v, NULL, 10);
    return n <= max ? n : 0;
}

/* NGINX_BIN, else nginx on PATH, else /usr/sbin/nginx. */
static const char *find_nginx(void) {
    const char *set = env("NGINX_BIN");
    if (set != NULL) return set;
    const char *path = env("PATH");
    char dir[PATH_MAX];
    while (path != NULL) {
        const char *colon = strchr(path, ':');
        size_t len = colon != NULL ? (size_t)(colon - path) : strlen(path);
        if (len > 0 && len < sizeof dir - 7) {
            memcpy(dir, path, len);
            memcpy(dir + len, "/nginx", 7);
            if (access(dir, X_OK) == 0) return strdup(dir);
        }
        path = colon != NULL ? colon + 1 : NULL;
    }
    return "/usr/sbin/nginx";
}

/*
 * As root (local runs, CI), nginx's workers drop to an unprivileged user,
 * which must reach the socket through its group: the worker gives the socket
 * that group (FCWORKER_SOCKET_GROUP), and the run directory too when it
 * makes it. In the image both run as one user. The group, or (gid_t)-1.
 */
static gid_t nginx_group(fcw_launch *l) {
    if (geteuid() != 0) return (gid_t)-1;
    const char *user = env("NGINX_USER");
    if (user == NULL) user = "www-data";
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) fcw_launch_die("NGINX_USER=%s: no such user", user);
    struct group *gr = getgrgid(pw->pw_gid);
    if (gr == NULL)
        fcw_launch_die("NGINX_USER=%s: its primary group %u has no name for nginx's user "
                       "directive", user, (unsigned)pw->pw_gid);
    int n = snprintf(l->user_line, sizeof l->user_line, "user %s %s;", user, gr->gr_name);
    if (n < 0 || (size_t)n >= sizeof l->user_line)
        fcw_launch_die("NGINX_USER=%s: the user's or group's name is too long", user);
    char gid[24];
    snprintf(gid, sizeof gid, "%u", (unsigned)pw->pw_gid);
    setenv("FCWORKER_SOCKET_GROUP", gid, 1);
    return pw->pw_gid;
}

/*
 * A missing run directory (a cold start) is the worker's to make once it has
 * read its configuration. One that is there already is set up the same way
 * here (an earlier run left it, or someone made it for this one), but only
 * if it is this user's: a directory anyone could have made in /tmp may not
 * be trusted with the socket.
 */
static void check_run_dir(const fcw_launch *l, gid_t group) {
    struct stat st;
    if (lstat(l->run_dir, &st) != 0) return;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
        fcw_launch_die("%s is not a directory of this user's (uid %u): remove it, or set "
                       "FCWORKER_RUN_DIR", l->run_dir, (unsigned)geteuid());
    if (chmod(l->run_dir, 0750) != 0 ||
        (group != (gid_t)-1 && chown(l->run_dir, (uid_t)-1, group) != 0))
        fcw_launch_die("cannot set up run directory %s: %s", l->run_dir,
                       fcw_strerror(fcw_errno()));
}

/*
 * A live worker's socket is never removed; one left by an earlier run would
 * look like this worker listening.
 */
static void check_no_worker_runs(const fcw_launch *l) {
    FILE *f = fopen(l->pid_file, "r");
    if (f == NULL) return;
    long pid = 0;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    if (got == 1 && pid > 0) {
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/%ld/comm", pid);
        FILE *c = fopen(path, "r");
        if (c != NULL) {
            if (fgets(comm, sizeof comm, c) == NULL) comm[0] = '\0';
            fclose(c);
        }
        if (strcmp(comm, "fcworker\n") == 0)
            fcw_launch_die("%s is in use by a running fcworker (pid %ld): set FCWORKER_RUN_DIR "
                           "or PORT", l->run_dir, pid);
    }
}

static void set_path(char *dst, const char *dir, const char *name) {
    if ((size_t)snprintf(dst, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
        fcw_launch_die("FCWORKER_RUN_DIR=%s: too long a path", dir);
}

void fcw_launch_setup(fcw_launch *l) {
    const char *port = env("FC_CUSTOM_LISTEN_PORT");
    if (port == NULL) port = env("PORT");
    l->port = port == NULL ? DEFAULT_PORT : (int)whole_number(port, 5, 65535);
    if (l->port == 0) fcw_launch_die("PORT='%s': expected a TCP port number", port);

    const char *dir = own_dir();
    l->worker = env("FCWORKER_BIN");
    if (l->worker == NULL) l->worker = path_join(dir, "fcworker");
    l->worker_config = env("FCWORKER_CONFIG");
    l->template_path = env("NGINX_CONF");
    if (l->template_path == NULL) l->template_path = default_template(dir);
    l->nginx = find_nginx();
    if (access(l->worker, X_OK) != 0) fcw_launch_die("%s is not built: run 'make'", l->worker);
    if (access(l->nginx, X_OK) != 0) fcw_launch_die("nginx not found: run 'make setup'");
    if (access(l->template_path, R_OK) != 0)
        fcw_launch_die("NGINX_CONF=%s: no such file (the nginx template, conf/nginx.conf)",
                       l->template_path);
    const char *reload = env("NGINX_RELOAD_TIMEOUT");
    l->reload_timeout_s = reload == NULL ? DEFAULT_RELOAD_TIMEOUT_S
                                         : (unsigned)whole_number(reload, 6, 999999);
    if (l->reload_timeout_s == 0)
        fcw_launch_die("NGINX_RELOAD_TIMEOUT='%s': expected whole seconds, 1 to 999999",
                       reload != NULL ? reload : "");
    /*
     * A busy port would fail nginx only after this run had replaced the
     * socket of the runtime that holds it.
     */
    if (fcw_launch_port_accepts(l->port))
        fcw_launch_die("port %d: Address already in use (another runtime?): choose another "
                       "with PORT", l->port);

    gid_t group = nginx_group(l);
    l->run_dir = env("FCWORKER_RUN_DIR");
    if (l->run_dir == NULL) {
        char *d;
        if (asprintf(&d, "/tmp/fcworker-%d", l->port) < 0) fcw_launch_die("out of memory");
        l->run_dir = d;
    }
    check_run_dir(l, group);
    set_path(l->socket, l->run_dir, "fcworker.sock");
    set_path(l->pid_file, l->run_dir, "fcworker.pid");
    set_path(l->nginx_conf, l->run_dir, "nginx.conf");
    set_path(l->nginx_pid_file, l->run_dir, "nginx.pid");
    check_no_worker_runs(l);
    if (unlink(l->socket) != 0 && errno != ENOENT)
        fcw_launch_die("cannot remove %s, left by an earlier run: %s", l->socket,
                       fcw_strerror(fcw_errno()));
    setenv("FCWORKER_SOCKET", l->socket, 1);
}
