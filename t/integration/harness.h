/*
 * harness.h -- what integration tests need, in one include: the real runtime
 * (scripts/run starting fcworker and nginx) on a free 127.0.0.1 port, an
 * HTTP/1.1 client, a raw FastCGI client for what nginx would never send, and
 * what more than one suite does around them: fixtures, fcworker run on its
 * own, what answers must hold, watching processes (the suite's marked ones
 * too) and logs, waiting for a condition. Each lives in a module of its own;
 * this header only gathers them.
 */
#ifndef FCW_HARNESS_H
#define FCW_HARNESS_H

#include "support/testutil.h"

#include "fcgi_client.h"
#include "fcworker_run.h"
#include "file_text.h"
#include "fixtures.h"
#include "http_assert.h"
#include "http_client.h"
#include "http_framing.h"
#include "marked_procs.h"
#include "procs.h"
#include "runtime.h"
#include "wait.h"

#endif
