/*
 * program.h -- finding a program to start and checking that it can start:
 * a regular, executable file whose #! interpreter exists, so that a typo or
 * an image without python3 is reported at start-up, not at the first request.
 */
#ifndef FCW_PROGRAM_H
#define FCW_PROGRAM_H

#include <stddef.h>

/*
 * The path of name: as it is when it holds a '/' (relative to dir when it
 * does not start with one and dir is not NULL), else looked up on PATH.
 * 0 with a malloc'd path in *out, or a negative errno (-ENOENT: not on PATH)
 * with what is wrong in err.
 */
int fcw_program_find(const char *name, const char *dir, char **out, char *err, size_t errlen);

/*
 * 0 when path is an executable regular file and, for a script, its #!
 * interpreter (and the program `#!/usr/bin/env NAME` names) is found;
 * else a negative errno with what is wrong, and what to do, in err.
 */
int fcw_program_check(const char *path, char *err, size_t errlen);

#endif
