/* What keeps root in the container from being root on the host, as far as wshd's
 * processes go: the container's capability bounding set and the seccomp filter, both
 * applied once to wshd, pid 1, so that nothing started in the container can gain more
 * capabilities or lose the filter. doc/security.md has the whole picture. */
#ifndef W_WSHD_CONFINE_H
#define W_WSHD_CONFINE_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* wshd, after pivot_root: drop every capability not in keep from the bounding set and
 * empty the inheritable and ambient sets. wshd keeps its own permitted set: it needs
 * SETUID, SETGID and SYS_RESOURCE (rlimits) for the jobs it starts. */
int confine_bounding_set(uint64_t keep, struct w_error *err);
/* The job's child between clone and exec (shares wshd's memory: no malloc, system
 * calls only). Before setuid: an unprivileged job (uid != 0) drops the whole bounding
 * set. Returns -1 with errno set. */
int confine_child_caps(uid_t uid);
/* wshd, before it clones a child: what confine_child_caps needs (the capabilities left
 * in the bounding set, read once), so the child drops only those. */
void confine_prepare_child(void);
/* wshd, once set up and before it serves (unless --no-seccomp): load the default filter
 * (compiled in, see seccomp_gen.c) on wshd itself. Every job and copy child is a child
 * of wshd and inherits it: a filter is kept across clone, fork and exec, and nothing
 * removes one. None of them need load it again. */
int confine_seccomp(struct w_error *err);

#endif
