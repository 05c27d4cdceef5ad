/*
 * server.c -- the listening socket, signals, graceful stop and reload.
 */
#include "server.h"

#include <errno.h>
#include <fcgiapp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "core.h"
#include "dispatch.h"
#include "error.h"
#include "fclog.h"
#include "inflight.h"
#include "launcher.h"
#include "lifecycle.h"
#include "metrics.h"
#include "process.h"
#include "thread.h"

static fcw_lifecycle lifecycle;

/* Owner all, group may enter (and so reach the socket), others nothing. */
#define SOCKET_DIR_MODE 0750

int fcw_server_socket_dir(const char *path, gid_t group, char *err, size_t errlen) {
    struct sockaddr_un addr;
    char dir[sizeof addr.sun_path];
    const char *slash = strrchr(path, '/');
    int rc = 0;

    /* The configuration checked the path: absolute, and shorter than this. */
    if (slash == NULL || slash == path || (size_t)(slash - path) >= sizeof dir) return 0;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if (mkdir(dir, SOCKET_DIR_MODE) != 0) {
        rc = fcw_errno();
        if (rc == -EEXIST) return 0;
        snprintf(err, errlen, "cannot make the socket's directory %s: %s%s", dir, fcw_strerror(rc),
                 rc == -ENOENT ? " (its parent must exist: only the last part is made)" : "");
        return rc;
    }
    /* The group before the mode: mkdir's mode went through the umask, and is set whole here. */
    if (group != (gid_t)-1 && chown(dir, (uid_t)-1, group) != 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "cannot give the socket's directory %s to group %u: %s (the "
                 "worker must run as root or belong to socket_group)", dir, (unsigned)group,
                 fcw_strerror(rc));
    } else if (chmod(dir, SOCKET_DIR_MODE) != 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "chmod %s: %s", dir, fcw_strerror(rc));
    }
    if (rc < 0) rmdir(dir);
    return rc;
}

int fcw_server_listen(const char *path, unsigned mode, gid_t group, char *err,
                      size_t errlen) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    char tmp[sizeof addr.sun_path];
    int fd = -1;
    int rc;

    if (snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "socket path %s is too long for a unix socket", path);
        return -ENAMETOOLONG;
    }
    strcpy(addr.sun_path, tmp);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "socket(AF_UNIX): %s", fcw_strerror(rc));
        return rc;
    }
    unlink(tmp);
    /* Permissions are set before the name is public: never world-writable. */
    mode_t old = umask(0777 & ~mode);
    rc = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 ? 0 : fcw_errno();
    umask(old);
    if (rc < 0) {
        snprintf(err, errlen, "bind %s: %s (does its directory exist and is it writable?)",
                 tmp, fcw_strerror(rc));
        goto fail;
    }
    if (chmod(tmp, mode) != 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "chmod %s: %s", tmp, fcw_strerror(rc));
        goto fail_unlink;
    }
    if (group != (gid_t)-1 && chown(tmp, (uid_t)-1, group) != 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "cannot give %s to group %u: %s (the worker must run as root or "
                 "belong to socket_group)", tmp, (unsigned)group, fcw_strerror(rc));
        goto fail_unlink;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "listen %s: %s", tmp, fcw_strerror(rc));
        goto fail_unlink;
    }
    if (rename(tmp, path) != 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "rename %s to %s: %s", tmp, path, fcw_strerror(rc));
        goto fail_unlink;
    }
    return fd;

fail_unlink:
    unlink(tmp);
fail:
    close(fd);
    return rc;
}

/*
 * The core stops taking requests and waits for those in flight. Past the
 * drain timeout nothing of theirs outlives the worker (exec children would
 * be orphaned to PID 1 and run on), and FC sees every request end.
 */
