/*
 * server.c -- accept loop, on-demand threads, graceful stop and reload.
 */
#include "server.h"

#include <errno.h>
#include <fcgiapp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
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
#include "dispatch.h"
#include "exec_child.h"
#include "fclog.h"
#include "inflight.h"
#include "lifecycle.h"

/*
 * conf/nginx.conf's upstream keepalive pool, and FC's most concurrent
 * requests per instance: together, the threads kept connections can hold.
 */
#define NGINX_KEPT_CONNECTIONS 256
#define FC_MAX_CONCURRENCY 200

/* Handlers run on these stacks; plugins get room, idle threads touch little. */
#define THREAD_STACK (512 * 1024)

static struct {
    pthread_mutex_t lock;
    pthread_cond_t idle;       /* signalled when busy drops, while stopping */
    int listen_fd;
    unsigned max_threads;
    unsigned nthreads;
    unsigned listening;        /* threads waiting in accept() on listen_fd */
    unsigned busy;             /* requests being served */
    int stopping;
    fcw_lifecycle lifecycle;
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

int fcw_server_listen(const char *path, unsigned mode, char *err, size_t errlen) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    char tmp[sizeof addr.sun_path];
    int fd = -1;

    if (snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "socket path %s is too long for a unix socket", path);
        return -1;
    }
    strcpy(addr.sun_path, tmp);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket(AF_UNIX): %s", strerror(errno));
        return -1;
    }
    unlink(tmp);
    /* Permissions are set before the name is public: never world-writable. */
    mode_t old = umask(0777 & ~mode);
    int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    umask(old);
    if (rc != 0) {
        snprintf(err, errlen, "bind %s: %s (does its directory exist and is it writable?)",
                 tmp, strerror(errno));
        goto fail;
    }
    if (chmod(tmp, mode) != 0) {
        snprintf(err, errlen, "chmod %s: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "listen %s: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail_unlink;
    }
    return fd;

fail_unlink:
    unlink(tmp);
fail:
    close(fd);
    return -1;
}

static void *serve_thread(void *arg);

/*
 * Every thread serves a request or holds one of nginx's kept connections:
 * new connections wait in the listen backlog, which no one would see.
 * Said at most every 10 s, with how often it happened meanwhile. Called
 * with srv.lock held.
 */
static void saturated_locked(void) {
    static long last_ms;
    static unsigned long times;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long now = ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
    times++;
    if (last_ms != 0 && now - last_ms < 10000) return;
    fcw_log_warn("all %u threads are busy or hold nginx's kept connections (%u requests in "
                 "flight): new requests wait in the listen backlog (%lu times since the last "
                 "warning); raise [worker] threads", srv.nthreads, srv.busy, times);
    last_ms = now;
    times = 0;
}

/* Starts one more thread if allowed. Called with srv.lock held. */
static void spawn_locked(void) {
    if (srv.stopping) return;
    if (srv.nthreads >= srv.max_threads) {
        if (srv.listening == 0) saturated_locked();
        return;
    }
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&tid, &attr, serve_thread, NULL);
    if (err == 0) {
        srv.nthreads++;
        srv.listening++;
    } else {
        fcw_log_warn("cannot start worker thread %u: %s", srv.nthreads + 1, strerror(err));
    }
    pthread_attr_destroy(&attr);
}

#define ACCEPT_STOP (-2)
#define ACCEPT_RETIRE (-3)

/* EMFILE and the like: say so and back off instead of spinning on accept. */
static void accept_failed(int err) {
    fcw_log_error("accepting a FastCGI connection failed: %s", strerror(err));
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
}

/*
 * Accepts here rather than inside FCGX_Accept_r, which reads BEGIN_REQUEST
 * and every PARAMS record in the same call, with no timeout: a client that
 * stalls half-way through its params would keep the thread counted as
 * listening, no other thread would start, and the whole worker would wait
 * for that one client. Counted out the moment accept returns, the thread is
 * replaced before it reads a byte.
 *
 * accept gives up after [worker] thread_idle_timeout (SO_RCVTIMEO on the
 * listener); the thread then retires if another one still listens, so
 * after a burst the worker shrinks back without ever being left deaf.
 * Returns the connection, -1 to try again, ACCEPT_STOP or ACCEPT_RETIRE.
 */
