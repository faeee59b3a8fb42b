/* Runs in wardend's loop (save) and at start-up before the socket serves (load). */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonh.h"
#include "log.h"
#include "registry.h"
#include "util.h"
#include "wardend.h"

static struct json_object *(*jobs_of)(struct container *ct);

void snapshot_set_jobs(struct json_object *(*jobs)(struct container *ct))
{
    jobs_of = jobs;
}

/* {"in":[[HOST_PORT,CONTAINER_PORT],...],"address":"A.B.C.D/LEN"}: net in's ports and
 * create's network_address. */
static struct json_object *net_snapshot(struct container *ct)
{
    struct json_object *o = json_object_new_object(), *in = json_object_new_array();

    for (int i = 0; i < ct->nports; i++) {
        struct json_object *pair = json_object_new_array();
        json_object_array_add(pair, json_object_new_int(ct->ports[i][0]));
        json_object_array_add(pair, json_object_new_int(ct->ports[i][1]));
        json_object_array_add(in, pair);
    }
    json_object_object_add(o, "in", in);
    if (ct->net_out)
        json_object_object_add(o, "out", json_object_get(ct->net_out));
    if (ct->network_address[0])
        json_object_object_add(o, "address", json_object_new_string(ct->network_address));
    return o;
}

/* create's options that the hooks applied in the container's namespaces, as the hooks
 * took them (ct_make_env gives them to every later hook again): {"hostname": NAME,
 * "bind_mounts": LINES, "tmpfs_mounts": LINES, "read_only_root": BOOL, "sysctls": LINES}. */
static struct json_object *create_snapshot(struct container *ct)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "hostname", json_object_new_string(ct->hostname));
    json_object_object_add(o, "bind_mounts",
                           json_object_new_string(ct->bind_mounts ? ct->bind_mounts : ""));
    json_object_object_add(o, "tmpfs_mounts",
                           json_object_new_string(ct->tmpfs_mounts ? ct->tmpfs_mounts : ""));
    json_object_object_add(o, "read_only_root", json_object_new_boolean(ct->read_only_root));
    json_object_object_add(o, "sysctls", json_object_new_string(ct->sysctls ? ct->sysctls : ""));
    return o;
}

/* A string of create_snapshot's, NULL when absent, empty or not a string. */
static char *lines_of(struct json_object *o, const char *key)
{
    const char *s = jsonh_get_str(o, key, "");

    return *s ? strdup(s) : NULL;
}

/* A snapshot from before these options has none: the container was made without them. */
static void create_load(struct container *ct, struct json_object *o)
{
    strlcpy(ct->hostname, jsonh_get_str(o, "hostname", ""), sizeof(ct->hostname));
    ct->bind_mounts = lines_of(o, "bind_mounts");
    ct->tmpfs_mounts = lines_of(o, "tmpfs_mounts");
    ct->sysctls = lines_of(o, "sysctls");
    ct->read_only_root = jsonh_get_bool(o, "read_only_root", 0);
}

static long long int_or(struct json_object *v, long long dflt)
{
    return json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : dflt;
}

/* The ports of net_snapshot into ct->ports (not taken from the pool: restore does). */
/* net out's rules: each an array of 4 short strings (net.sh checks their form again);
 * a rule of another shape is dropped. */
static void net_out_load(struct container *ct, struct json_object *out)
{
    size_t n = json_object_is_type(out, json_type_array) ? json_object_array_length(out) : 0;

    for (size_t i = 0; i < n && i < 4096; i++) {
        struct json_object *rule = json_object_array_get_idx(out, i);
        int ok = json_object_is_type(rule, json_type_array) && json_object_array_length(rule) == 4;
        for (size_t k = 0; ok && k < 4; k++) {
            struct json_object *v = json_object_array_get_idx(rule, k);
            ok = json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0 &&
                 json_object_get_string_len(v) < 64;
        }
        if (!ok)
            continue;
        if (ct->net_out == NULL)
            ct->net_out = json_object_new_array();
        json_object_array_add(ct->net_out, json_object_get(rule));
    }
}