/* The worker's exit status: 0, or 1 when requests had to be cut off. */
static int drain(unsigned timeout_s) {
    unsigned before;
    unsigned left = fcw_core_drain(timeout_s, &before);
    if (left > 0) {
        fcw_log_error("drain timeout (%us): %u of %u requests still running are cut off",
                      timeout_s, left, before);
        unsigned killed = fcw_process_kill_piped();
        unsigned cut = fcw_inflight_cut_all();
        fcw_log_error("stopped %u exec programs and ended %u requests with an error", killed,
                      cut);
        return 1;
    }
    fcw_log_info("stopped after finishing %u in-flight requests", before);
    return 0;
}

int fcw_server_attach_app(fcw_config *cfg, const fcw_config *running, char *err,
                          size_t errlen, int *exit_code) {
    fcw_app *old = running != NULL ? running->app_rt : NULL;
    *exit_code = 1;
    if (!cfg->app.present) return 0;
    /* The configuration lets the app go when it is freed, without knowing app.h. */
    cfg->app_release = fcw_app_release;
    if (old != NULL && fcw_app_runs(old, &cfg->app)) {
        cfg->app_rt = fcw_app_ref(old);
        return 0;
    }
    if (old != NULL && fcw_app_config_same_address(fcw_app_config_of(old), &cfg->app)) {
        snprintf(err, errlen, "%s: [app] changed but keeps address %s, which the running app "
                 "holds until its requests are done: give the new app another address to "
                 "swap without failing a request, or restart the instance",
                 cfg->app.section_origin, cfg->app.address);
        return -EADDRINUSE;
    }
    return fcw_app_start(&cfg->app, &cfg->app_rt, exit_code, err, errlen);
}

/* Whether spec names a plugin that no route of cfg uses. */
static bool new_plugin(const fcw_config *cfg, const char *spec) {
    if (strncmp(spec, "plugin:", 7) != 0) return false;
    for (int r = 0; r < FCW_ROUTE_COUNT; r++)
        if (strcmp(cfg->lifecycle[r].spec, spec) == 0) return false;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (strcmp(cfg->routes[i].spec, spec) == 0) return false;
    return true;
}

/*
 * Once /initialize has succeeded, the instance's initializer has run and
 * FC will not call it again: a reload that changes [initialize], or brings
 * in a plugin whose state no initializer set up, would serve invocations
 * from code that was never initialized. It is refused; restarting the
 * instance is how such a change is made.
 */
static int initialized_change(const fcw_config *cfg, const fcw_config *running, char *err,
                              size_t errlen) {
    if (running == NULL || !fcw_lifecycle_initialized(&lifecycle)) return 0;
    int rc = fcw_config_refuse_after_init(cfg, running, err, errlen);
    if (rc < 0) return rc;
    const fcw_route_config *all[FCW_ROUTE_COUNT + 64];
    size_t n = 0;
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) all[n++] = &cfg->lifecycle[r];
    for (size_t i = 0; i < cfg->nroutes && n < sizeof all / sizeof all[0]; i++)
        all[n++] = &cfg->routes[i];
    for (size_t i = 0; i < n; i++) {
        if (!new_plugin(running, all[i]->spec)) continue;
        snprintf(err, errlen, "%s: handler = '%s' is a plugin the running configuration does "
                 "not load, and the instance is initialized already: its initializer would "
                 "never run; restart the instance to bring it in", all[i]->spec_origin,
                 all[i]->spec);
        return -EBUSY;
    }
    return 0;
}

void fcw_server_publish(fcw_config *cfg) {
    /* The app a reload kept running follows the new fc_lines. */
    if (cfg->app_rt != NULL) fcw_app_logs_fc_lines(cfg->app_rt, cfg->app.fc_lines_app);
    fcw_config_publish(cfg);
}

