/*
 * file_text.h -- the text of a file: read whole, counted in, searched by
 * a test that fails without what it looks for, and waited for while the
 * runtime writes it (a log that grows); text matched against a pattern.
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
/* Fails the test unless needle is in the file at path (shown, up to 6000 bytes). */
void assert_in_file(const char *path, const char *needle);

/*
 * s matches the extended regular expression pattern, compiled with cflags
 * added (REG_NEWLINE: ^ and $ match at every line); a bad pattern fails the test.
 */
int matches(const char *pattern, const char *s, int cflags);

#endif
