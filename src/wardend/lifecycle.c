/* Runs in wardend's loop. Every operation that runs hooks goes through the container's
 * op queue, so create, stop and destroy of one container never interleave; a client
 * whose connection closes while its op waits just loses the reply, the op still runs. */
#include "lifecycle.h"

#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "events.h"
#include "hook.h"
#include "job.h"
#include "jsonh.h"
#include "log.h"
#include "oom.h"
#include "req.h"
#include "snapshot.h"
#include "wardend.h"
#include "wshd_watch.h"

/* ---- the op queue ---- */

static void op_cancel(struct req *r, void *data)
{
    struct ct_op *op = data;

    (void)r;
    op->req = NULL;
}

void op_submit(struct container *ct, struct ct_op *op)
{
    struct ct_op **p = &ct->ops;

    if (op->req)
        req_set_cancel(op->req, op_cancel, op);
    while (*p)
        p = &(*p)->next;
    *p = op;
    if (ct->ops == op)
        op->run(ct, op);
}

struct ct_op *op_new(void (*run)(struct container *, struct ct_op *), struct req *r)
{
    struct ct_op *op = calloc(1, sizeof(*op));

    if (op == NULL)
        return NULL;
    op->run = run;
    op->req = r;
    return op;
}

void op_reply(struct ct_op *op, struct json_object *payload)
{
    if (op->req) {
        req_set_cancel(op->req, NULL, NULL);
        req_reply(op->req, payload);
        op->req = NULL;
    } else {
        json_object_put(payload);
    }
}

void op_error(struct ct_op *op, const char *msg)
{
    struct w_error err;

    if (op->req) {
        req_set_cancel(op->req, NULL, NULL);
        w_err(&err, "%s", msg);
        req_fail(op->req, &err);
        op->req = NULL;
    }
}

void op_done(struct container *ct)
{
    struct ct_op *op = ct->ops;

    ct->ops = op->next;
    free(op);
    if (ct->ops)
        ct->ops->run(ct, ct->ops);
}

void op_done_remove(struct container *ct)
{
    struct ct_op *op = ct->ops;

    ct->ops = op->next;
    free(op);
    lifecycle_remove(ct);
}

void lifecycle_remove(struct container *ct)
{
    ct_set_state(ct, CT_DESTROYED);
    ct_unregister(ct);
    if (ct->grace_timer)
        loop_del_timer(g_loop, ct->grace_timer);
    ct->grace_timer = 0;
    ct_unwatch_wshd(ct);
    oom_unwatch(ct);
    job_container_gone(ct);
    ct_release_pools(ct);
    while (ct->ops) {
        struct ct_op *op = ct->ops;
        ct->ops = op->next;
        op_error(op, "unknown handle");
        free(op);
    }
    ct_free(ct);
}

/* ---- grace time ---- */

static void op_destroy(struct container *ct, struct ct_op *op);

static void on_grace(struct loop *loop, long long id, void *data)
{
    struct container *ct = data;
    struct ct_op *op;

    (void)loop, (void)id;
    ct->grace_timer = 0;
    log_msg(LOG_INFO, "container %s: grace time %gs passed, destroying", ct->handle,
            ct->grace_time);
    op = op_new(op_destroy, NULL);
    if (op)
        op_submit(ct, op);
}

void arm_grace(struct container *ct)
{
    if (ct->grace_timer || ct->grace_time < 0 || ct->refs > 0)
        return;
    ct->grace_timer = loop_add_timer(g_loop, (long long)(ct->grace_time * 1000), on_grace, ct);
}

void ct_ref(struct container *ct, struct req *r)
{
    if (req_add_ref(r, ct->serial) == 1)
        ct->refs++;
    if (ct->grace_timer) {
        loop_del_timer(g_loop, ct->grace_timer);
        ct->grace_timer = 0;
    }
}

void lifecycle_conn_closed(uint64_t serial)
{
    struct container *ct = ct_lookup_serial(serial);

    if (ct == NULL)
        return;
    if (ct->refs > 0)
        ct->refs--;
    arm_grace(ct);
}

/* ---- stop ---- */