static int accept_connection(int *counted) {
    int fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
    int err = errno;
    int retire = 0;

    pthread_mutex_lock(&srv.lock);
    if (*counted) {
        srv.listening--;
        *counted = 0;
    }
    if (fd >= 0 && srv.listening == 0) spawn_locked();
    int stopping = srv.stopping;
    if (fd < 0 && !stopping && (err == EAGAIN || err == EWOULDBLOCK) && srv.listening > 0) {
        srv.nthreads--;
        retire = 1;
    }
    pthread_mutex_unlock(&srv.lock);

    if (fd >= 0) return fd;
    if (stopping) return ACCEPT_STOP;
    if (retire) return ACCEPT_RETIRE;
    if (err != EINTR && err != ECONNABORTED && err != EAGAIN && err != EWOULDBLOCK)
        accept_failed(err);
    return -1;
}

/*
 * Sleeps until the kept connection has the next request; returns 0 then, or
 * -1 when the peer closed it without sending one.
 *
 * A thread blocked in read(2) on a unix socket sleeps on the queue that is
 * also woken when nginx consumes the previous answer (unix_write_space), so
 * read would be woken for nothing once per request; poll waits only for
 * POLLIN and the kernel filters that wake-up out. Measured at c=32: worker
 * context switches per request 1.7 -> 1.15, one more syscall.
 *
 * A closed connection is noticed here (POLLRDHUP, and nothing left to read)
 * because FCGX_Accept_r would instead go on to accept a new connection
 * itself, where the thread is neither counted as listening nor able to
 * retire.
 */
