/* snapshot.json: what a restarted wardend needs to adopt a container, written after
 * each change that a restart must know (temp file + rename, so a crash leaves the old
 * one or the new one) and read back at start-up. */
#ifndef W_SNAPSHOT_H
#define W_SNAPSHOT_H

#include <json-c/json.h>

#include "error.h"

struct container;

/* Who knows the container's jobs (job.c) gives their options as a new object; set
 * once at start-up by main, so this module calls nothing above it. */
void snapshot_set_jobs(struct json_object *(*jobs)(struct container *ct));
/* Write <container>/snapshot.json (`state` "destroying" while ct->destroying); a
 * failure (a full depot) is logged, the old file stays whole, and the container goes
 * on (a restart sees what the old file says). */
void snapshot_save(struct container *ct);
/* The same, for a caller that must know: 0, or -1 with err (the old file stays). */
int snapshot_write_state(struct container *ct, struct w_error *err);
/* Fill ct (id and path set) from its snapshot.json, checked field by field; 0 when it is
 * usable, and then *snap holds the parsed file (the caller puts it), else -1 with err
 * naming the check that failed. */
int snapshot_load(struct container *ct, struct json_object **snap, struct w_error *err);

#endif