static void stop_done(void *data, const char *error)
{
    struct container *ct = data;
    struct ct_op *op = ct->ops;

    if (error) {
        op_error(op, error);
    } else {
        ct_set_state(ct, CT_STOPPED);
        snapshot_save(ct);
        op_reply(op, json_object_new_string("ok"));
    }
    op_done(ct);
}

static void op_stop(struct container *ct, struct ct_op *op)
{
    static const char *const kill_args[] = {"kill", NULL};
    struct w_error err;

    if (ct->state != CT_ACTIVE) { /* stopped meanwhile: a no-op */
        op_reply(op, json_object_new_string("ok"));
        op_done(ct);
        return;
    }
    if (hook_run("stop.sh", op->kill ? kill_args : NULL, ct->env, ct->log_path, stop_done, ct,
                 &err) < 0) {
        op_error(op, err.msg);
        op_done(ct);
    }
}

int lifecycle_check_stop(struct req *r, struct w_error *err)
{
    struct json_object *opts = req_nargs(r) > 2 ? req_arg(r, 2) : NULL;

    if (opts == NULL)
        return 0;
    if (!json_object_is_type(opts, json_type_object))
        return w_err(err, "Options must be a hash");
    json_object_object_foreach(opts, k, v)
    {
        if (strcmp(k, "kill") != 0 && strcmp(k, "background") != 0)
            return w_err(err, "Unknown stop option `%s`.", k);
        if (!json_object_is_type(v, json_type_boolean))
            return w_err(err, "Expected `%s` to hold a boolean.", k);
    }
    return 0;
}

int cmd_stop(struct req *r, struct container *ct, struct w_error *err)
{
    struct json_object *opts = req_nargs(r) > 2 ? req_arg(r, 2) : NULL;
    int background = 0;
    struct ct_op *op;

    background = jsonh_get_bool(opts, "background", 0);
    if (ct->state == CT_STOPPED) {
        req_reply(r, json_object_new_string("ok"));
        return 0;
    }
    op = op_new(op_stop, background ? NULL : r);
    if (op == NULL)
        return w_err(err, "out of memory");
    op->kill = jsonh_get_bool(opts, "kill", 0);
    if (background)
        req_reply(r, json_object_new_string("ok"));
    op_submit(ct, op);
    return 0;
}

/* ---- destroy ---- */

/* Requests waiting for a teardown to end (create: a handle or a network that one still
 * holds, a pool it keeps empty) or for a released entry's delay. */
struct parked {
    struct req *r;
    void (*again)(struct req *r);
    long long timer;
    int ready;     /* a teardown ended since it was parked: run it again */
    int wants_net; /* the /30 it names, or -1 */
    struct parked *next;
};
static struct parked *parked;

