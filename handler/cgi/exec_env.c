/*
 * exec_env.c -- the program of an exec: handler and the environment it runs in.
 *
 * CGI/1.1 passes the request to the program in its environment (RFC 3875,
 * section 4.1). On FC the environment is also how a function is configured
 * (environmentVariables in s.yaml, compose's environment:), so the program
 * gets the container's environment too: all of it but the worker's own
 * FCWORKER_* settings, with the request's meta-variables on top. Hiding the
 * rest would protect nothing: the credentials (ALIBABA_CLOUD_*) are the
 * function's to use anyway.
 */
#include "exec_env.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "program.h"

extern char **environ;

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- creation: spec, program check, the static environment ---- */

static int split_args(fcw_exec_spec *x, const char *arg, char *err, size_t errlen) {
    size_t n = 0;
    char *save = NULL;

    x->args = strdup(arg);
    x->argv = calloc(strlen(arg) / 2 + 2, sizeof *x->argv);
    if (x->args == NULL || x->argv == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    /* No shell: whitespace separates arguments, nothing is quoted or expanded. */
    for (char *t = strtok_r(x->args, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
        x->argv[n++] = t;
    if (n == 0) {
        snprintf(err, errlen, "no program: expected exec:/path/to/program [args...]");
        return -EINVAL;
    }
    return 0;
}

/*
 * The child runs in the program's directory (RFC 3875 8.1), so a relative
 * program path is made absolute against the worker's directory first.
 */
static int resolve_program(fcw_exec_spec *x, char *err, size_t errlen) {
    const char *p = x->argv[0];
    if (p[0] == '/') {
        x->program = strdup(p);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL) {
            int e = fcw_errno();
            snprintf(err, errlen, "program '%s' is relative and the working directory "
                     "is unknown (%s): give an absolute path", p, fcw_strerror(e));
            return e;
        }
        if (asprintf(&x->program, "%s/%s", cwd, p) < 0) x->program = NULL;
    }
    if (x->program == NULL || (x->dir = strdup(x->program)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    char *slash = strrchr(x->dir, '/');
    slash[slash == x->dir ? 1 : 0] = '\0';
    x->argv[0] = x->program;
    return 0;
}

static bool env_is(const char *entry, const char *name) {
    size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/*
 * The meta-variables of RFC 3875 section 4.1 and the extensions the worker
 * sets. They describe one request, so the container's variables of these
 * names never reach the program: a request without a body must not seem to
 * have the CONTENT_TYPE the image exported, nor a REMOTE_USER.
 */
static const char *const request_names[] = {
    "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "FC_REQUEST_ID", "GATEWAY_INTERFACE",
    "PATH_INFO", "PATH_TRANSLATED", "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST",
    "REMOTE_IDENT", "REMOTE_PORT", "REMOTE_USER", "REQUEST_METHOD", "REQUEST_URI",
    "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE", NULL,
};

/*
 * What the program inherits from the worker: everything but the worker's
 * own configuration (FCWORKER_*) and the request's meta-variables. HTTP_*
 * variables of the container (an HTTP_PROXY the operator set) are inherited
 * too, unless the request has a header of that name (fcw_exec_env_build).
 */
static bool inherited(const char *entry) {
    if (strncmp(entry, "FCWORKER_", 9) == 0 || strchr(entry, '=') == NULL) return false;
    for (int i = 0; request_names[i]; i++)
        if (env_is(entry, request_names[i])) return false;
    return true;
}

static int build_static_env(fcw_exec_spec *x) {
    size_t n = 0;
    int have_path = 0;
    for (char **e = environ; e && *e; e++) n++;
    x->static_env = calloc(n + 4, sizeof *x->static_env);
    if (x->static_env == NULL) return -ENOMEM;
    for (char **e = environ; e && *e; e++) {
        if (!inherited(*e)) continue;
        if (env_is(*e, "PATH")) have_path = 1;
        if ((x->static_env[x->nstatic++] = strdup(*e)) == NULL) return -ENOMEM;
    }
    /* A shell script without PATH finds no command at all. */
    if (!have_path && (x->static_env[x->nstatic++] = strdup(DEFAULT_PATH)) == NULL) return -ENOMEM;
    /* The same for every request: made here, not sent by nginx each time. */
    if ((x->static_env[x->nstatic++] = strdup("GATEWAY_INTERFACE=CGI/1.1")) == NULL) return -ENOMEM;
    if ((x->static_env[x->nstatic++] = strdup("SERVER_SOFTWARE=fcworker")) == NULL) return -ENOMEM;
    return 0;
}

int fcw_exec_spec_create(const char *arg, fcw_exec_spec **out, char *err, size_t errlen) {
    int rc;
    fcw_exec_spec *x = calloc(1, sizeof *x);

    *out = NULL;
    if (x == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((rc = split_args(x, arg, err, errlen)) < 0 || (rc = resolve_program(x, err, errlen)) < 0 ||
        (rc = fcw_program_check(x->program, err, errlen)) < 0)
        goto fail;
    if ((rc = build_static_env(x)) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    *out = x;
    return 0;

fail:
    fcw_exec_spec_free(x);
    return rc;
}

void fcw_exec_spec_free(fcw_exec_spec *x) {
    if (x == NULL) return;
    for (size_t i = 0; x->static_env && i < x->nstatic; i++) free(x->static_env[i]);
    free(x->static_env);
    free(x->argv);
    free(x->args);
    free(x->program);
    free(x->dir);
    free(x);
}

/* ---- per request: the CGI environment ---- */

/* Request params passed on as they are (RFC 3875 section 4.1), when not empty. */
static const char *const cgi_params[] = {
    "CONTENT_LENGTH", "CONTENT_TYPE", "REMOTE_ADDR", "REMOTE_PORT", "REQUEST_URI",
    "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", NULL,
};

static bool passed_param(const char *entry) {
    const char *eq = strchr(entry, '=');
    if (eq == NULL) return false;
    /*
     * httpoxy (CVE-2016-5385): HTTP_PROXY from a "Proxy:" request header
     * would become the program's outgoing proxy. conf/nginx.conf hides the
     * header; it is never passed either way, whatever the server sends.
     */
    if (strncmp(entry, "HTTP_PROXY=", 11) == 0) return false;
    /* The request's id, as the worker logs it, is made in own instead. */
    if (strncmp(entry, "HTTP_X_FC_REQUEST_ID=", 21) == 0) return false;
    if (strncmp(entry, "HTTP_", 5) == 0) return true;
    if (eq[1] == '\0') return false;
    for (int i = 0; cgi_params[i]; i++)
        if (env_is(entry, cgi_params[i])) return true;
    return false;
}

/* Whether "A=..." and "B=..." name the same variable. */
static bool same_name(const char *a, const char *b) {
    while (*a == *b && *a != '=' && *a != '\0') {
        a++;
        b++;
    }
    return *a == '=' && *b == '=';
}

/* Whether a passed HTTP_* param other than envp[i] has the name of envp[i]. */
static bool repeated(char **envp, size_t i) {
    if (strncmp(envp[i], "HTTP_", 5) != 0 || !passed_param(envp[i])) return false;
    for (size_t j = 0; envp[j] != NULL; j++)
        if (j != i && same_name(envp[i], envp[j]) && passed_param(envp[j])) return true;
    return false;
}

static int hex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * PATH_INFO is the path decoded (RFC 3875 4.1.5: "%2F" is "/"), where
 * REQUEST_URI stays as the client sent it. A "%00", which an environment
 * variable cannot hold, and a malformed escape leave the path undecoded.
 */
static int own_add_path_info(fcw_buf *own, const char *path) {
    size_t n = strlen(path), k = 0;
    char *d = malloc(n + 1);
    if (d == NULL) return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (path[i] == '%' && i + 2 < n + 1 && (hi = hex((unsigned char)path[i + 1])) >= 0 &&
            (lo = hex((unsigned char)path[i + 2])) >= 0 && (hi | lo) != 0) {
            d[k++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (path[i] == '%') {
            k = 0;
            break;
        } else {
            d[k++] = path[i];
        }
    }
    d[k] = '\0';
    int rc = fcw_buf_appendf(own, "PATH_INFO=%s", k ? d : path);
    free(d);
    return rc < 0 ? rc : fcw_buf_append(own, "", 1);
}

static int own_add(fcw_buf *own, const char *name, const char *value) {
    int rc = fcw_buf_appendf(own, "%s=%s", name, value);
    if (rc < 0) return rc;
    return fcw_buf_append(own, "", 1); /* keeps the terminator in the buffer */
}

/*
 * A header sent more than once reaches the worker as one param per line
 * (HTTP_X_DUP=first, HTTP_X_DUP=second), and a program would see one of
 * them only (C's getenv the first, sh and Python the last). RFC 3875 4.1.18:
 * one variable, the values in the order sent, joined as HTTP joins a list
 * (", "), or with "; " for Cookie (RFC 6265 5.4). Written to own for the
 * first param of each repeated name.
 */
static int own_add_combined(fcw_buf *own, char **envp, size_t first) {
    const char *sep = strncmp(envp[first], "HTTP_COOKIE=", 12) == 0 ? "; " : ", ";
    if (fcw_buf_append(own, envp[first], strlen(envp[first])) < 0) return -ENOMEM;
    for (size_t j = first + 1; envp[j] != NULL; j++) {
        if (!same_name(envp[first], envp[j]) || !passed_param(envp[j])) continue;
        const char *value = strchr(envp[j], '=') + 1;
        if (fcw_buf_append(own, sep, 2) < 0 || fcw_buf_append(own, value, strlen(value)) < 0)
            return -ENOMEM;
    }
    return fcw_buf_append(own, "", 1);
}

/* Whether the container's HTTP_* variable entry is one the request sets itself. */
static bool set_by_request(const char *entry, char **params) {
    if (strncmp(entry, "HTTP_", 5) != 0) return false;
    if (env_is(entry, "HTTP_X_FC_REQUEST_ID")) return true;
    for (char **p = params; p && *p; p++)
        if (same_name(entry, *p) && passed_param(*p)) return true;
    return false;
}

/*
 * The per-request part, on top of the static one: a variable the request
 * sets hides the container's variable of that name. Params and the static
 * part are pointed to, not copied: both outlive the child's start. Only the
 * variables made from the request's parsed fields and its repeated headers
 * are written to env->own.
 */
int fcw_exec_env_build(const fcw_exec_spec *x, const fcw_request *req, fcw_exec_env *env) {
    size_t nparams = 0, n = 0;
    fcw_buf *own = &env->own;
    char **params = req->envp;

    /*
     * SCRIPT_NAME is empty: the program is the whole function, so PATH_INFO
     * is the whole path and SCRIPT_NAME + PATH_INFO is still the request's.
     * The request id is the worker's, in both: generated when the request
     * came without one, so code that reads the header finds it too.
     */
    if (own_add(own, "REQUEST_METHOD", req->method) != 0 ||
        own_add(own, "QUERY_STRING", req->query) != 0 ||
        own_add_path_info(own, req->path) != 0 ||
        own_add(own, "SCRIPT_NAME", "") != 0 ||
        own_add(own, "FC_REQUEST_ID", req->request_id) != 0 ||
        own_add(own, "HTTP_X_FC_REQUEST_ID", req->request_id) != 0)
        return -ENOMEM;
    for (size_t i = 0; params && params[i]; i++) {
        nparams++;
        if (!repeated(params, i)) continue;
        int first = 1;
        for (size_t j = 0; j < i && first; j++)
            if (same_name(params[i], params[j]) && passed_param(params[j])) first = 0;
        if (first && own_add_combined(own, params, i) != 0) return -ENOMEM;
    }

    size_t nown = 0;
    for (size_t off = 0; off < own->len; off += strlen(own->data + off) + 1) nown++;
    env->envp = calloc(nown + nparams + x->nstatic + 1, sizeof *env->envp);
    if (env->envp == NULL) return -ENOMEM;
    /* Pointers into own only now: appending may have moved it. */
    for (size_t off = 0; off < own->len; off += strlen(own->data + off) + 1)
        env->envp[n++] = own->data + off;
    for (size_t i = 0; i < nparams; i++)
        if (passed_param(params[i]) && !repeated(params, i)) env->envp[n++] = params[i];
    for (size_t i = 0; i < x->nstatic; i++)
        if (!set_by_request(x->static_env[i], params)) env->envp[n++] = x->static_env[i];
    env->envp[n] = NULL;
    return 0;
}

void fcw_exec_env_free(fcw_exec_env *env) {
    free(env->envp);
    fcw_buf_free(&env->own);
}
