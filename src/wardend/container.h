/* The container registry and lifecycle: states, pools, hooks per operation, grace
 * timers. Operations on one container run one at a time (an op queue), because each
 * runs hooks that must not interleave; other containers go on meanwhile. */
#ifndef W_CONTAINER_H
#define W_CONTAINER_H

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

enum ct_state { CT_BORN, CT_ACTIVE, CT_STOPPED, CT_DESTROYED };
#define CT_ANY ((1 << CT_BORN) | (1 << CT_ACTIVE) | (1 << CT_STOPPED) | (1 << CT_DESTROYED))
#define CT_MASK(s) (1 << (s))

struct req;
struct job;
struct ct_op;

struct container {
    uint64_t serial;
    char handle[256];
    char id[16];
    enum ct_state state;
    int net_index, uid_index;
    uint32_t network; /* the /30, host byte order */
    uid_t uid;
    char path[PATH_MAX];
    char rootfs[PATH_MAX];
    char log_path[PATH_MAX];
    double grace_time; /* seconds; < 0: never */
    long long grace_timer;
    int refs;                                         /* connections referencing it */
    struct json_object *properties, *limits, *events; /* owned */
    char *bind_mounts;
    char **env;        /* hook environment, NULL-terminated */
    struct ct_op *ops; /* queued operations; the head one is running */
    struct job *jobs;
    int wshd_fd; /* pidfd of its wshd while watched, else -1 */
    struct container *next;
};

const char *ct_state_name(enum ct_state s);
struct container *ct_lookup(const char *handle);
struct container *ct_first(void);
/* Container start-up: pools, host setup hook. */
int ct_init(struct w_error *err);
/* A connection referenced ct: cancel its grace timer. */
void ct_ref(struct container *ct, struct req *r);
/* Reply `Container state must be one of ...` and return -1 unless ct is in a state the
 * request's command allows (commands.c's table). */
int ct_check_state(struct container *ct, struct req *r);
void ct_add_event(struct container *ct, const char *event);
/* Write snapshot.json (temp file + rename): what a restarted wardend adopts. */
void ct_save(struct container *ct);
/* Host paths of the container's cgroup for a controller ("memory", "cpuacct"). */
int ct_cgroup_file(struct container *ct, const char *controller, const char *file, char *out,
                   size_t size);

void cmd_create(struct req *r);
void cmd_stop(struct req *r, struct container *ct);
void cmd_destroy(struct req *r, struct container *ct);
void cmd_info(struct req *r, struct container *ct);
void cmd_list(struct req *r);

#endif
