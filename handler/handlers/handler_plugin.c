/*
 * handler_plugin.c -- plugin:/path/to/lib.so, a shared library called in-process.
 *
 * The library is opened once (RTLD_NOW, so a symbol it needs but fcworker does
 * not export is reported at start-up, not at the first request; RTLD_LOCAL, so
 * two plugins never see each other's symbols). Its undefined fcw_* references
 * resolve against the executable, which exports exactly the API of
 * fcworker.h (handler/fcworker.sym, -Wl,--dynamic-list).
 *
 * Several routes, and the old and new configuration during a reload, may name
 * the same library. dlopen() hands back the same mapping each time, so the
 * plugin's static state is shared by all of them; fcw_plugin_load() and
 * fcw_plugin_unload() must therefore pair up with that mapping, not with each
 * route or each configuration. A small registry keyed by path and file (a
 * library rebuilt at the same path is loaded anew, see open_rebuilt) counts
 * the handlers using a library: the first one calls fcw_plugin_load,
 * the last one (when the last configuration naming it has finished its last
 * request, see fcw_config_release) calls fcw_plugin_unload and dlclose.
 *
 * Crash policy: a plugin runs inside the worker, so a plugin that crashes
 * kills the worker with every request in flight. Nothing here tries to
 * survive that (a SIGSEGV handler could not make the process trustworthy
 * again). The launcher (fcworker-run) then stops nginx and exits non-zero, the container
 * dies and the platform (FC, Kubernetes) replaces it: a clean instance is
 * better than one serving from corrupted memory.
 *
 * Timeouts: an entry point cannot be interrupted safely in-process, so the
 * route's timeout is not enforced for plugins; FC enforces its own.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fclog.h"
#include "handler.h"

typedef int (*entry_fn)(fcw_request *req);
typedef int (*load_fn)(void);
typedef void (*unload_fn)(void);

typedef struct plugin_lib {
    void *dl;                 /* the registry holds one dlopen reference */
    char *path;               /* as the configuration names it */
    dev_t dev;                /* the file that was loaded, to notice a rebuild */
    ino_t ino;
    struct timespec mtime;
    unsigned users;           /* handlers using this library */
    unload_fn unload;         /* fcw_plugin_unload, or NULL */
    struct plugin_lib *next;
} plugin_lib;

typedef struct plugin_handler {
    plugin_lib *lib;
    entry_fn entry;
} plugin_handler;

/*
 * Taken by configuration loads (main thread, reload thread) and by the
 * destruction of an old configuration (whichever worker thread finished its
 * last request). Held across dlopen/dlclose and the load/unload hooks, so a
 * library being unloaded is never handed to a new configuration halfway.
 */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static plugin_lib *registry;

/* The entry point each route calls, as documented in fcworker.h. */
static const char *const entry_names[FCW_ROUTE_COUNT] = {
    [FCW_ROUTE_INITIALIZE] = "fcw_initialize",
    [FCW_ROUTE_PRE_STOP] = "fcw_pre_stop",
    [FCW_ROUTE_PRE_FREEZE] = "fcw_pre_freeze",
    [FCW_ROUTE_INVOKE] = "fcw_invoke",
};

/*
 * dlsym answers void *; POSIX guarantees it converts to a function pointer,
 * ISO C does not, so callers copy it with memcpy rather than cast.
 */
static void *lookup(void *dl, const char *name) {
    dlerror();
    return dlsym(dl, name);
}

static bool same_file(const plugin_lib *l, const struct stat *st) {
    return l->dev == st->st_dev && l->ino == st->st_ino &&
           l->mtime.tv_sec == st->st_mtim.tv_sec && l->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/*
 * dlopen keys what it has loaded by path: a library rebuilt at the same
 * path would come back as the old mapping, old code and all. The new file
 * is opened through a private copy instead (unlinked once mapped), so a
 * reload serves the new code while requests in flight finish on the old.
 */
static int open_rebuilt(const char *path, void **dl, char *err, size_t errlen) {
    const char *dir = getenv("TMPDIR");
    char copy[4096], buf[65536];
    if (dir == NULL || dir[0] == '\0') dir = "/tmp";
    snprintf(copy, sizeof copy, "%s/fcworker-plugin-XXXXXX.so", dir);
    int rc = 0;
    int out = mkostemps(copy, 3, O_CLOEXEC);
    int in = out < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) rc = fcw_errno();
    while (rc == 0) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = fcw_errno();
        } else {
            ssize_t w = write(out, buf, (size_t)n);
            if (w != n) rc = w < 0 ? fcw_errno() : -ENOSPC;
        }
    }
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    *dl = rc < 0 ? NULL : dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    if (out >= 0) unlink(copy);
    if (rc < 0)
        snprintf(err, errlen, "plugin '%s' was rebuilt, and copying it to %s to load the new "
                 "file failed: %s", path, dir, fcw_strerror(rc));
    return rc;
}

