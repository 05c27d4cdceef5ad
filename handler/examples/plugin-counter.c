/*
 * plugin-counter.c -- a plugin with state shared across invocations, and
 * every entry point of fcworker.h.
 *
 * Entry points run concurrently on many worker threads, so the state is
 * atomic. Invocation paths:
 *
 *   /, /invoke   200 "Hello, World!" + Function-Name, like the seed
 *   /count       "count=N": invocations so far (this one not counted),
 *                plus the headers Initialize-Calls and Load-Calls
 *   /fail        the function fails (FCW_ERROR): FC sees x-fc-status: 404
 *   /stream      three chunks, each sent at once with fcw_flush (SSE-like);
 *                ?gate=/some/file waits (up to 10 s) for that file before the
 *                second chunk, so a test can see the first chunk arrive alone
 *   others       404 "no such path", a normal answer of a web function
 *
 * Build: cc -fPIC -shared -I/path/to/fcworker/include -o plugin-counter.so plugin-counter.c
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fcworker.h"

static atomic_ulong invocations;
static atomic_ulong initialize_calls;
static atomic_ulong load_calls;
static const char *function_name;

/* Runs once per load, before any entry point: read the environment here. */
int fcw_plugin_load(void) {
    function_name = getenv("FC_FUNCTION_NAME");
    atomic_fetch_add(&load_calls, 1);
    return 0;
}

void fcw_plugin_unload(void) {
    fprintf(stderr, "plugin-counter: unloaded after %lu invocations\n",
            atomic_load(&invocations));
}

static int answer(fcw_request *req, const char *text) {
    fcw_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    return fcw_write(req, text, strlen(text)) == 0 ? FCW_OK : FCW_ERROR;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * FC sends /initialize once, but a local driver may send several at once:
 * fcworker runs this once and gives the others its answer. The pause makes
 * the overlap likely when a test sends them together.
 */
int fcw_initialize(fcw_request *req) {
    unsigned long n = atomic_fetch_add(&initialize_calls, 1) + 1;
    sleep_ms(200);
    fcw_log(req, "plugin-counter: initialized (call %lu)", n);
    return answer(req, "initialized");
}

int fcw_pre_stop(fcw_request *req) {
    char msg[64];
    unsigned long n = atomic_load(&invocations);
    fcw_log(req, "plugin-counter: pre-stop after %lu invocations", n);
    snprintf(msg, sizeof msg, "pre-stop after %lu invocations", n);
    return answer(req, msg);
}

int fcw_pre_freeze(fcw_request *req) {
    return answer(req, "pre-freeze");
}

/* The value of key in a query string ("a=1&gate=/x"), or NULL. */
static const char *query_value(const char *query, const char *key, char *out, size_t outlen) {
    size_t klen = strlen(key);
    for (const char *p = query; p != NULL && *p != '\0';) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t n = strcspn(p + klen + 1, "&");
            if (n >= outlen) return NULL;
            memcpy(out, p + klen + 1, n);
            out[n] = '\0';
            return out;
        }
        p = strchr(p, '&');
        if (p != NULL) p++;
    }
    return NULL;
}

static int stream(fcw_request *req) {
    char gate[256];
    fcw_add_header(req, "Content-Type", "text/event-stream");
    if (fcw_write(req, "data: chunk 1\n\n", 15) != 0 || fcw_flush(req) != 0) return FCW_ERROR;
    if (query_value(fcw_query(req), "gate", gate, sizeof gate) != NULL)
        for (int i = 0; i < 1000 && access(gate, F_OK) != 0; i++) sleep_ms(10);
    if (fcw_write(req, "data: chunk 2\n\n", 15) != 0 || fcw_flush(req) != 0) return FCW_ERROR;
    return fcw_write(req, "data: chunk 3\n\n", 15) == 0 ? FCW_OK : FCW_ERROR;
}

int fcw_invoke(fcw_request *req) {
    const char *path = fcw_path(req);
    char msg[64];

    if (strcmp(path, "/count") == 0) {
        snprintf(msg, sizeof msg, "%lu", atomic_load(&initialize_calls));
        fcw_add_header(req, "Initialize-Calls", msg);
        snprintf(msg, sizeof msg, "%lu", atomic_load(&load_calls));
        fcw_add_header(req, "Load-Calls", msg);
        snprintf(msg, sizeof msg, "count=%lu", atomic_load(&invocations));
        return answer(req, msg);
    }
    atomic_fetch_add(&invocations, 1);
    if (strcmp(path, "/") == 0 || strcmp(path, "/invoke") == 0) {
        if (function_name != NULL) fcw_add_header(req, "Function-Name", function_name);
        return answer(req, "Hello, World!");
    }
    if (strcmp(path, "/fail") == 0) {
        fcw_log(req, "plugin-counter: failing on purpose");
        return FCW_ERROR;
    }
    if (strcmp(path, "/stream") == 0) return stream(req);
    fcw_set_status(req, 404);
    return answer(req, "no such path\n");
}