static void reload(const char *config_path) {
    char err[FCW_CONFIG_ERR_MAX];
    int code;
    fcw_config *cfg;
    if (fcw_config_load(config_path, &cfg, err, sizeof err) < 0) {
        fcw_log_error("reload failed, keeping the running configuration: %s", err);
        fcw_metrics_reload(0);
        return;
    }
    fcw_config *running = fcw_config_acquire();
    int rc = initialized_change(cfg, running, err, sizeof err);
    if (rc == 0) rc = fcw_server_attach_app(cfg, running, err, sizeof err, &code);
    /* Last: a reload refused for another reason says nothing of what it would keep. */
    if (rc == 0 && (rc = fcw_config_keep_start_only(cfg, running)) < 0)
        snprintf(err, sizeof err, "out of memory");
    fcw_config_release(running);
    if (rc != 0) {
        fcw_log_error("reload failed, keeping the running configuration: %s", err);
        fcw_config_free(cfg);
        fcw_metrics_reload(0);
        return;
    }
    /* The old app, if replaced, stops once the last request on the old snapshot ends. */
    fcw_server_publish(cfg);
    fcw_metrics_reload(1);
    fcw_launcher_say_settings(cfg);
    fcw_log_info("configuration reloaded%s%s", config_path ? " from " : "",
                 config_path ? config_path : "");
}

/*
 * Signals are taken by one thread of their own, never by the thread that
 * starts an app or reloads: a SIGTERM must win at once over a start that
 * waits for an app (ready_timeout), so it cancels the start and the main
 * thread, back from it, stops.
 */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;                 /* the first SIGTERM or SIGINT taken: its number */
    unsigned stops;           /* SIGTERMs and SIGINTs taken */
    int reload;               /* a SIGHUP not yet acted on */
    int announce;             /* a SIGUSR1 not yet acted on: the stop is coming */
} events = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};

/*
 * Adopted orphans are reaped at most this often: a /proc walk each time,
 * and exec programs make a SIGCHLD per request.
 */
#define ORPHAN_SWEEP_MS 100

static void handled_signals(sigset_t *sigs) {
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGHUP);
    sigaddset(sigs, SIGCHLD);
    sigaddset(sigs, SIGUSR1);
}

static void *take_signals(void *unused) {
    (void)unused;
    sigset_t sigs;
    handled_signals(&sigs);
    int orphans = 0;
    long swept = 0;
    for (;;) {
        struct timespec wait = {0, ORPHAN_SWEEP_MS * 1000000L};
        int sig = orphans ? sigtimedwait(&sigs, NULL, &wait) : sigwaitinfo(&sigs, NULL);
        long now = fcw_now_ms();
        if (sig == SIGCHLD) orphans = 1;
        if (orphans && now - swept >= ORPHAN_SWEEP_MS) {
            fcw_process_reap_orphans();
            swept = now;
            orphans = 0;
        }
        if (sig == SIGHUP || sig == SIGUSR1 || sig == SIGTERM || sig == SIGINT) {
            pthread_mutex_lock(&events.lock);
            if (sig == SIGHUP) events.reload = 1;
            else if (sig == SIGUSR1) events.announce = 1;
            else {
                events.stops++;
                if (events.stop == 0) events.stop = sig;
            }
            pthread_cond_broadcast(&events.cond);
            pthread_mutex_unlock(&events.lock);
            if (sig == SIGTERM || sig == SIGINT) fcw_app_stop_starting();
        }
    }
    return NULL;
}

int fcw_server_take_signals(void) {
    fcw_cond_init_monotonic(&events.cond);
    return fcw_thread_start(take_signals, NULL, 0);
}

int fcw_server_stop_signal(void) {
    pthread_mutex_lock(&events.lock);
    int sig = events.stop;
    pthread_mutex_unlock(&events.lock);
    return sig;
}

/*
 * The stop is announced before it begins (of-watchdog's write_timeout
 * grace): for shutdown_delay seconds the worker still accepts and serves
 * while the health path answers 503 draining, so a load balancer or a
 * readiness probe takes the instance out of rotation before anything is
 * refused. SIGUSR1 announces alone: fcworker-run sends it, waits the delay,
 * stops nginx, and only then sends SIGTERM, so the worker never stops
 * accepting while nginx still forwards. The delay counts from the first
 * announcement; a second SIGTERM or SIGINT cuts it short.
 */
