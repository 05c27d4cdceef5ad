/*
 * app_pool.h -- kept connections to an [app] server, shared by the request
 * threads: at most FCW_APP_POOL_MAX lent out at once, idle ones reused
 * (most recently used first), ones the server closed while idle dropped.
 * Both protocols use it (an HTTP app; a FastCGI server the worker did not
 * start).
 */
#ifndef FCW_APP_POOL_H
#define FCW_APP_POOL_H

#include <stdbool.h>

#include "app_config.h"

/* FC runs at most 200 requests at once on an instance. */
#define FCW_APP_POOL_MAX 200

typedef struct fcw_app_pool fcw_app_pool;

fcw_app_pool *fcw_app_pool_create(const fcw_addr *addr);
void fcw_app_pool_destroy(fcw_app_pool *p);
const fcw_addr *fcw_app_pool_addr(const fcw_app_pool *p);

/* Waits for a free slot until deadline_ms; 0, or -ETIMEDOUT when none came free. */
int fcw_app_pool_take(fcw_app_pool *p, long deadline_ms);
/* A free slot if there is one now: 0, or -EBUSY. */
int fcw_app_pool_try_take(fcw_app_pool *p);
/* An idle connection that is still open, or -1: connect a new one. */
int fcw_app_pool_idle(fcw_app_pool *p);
/* Returns the slot, and fd (when >= 0) to the idle ones if keep, else closes it. */
void fcw_app_pool_give(fcw_app_pool *p, int fd, int keep);

/*
 * A new non-blocking connection to addr, connected before deadline_ms; its
 * descriptor, or a negative errno (-ETIMEDOUT at the deadline).
 */
int fcw_app_connect(const fcw_addr *addr, long deadline_ms);
/* Whether an idle connection is still open (the server has not closed it). */
bool fcw_app_conn_open(int fd);

#endif
