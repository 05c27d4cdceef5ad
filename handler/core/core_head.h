/*
 * core_head.h -- a connection's next request head (core.c): looked at
 * before libfcgi reads it, and set aside, without a thread, while it is not
 * whole, so a client that stalls in its params holds no request thread.
 */
#ifndef FCW_CORE_HEAD_H
#define FCW_CORE_HEAD_H

#include "fcgi_record.h"

enum fcw_head_state { FCW_HEAD_READY, FCW_HEAD_PARTIAL, FCW_HEAD_NONE, FCW_HEAD_DROP };

/*
 * Looks at the head of the next request on fd (MSG_PEEK: libfcgi reads it
 * afterwards, and only once it is whole and sound, see fcgi_record.h).
 * FCW_HEAD_READY with *head filled; FCW_HEAD_PARTIAL; FCW_HEAD_NONE when
 * nothing is there yet; FCW_HEAD_DROP when the client closed or sent what
 * nginx never does (said on stderr).
 */
enum fcw_head_state fcw_core_head_look(int fd, fcw_fcgi_head *head);

/*
 * Sets fd aside until its head is whole, then hands it to rearm (0, or a
 * negative errno: fd is closed), or closes it after 10 s.
 */
void fcw_core_head_park(int fd, int (*rearm)(int fd));

#endif
