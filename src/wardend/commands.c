/* The command table of PROTOCOL.md and the one dispatcher. Checks run in PROTOCOL.md's
 * order for every command: argument count, handle lookup, the command's own argument
 * checks (its check column), then the container's state (its states column); only
 * then does the handler run, so no handler can forget a check. */
#include "commands.h"

#include <string.h>

#include "cgroup.h"
#include "copy.h"
#include "create.h"
#include "env.h"
#include "events.h"
#include "job.h"
#include "jsonh.h"
#include "lifecycle.h"
#include "limits.h"
#include "net.h"
#include "proto.h"
#include "registry.h"
#include "req.h"

static int cmd_ping(struct req *r, struct container *ct, struct w_error *err)
{
    (void)ct, (void)err;
    req_reply(r, json_object_new_string("pong"));
    return 0;
}

static int cmd_echo(struct req *r, struct container *ct, struct w_error *err)
{
    (void)ct, (void)err;
    req_reply(r, json_object_get(req_arg(r, 1)));
    return 0;
}

static int create_entry(struct req *r, struct container *ct, struct w_error *err)
{
    (void)ct;
    return cmd_create(r, err);
}

static struct json_object *info_of(struct container *ct)
{
    struct json_object *o = json_object_new_object(), *stats = json_object_new_object();
    char ip[32];

    json_object_object_add(o, "state", json_object_new_string(ct_state_name(ct->state)));
    json_object_object_add(o, "handle", json_object_new_string(ct->handle));
    json_object_object_add(o, "id", json_object_new_string(ct->id));
    json_object_object_add(o, "events", json_object_get(ct->events));
    env_ip_str(ct->network + 1, ip, sizeof(ip));
    json_object_object_add(o, "host_ip", json_object_new_string(ip));
    env_ip_str(ct->network + 2, ip, sizeof(ip));
    json_object_object_add(o, "container_ip", json_object_new_string(ip));
    json_object_object_add(o, "container_path", json_object_new_string(ct->path));
    json_object_object_add(o, "limits", json_object_get(ct->limits));
    cgroup_stats(ct->id, o, stats);
    limits_info(ct, o, stats);
    json_object_object_add(o, "stats", stats);
    json_object_object_add(o, "job_ids", job_running_ids(ct));
    json_object_object_add(o, "properties", json_object_get(ct->properties));
    json_object_object_add(o, "grace_time",
                           ct->grace_time < 0 ? NULL : json_object_new_double(ct->grace_time));
    json_object_object_add(o, "create_options", create_options_info(ct));
    return o;
}

static int cmd_info(struct req *r, struct container *ct, struct w_error *err)
{
    (void)err;
    req_reply(r, info_of(ct));
    return 0;
}

static int check_bulk_info(struct req *r, struct w_error *err)
{
    for (size_t i = 1; i < req_nargs(r); i++)
        if (!json_object_is_type(req_arg(r, i), json_type_string))
            return w_err(err, "Expected handle %zu to be a string.", i);
    return 0;
}

/* {handle: info} for the handles asked for (all active and stopped ones when none is
 * given); an unknown handle maps to {"error":"unknown handle"} instead of failing the
 * whole request. Unlike info it takes no reference: a monitor polling every container
 * must not keep them all from their grace time. */
static int cmd_bulk_info(struct req *r, struct container *unused, struct w_error *err)
{
    struct json_object *out = json_object_new_object();

    (void)unused, (void)err;
    if (req_nargs(r) == 1)
        for (struct container *ct = ct_first(); ct; ct = ct->next) {
            if (ct->state == CT_ACTIVE || ct->state == CT_STOPPED)
                json_object_object_add(out, ct->handle, info_of(ct));
        }
    for (size_t i = 1; i < req_nargs(r); i++) {
        const char *h = json_object_get_string(req_arg(r, i));
        struct container *ct = ct_lookup(h);
        struct json_object *v = ct ? info_of(ct) : json_object_new_object();
        if (ct == NULL)
            json_object_object_add(v, "error", json_object_new_string("unknown handle"));
        json_object_object_add(out, h, v);
    }
    req_reply(r, out);
    return 0;
}

static int cmd_events(struct req *r, struct container *unused, struct w_error *err)
{
    (void)unused, (void)err;
    events_subscribe(r);
    return 0;
}

static int properties_match(struct container *ct, struct json_object *want)
{
    json_object_object_foreach(want, k, v)
    {
        const char *have = jsonh_get_str(ct->properties, k, NULL);
        if (have == NULL || !json_object_is_type(v, json_type_string) ||
            strcmp(have, json_object_get_string(v)) != 0)
            return 0;
    }
    return 1;
}

