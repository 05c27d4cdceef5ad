/*
 * file_text.h -- the text of a file: read whole, counted in, and waited for
 * while the runtime writes it (a log that grows).
 */
#ifndef FCW_FILE_TEXT_H
#define FCW_FILE_TEXT_H

/* The whole of a file as a NUL-terminated string (malloc'd; "" if missing). */
char *slurp(const char *path);
/* Number of non-overlapping occurrences of needle in hay. */
int count_substr(const char *hay, const char *needle);

/* Occurrences of needle in the file at path (0 if it is missing). */
int count_in_file(const char *path, const char *needle);
/*
 * Waits up to timeout_ms for n occurrences of needle in path (a log the
 * runtime is writing); the count last seen.
 */
int wait_for_count(const char *path, const char *needle, int n, int timeout_ms);

#endif
