/* Shared by the container modules of wardend (container.c, create.c, restore.c) and
 * by nothing else: the op queue, the pools, the registry's internals. */
#ifndef W_CT_INT_H
#define W_CT_INT_H

#include "container.h"
#include "pool.h"

struct ct_op {
    void (*run)(struct container *ct, struct ct_op *op);
    struct req *req;  /* NULL once replied to, or when its connection went away */
    int kill;         /* stop: skip TERM */
    int step;         /* create: the next step to run */
    int pending;      /* create: hooks of the current step still running */
    char error[1024]; /* first error of a multi-step op */
    struct ct_op *next;
};

extern struct pool net_pool, uid_pool;

/* A new container with empty properties, limits and events and the default rootfs. */
struct container *ct_alloc(void);
/* path and log_path from the depot and ct->id. */
void ct_set_paths(struct container *ct);
void ct_register(struct container *ct);
void ct_free(struct container *ct);
/* Unregister, release pools and jobs; queued ops get `unknown handle`. */
void ct_remove(struct container *ct);
void arm_grace(struct container *ct);

/* The op queue: ops of one container run one at a time, in order. */
struct ct_op *op_new(void (*run)(struct container *, struct ct_op *), struct req *r);
void op_submit(struct container *ct, struct ct_op *op);
void op_reply(struct ct_op *op, struct json_object *payload);
void op_error(struct ct_op *op, const char *msg);
void op_done(struct container *ct);

/* The hook environment of doc/hooks.md for ct (NULL-terminated, malloc'd). */
char **build_env(struct container *ct, int disk_size_mb);
void env_free(char **env);
void ip_str(uint32_t addr, char *buf, size_t size);
void pool_cidr(char *buf, size_t size);

/* Watch ct's wshd (run/wshd.pid) with a pidfd: if it dies, ct becomes stopped with the
 * event "wshd exited" and its unfinished jobs end as killed (wshd_watch.c). */
void ct_watch_wshd(struct container *ct);
void ct_unwatch_wshd(struct container *ct);
/* At start: adopt the depot's live containers, tear down the rest (restore.c). */
void ct_restore_all(void);

#endif