static void park_unlink(struct parked *p)
{
    for (struct parked **pp = &parked; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    if (p->timer)
        loop_del_timer(g_loop, p->timer);
    req_set_cancel(p->r, NULL, NULL);
}

/* Take p out and run its request again (which may park it anew). */
static void park_run(struct parked *p)
{
    void (*again)(struct req *) = p->again;
    struct req *r = p->r;

    park_unlink(p);
    free(p);
    again(r);
}

static void park_cancel(struct req *r, void *data)
{
    struct parked *p = data;

    (void)r;
    park_unlink(p);
    free(p);
}

static void park_timeout(struct loop *loop, long long id, void *data)
{
    struct parked *p = data;

    (void)loop, (void)id;
    p->timer = 0;
    park_run(p);
}

int lifecycle_park(struct req *r, long long delay_ms, void (*again)(struct req *r), int wants_net,
                   struct w_error *err)
{
    struct parked *p = calloc(1, sizeof(*p)), **pp;

    if (p == NULL)
        return w_err(err, "out of memory");
    p->r = r;
    p->again = again;
    p->wants_net = wants_net < 0 ? -1 : wants_net;
    if (delay_ms >= 0)
        p->timer = loop_add_timer(g_loop, delay_ms, park_timeout, p);
    /* At the end: when a teardown ends, those parked first go first. */
    for (pp = &parked; *pp; pp = &(*pp)->next)
        ;
    *pp = p;
    req_set_cancel(r, park_cancel, p);
    return 0;
}

int lifecycle_parked_wants(int net_index)
{
    for (struct parked *p = parked; p; p = p->next)
        if (p->wants_net == net_index)
            return 1;
    return 0;
}

/* A teardown ended: every request parked before now runs again, one at a time (each
 * may park again, or end another's connection). */
static void unpark_all(void)
{
    struct parked *p;

    for (p = parked; p; p = p->next)
        p->ready = 1;
    for (;;) {
        for (p = parked; p && !p->ready; p = p->next)
            ;
        if (p == NULL)
            return;
        park_run(p);
    }
}

static void teardown_done(void *data, const char *error)
{
    struct container *ct = data;

    if (error) {
        /* As a failed destroy kept the container and what it holds: its /30, uid and
         * ports are not handed out again, and its snapshot still says "destroying", so
         * the next start of wardend tears it down again. */
        log_msg(LOG_ERR,
                "container %s (id %s): teardown failed: %s; its network, uid and host ports "
                "stay taken until wardend's next start tears it down again",
                ct->handle, ct->id, error);
        ct->destroying = 2;
        events_publish(ct->handle, "destroy failed");
    } else {
        log_msg(LOG_INFO, "container %s: destroyed", ct->handle);
        lifecycle_remove(ct);
    }
    unpark_all();
}

/* destroy answers once nothing of the container can run and nothing shows it: the
 * KILL is sent (not waited for), its jobs end with what their files hold, its handle is
 * gone, its snapshot says "destroying"; the kernel's exit of its processes, destroy.sh
 * and the release of its pool entries follow while other requests are served. */
static void op_destroy(struct container *ct, struct ct_op *op)
{
    struct w_error err;

    /* Should wardend die from here on, its restart finishes the teardown. On a full
     * depot the old snapshot stays: a restart may then adopt what is left (wshd still
     * alive) or tear it down (wshd gone), both whole states. */
    ct->destroying = 1;
    snapshot_save(ct);
    /* wshd is pid 1 of the container's pid namespace: its death takes the rest; the
     * cgroup's processes get the KILL now rather than when the kernel gets to them. */
    ct_kill_wshd(ct);
    cgroup_kill(ct->id);
    ct_unwatch_wshd(ct);
    oom_unwatch(ct); /* destroy.sh removes the cgroup, which would wake the watch */
    /* Links and streams of its jobs end now with what the files hold. */
    job_container_stopping(ct);
    if (ct->grace_timer)
        loop_del_timer(g_loop, ct->grace_timer);
    ct->grace_timer = 0;
    ct_teardown_add(ct);
    op_reply(op, json_object_new_string("ok"));
    /* What was queued behind the destroy finds the handle unknown, as it would after. */
    while (ct->ops) {
        struct ct_op *o = ct->ops;
        ct->ops = o->next;
        if (o != op)
            op_error(o, "unknown handle");
        free(o);
    }
    if (hook_run("destroy.sh", NULL, ct->env, NULL, teardown_done, ct, &err) < 0)
        teardown_done(ct, err.msg);
}

int cmd_destroy(struct req *r, struct container *ct, struct w_error *err)
{
    struct ct_op *op = op_new(op_destroy, r);

    if (op == NULL)
        return w_err(err, "out of memory");
    op_submit(ct, op);
    return 0;
}

/* ---- a dead wshd ---- */

void lifecycle_wshd_exited(struct container *ct)
{
    if (ct->state != CT_ACTIVE) {
        log_msg(LOG_WARNING, "container %s: wshd exited", ct->handle);
        return;
    }
    log_msg(LOG_WARNING, "container %s: wshd exited; its processes are gone, it is now stopped",
            ct->handle);
    ct_add_event(ct, "wshd exited");
    job_container_stopping(ct);
    ct_set_state(ct, CT_STOPPED);
    snapshot_save(ct);
}

/* ---- out of memory ---- */

void lifecycle_oom(struct container *ct)
{
    struct ct_op *op;
    int seen = 0;

    for (size_t i = 0; i < json_object_array_length(ct->events); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(ct->events, i)), "oom") == 0)
            seen = 1;
    if (!seen) {
        ct_add_event(ct, "oom");
        snapshot_save(ct);
    }
    if (ct->state != CT_ACTIVE)
        return;
    log_msg(LOG_WARNING, "container %s: out of memory, stopping it", ct->handle);
    op = op_new(op_stop, NULL);
    if (op == NULL)
        return;
    op->kill = 1;
    op_submit(ct, op);
}
