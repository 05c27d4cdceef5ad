/*
 * procs.h -- processes seen through /proc: their state and parent, the
 * children a process has, whether one still runs, its peak memory; and a
 * child the test started, waited for or stopped.
 */
#ifndef FCW_PROCS_H
#define FCW_PROCS_H

#include <stddef.h>
#include <sys/types.h>

/* Reads a /proc file whole (they report size 0); NULs become spaces. */
size_t read_proc(const char *path, char *buf, size_t len);
/* Children of pid right now, zombies (unreaped exits) included and counted apart. */
int children_of(pid_t pid, int *zombies);
/*
 * parent's live children, up to max, into pids (NULL when max is 0); their
 * number. Zombies (exited, not reaped) do not count, but are counted into
 * *zombies when it is given.
 */
int live_children(pid_t parent, pid_t *pids, int max, int *zombies);
/*
 * Fails the test unless parent has no child, running or zombie, within
 * timeout_ms (0: right now): handlers must reap what they start.
 */
void assert_no_children(pid_t parent, int timeout_ms);
/* pid runs: it exists and is neither a zombie nor dead. */
int process_alive(pid_t pid);
/* Waits up to timeout_ms for pid to stop running; 1 once it has. */
int wait_process_gone(pid_t pid, int timeout_ms);
/* Peak resident set of pid in kB (VmHWM of /proc/PID/status); -1 if unknown. */
long process_hwm_kb(pid_t pid);
/* SIGKILL to pid, a child of the test (a server it started), and reaps it. */
void stop_child(pid_t pid);
/*
 * Waits up to timeout_ms for pid, a child of the test, to exit and reaps
 * it: 1 with its wait status in *status (may be NULL), or 0 if it still runs.
 */
int wait_child(pid_t pid, int *status, int timeout_ms);
/* A wait status as a shell gives it: the exit code, or 128 + the signal. */
int exit_code(int status);

#endif
