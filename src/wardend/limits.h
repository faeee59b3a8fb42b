/* Resource limits (PROTOCOL.md `limit`, create's `limits` and `disk_size_mb`, info's
 * stats): values checked here, written by limit.sh (and setup.sh for the disk image),
 * kept in ct->limits, which the snapshot saves. */
#ifndef W_LIMITS_H
#define W_LIMITS_H

#include <json-c/json.h>

#include "error.h"

struct container;
struct req;

/* The command table's check of `["limit", H, NAME, VALUE...]`: the name, the number of
 * values and the values, in that order (PROTOCOL.md's error strings). */
int limits_check(struct req *r, struct w_error *err);
/* Reads reply at once; writes run limit.sh in ct's op queue (for mem, the OOM watch is
 * armed first) and reply when it ends. -1 with err when it fails at once. */
int cmd_limit(struct req *r, struct container *ct, struct w_error *err);

/* Create's CONFIG: `limits` (may be NULL) and `disk_size_mb` (<= 0: none). Checks every
 * field and fills ct_limits with the values as info shows them; `disk` (bytes) there is
 * what makes setup.sh create the image (rounded up to a MiB: registry's ct_make_env). */
int limits_parse_create(struct json_object *limits, long long disk_size_mb,
                        struct json_object *ct_limits, struct w_error *err);
/* The arguments of the one limit.sh run that applies ct->limits at create (without
 * disk: setup.sh made the image), NULL-terminated in argv (at most 8 entries) with the
 * numbers formatted into buf; returns their count (0: nothing to run). */
int limits_create_args(struct container *ct, const char **argv, char buf[][32]);

/* info: `limits` is ct->limits; this adds disk_stat (with a disk image) and
 * bandwidth_stat (with a bandwidth limit) to info and their flat figures to stats. */
void limits_info(struct container *ct, struct json_object *info, struct json_object *stats);

#endif
