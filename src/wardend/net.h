/* `net in` and `net out` (PROTOCOL.md): their arguments, the host ports of net in
 * (registry's port_pool, each container's ports), create's network_address; the rules
 * themselves are made by the hook net.sh, in the container's op queue. */
#ifndef W_NET_H
#define W_NET_H

#include <json-c/json.h>

#include "error.h"

struct container;
struct req;

/* The command table's check column for net: direction, counts, ports, SPEC, OPTS. */
int net_check(struct req *r, struct w_error *err);
/* -1 with err when it fails at once; else its op replies. */
int cmd_net(struct req *r, struct container *ct, struct w_error *err);
/* create's `network_address` (ADDRESS/PREFIX outside the pool, used by no container
 * and no host interface) into ct->network_address. */
int net_set_address(struct container *ct, struct json_object *v, struct w_error *err);

#endif
