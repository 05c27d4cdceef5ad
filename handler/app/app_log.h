/*
 * app_log.h -- an app's stdout or stderr turned into whole lines on the
 * worker's own stdout or stderr.
 *
 * The app writes into a unix stream socket whose reading end has
 * SO_PASSCRED: the kernel then never hands out the data of two writing
 * processes in one recvmsg and says which process wrote each piece, so a
 * line is put together per process. The processes of one app (gunicorn's
 * workers, Node's cluster) share the socket and may write a line in pieces
 * (CPython's print under PYTHONUNBUFFERED writes the text, then the
 * newline); their lines still never run into each other. A pipe cannot
 * tell writers apart.
 *
 * Each line goes out in one write(2) through fclog.c's lock, so it never
 * runs into a line of the worker's either. A line longer than FC's 32 KB
 * limit is split into pieces of that size rather than lost.
 *
 * With the worker writing FC's lines (fc_lines = worker), lines of the
 * app's in FC's Start/End form are dropped: FC must see one pair per
 * request, and an app written for FC prints its own.
 */
#ifndef FCW_APP_LOG_H
#define FCW_APP_LOG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* FC keeps at most 32 KB of one log line; the newline is counted in. */
#define FCW_APP_LINE_MAX (32 * 1024 - 1)
/* Lines of stderr kept to explain an app that fails to start. */
#define FCW_APP_TAIL_LINES 8
#define FCW_APP_TAIL_LINE_MAX 240
/*
 * Processes with a line begun and not ended, held at once. One more ends
 * the line of the one that wrote least recently: processes that died
 * mid-line do not hold memory for ever.
 */
#define FCW_APP_WRITERS 16

/* The line a process has begun. */
typedef struct fcw_line_writer {
    pid_t pid;
    size_t len;               /* bytes held; 0: the slot is free */
    size_t cap;
    char *buf;                /* cap bytes, grown up to FCW_APP_LINE_MAX + 1 */
    unsigned long used;       /* the stream's clock when it last wrote */
} fcw_line_writer;

typedef struct fcw_line_stream {
    int src;                  /* our end of the app's socket (SO_PASSCRED), or -1 */
    int dst;                  /* STDOUT_FILENO or STDERR_FILENO */
    int keep_tail;            /* remember the last lines (stderr) */
    int drop_fc;              /* drop the app's FC lines; atomic: a reload may change it */
    unsigned long clock;
    fcw_line_writer w[FCW_APP_WRITERS];
    /* Whole lines not written yet: written together, at most PIPE_BUF, in one write. */
    size_t out_len;
    char out[PIPE_BUF];
    unsigned tail_next;
    char tail[FCW_APP_TAIL_LINES][FCW_APP_TAIL_LINE_MAX + 1];
} fcw_line_stream;

void fcw_line_stream_init(fcw_line_stream *s, int src, int dst, int keep_tail);

/* Lines in FC's Start/End form from now on dropped (fc_lines = worker) or kept. */
void fcw_line_stream_drop_fc_lines(fcw_line_stream *s, bool drop);

/*
 * Takes n bytes process pid wrote; writes every line they complete. Pieces
 * of different processes never join.
 */
void fcw_line_stream_feed(fcw_line_stream *s, pid_t pid, const char *data, size_t n);

/*
 * Reads what the socket holds now and writes the lines it completes. Returns
 * true at end of file (the socket is closed and the lines begun written).
 */
bool fcw_line_stream_pump(fcw_line_stream *s);

/* Writes every line begun and not ended, oldest first (at the app's end). */
void fcw_line_stream_flush(fcw_line_stream *s);

/* Closes the socket and frees what the stream holds; begun lines are written. */
void fcw_line_stream_free(fcw_line_stream *s);

/* The kept lines, oldest first, each after "\n    ", into out. */
void fcw_line_stream_tail(const fcw_line_stream *s, char *out, size_t outlen);

/*
 * Whether a line (without its newline) is one of FC's Start/End lines:
 * "FC <Initialize|Invoke|PreStop|PreFreeze> <Start|End> RequestId: ...",
 * the words in any case, as FC's own examples vary ("FC invoke Start").
 */
bool fcw_app_log_is_fc_line(const char *line, size_t len);

/*
 * Makes the pair of sockets an app's stdout or stderr is: app_end for the
 * app's fd 1 or 2, our_end (SO_PASSCRED) to read. 0 or a negative errno.
 */
int fcw_app_log_socket(int *our_end, int *app_end);

#endif