static int check_list(struct req *r, struct w_error *err)
{
    struct json_object *opts = req_nargs(r) > 1 ? req_arg(r, 1) : NULL, *filter;

    if (opts == NULL)
        return 0;
    if (!json_object_is_type(opts, json_type_object))
        return w_err(err, "Options must be a hash");
    filter = jsonh_get(opts, "properties");
    if (filter && !json_object_is_type(filter, json_type_object))
        return w_err(err, "Expected `properties` to hold an object of strings.");
    return 0;
}

static int cmd_list(struct req *r, struct container *unused, struct w_error *err)
{
    struct json_object *filter = req_nargs(r) > 1 ? jsonh_get(req_arg(r, 1), "properties") : NULL;
    struct json_object *out = json_object_new_array();

    (void)unused, (void)err;
    for (struct container *ct = ct_first(); ct; ct = ct->next)
        if ((ct->state == CT_ACTIVE || ct->state == CT_STOPPED) &&
            (filter == NULL || properties_match(ct, filter)))
            json_object_array_add(out, json_object_new_string(ct->handle));
    req_reply(r, out);
    return 0;
}

#define ACTIVE CT_MASK(CT_ACTIVE)
#define LIVE (CT_MASK(CT_ACTIVE) | CT_MASK(CT_STOPPED))

/* The lifecycle as data: for each command, its argument counts, its argument checks
 * and the container states it may run in. */
static const struct command {
    const char *name;
    int min, max; /* arguments after the name */
    int handle;   /* argument 1 is a handle */
    int states;   /* allowed container states (CT_MASK bits); 0: no container */
    /* The arguments' types and values; NULL: nothing beyond the count. */
    int (*check)(struct req *r, struct w_error *err);
    /* -1 with err: failed at once; else it replied, or its op or job will. */
    int (*run)(struct req *r, struct container *ct, struct w_error *err);
} commands[] = {
    {"ping", 0, 0, 0, 0, NULL, cmd_ping},
    {"echo", 1, 1, 0, 0, NULL, cmd_echo},
    {"create", 0, 1, 0, 0, NULL, create_entry},
    {"stop", 1, 2, 1, LIVE, lifecycle_check_stop, cmd_stop},
    {"destroy", 1, 1, 1, CT_ANY, NULL, cmd_destroy},
    {"spawn", 2, 3, 1, ACTIVE, job_check_spawn, cmd_spawn},
    {"link", 2, 3, 1, CT_ANY, NULL, cmd_link},
    {"run", 2, 3, 1, ACTIVE, job_check_spawn, cmd_run},
    {"stream", 2, 3, 1, CT_ANY, NULL, cmd_stream},
    {"signal", 3, 3, 1, ACTIVE, job_check_signal, cmd_signal},
    {"stdin", 3, 4, 1, ACTIVE, job_check_stdin, cmd_stdin},
    {"resize", 4, 4, 1, ACTIVE, job_check_resize, cmd_resize},
    {"limit", 2, 4, 1, LIVE, limits_check, cmd_limit},
    {"net", 2, 4, 1, ACTIVE, net_check, cmd_net},
    {"copy", 4, 5, 1, LIVE, copy_check, cmd_copy}, /* copy in: active only (copy.c) */
    {"info", 1, 1, 1, CT_ANY, NULL, cmd_info},
    {"list", 0, 1, 0, 0, check_list, cmd_list},
    {"bulk_info", 0, 4096, 0, 0, check_bulk_info, cmd_bulk_info},
    {"events", 0, 0, 0, 0, NULL, cmd_events},
};

void commands_dispatch(struct req *r)
{
    struct json_object *name = req_arg(r, 0);
    const struct command *cmd = NULL;
    struct container *ct = NULL;
    int nargs = (int)req_nargs(r) - 1;
    struct w_error err;

    if (json_object_is_type(name, json_type_string))
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            if (strcmp(commands[i].name, json_object_get_string(name)) == 0)
                cmd = &commands[i];
    if (cmd == NULL) {
        char msg[512];
        proto_unknown_command(name, msg, sizeof(msg));
        req_error(r, "%s", msg);
        return;
    }
    if (nargs < cmd->min || nargs > cmd->max) {
        req_error(r, "invalid number of arguments");
        return;
    }
    if (cmd->handle) {
        struct json_object *h = req_arg(r, 1);
        if (json_object_is_type(h, json_type_string))
            ct = ct_lookup(json_object_get_string(h));
        if (ct == NULL) {
            req_error(r, "unknown handle");
            return;
        }
        ct_ref(ct, r);
    }
    if ((cmd->check && cmd->check(r, &err) < 0) ||
        (ct && ct_state_allowed(ct, cmd->states, &err) < 0)) {
        req_error(r, "%s", err.msg);
        return;
    }
    if (cmd->run(r, ct, &err) < 0)
        req_error(r, "%s", err.msg);
}

/* What an op or a job that ends later failed with becomes its reply here too. */
static void reply_failure(struct req *r, const struct w_error *err)
{
    req_error(r, "%s", err->msg);
}

void commands_init(void)
{
    req_on_fail(reply_failure);
}
