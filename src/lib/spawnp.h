/* Starting a helper program (a hook) with posix_spawn, one way for wardend and wshd:
 * every signal at its default and none blocked, whatever the caller blocks or ignores;
 * only the three standard descriptors open. posix_spawn, not fork: copying the caller's
 * page tables cost more than the hook's own start on a VM. */
#ifndef W_SPAWNP_H
#define W_SPAWNP_H

#include <sys/types.h>

#include "error.h"

#define SPAWNP_NULL (-1)    /* this standard descriptor on /dev/null */
#define SPAWNP_INHERIT (-2) /* this standard descriptor as the caller has it */

struct spawnp {
    const char *path;
    char *const *argv; /* argv[0] included, NULL-terminated */
    char *const *envp;
    int fd[3];  /* what becomes 0, 1, 2: a descriptor, SPAWNP_NULL or SPAWNP_INHERIT */
    int pgroup; /* 1: the child leads a process group of its own (kill(-pid) ends all) */
};

/* The child's pid, or -1 with err ("posix_spawn PATH: ..."). */
pid_t spawnp_start(const struct spawnp *s, struct w_error *err);
/* Free a NULL-terminated vector of malloc'd strings and the vector (NULL is fine). */
void spawnp_strv_free(char **v);

#endif