static void net_load(struct container *ct, struct json_object *net)
{
    struct json_object *in = jsonh_get(net, "in");

    net_out_load(ct, jsonh_get(net, "out"));
    size_t n = json_object_is_type(in, json_type_array) ? json_object_array_length(in) : 0;

    strlcpy(ct->network_address, jsonh_get_str(net, "address", ""), sizeof(ct->network_address));
    if (n == 0 || n > 65536 || (ct->ports = calloc(n, sizeof(*ct->ports))) == NULL)
        return;
    ct->ports_cap = (int)n;
    for (size_t i = 0; i < n; i++) {
        struct json_object *pair = json_object_array_get_idx(in, i);
        long long hp = int_or(json_object_array_get_idx(pair, 0), -1),
                  cp = int_or(json_object_array_get_idx(pair, 1), -1);
        if (hp >= 1 && hp <= 65535 && cp >= 1 && cp <= 65535) {
            ct->ports[ct->nports][0] = (int)hp;
            ct->ports[ct->nports][1] = (int)cp;
            ct->nports++;
        }
    }
}

/* Write the snapshot with STATE as its `state`; 0, or -1 with err (the old file stays). */
static int snapshot_write(struct container *ct, const char *state, struct w_error *err)
{
    struct json_object *o = json_object_new_object();
    char path[PATH_MAX + 32];
    size_t len;
    const char *s;
    int ret;

    json_object_object_add(o, "handle", json_object_new_string(ct->handle));
    json_object_object_add(o, "id", json_object_new_string(ct->id));
    json_object_object_add(o, "state", json_object_new_string(state));
    json_object_object_add(o, "network_index", json_object_new_int(ct->net_index));
    json_object_object_add(o, "uid", json_object_new_int64(ct->uid));
    json_object_object_add(o, "rootfs", json_object_new_string(ct->rootfs));
    json_object_object_add(o, "grace_time",
                           ct->grace_time < 0 ? NULL : json_object_new_double(ct->grace_time));
    json_object_object_add(o, "properties", json_object_get(ct->properties));
    json_object_object_add(o, "limits", json_object_get(ct->limits));
    json_object_object_add(o, "events", json_object_get(ct->events));
    json_object_object_add(o, "jobs", jobs_of ? jobs_of(ct) : json_object_new_object());
    json_object_object_add(o, "net", net_snapshot(ct));
    json_object_object_add(o, "create", create_snapshot(ct));
    if (ct->pooled) /* only then, so other snapshots read as before */
        json_object_object_add(o, "pooled", json_object_new_boolean(1));
    s = jsonh_str(o, &len);
    snprintf(path, sizeof(path), "%s/snapshot.json", ct->path);
    ret = util_write_file_atomic(AT_FDCWD, path, s, len, err);
    json_object_put(o);
    return ret < 0 ? w_err_prefix(err, "container %s: snapshot", ct->handle) : 0;
}

/* While destroy.sh runs every snapshot says "destroying", so that a restart after a
 * crash finishes the destroy instead of adopting a half-torn container. */
static const char *state_of(const struct container *ct)
{
    return ct->destroying ? "destroying" : ct_state_name(ct->state);
}

int snapshot_write_state(struct container *ct, struct w_error *err)
{
    return snapshot_write(ct, state_of(ct), err);
}

void snapshot_save(struct container *ct)
{
    struct w_error err;

    if (snapshot_write(ct, state_of(ct), &err) < 0)
        log_msg(LOG_WARNING, "%s", err.msg);
}

/* One field of snapshot.json, into *v: present, then of type t (json_type_null stands
 * for "a number or null"). */
static int field(struct json_object *o, const char *key, json_type t, struct json_object **v,
                 struct w_error *err)
{
    static const char *const what[] = {
        [json_type_null] = "a number or null", [json_type_int] = "an integer",
        [json_type_object] = "an object",      [json_type_array] = "an array",
        [json_type_string] = "a string",
    };
    int ok;

    if (!json_object_object_get_ex(o, key, v))
        return w_err(err, "snapshot.json: no `%s`", key);
    if (t == json_type_null)
        ok = *v == NULL || json_object_is_type(*v, json_type_int) ||
             json_object_is_type(*v, json_type_double);
    else
        ok = json_object_is_type(*v, t);
    if (!ok)
        return w_err(err, "snapshot.json: `%s` is not %s", key, what[t]);
    return 0;
}

