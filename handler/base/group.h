/*
 * group.h -- a group as a setting names it: by number or by name.
 */
#ifndef FCW_GROUP_H
#define FCW_GROUP_H

#include <sys/types.h>

/*
 * The group text names ("33" or "www-data") in *gid: 0, -EINVAL for text
 * that is neither a number nor a name, or -ENOENT for a name no group has.
 * A number is taken as it is, without a lookup: fcworker-run passes one, so
 * a cold start pays no name service (NSS) round.
 */
int fcw_group_id(const char *text, gid_t *gid);

/* What fcw_group_id's error rc means, for "KEY = 'VALUE': ..." messages. */
const char *fcw_group_strerror(int rc);

#endif
