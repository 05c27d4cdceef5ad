/*
 * process.h -- the worker's one process spawner: starting, signalling and
 * reaping the processes it runs (an exec: handler's program, an [app]'s
 * copies), the registry of those not yet reaped, and the orphans it adopts
 * as a subreaper.
 *
 * A child gets fds 0, 1 and 2 and nothing else of the worker, in a process
 * group of its own so that everything it starts can be stopped together.
 * When to stop it is its owner's decision (handler_exec.c, app_supervisor.c).
 */
#ifndef FCW_PROCESS_H
#define FCW_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Starts program (an exec: handler's) in dir; returns 0 and the worker's
 * non-blocking ends of the child's stdin, stdout and stderr pipes in
 * io[0..2], or a negative errno.
 */
int fcw_process_spawn_piped(const char *program, char *const argv[], const char *dir,
                            char *const envp[], pid_t *pid, int io[3]);
/*
 * Starts program in dir with fds[0..2] as its stdin, stdout and stderr (the
 * caller keeps its own descriptors), in its own process group, with default
 * signal dispositions and an empty mask. Returns 0 or a negative errno.
 */
int fcw_process_spawn_fds(const char *program, char *const argv[], const char *dir,
                          char *const envp[], const int fds[3], pid_t *pid);
/* A descriptor that polls readable when the child exits (not reaped), or a negative errno. */
int fcw_process_pidfd_open(pid_t pid);
/*
 * Sends sig to the child's process group, or to the child alone when none of
 * the group is left (it called setsid). Only while the child is unreaped.
 */
void fcw_process_signal_group(pid_t pid, int sig);
/*
 * SIGKILL to the process group of every child fcw_process_spawn_piped
 * started and fcw_process_reap has not reaped (the exec: programs, not the
 * apps): for a stop that cannot wait any longer. Returns how many.
 */
unsigned fcw_process_kill_piped(void);
/* waitpid(2) for pid, retried on EINTR: pid, or a negative errno. */
pid_t fcw_process_reap(pid_t pid, int *st);
/* "exited with status 3", "was killed by signal 9 (Killed)", ... for a log line. */
void fcw_process_describe_exit(int st, char *out, size_t outlen);

/*
 * Makes the worker the subreaper of everything it starts (prctl
 * PR_SET_CHILD_SUBREAPER): a process an app or a program leaves behind,
 * even one that called setsid(), becomes the worker's child instead of
 * PID 1's, so that the stop can end it. 0 or a negative errno.
 */
int fcw_process_adopt_orphans(void);
/* Reaps the adopted orphans that have exited (never a child the worker started). */
void fcw_process_reap_orphans(void);
/*
 * SIGKILL to every process that is still the worker's child, adopted
 * orphans included, and to theirs as they are adopted in turn, for up to
 * timeout_ms: the last step of the stop. Returns how many were killed.
 */
unsigned fcw_process_kill_everything(long timeout_ms);

#endif
