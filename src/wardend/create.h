/* create: CONFIG checked field by field, pools, then the hooks setup.sh, start.sh and
 * net.sh setup, as an op of the new container's queue. */
#ifndef W_CREATE_H
#define W_CREATE_H

struct req;

void cmd_create(struct req *r);

#endif