/* Route's entry point in dl, into *entry; 0, or -EINVAL with the sentence in err. */
static int find_entry(void *dl, const char *path, fcw_route route, entry_fn *entry, char *err,
                      size_t errlen) {
    const char *name = entry_names[route];
    void *sym = lookup(dl, name);
    memcpy(entry, &sym, sizeof *entry);
    if (*entry != NULL) return 0;
    snprintf(err, errlen, "plugin '%s' does not export %s: expected "
             "`int %s(fcw_request *req)` for the %s route (see fcworker.h)",
             path, name, name, fcw_route_name(route));
    return -EINVAL;
}

/* path's file, which must be a regular one; 0 or a negative errno with err. */
static int stat_library(const char *path, struct stat *st, char *err, size_t errlen) {
    int rc = 0;
    if (stat(path, st) != 0) rc = fcw_errno();
    else if (!S_ISREG(st->st_mode)) rc = -EINVAL;
    if (rc < 0)
        snprintf(err, errlen, "plugin '%s': %s: expected a shared library built with "
                 "cc -fPIC -shared", path,
                 rc == -EINVAL ? "not a regular file" : fcw_strerror(rc));
    return rc;
}

/*
 * The file as it is now, loaded already (directly or through a copy), into
 * *out (NULL when it is not); *rebuilt says whether an older file of that
 * path is. 0, or -EINVAL when the library lacks the entry point.
 */
static int lib_find(const char *path, const struct stat *st, fcw_route route, plugin_lib **out,
                    entry_fn *entry, int *rebuilt, char *err, size_t errlen) {
    *out = NULL;
    *rebuilt = 0;
    for (plugin_lib *l = registry; l != NULL; l = l->next) {
        if (strcmp(l->path, path) != 0) continue;
        if (!same_file(l, st)) {
            *rebuilt = 1;
            continue;
        }
        int rc = find_entry(l->dl, path, route, entry, err, errlen);
        if (rc == 0) *out = l;
        return rc;
    }
    return 0;
}

/* dlopen of path (through a copy when rebuilt); 0, or a negative errno with err. */
static int lib_open(const char *path, int rebuilt, void **dl, char *err, size_t errlen) {
    int rc;
    if (!rebuilt) *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    else if ((rc = open_rebuilt(path, dl, err, errlen)) < 0) return rc;
    if (*dl != NULL) return 0;
    const char *why = dlerror();
    if (why == NULL) why = "dlopen failed";
    snprintf(err, errlen, "plugin '%s' does not load: %s: %s", path, why,
             strstr(why, "undefined symbol") != NULL
                 ? "expected it to use only the fcw_* functions of fcworker.h "
                   "and the libraries it is linked with"
                 : "expected a shared library for this machine, built with "
                   "cc -fPIC -shared");
    return -EINVAL;
}

/*
 * A new registry entry for dl, once its fcw_plugin_load (if any) agreed.
 * On failure dl is closed; 0 or a negative errno with err.
 */
static int lib_register(void *dl, const char *path, const struct stat *st, int rebuilt,
                        plugin_lib **out, char *err, size_t errlen) {
    int rc = -ENOMEM;
    plugin_lib *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(err, errlen, "plugin '%s': out of memory", path);
        goto fail;
    }
    l->dl = dl;
    l->path = strdup(path);
    l->dev = st->st_dev;
    l->ino = st->st_ino;
    l->mtime = st->st_mtim;
    if (l->path == NULL) {
        snprintf(err, errlen, "plugin '%s': out of memory", path);
        goto fail;
    }
    if (rebuilt) fcw_log_info("plugin %s was rebuilt: loading the new file", path);
    load_fn load;
    void *sym = lookup(dl, "fcw_plugin_load");
    memcpy(&load, &sym, sizeof load);
    sym = lookup(dl, "fcw_plugin_unload");
    memcpy(&l->unload, &sym, sizeof l->unload);
    if (load != NULL) {
        int refused = load();
        if (refused != 0) {
            snprintf(err, errlen, "plugin '%s': fcw_plugin_load() returned %d: expected 0 "
                     "(the plugin refused to load; its own log should say why)", path, refused);
            rc = -ECANCELED;
            goto fail;
        }
    }
    l->users = 1;
    l->next = registry;
    registry = l;
    *out = l;
    return 0;

