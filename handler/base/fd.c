/*
 * fd.c -- small helpers for the worker's file descriptors.
 */
#include "fd.h"

#include <fcntl.h>
#include <unistd.h>

#include "error.h"

void fcw_fd_close(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

int fcw_fd_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return fcw_errno();
    return 0;
}

int fcw_fd_above_stdio(int fd) {
    if (fd > 2) return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0) moved = fcw_errno();
    close(fd);
    return moved;
}