static int wait_readable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    while (poll(&p, 1, -1) < 0 && errno == EINTR)
        ;
    if (!(p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return 0;
    char c;
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0 ? 0 : -1;
}

static void *serve_thread(void *arg) {
    FCGX_Request fr;
    (void)arg;

    if (FCGX_InitRequest(&fr, srv.listen_fd, 0) != 0) {
        fcw_log_error("FCGX_InitRequest failed");
        pthread_mutex_lock(&srv.lock);
        srv.listening--; /* counted by spawn_locked: no phantom listener */
        srv.nthreads--;
        pthread_mutex_unlock(&srv.lock);
        return NULL;
    }
    /* spawn_locked counted this thread as listening already. */
    int counted = 1;
    for (;;) {
        pthread_mutex_lock(&srv.lock);
        if (srv.stopping) {
            if (counted) srv.listening--;
            pthread_mutex_unlock(&srv.lock);
            break;
        }
        if (!counted && fr.ipcFd < 0) {
            srv.listening++;
            counted = 1;
        }
        pthread_mutex_unlock(&srv.lock);

        if (fr.ipcFd < 0) {
            int fd = accept_connection(&counted);
            if (fd == ACCEPT_STOP || fd == ACCEPT_RETIRE) break;
            if (fd < 0) continue;
            /*
             * Handed to libfcgi as a kept connection: it reads the request
             * from fd instead of closing it and accepting another. Both
             * fields are below fcgiapp.h's "don't use" line; libfcgi 2.4.2
             * serves kept connections exactly this way, and
             * t/integration/test_fastcgi.c (stalled clients) fails if not.
             */
            fr.ipcFd = fd;
            fr.keepConnection = 1;
        }
        if (wait_readable(fr.ipcFd) != 0) {
            FCGX_Free(&fr, 1); /* closes it; the next turn accepts */
            continue;
        }

        /*
         * In flight from its first byte: a request still sending its params
         * when SIGTERM arrives is one the drain waits for.
         */
        pthread_mutex_lock(&srv.lock);
        srv.busy++;
        pthread_mutex_unlock(&srv.lock);

        int rc = FCGX_Accept_r(&fr);

        pthread_mutex_lock(&srv.lock);
        if (counted) {
            srv.listening--;
            counted = 0;
        }
        if (rc < 0) {
            srv.busy--;
            if (srv.stopping) pthread_cond_broadcast(&srv.idle);
        }
        if (srv.listening == 0) spawn_locked();
        int stopping = srv.stopping;
        pthread_mutex_unlock(&srv.lock);

        if (rc < 0) {
            if (stopping) break;
            /*
             * rc is -errno, or -9999 when libfcgi had none to give. EAGAIN:
             * libfcgi's own accept (after a bad first record) timed out idle.
             */
            if (rc != -EAGAIN && rc != -EWOULDBLOCK) accept_failed(rc > -9999 ? -rc : EIO);
            continue;
        }

        fcw_dispatch(&fr, &srv.lifecycle);
        FCGX_Finish_r(&fr);

        pthread_mutex_lock(&srv.lock);
        srv.busy--;
        if (srv.stopping) pthread_cond_broadcast(&srv.idle);
        pthread_mutex_unlock(&srv.lock);
        /* Stopping: the kept connection is closed below, so nginx stops using it. */
    }
    FCGX_Free(&fr, 1);
    return NULL;
}

/*
 * libfcgi only notices a stop when accept() returns EINTR in the thread that
 * got the signal, so an idle threaded worker would sleep through SIGTERM.
 * Shutting the listener down wakes every thread waiting in accept() for
 * certain (a signal could arrive just before the call and be lost).
 *
 * Threads waiting for the next request on a kept nginx connection are left
 * alone: libfcgi may have closed that descriptor and its number may already
 * belong to another thread's request, so shutting it down could cut a request
 * in flight. A request that still arrives on a kept connection while draining
 * is served; the process exits once nothing is in flight. scripts/run stops
 * nginx first, so in a normal stop nothing arrives.
 */
static int drain(unsigned timeout_s) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_s;

    pthread_mutex_lock(&srv.lock);
    srv.stopping = 1;
    shutdown(srv.listen_fd, SHUT_RDWR);
    unsigned before = srv.busy;
    while (srv.busy > 0) {
        if (pthread_cond_timedwait(&srv.idle, &srv.lock, &deadline) == ETIMEDOUT) break;
    }
    unsigned left = srv.busy;
    pthread_mutex_unlock(&srv.lock);
    if (left > 0) {
        fcw_log_error("drain timeout (%us): %u of %u requests still running are cut off",
                      timeout_s, left, before);
        /*
         * Nothing of theirs outlives the worker (exec children would be
         * orphaned to PID 1 and run on), and FC sees every request end.
         */
        unsigned killed = fcw_child_kill_all();
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
    if (old != NULL && fcw_app_runs(old, &cfg->app)) {
        cfg->app_rt = fcw_app_ref(old);
        return 0;
    }
    if (old != NULL && fcw_app_config_same_address(fcw_app_config_of(old), &cfg->app)) {
        snprintf(err, errlen, "%s: [app] changed but keeps address %s, which the running app "
                 "holds until its requests are done: give the new app another address to "
                 "swap without failing a request, or restart the instance",
                 cfg->app.section_origin, cfg->app.address);
        return -1;
    }
    cfg->app_rt = fcw_app_start(&cfg->app, err, errlen, exit_code);
    return cfg->app_rt != NULL ? 0 : -1;
}

/* 1 when spec names a plugin that no route of cfg uses. */
static int new_plugin(const fcw_config *cfg, const char *spec) {
    if (strncmp(spec, "plugin:", 7) != 0) return 0;
    for (int r = 0; r < FCW_ROUTE_COUNT; r++)
        if (strcmp(cfg->lifecycle[r].spec, spec) == 0) return 0;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (strcmp(cfg->routes[i].spec, spec) == 0) return 0;
    return 1;
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
    if (running == NULL || !fcw_lifecycle_initialized(&srv.lifecycle)) return 0;
    const fcw_route_config *ni = &cfg->lifecycle[FCW_ROUTE_INITIALIZE];
    const fcw_route_config *oi = &running->lifecycle[FCW_ROUTE_INITIALIZE];
    if (strcmp(ni->spec, oi->spec) != 0) {
        snprintf(err, errlen, "%s: [initialize] handler = '%s' replaces '%s', but the instance "
                 "is initialized already and FC will not call /initialize again: restart the "
                 "instance to change its initializer", ni->spec_origin, ni->spec, oi->spec);
        return -1;
    }
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
        return -1;
    }
    return 0;
}

