/*
 * app_log.h -- an app's stdout or stderr pipe turned into whole lines on the
 * worker's own stdout or stderr.
 *
 * Lines are copied as the app wrote them, one write(2) each through
 * fclog.c's lock, so a line never runs into another line of the app's or a
 * line of the worker's, however many processes the app has. A line longer
 * than FC's 32 KB limit is split into pieces of that size rather than lost.
 */
#ifndef FCW_APP_LOG_H
#define FCW_APP_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* FC keeps at most 32 KB of one log line; the newline is counted in. */
#define FCW_APP_LINE_MAX (32 * 1024 - 1)
/* Lines of stderr kept to explain an app that fails to start. */
#define FCW_APP_TAIL_LINES 8
#define FCW_APP_TAIL_LINE_MAX 240

typedef struct fcw_line_stream {
    int src;                  /* our read end of the app's pipe (non-blocking), or -1 */
    int dst;                  /* STDOUT_FILENO or STDERR_FILENO */
    size_t len;               /* bytes of the line being collected */
    int keep_tail;            /* remember the last lines (stderr) */
    unsigned tail_next;
    char tail[FCW_APP_TAIL_LINES][FCW_APP_TAIL_LINE_MAX + 1];
    char line[FCW_APP_LINE_MAX + 1];  /* + its newline */
} fcw_line_stream;

void fcw_line_stream_init(fcw_line_stream *s, int src, int dst, int keep_tail);

/* Takes n bytes of the app's output; writes every line they complete. */
void fcw_line_stream_feed(fcw_line_stream *s, const char *data, size_t n);

/*
 * Reads what the pipe holds now and writes the lines it completes. Returns
 * true at end of file (the pipe is closed and the last partial line
 * written).
 */
bool fcw_line_stream_pump(fcw_line_stream *s);

/* Writes a last line that has no newline yet (at the app's exit). */
void fcw_line_stream_flush(fcw_line_stream *s);

/* The kept lines, oldest first, each after "\n    ", into out. */
void fcw_line_stream_tail(const fcw_line_stream *s, char *out, size_t outlen);

#endif
