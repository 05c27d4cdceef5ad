/*
 * fd.h -- small helpers for the worker's file descriptors.
 *
 * Every descriptor the worker opens is close-on-exec from the start
 * (SOCK_CLOEXEC, O_CLOEXEC, pipe2): the worker is multi-threaded, so one
 * thread's fork+exec may come between another's open and its fcntl.
 */
#ifndef FCW_FD_H
#define FCW_FD_H

/* Closes *fd unless it is -1 already, and sets it to -1. */
void fcw_fd_close(int *fd);

/* Adds O_NONBLOCK to fd's status flags. 0 or a negative errno. */
int fcw_fd_set_nonblocking(int fd);

/*
 * fd itself when it is above 2, else a close-on-exec copy of it above 2
 * (fd is closed): a descriptor that landed on 0, 1 or 2 (the worker started
 * with a standard descriptor closed) would be clobbered when a child's
 * stdio is set up with dup2. The descriptor, or a negative errno (fd is
 * closed then too).
 */
int fcw_fd_above_stdio(int fd);

#endif