static void reload(const char *config_path) {
    char err[FCW_CONFIG_ERR_MAX];
    int code;
    fcw_config *cfg = fcw_config_load(config_path, err, sizeof err);
    if (cfg == NULL) {
        fcw_log_error("reload failed, keeping the running configuration: %s", err);
        return;
    }
    fcw_config *running = fcw_config_acquire();
    int rc = initialized_change(cfg, running, err, sizeof err);
    if (rc == 0) rc = fcw_server_attach_app(cfg, running, err, sizeof err, &code);
    fcw_config_release(running);
    if (rc != 0) {
        fcw_log_error("reload failed, keeping the running configuration: %s", err);
        fcw_config_free(cfg);
        return;
    }
    /* The old app, if replaced, stops once the last request on the old snapshot ends. */
    fcw_config_publish(cfg);
    fcw_log_info("configuration reloaded%s%s", config_path ? " from " : "",
                 config_path ? config_path : "");
}

static void handled_signals(sigset_t *sigs) {
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGHUP);
}

void fcw_server_block_signals(void) {
    sigset_t sigs;
    handled_signals(&sigs);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    /*
     * scripts/run ignores SIGHUP until the worker runs, and an ignored
     * disposition survives exec: sigwait needs the default one back.
     */
    signal(SIGHUP, SIG_DFL);
}

int fcw_server_run(int listen_fd, const char *config_path) {
    sigset_t sigs;
    handled_signals(&sigs);

    /* Socket and thread settings are fixed at start; a reload changes handlers. */
    fcw_config *cfg = fcw_config_acquire();
    srv.max_threads = cfg->threads;
    if (cfg->threads < NGINX_KEPT_CONNECTIONS + FC_MAX_CONCURRENCY)
        fcw_log_warn("threads = %u (%s) is below nginx's %u kept connections plus FC's %u "
                     "concurrent requests: each kept connection holds a thread, so with "
                     "instanceConcurrency above %d requests can wait unanswered",
                     cfg->threads, cfg->threads_origin, NGINX_KEPT_CONNECTIONS,
                     FC_MAX_CONCURRENCY, (int)cfg->threads - NGINX_KEPT_CONNECTIONS > 0
                                             ? (int)cfg->threads - NGINX_KEPT_CONNECTIONS
                                             : 0);
    unsigned idle_s = cfg->thread_idle_timeout_s;
    fcw_config_release(cfg);
    if (idle_s > 0) {
        struct timeval tv = {.tv_sec = (time_t)idle_s};
        if (setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
            fcw_log_warn("threads will not retire when idle: SO_RCVTIMEO: %s", strerror(errno));
    }

    srv.listen_fd = listen_fd;
    fcw_lifecycle_init(&srv.lifecycle);

    pthread_mutex_lock(&srv.lock);
    spawn_locked();
    pthread_mutex_unlock(&srv.lock);

    for (;;) {
        int sig;
        if (sigwait(&sigs, &sig) != 0) continue;
        if (sig == SIGHUP) {
            reload(config_path);
            continue;
        }
        cfg = fcw_config_acquire();
        unsigned drain_s = cfg->drain_timeout_s;
        fcw_config_release(cfg);
        fcw_log_info("%s received: stopping, draining for up to %us",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT", drain_s);
        return drain(drain_s);
    }
}
