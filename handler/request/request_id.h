/*
 * request_id.h -- the id every log line of a request carries.
 */
#ifndef FCW_REQUEST_ID_H
#define FCW_REQUEST_ID_H

#include <stdbool.h>
#include <stddef.h>

/* FC's ids are ~40 characters; anything longer is cut, so log lines stay short. */
#define FCW_REQUEST_ID_MAX 128

/*
 * Copies the x-fc-request-id value into out (FCW_REQUEST_ID_MAX + 1 bytes),
 * replacing every byte that is not printable ASCII or is a space with '_',
 * so a hostile header cannot forge or split a log line. Without a usable
 * value (NULL or empty) it generates a UUID-shaped id. Returns true if the
 * id was generated, false if it came from the header.
 */
bool fcw_request_id_make(const char *header, char *out);

#endif