/* The fields restore needs, field by field: presence, type, then range. */
static int check_fields(struct container *ct, struct json_object *o, struct w_error *err)
{
    static const struct {
        const char *key;
        json_type type;
    } rest[] = {{"rootfs", json_type_string},     {"grace_time", json_type_null},
                {"properties", json_type_object}, {"limits", json_type_object},
                {"events", json_type_array},      {"jobs", json_type_object}};
    struct json_object *v;
    const char *s;
    int64_t uid;

    if (field(o, "id", json_type_string, &v, err) < 0)
        return -1;
    if (strcmp(json_object_get_string(v), ct->id) != 0)
        return w_err(err, "snapshot.json: `id` is %s, not the directory's %s",
                     json_object_get_string(v), ct->id);
    if (field(o, "handle", json_type_string, &v, err) < 0)
        return -1;
    s = json_object_get_string(v);
    if (*s == '\0' || strlen(s) >= sizeof(ct->handle))
        return w_err(err, "snapshot.json: `handle` is empty or too long");
    if (field(o, "state", json_type_string, &v, err) < 0)
        return -1;
    s = json_object_get_string(v);
    if (strcmp(s, "destroying") == 0)
        return w_err(err, "snapshot.json: `state` is \"destroying\": its destroy never finished");
    if (strcmp(s, "active") != 0 && strcmp(s, "stopped") != 0)
        return w_err(err, "snapshot.json: `state` is \"%s\": its create never finished", s);
    if (field(o, "uid", json_type_int, &v, err) < 0)
        return -1;
    uid = json_object_get_int64(v);
    if (uid < g_cfg->user.pool_start_uid ||
        uid >= (int64_t)g_cfg->user.pool_start_uid + g_cfg->user.pool_size)
        return w_err(err, "snapshot.json: `uid` %lld is outside the uid pool", (long long)uid);
    for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
        if (field(o, rest[i].key, rest[i].type, &v, err) < 0)
            return -1;
    return 0;
}

static void replace(struct json_object **dst, struct json_object *v)
{
    json_object_put(*dst);
    *dst = json_object_get(v);
}

int snapshot_load(struct container *ct, struct json_object **snap, struct w_error *err)
{
    char path[PATH_MAX + 32];
    struct json_object *o, *v;
    char *text;
    size_t len;

    snprintf(path, sizeof(path), "%s/snapshot.json", ct->path);
    text = util_read_file(AT_FDCWD, path, 1 << 20, &len, err);
    if (text == NULL && err->errnum == ENOENT)
        return w_err(err, "no snapshot.json: its create never finished");
    if (text == NULL)
        return -1;
    o = jsonh_parse(text, len, err);
    free(text);
    if (o == NULL)
        return w_err_prefix(err, "snapshot.json");
    if (!json_object_is_type(o, json_type_object) || check_fields(ct, o, err) < 0) {
        if (!json_object_is_type(o, json_type_object))
            w_err(err, "snapshot.json: not an object");
        json_object_put(o);
        return -1;
    }
    strlcpy(ct->handle, jsonh_get_str(o, "handle", ""), sizeof(ct->handle));
    strlcpy(ct->rootfs, jsonh_get_str(o, "rootfs", ""), sizeof(ct->rootfs));
    ct->uid = (uid_t)jsonh_get_int(o, "uid", 0);
    v = jsonh_get(o, "grace_time");
    ct->grace_time = v ? json_object_get_double(v) : -1;
    ct_set_state(ct, (enum ct_state)ct_state_from_name(jsonh_get_str(o, "state", "")));
    replace(&ct->properties, jsonh_get(o, "properties"));
    replace(&ct->limits, jsonh_get(o, "limits"));
    replace(&ct->events, jsonh_get(o, "events"));
    net_load(ct, jsonh_get(o, "net"));
    create_load(ct, jsonh_get(o, "create"));
    ct->pooled = jsonh_get_bool(o, "pooled", 0);
    *snap = o;
    return 0;
}
