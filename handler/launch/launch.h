/*
 * launch.h -- fcworker-run, the launcher: starts fcworker, then nginx, which
 * binds the port only once the worker accepts (FC's start-up check is a TCP
 * connect to the port, so nginx must not listen before the worker can
 * answer); watches both, and stops them in order. It is the container's
 * command, so its own start is on FC's bill (cold start): one small process,
 * single-threaded, that waits on signals and on the worker's pipe
 * (handler/launcher.h) rather than polling.
 *
 *   launch_setup.c   the environment, and what must hold before anything starts
 *   launch_events.c  signals, the worker's lines, children's exits: one wait
 *   launch_nginx.c   nginx's configuration, its start and its port
 *   launch.c         the start, the watch and the stop, in order
 */
#ifndef FCW_LAUNCH_H
#define FCW_LAUNCH_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct fcw_launch {
    /* From the environment (launch_setup.c). */
    int port;
    const char *run_dir;
    const char *worker;          /* FCWORKER_BIN */
    const char *worker_config;   /* FCWORKER_CONFIG, NULL when unset or empty */
    const char *template_path;   /* NGINX_CONF */
    const char *nginx;           /* NGINX_BIN, else nginx on PATH */
    unsigned reload_timeout_s;   /* NGINX_RELOAD_TIMEOUT */
    char user_line[256];         /* "user www-data www-data;" as root, else empty */
    char socket[PATH_MAX];
    char pid_file[PATH_MAX];
    char nginx_conf[PATH_MAX];
    char nginx_pid_file[PATH_MAX];
    char *conf;                  /* nginx's real configuration, rendered */

    /* The two children: a pid stays set after its exit, status then >= 0. */
    pid_t worker_pid, nginx_pid;
    int worker_status, nginx_status;

    /* The worker's pipe: what it said so far. */
    int worker_fd;
    char heard[256];
    size_t heard_len;
    bool said_app, said_ready;
    unsigned drain_s, delay_s, app_stop_s;

    int signal_fd;
    bool stop_requested;         /* SIGTERM or SIGINT, acted on between two waits */
} fcw_launch;

/* Prints "run: ..." on stderr. */
void fcw_launch_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Says why and exits 1: for what fails before any child runs. */
void fcw_launch_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Fills l from the environment, checks what must hold, prepares the run directory; or dies. */
void fcw_launch_setup(fcw_launch *l);

/* Blocks the signals the launcher takes through its descriptor: 0 or a negative errno. */
int fcw_launch_take_signals(fcw_launch *l);
/*
 * Waits up to ms (-1: without limit) for a signal, a line from the worker or
 * a child's exit, and takes what came: a SIGHUP goes on to the worker, a
 * SIGTERM or SIGINT sets stop_requested, an exit is reaped.
 */
void fcw_launch_wait(fcw_launch *l, int ms);
/* True while pid (the worker's or nginx's) has not exited. */
bool fcw_launch_running(const fcw_launch *l, pid_t pid);
/* A child's exit status as a shell gives it: the code, or 128 + the signal. */
int fcw_launch_exit_code(int status);
/*
 * Starts argv[0] in a process group of its own, with signals at their
 * defaults and none blocked but blocked (0: none): its pid, or a negative
 * errno.
 */
pid_t fcw_launch_spawn(char *const argv[], int blocked);

/* Renders the template into l->conf: 0, or -1 (said). */
int fcw_launch_render_nginx(fcw_launch *l);
/* Writes text as nginx's configuration: 0, or -1 (said). */
int fcw_launch_write_nginx(const fcw_launch *l, const char *text);
/* The configuration nginx starts on while an app starts: it listens nowhere. */
int fcw_launch_write_nginx_idle(const fcw_launch *l);
/* Starts nginx on its configuration: 0, or -1 (said). */
int fcw_launch_start_nginx(fcw_launch *l);
/* True once nginx's pid file names it: it has parsed its configuration and set its handlers. */
bool fcw_launch_nginx_has_handlers(const fcw_launch *l);
/* True when something accepts on 127.0.0.1:port. */
bool fcw_launch_port_accepts(int port);

#endif
