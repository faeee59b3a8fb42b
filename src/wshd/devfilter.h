/* cgroup v2 has no devices.allow: the container's device allow-list is a BPF program
 * (BPF_PROG_TYPE_CGROUP_DEVICE) attached to its cgroup. Run as `wshd --device-filter
 * DIR` by lib/cgroup.sh (cg_create), on the host, before the container's init joins
 * DIR. The program outlives us: the attachment holds it until the cgroup is removed. */
#ifndef W_WSHD_DEVFILTER_H
#define W_WSHD_DEVFILTER_H

#include "error.h"

/* Replace whatever device programs DIR has of its own with the allow-list (null, zero,
 * full, random, urandom, tty, ptmx, pts, and mknod of any node: as the v1 list).
 * Returns 1 when DIR is not on a cgroup2 file system (nothing to attach to: no process
 * there is under any cgroup v2 control), 0 when attached, -1 on error. */
int devfilter_attach(const char *dir, struct w_error *err);

#endif
