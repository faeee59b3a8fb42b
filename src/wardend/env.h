/* The hook environment of doc/hooks.md: built from plain values, so this module knows
 * the table and the config but no container type. */
#ifndef W_ENV_H
#define W_ENV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What the environment of one container's hooks is made of (all borrowed). */
struct env_ct {
    const char *id, *handle, *path, *rootfs;
    const char *bind_mounts;            /* NULL: none */
    const char *hostname;               /* "": the id */
    const char *tmpfs_mounts, *sysctls; /* NULL: none */
    int read_only_root;
    uint32_t network; /* the /30, host byte order */
    uid_t uid;
    const char *network_address; /* "A.B.C.D/LEN" or "" (create's network_address) */
    int disk_size_mb;
};

/* The environment of a container's hooks (NULL-terminated, malloc'd); NULL: out of memory. */
char **env_container(const struct env_ct *in);
/* Both are freed with spawnp_strv_free (src/lib/spawnp.h). */
/* The environment of host-setup.sh and host-teardown.sh; NULL: out of memory. */
char **env_host(void);
/* addr (host byte order) as dotted quad. */
void env_ip_str(uint32_t addr, char *buf, size_t size);
/* The smallest CIDR block holding the whole network pool, e.g. "10.254.0.0/22". */
void env_pool_cidr(char *buf, size_t size);

#endif
