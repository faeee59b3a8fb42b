/* The container registry: every container wardend knows, looked up by handle or serial;
 * the network and uid pools they hold; their events; and the lifecycle as data (one
 * enum of states, one table of the transitions between them, one ct_set_state). It
 * calls nothing above it: the modules that run hooks, jobs and timers (lifecycle.c,
 * job.c, wshd_watch.c) keep their own parts of a container in the fields below. */
#ifndef W_REGISTRY_H
#define W_REGISTRY_H

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "pool.h"

enum ct_state { CT_BORN, CT_ACTIVE, CT_STOPPED, CT_DESTROYED, CT_NSTATES };
#define CT_MASK(s) (1 << (s))
#define CT_ANY (CT_MASK(CT_BORN) | CT_MASK(CT_ACTIVE) | CT_MASK(CT_STOPPED) | CT_MASK(CT_DESTROYED))

struct job;
struct ct_op;

struct container {
    uint64_t serial;
    char handle[256];
    char id[16];
    enum ct_state state; /* read freely; written only by ct_set_state */
    int net_index, uid_index;
    uint32_t network; /* the /30, host byte order */
    uid_t uid;
    char path[PATH_MAX];
    char rootfs[PATH_MAX];
    char log_path[PATH_MAX];
    double grace_time;                                /* seconds; < 0: never */
    long long grace_timer;                            /* lifecycle.c */
    int refs;                                         /* connections referencing it */
    struct json_object *properties, *limits, *events; /* owned */
    char *bind_mounts;
    /* create's hostname, tmpfs_mounts, read_only_root and sysctls (doc/protocol.md),
     * as the hooks take them: "" or a name; lines DST\tOPTIONS; lines KEY\tVALUE. */
    char hostname[65];
    char *tmpfs_mounts, *sysctls; /* owned; NULL: none */
    int read_only_root;
    char **env;               /* hook environment, NULL-terminated */
    struct ct_op *ops;        /* lifecycle.c's op queue; the head one is running */
    struct job *jobs;         /* job.c */
    int wshd_fd;              /* wshd_watch.c: pidfd of its wshd while watched, else -1 */
    char network_address[24]; /* create's network_address "A.B.C.D/LEN", or "" */
    int (*ports)[2];          /* net in (net.c): host port, container port; owned */
    int nports, ports_cap;
    struct json_object
        *net_out; /* net.c: [[NET,PORTS,PROTO,LOG],...] as net.sh took them, or NULL; owned */
    /* lifecycle.c: 1 while its teardown (destroy.sh) runs after destroy replied, 2 when
     * that failed (its pool entries stay taken); snapshots say "destroying" either way */
    int destroying;
    int pooled; /* warm.c: in the warm pool, so in no registry list */
    struct container *next;
};

extern struct pool net_pool, uid_pool, port_pool;

/* Start-up: check the uid pool against the host's users and the port pool against the
 * kernel's ephemeral ports, make the pools and the depot, look at the cgroup layout. */
int registry_init(struct w_error *err);

const char *ct_state_name(enum ct_state s);
/* The state named s ("active", ...), or -1. */
int ct_state_from_name(const char *s);
/* Move ct to state s if the transition table allows it (staying put always is); logs
 * and returns -1 otherwise, leaving the state as it was: a bug of ours, not the peer's. */
int ct_set_state(struct container *ct, enum ct_state s);
/* 0 when ct's state is in mask (CT_MASK bits); else -1 and err says
 * `Container state must be one of 'active', current state is 'stopped'`. */
int ct_state_allowed(const struct container *ct, int mask, struct w_error *err);

struct container *ct_lookup(const char *handle);
struct container *ct_lookup_serial(uint64_t serial);
struct container *ct_first(void);

/* Teardowns: containers destroy has answered for (unknown to ct_lookup, list and info)
 * while destroy.sh tears them down, and those whose destroy.sh failed, which keep their
 * pool entries. ct_unregister takes a container out of either list. */
void ct_teardown_add(struct container *ct);
struct container *ct_teardown_first(void);
/* The teardown still running (destroying 1) of the container with this handle, or NULL. */
struct container *ct_teardown_lookup(const char *handle);
/* How many teardowns are running (destroying 1). */
int ct_teardowns_running(void);

/* A new container in state born, with empty properties, limits and events and the
 * default rootfs; NULL when out of memory. */
struct container *ct_alloc(void);
/* path and log_path from the depot and ct->id. */
void ct_set_paths(struct container *ct);
/* ct->env from ct's fields (doc/hooks.md); -1 when out of memory. */
int ct_make_env(struct container *ct);
/* Give ct its serial and put it in the registry. */
void ct_register(struct container *ct);
/* Take ct out of the registry (it is not freed). */
void ct_unregister(struct container *ct);
/* The index of host port p in port_pool, or -1 when p lies outside the pool. */
int ct_port_index(int p);
/* Give back its /30 and its net in ports (after the release delay) and its uid. */
void ct_release_pools(struct container *ct);
/* Free ct's own memory; its ops, jobs and watch must be gone already. */
void ct_free(struct container *ct);
void ct_add_event(struct container *ct, const char *event);

#endif
