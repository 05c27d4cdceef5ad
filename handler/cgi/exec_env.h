/*
 * exec_env.h -- what an exec: handler starts: the program and its environment.
 *
 * The spec is parsed and the program checked once, when the handler is
 * created, so a missing or non-executable program is found at start-up or
 * reload, never at the first request. The part of the environment that is
 * the same for every request is built then too (the container's variables
 * but FCWORKER_*); each request adds its own CGI meta-variables and headers
 * on top, which win over a container variable of the same name.
 */
#ifndef FCW_EXEC_ENV_H
#define FCW_EXEC_ENV_H

#include <stddef.h>

#include "buf.h"
#include "request.h"

/* An exec: handler's spec, checked: read-only once created, shared by threads. */
typedef struct fcw_exec_spec {
    char *program;        /* absolute path, argv[0] */
    char *dir;            /* its directory: the child's working directory */
    char *args;           /* the spec, split in place; argv points into it */
    char **argv;
    char **static_env;    /* "NAME=value", built at creation; nstatic of them */
    size_t nstatic;
} fcw_exec_spec;

/*
 * Parses arg ("/path/to/program [args...]", after "exec:") into *out, checks
 * that the program is an executable regular file and builds the static
 * environment. 0, or a negative errno with what is wrong in err.
 */
int fcw_exec_spec_create(const char *arg, fcw_exec_spec **out, char *err, size_t errlen);
void fcw_exec_spec_free(fcw_exec_spec *x);

/* One request's environment, for the child's start. */
typedef struct fcw_exec_env {
    char **envp;
    fcw_buf own;          /* the variables made here, "NAME=value\0" each */
} fcw_exec_env;

#define FCW_EXEC_ENV_INIT {NULL, FCW_BUF_INIT}

/*
 * Fills env (FCW_EXEC_ENV_INIT) for req; env->envp points into req's params
 * and x, so both must outlive the child's start. 0, or -ENOMEM;
 * fcw_exec_env_free(env) is needed either way.
 */
int fcw_exec_env_build(const fcw_exec_spec *x, const fcw_request *req, fcw_exec_env *env);
void fcw_exec_env_free(fcw_exec_env *env);

#endif