fail:
    if (l != NULL) free(l->path);
    free(l);
    dlclose(dl);
    return rc;
}

/*
 * Opens path or finds it already open, and finds the entry point of route;
 * fcw_plugin_load runs only for a library that has it. Called with
 * registry_lock held.
 */
static int lib_acquire(const char *path, fcw_route route, plugin_lib **out, entry_fn *entry,
                       char *err, size_t errlen) {
    struct stat st;
    int rebuilt, rc;
    if ((rc = stat_library(path, &st, err, errlen)) < 0) return rc;
    if ((rc = lib_find(path, &st, route, out, entry, &rebuilt, err, errlen)) < 0) return rc;
    if (*out != NULL) {
        (*out)->users++;
        return 0;
    }
    void *dl;
    if ((rc = lib_open(path, rebuilt, &dl, err, errlen)) < 0) return rc;
    if ((rc = find_entry(dl, path, route, entry, err, errlen)) < 0) {
        dlclose(dl);
        return rc;
    }
    for (plugin_lib *l = registry; l != NULL; l = l->next) {
        if (l->dl == dl) {
            /* Same mapping (maybe through another path): share it. */
            dlclose(dl);
            l->users++;
            *out = l;
            return 0;
        }
    }
    return lib_register(dl, path, &st, rebuilt, out, err, errlen);
}

/* Called with registry_lock held. */
static void lib_release(plugin_lib *lib) {
    if (--lib->users > 0) return;
    for (plugin_lib **p = &registry; *p != NULL; p = &(*p)->next) {
        if (*p == lib) {
            *p = lib->next;
            break;
        }
    }
    if (lib->unload != NULL) lib->unload();
    dlclose(lib->dl);
    free(lib->path);
    free(lib);
}

static int run_plugin(fcw_handler *h, fcw_request *req, unsigned timeout_s) {
    plugin_handler *ph = h->impl;
    (void)timeout_s;
    /* Anything but FCW_OK is a failure: a plugin returning 1 did not succeed. */
    return ph->entry(req) == FCW_OK ? FCW_OK : FCW_ERROR;
}

static void destroy_plugin(fcw_handler *h) {
    plugin_handler *ph = h->impl;
    pthread_mutex_lock(&registry_lock);
    lib_release(ph->lib);
    pthread_mutex_unlock(&registry_lock);
    free(ph);
    free(h);
}

int fcw_plugin_create(const char *arg, fcw_route route, fcw_handler **out, char *err,
                      size_t errlen) {
    if ((unsigned)route >= FCW_ROUTE_COUNT) {
        snprintf(err, errlen, "plugin handlers serve initialize, pre-stop, pre-freeze "
                 "and invoke routes only");
        return -EINVAL;
    }
    if (strchr(arg, '/') == NULL) {
        /* A bare name would be searched in the system's library path. */
        snprintf(err, errlen, "plugin '%s': expected a path to a shared library, "
                 "e.g. plugin:/opt/function/libfn.so", arg);
        return -EINVAL;
    }
    int rc = -ENOMEM;
    fcw_handler *h = calloc(1, sizeof *h);
    plugin_handler *ph = calloc(1, sizeof *ph);
    if (h == NULL || ph == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    pthread_mutex_lock(&registry_lock);
    rc = lib_acquire(arg, route, &ph->lib, &ph->entry, err, errlen);
    pthread_mutex_unlock(&registry_lock);
    if (rc < 0) goto fail;

    h->run = run_plugin;
    h->destroy = destroy_plugin;
    h->impl = ph;
    *out = h;
    return 0;

fail:
    free(ph);
    free(h);
    return rc;
}