typedef struct stop_notice {
    long since_ms;           /* when the stop was announced; 0: not yet */
    long until_ms;           /* the end of the delay, once SIGTERM or SIGINT came; 0: none */
} stop_notice;

static void announce(stop_notice *n, const char *why) {
    if (n->since_ms != 0) return;
    n->since_ms = fcw_now_ms();
    fcw_metrics_set_draining();
    fcw_log_info("%s received: the health path answers 503 draining; requests are still "
                 "served", why);
}

void fcw_server_block_signals(void) {
    sigset_t sigs;
    handled_signals(&sigs);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    /*
     * A shell may leave SIGHUP ignored (nohup), and an ignored disposition
     * survives exec: sigwait needs the default one back. fcworker-run starts
     * the worker with it blocked, so one sent before this point waits.
     */
    signal(SIGHUP, SIG_DFL);
}

int fcw_server_run(int listen_fd, const char *config_path) {
    /* Socket and thread settings are fixed at start; a reload changes handlers. */
    fcw_config *cfg = fcw_config_acquire();
    fcw_core_settings set = {.threads = cfg->threads,
                             .idle_timeout_s = cfg->thread_idle_timeout_s,
                             .queue_timeout_s = cfg->queue_timeout_s};
    fcw_config_release(cfg);
    fcw_lifecycle_init(&lifecycle);
    char err[256];
    if (fcw_core_start(listen_fd, &set, &lifecycle, err, sizeof err) < 0) {
        fcw_log_error("%s", err);
        return 1;
    }

    stop_notice notice = {0, 0};
    const char *stop_by = NULL;  /* the signal that stops at once; NULL: the delay's end */
    unsigned stops_seen = 0;     /* SIGTERMs and SIGINTs acted on */
    for (;;) {
        int sig = 0, reloading = 0, announced_now = 0, timed_out = 0;
        pthread_mutex_lock(&events.lock);
        for (;;) {
            if (events.reload || events.announce || events.stops > stops_seen) break;
            if (notice.until_ms == 0) {
                pthread_cond_wait(&events.cond, &events.lock);
            } else {
                struct timespec ts = fcw_deadline_ts(notice.until_ms);
                if (fcw_now_ms() >= notice.until_ms ||
                    pthread_cond_timedwait(&events.cond, &events.lock, &ts) == ETIMEDOUT) {
                    timed_out = fcw_now_ms() >= notice.until_ms;
                    if (timed_out) break;
                }
            }
        }
        reloading = events.reload;
        announced_now = events.announce;
        events.reload = events.announce = 0;
        if (!reloading && !announced_now && events.stops > stops_seen) {
            sig = events.stop;
            stops_seen = events.stops;
        }
        pthread_mutex_unlock(&events.lock);
        if (timed_out && !reloading && !announced_now && sig == 0) break;
        if (announced_now) announce(&notice, "SIGUSR1");
        if (reloading) {
            reload(config_path);
            continue;
        }
        if (sig == 0) continue;
        const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
        if (notice.until_ms != 0) {
            stop_by = name;
            break;
        }
        cfg = fcw_config_acquire();
        unsigned delay_s = cfg->shutdown_delay_s;
        fcw_config_release(cfg);
        long announced = notice.since_ms;
        if (delay_s == 0) {
            fcw_metrics_set_draining();
            stop_by = name;
            break;
        }
        announce(&notice, name);
        notice.until_ms = notice.since_ms + (long)delay_s * 1000L;
        if (announced == 0)
            fcw_log_info("stopping in %us (shutdown_delay), then draining", delay_s);
    }
    cfg = fcw_config_acquire();
    unsigned drain_s = cfg->drain_timeout_s;
    fcw_config_release(cfg);
    if (stop_by != NULL)
        fcw_log_info("%s received: stopping, draining for up to %us", stop_by, drain_s);
    else
        fcw_log_info("shutdown_delay over: stopping, draining for up to %us", drain_s);
    return drain(drain_s);
}
