/* create: CONFIG checked field by field, pools, then the hooks setup.sh, start.sh and
 * net.sh setup, as an op of the new container's queue. */
#ifndef W_CREATE_H
#define W_CREATE_H

#include "error.h"

struct req;

/* Checks CONFIG and starts the create; -1 with err (nothing taken, no reply yet) when
 * CONFIG is bad or a pool is empty, else the op replies when it ends. */
int cmd_create(struct req *r, struct w_error *err);

/* warm.h's warm_prepare_fn: start the create of a warm pool container (default options,
 * handle = id, not registered); done runs once when it ended. */
struct container;
int create_pooled(void (*done)(struct container *ct, const char *error), struct w_error *err);

/* info's "create_options": the CONFIG options of create that the container keeps
 * (bind_mounts, tmpfs_mounts, sysctls, hostname, read_only_root, network_address) back
 * in create's own JSON shapes, rebuilt from the lists the hooks read; a new object. */
struct json_object *create_options_info(const struct container *ct);

#endif
