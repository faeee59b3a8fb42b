/* Runs in wardend's loop. Every operation that runs hooks goes through the container's
 * op queue, so create, stop and destroy of one container never interleave; a client
 * whose connection closes while its op waits just loses the reply, the op still runs. */
#include "container.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "commands.h"
#include "hook.h"
#include "job.h"
#include "jsonh.h"
#include "log.h"
#include "pool.h"
#include "server.h"
#include "util.h"
#include "wshd_proto.h"

struct ct_op {
    void (*run)(struct container *ct, struct ct_op *op);
    struct req *req;
    int kill;
    int step;         /* create: the next step to run */
    int pending;      /* create: hooks of the current step still running */
    char error[1024]; /* first error of a multi-step op */
    struct ct_op *next;
};

static struct container *containers;
static uint64_t next_serial = 1;
static struct pool net_pool, uid_pool;
static int cgroup_v2;

static const char *const state_names[] = {"born", "active", "stopped", "destroyed"};

const char *ct_state_name(enum ct_state s)
{
    return state_names[s];
}

struct container *ct_first(void)
{
    return containers;
}

struct container *ct_lookup(const char *handle)
{
    for (struct container *ct = containers; ct; ct = ct->next)
        if (strcmp(ct->handle, handle) == 0)
            return ct;
    return NULL;
}

static struct container *lookup_serial(uint64_t serial)
{
    for (struct container *ct = containers; ct; ct = ct->next)
        if (ct->serial == serial)
            return ct;
    return NULL;
}

static void ip_str(uint32_t addr, char *buf, size_t size)
{
    struct in_addr a = {.s_addr = htonl(addr)};
    inet_ntop(AF_INET, &a, buf, (socklen_t)size);
}

int ct_check_state(struct container *ct, struct req *r)
{
    int mask = commands_states(r);
    char allowed[128] = "";

    if (mask & CT_MASK(ct->state))
        return 0;
    for (int s = CT_BORN; s <= CT_DESTROYED; s++) {
        if (!(mask & CT_MASK(s)))
            continue;
        if (allowed[0])
            strlcat(allowed, ", ", sizeof(allowed));
        strlcat(allowed, state_names[s], sizeof(allowed));
    }
    req_error(r, "Container state must be one of '%s', current state is '%s'", allowed,
              state_names[ct->state]);
    return -1;
}

void ct_add_event(struct container *ct, const char *event)
{
    json_object_array_add(ct->events, json_object_new_string(event));
}

int ct_cgroup_file(struct container *ct, const char *controller, const char *file, char *out,
                   size_t size)
{
    int n;

    if (cgroup_v2)
        n = snprintf(out, size, "%s/warden-%s/%s/%s", g_cfg->server.cgroup_root,
                     g_cfg->server.instance, ct->id, file);
    else
        n = snprintf(out, size, "%s/%s/warden-%s/%s/%s", g_cfg->server.cgroup_root, controller,
                     g_cfg->server.instance, ct->id, file);
    return n < (int)size ? 0 : -1;
}

/* ---- the op queue ---- */

static void op_cancel(struct req *r, void *data)
{
    struct ct_op *op = data;

    (void)r;
    op->req = NULL;
}

static void op_submit(struct container *ct, struct ct_op *op)
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

static struct ct_op *op_new(void (*run)(struct container *, struct ct_op *), struct req *r)
{
    struct ct_op *op = calloc(1, sizeof(*op));

    if (op == NULL) {
        if (r)
            req_error(r, "out of memory");
        return NULL;
    }
    op->run = run;
    op->req = r;
    return op;
}

static void op_reply(struct ct_op *op, struct json_object *payload)
{
    if (op->req) {
        req_set_cancel(op->req, NULL, NULL);
        req_reply(op->req, payload);
        op->req = NULL;
    } else {
        json_object_put(payload);
    }
}

static void op_error(struct ct_op *op, const char *msg)
{
    if (op->req) {
        req_set_cancel(op->req, NULL, NULL);
        req_error(op->req, "%s", msg);
        op->req = NULL;
    }
}

/* The head op finished: run the next one. ct must still be registered. */
static void op_done(struct container *ct)
{
    struct ct_op *op = ct->ops;

    ct->ops = op->next;
    free(op);
    if (ct->ops)
        ct->ops->run(ct, ct->ops);
}

/* ---- hook environment ---- */

static int env_add(char ***env, size_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int env_add(char ***env, size_t *n, const char *key, const char *fmt, ...)
{
    char *val = NULL, *kv = NULL, **ne;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&val, fmt, ap) < 0)
        val = NULL;
    va_end(ap);
    if (val == NULL || asprintf(&kv, "%s=%s", key, val) < 0) {
        free(val);
        return -1;
    }
    free(val);
    ne = realloc(*env, (*n + 2) * sizeof(*ne));
    if (ne == NULL) {
        free(kv);
        return -1;
    }
    ne[(*n)++] = kv;
    ne[*n] = NULL;
    *env = ne;
    return 0;
}

static void env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

static void pool_cidr(char *buf, size_t size)
{
    uint64_t span = 4ULL * (uint64_t)g_cfg->network.pool_size;
    int prefix = 30;
    char ip[32];
    uint32_t mask;

    while (prefix > 0 && (1ULL << (32 - prefix)) < span)
        prefix--;
    mask = prefix ? ~((1U << (32 - prefix)) - 1) : 0;
    /* Widen until the block holds the whole (possibly unaligned) pool. */
    while (prefix > 0 && ((g_cfg->network.pool_start_address & mask) + (1ULL << (32 - prefix)) <
                          g_cfg->network.pool_start_address + span)) {
        prefix--;
        mask = prefix ? ~((1U << (32 - prefix)) - 1) : 0;
    }
    ip_str(g_cfg->network.pool_start_address & mask, ip, sizeof(ip));
    snprintf(buf, size, "%s/%d", ip, prefix);
}

/* The one table of doc/hooks.md, for this container. */
static char **build_env(struct container *ct, int disk_size_mb)
{
    const struct w_config *c = g_cfg;
    char net[32], host[32], cont[32], pool[48];
    char **env = NULL;
    size_t n = 0;
    int bad = 0;

    ip_str(ct->network, net, sizeof(net));
    ip_str(ct->network + 1, host, sizeof(host));
    ip_str(ct->network + 2, cont, sizeof(cont));
    pool_cidr(pool, sizeof(pool));
    bad |= env_add(&env, &n, "instance", "%s", c->server.instance);
    bad |= env_add(&env, &n, "id", "%s", ct->id);
    bad |= env_add(&env, &n, "handle", "%s", ct->handle);
    bad |= env_add(&env, &n, "container_path", "%s", ct->path);
    bad |= env_add(&env, &n, "rootfs_path", "%s", ct->rootfs);
    bad |= env_add(&env, &n, "skeleton_path", "%s", c->server.skeleton_path);
    bad |= env_add(&env, &n, "hooks_path", "%s", c->server.hooks_path);
    bad |= env_add(&env, &n, "wshd_path", "%s", c->server.wshd_path);
    bad |= env_add(&env, &n, "network_network", "%s", net);
    bad |= env_add(&env, &n, "network_host_ip", "%s", host);
    bad |= env_add(&env, &n, "network_container_ip", "%s", cont);
    bad |= env_add(&env, &n, "network_netmask", "255.255.255.252");
    bad |= env_add(&env, &n, "network_host_iface", "%s-%s-0", c->server.instance, ct->id);
    bad |= env_add(&env, &n, "network_container_iface", "%s-%s-1", c->server.instance, ct->id);
    bad |= env_add(&env, &n, "network_pool", "%s", pool);
    bad |= env_add(&env, &n, "mtu", "%d", c->network.mtu);
    bad |= env_add(&env, &n, "allow_networks", "%s", c->network.allow_networks);
    bad |= env_add(&env, &n, "deny_networks", "%s", c->network.deny_networks);
    bad |= env_add(&env, &n, "allow_host_access", "%s",
                   c->network.allow_host_access ? "true" : "false");
    bad |= env_add(&env, &n, "dns_servers", "%s", c->network.dns_servers);
    bad |= env_add(&env, &n, "user_name", "vcap");
    bad |= env_add(&env, &n, "user_uid", "%u", (unsigned)ct->uid);
    bad |= env_add(&env, &n, "cgroup_root", "%s", c->server.cgroup_root);
    bad |= env_add(&env, &n, "iptables", "%s", c->server.iptables);
    bad |= env_add(&env, &n, "stop_timeout", "%g", c->server.stop_timeout);
    bad |= env_add(&env, &n, "bind_mounts", "%s", ct->bind_mounts ? ct->bind_mounts : "");
    bad |= env_add(&env, &n, "disk_size_mb", "%d", disk_size_mb);
    if (getenv("DEBUG"))
        bad |= env_add(&env, &n, "DEBUG", "%s", getenv("DEBUG"));
    if (bad) {
        env_free(env);
        return NULL;
    }
    return env;
}

/* ---- registry ---- */

static void ct_free(struct container *ct)
{
    json_object_put(ct->properties);
    json_object_put(ct->limits);
    json_object_put(ct->events);
    free(ct->bind_mounts);
    env_free(ct->env);
    free(ct);
}

/* Remove ct from the registry and release what it held; queued ops get `unknown handle`. */
static void ct_remove(struct container *ct)
{
    long long now = loop_now_ms();

    for (struct container **p = &containers; *p; p = &(*p)->next)
        if (*p == ct) {
            *p = ct->next;
            break;
        }
    if (ct->grace_timer)
        loop_del_timer(g_loop, ct->grace_timer);
    job_container_gone(ct);
    pool_release(&net_pool, ct->net_index, now);
    pool_release(&uid_pool, ct->uid_index, now);
    while (ct->ops) {
        struct ct_op *op = ct->ops;
        ct->ops = op->next;
        op_error(op, "unknown handle");
        free(op);
    }
    ct_free(ct);
}

void ct_save(struct container *ct)
{
    struct json_object *o = json_object_new_object();
    struct w_error err;
    char path[PATH_MAX + 32];
    size_t len;
    const char *s;

    json_object_object_add(o, "handle", json_object_new_string(ct->handle));
    json_object_object_add(o, "id", json_object_new_string(ct->id));
    json_object_object_add(o, "state", json_object_new_string(state_names[ct->state]));
    json_object_object_add(o, "network_index", json_object_new_int(ct->net_index));
    json_object_object_add(o, "uid", json_object_new_int64(ct->uid));
    json_object_object_add(o, "rootfs", json_object_new_string(ct->rootfs));
    json_object_object_add(o, "grace_time",
                           ct->grace_time < 0 ? NULL : json_object_new_double(ct->grace_time));
    json_object_object_add(o, "properties", json_object_get(ct->properties));
    json_object_object_add(o, "limits", json_object_get(ct->limits));
    json_object_object_add(o, "events", json_object_get(ct->events));
    json_object_object_add(o, "jobs", job_snapshot(ct));
    s = jsonh_str(o, &len);
    snprintf(path, sizeof(path), "%s/snapshot.json", ct->path);
    if (util_write_file_atomic(AT_FDCWD, path, s, len, &err) < 0)
        log_msg(LOG_WARNING, "container %s: snapshot: %s", ct->handle, err.msg);
    json_object_put(o);
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

static void arm_grace(struct container *ct)
{
    if (ct->grace_timer || ct->grace_time < 0 || ct->refs > 0)
        return;
    ct->grace_timer = loop_add_timer(g_loop, (long long)(ct->grace_time * 1000), on_grace, ct);
}

void ct_ref(struct container *ct, struct req *r)
{
    if (conn_add_ref(req_conn(r), ct->serial) == 1)
        ct->refs++;
    if (ct->grace_timer) {
        loop_del_timer(g_loop, ct->grace_timer);
        ct->grace_timer = 0;
    }
}

static void on_conn_closed(uint64_t serial)
{
    struct container *ct = lookup_serial(serial);

    if (ct == NULL)
        return;
    if (ct->refs > 0)
        ct->refs--;
    arm_grace(ct);
}

/* ---- create ---- */

enum { STEP_SETUP, STEP_START, STEP_DONE };

static void create_next(struct container *ct);

static void create_fail_done(void *data, const char *error)
{
    struct container *ct = data;
    struct ct_op *op = ct->ops;

    if (error)
        log_msg(LOG_ERR, "container %s: cleanup after failed create: %s", ct->handle, error);
    op_error(op, op->error);
    ct->ops = op->next;
    free(op);
    ct_remove(ct);
}

static void create_fail(struct container *ct, const char *error)
{
    struct ct_op *op = ct->ops;
    struct w_error err;

    if (error != op->error)
        strlcpy(op->error, error, sizeof(op->error));
    log_msg(LOG_WARNING, "container %s: create failed: %s", ct->handle, error);
    if (hook_run("destroy.sh", NULL, ct->env, NULL, create_fail_done, ct, &err) < 0)
        create_fail_done(ct, err.msg);
}

/* One hook of the create ended: go on once every hook of the step has. */
static void create_hook_done(void *data, const char *error)
{
    struct container *ct = data;
    struct ct_op *op = ct->ops;

    if (error && op->error[0] == '\0')
        strlcpy(op->error, error, sizeof(op->error));
    if (--op->pending > 0)
        return;
    if (op->error[0])
        create_fail(ct, op->error);
    else
        create_next(ct);
}

static void create_launch(struct container *ct, const char *name, const char *const *args,
                          const char *log_path)
{
    struct ct_op *op = ct->ops;
    struct w_error err;

    op->pending++;
    if (hook_run(name, args, ct->env, log_path, create_hook_done, ct, &err) < 0) {
        op->pending--;
        if (op->error[0] == '\0')
            strlcpy(op->error, err.msg, sizeof(op->error));
    }
}

static void create_next(struct container *ct)
{
    static const char *const setup_args[] = {"setup", NULL};
    struct ct_op *op = ct->ops;

    switch (op->step++) {
    case STEP_SETUP:
        /* setup.sh makes the container directory, so there is no hooks.log to write to
         * yet: its failures still reach the client and wardend's log. */
        create_launch(ct, "setup.sh", NULL, NULL);
        break;
    case STEP_START:
        /* Independent, so side by side: the rules of net.sh name the veth, they need
         * not see it, and start.sh does not need the rules. */
        create_launch(ct, "start.sh", NULL, ct->log_path);
        create_launch(ct, "net.sh", setup_args, ct->log_path);
        break;
    default:
        ct->state = CT_ACTIVE;
        ct_save(ct);
        log_msg(LOG_INFO, "container %s: created (id %s, uid %u)", ct->handle, ct->id,
                (unsigned)ct->uid);
        op_reply(op, json_object_new_string(ct->handle));
        arm_grace(ct);
        op_done(ct);
        return;
    }
    if (op->pending == 0) /* nothing could even be started */
        create_fail(ct, op->error);
}

static void op_create(struct container *ct, struct ct_op *op)
{
    op->step = STEP_SETUP;
    create_next(ct);
}

/* Validate CONFIG field by field; fills ct and *disk. Replies and returns -1 on error. */
static int parse_create_config(struct req *r, struct json_object *cfg, struct container *ct,
                               int *net_index)
{
    static const char *const known[] = {"bind_mounts", "grace_time", "disk_size_mb", "handle",
                                        "network",     "rootfs",     "limits",       "properties"};
    struct json_object *v;

    if (cfg == NULL)
        return 0;
    if (!json_object_is_type(cfg, json_type_object)) {
        req_error(r, "Config must be a hash");
        return -1;
    }
    json_object_object_foreach(cfg, key, val)
    {
        size_t i;
        (void)val;
        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcmp(key, known[i]) == 0)
                break;
        if (i == sizeof(known) / sizeof(known[0])) {
            req_error(r, "Unknown create option `%s`.", key);
            return -1;
        }
    }
    if (json_object_object_get_ex(cfg, "handle", &v)) {
        const char *h = json_object_get_string(v);
        if (!json_object_is_type(v, json_type_string) || *h == '\0' || strlen(h) > 255) {
            req_error(r, "Expected `handle` to hold a non-empty string of at most 255 bytes.");
            return -1;
        }
        if (ct_lookup(h)) {
            req_error(r, "container with handle: %s already exists.", h);
            return -1;
        }
        strlcpy(ct->handle, h, sizeof(ct->handle));
    }
    if (json_object_object_get_ex(cfg, "grace_time", &v)) {
        if (v == NULL)
            ct->grace_time = -1;
        else if ((json_object_is_type(v, json_type_int) ||
                  json_object_is_type(v, json_type_double)) &&
                 json_object_get_double(v) >= 0 && json_object_get_double(v) < 1e9)
            ct->grace_time = json_object_get_double(v);
        else {
            req_error(r, "Expected `grace_time` to hold a non-negative number or null.");
            return -1;
        }
    }
    if (json_object_object_get_ex(cfg, "disk_size_mb", &v)) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
            req_error(r, "Expected `disk_size_mb` to hold a non-negative integer.");
            return -1;
        }
        if (json_object_get_int64(v) > 0) {
            req_error(r, "disk_size_mb is not supported by this server yet");
            return -1;
        }
    }
    if (json_object_object_get_ex(cfg, "rootfs", &v)) {
        struct stat st;
        if (!json_object_is_type(v, json_type_string) || *json_object_get_string(v) != '/') {
            req_error(r, "Expected `rootfs` to hold an absolute path.");
            return -1;
        }
        if (stat(json_object_get_string(v), &st) < 0 || !S_ISDIR(st.st_mode)) {
            req_error(r, "rootfs %s not found", json_object_get_string(v));
            return -1;
        }
        strlcpy(ct->rootfs, json_object_get_string(v), sizeof(ct->rootfs));
    }
    if (json_object_object_get_ex(cfg, "properties", &v)) {
        if (!json_object_is_type(v, json_type_object)) {
            req_error(r, "Expected `properties` to hold an object of strings.");
            return -1;
        }
        json_object_object_foreach(v, pk, pv)
        {
            (void)pk;
            if (!json_object_is_type(pv, json_type_string)) {
                req_error(r, "Expected `properties` to hold an object of strings.");
                return -1;
            }
        }
        json_object_put(ct->properties);
        ct->properties = json_object_get(v);
    }
    if (json_object_object_get_ex(cfg, "limits", &v)) {
        if (!json_object_is_type(v, json_type_object)) {
            req_error(r, "Expected `limits` to hold an object.");
            return -1;
        }
        if (json_object_object_length(v) > 0) {
            req_error(r, "limits at create are not supported by this server yet");
            return -1;
        }
    }
    if (json_object_object_get_ex(cfg, "bind_mounts", &v)) {
        size_t n;
        char *bm = NULL;
        size_t bmlen = 0;
        FILE *f;

        if (!json_object_is_type(v, json_type_array)) {
            req_error(r, "Expected `bind_mounts` to hold an array.");
            return -1;
        }
        f = open_memstream(&bm, &bmlen);
        if (f == NULL) {
            req_error(r, "out of memory");
            return -1;
        }
        n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(v, i);
            struct json_object *src, *dst, *opt, *mode = NULL;
            const char *m = "ro";
            struct stat st;
            size_t elen = json_object_is_type(e, json_type_array) ? json_object_array_length(e) : 0;

            src = elen >= 2 ? json_object_array_get_idx(e, 0) : NULL;
            dst = elen >= 2 ? json_object_array_get_idx(e, 1) : NULL;
            opt = elen == 3 ? json_object_array_get_idx(e, 2) : NULL;
            if (elen < 2 || elen > 3 || !json_object_is_type(src, json_type_string) ||
                !json_object_is_type(dst, json_type_string) ||
                (elen == 3 && !json_object_is_type(opt, json_type_object))) {
                fclose(f);
                free(bm);
                req_error(r,
                          "Expected `bind_mounts[%zu]` to be [SRC, DST, {\"mode\":\"ro\"|\"rw\"}].",
                          i);
                return -1;
            }
            if (opt && json_object_object_get_ex(opt, "mode", &mode)) {
                m = json_object_get_string(mode);
                if (!json_object_is_type(mode, json_type_string) ||
                    (strcmp(m, "ro") != 0 && strcmp(m, "rw") != 0)) {
                    fclose(f);
                    free(bm);
                    req_error(r, "Expected `bind_mounts[%zu]` mode to be \"ro\" or \"rw\".", i);
                    return -1;
                }
            }
            if (strpbrk(json_object_get_string(src), "\t\n") ||
                strpbrk(json_object_get_string(dst), "\t\n") ||
                json_object_get_string(dst)[0] != '/' || json_object_get_string(src)[0] != '/') {
                fclose(f);
                free(bm);
                req_error(
                    r,
                    "Expected `bind_mounts[%zu]` to hold absolute paths without tabs or newlines.",
                    i);
                return -1;
            }
            if (stat(json_object_get_string(src), &st) < 0) {
                fclose(f);
                free(bm);
                req_error(r, "bind mount source %s not found", json_object_get_string(src));
                return -1;
            }
            fprintf(f, "%s\t%s\t%s\n", json_object_get_string(src), json_object_get_string(dst), m);
        }
        fclose(f);
        ct->bind_mounts = bm;
    }
    if (json_object_object_get_ex(cfg, "network", &v)) {
        struct in_addr a;
        uint32_t ip, start = g_cfg->network.pool_start_address;
        if (!json_object_is_type(v, json_type_string) ||
            inet_pton(AF_INET, json_object_get_string(v), &a) != 1) {
            req_error(r, "Expected `network` to hold a dotted IPv4 address.");
            return -1;
        }
        ip = ntohl(a.s_addr);
        if (ip < start || (uint64_t)(ip - start) / 4 >= (uint64_t)g_cfg->network.pool_size)
            *net_index = -2; /* outside the pool: `could not acquire network` */
        else
            *net_index = (int)((ip - start) / 4);
    }
    return 0;
}

/* Any free /30; when the handle will be the id, skip ids that a caller chose as the
 * handle of another container. */
static int acquire_network(int handle_is_id, long long now)
{
    int skipped[64], nskipped = 0, i;

    while ((i = pool_acquire(&net_pool, now)) >= 0 && handle_is_id) {
        char id[16];
        snprintf(id, sizeof(id), "%08x", g_cfg->network.pool_start_address + 4u * (uint32_t)i);
        if (ct_lookup(id) == NULL)
            break;
        if (nskipped == (int)(sizeof(skipped) / sizeof(skipped[0]))) {
            pool_put_back(&net_pool, i);
            i = -1;
            break;
        }
        skipped[nskipped++] = i;
    }
    while (nskipped > 0)
        pool_put_back(&net_pool, skipped[--nskipped]);
    return i;
}

void cmd_create(struct req *r)
{
    struct container *ct = calloc(1, sizeof(*ct));
    struct json_object *cfg = req_nargs(r) > 1 ? req_arg(r, 1) : NULL;
    long long now = loop_now_ms();
    int net_index = -1;
    struct ct_op *op;

    if (ct == NULL) {
        req_error(r, "out of memory");
        return;
    }
    ct->grace_time = g_cfg->server.container_grace_time;
    ct->properties = json_object_new_object();
    ct->limits = json_object_new_object();
    ct->events = json_object_new_array();
    ct->net_index = ct->uid_index = -1;
    strlcpy(ct->rootfs, g_cfg->server.container_rootfs_path, sizeof(ct->rootfs));
    if (parse_create_config(r, cfg, ct, &net_index) < 0) {
        ct_free(ct);
        return;
    }
    ct->net_index = net_index == -1 ? acquire_network(ct->handle[0] == '\0', now)
                                    : (net_index >= 0 ? pool_take(&net_pool, net_index, now) : -1);
    if (ct->net_index < 0) {
        ct_free(ct);
        req_error(r, "could not acquire network");
        return;
    }
    ct->uid_index = pool_acquire(&uid_pool, now);
    if (ct->uid_index < 0) {
        pool_release(&net_pool, ct->net_index, now);
        ct_free(ct);
        req_error(r, "could not acquire user id");
        return;
    }
    ct->network = g_cfg->network.pool_start_address + 4u * (uint32_t)ct->net_index;
    ct->uid = g_cfg->user.pool_start_uid + (uid_t)ct->uid_index;
    snprintf(ct->id, sizeof(ct->id), "%08x", ct->network);
    if (ct->handle[0] == '\0')
        strlcpy(ct->handle, ct->id, sizeof(ct->handle));
    if (ct_lookup(ct->handle)) { /* a chosen handle equal to another's id */
        pool_release(&net_pool, ct->net_index, now);
        pool_release(&uid_pool, ct->uid_index, now);
        req_error(r, "container with handle: %s already exists.", ct->handle);
        ct_free(ct);
        return;
    }
    if (snprintf(ct->path, sizeof(ct->path) - 32, "%s/%s", g_cfg->server.container_depot_path,
                 ct->id) >= (int)sizeof(ct->path) - 32)
        abort(); /* the depot path is bounded by CONFIG_STR */
    strlcpy(ct->log_path, ct->path, sizeof(ct->log_path));
    strlcat(ct->log_path, "/log/hooks.log", sizeof(ct->log_path));
    ct->env = build_env(ct, 0);
    if (ct->env == NULL) {
        pool_release(&net_pool, ct->net_index, now);
        pool_release(&uid_pool, ct->uid_index, now);
        ct_free(ct);
        req_error(r, "out of memory");
        return;
    }
    ct->serial = next_serial++;
    ct->state = CT_BORN;
    ct->next = containers;
    containers = ct;
    ct_ref(ct, r);
    op = op_new(op_create, r);
    if (op == NULL) {
        ct_remove(ct);
        return;
    }
    op_submit(ct, op);
}

/* ---- stop ---- */

static void stop_done(void *data, const char *error)
{
    struct container *ct = data;
    struct ct_op *op = ct->ops;

    if (error) {
        op_error(op, error);
    } else {
        ct->state = CT_STOPPED;
        ct_save(ct);
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

void cmd_stop(struct req *r, struct container *ct)
{
    struct json_object *opts = req_nargs(r) > 2 ? req_arg(r, 2) : NULL;
    int background = 0;
    struct ct_op *op;

    if (opts && !json_object_is_type(opts, json_type_object)) {
        req_error(r, "Options must be a hash");
        return;
    }
    if (opts) {
        json_object_object_foreach(opts, k, v)
        {
            if (strcmp(k, "kill") != 0 && strcmp(k, "background") != 0) {
                req_error(r, "Unknown stop option `%s`.", k);
                return;
            }
            if (!json_object_is_type(v, json_type_boolean)) {
                req_error(r, "Expected `%s` to hold a boolean.", k);
                return;
            }
        }
    }
    if (ct_check_state(ct, r) < 0)
        return;
    background = jsonh_get_bool(opts, "background", 0);
    if (ct->state == CT_STOPPED) {
        req_reply(r, json_object_new_string("ok"));
        return;
    }
    op = op_new(op_stop, background ? NULL : r);
    if (op == NULL)
        return;
    op->kill = jsonh_get_bool(opts, "kill", 0);
    if (background)
        req_reply(r, json_object_new_string("ok"));
    op_submit(ct, op);
}

/* ---- destroy ---- */

static void destroy_done(void *data, const char *error)
{
    struct container *ct = data;
    struct ct_op *op = ct->ops;

    if (error) {
        /* Keep it registered so the operator can see why and retry. */
        log_msg(LOG_ERR, "container %s: destroy failed: %s", ct->handle, error);
        op_error(op, error);
        op_done(ct);
        return;
    }
    log_msg(LOG_INFO, "container %s: destroyed", ct->handle);
    op_reply(op, json_object_new_string("ok"));
    ct->ops = op->next;
    free(op);
    ct_remove(ct);
}

static void op_destroy(struct container *ct, struct ct_op *op)
{
    struct w_error err;

    (void)op;
    /* Links and streams of its jobs end now with what the files hold. */
    job_container_stopping(ct);
    if (hook_run("destroy.sh", NULL, ct->env, NULL, destroy_done, ct, &err) < 0)
        destroy_done(ct, err.msg);
}

void cmd_destroy(struct req *r, struct container *ct)
{
    struct ct_op *op = op_new(op_destroy, r);

    if (op)
        op_submit(ct, op);
}

/* ---- info and list ---- */

static void add_stats(struct container *ct, struct json_object *stats)
{
    char path[PATH_MAX], *text;
    struct w_error err;

    if (ct_cgroup_file(ct, "memory", "memory.stat", path, sizeof(path)) == 0 &&
        (text = util_read_file(AT_FDCWD, path, 1 << 16, NULL, &err)) != NULL) {
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char key[128];
            long long val;
            if (sscanf(line, "%127s %lld", key, &val) == 2)
                json_object_object_add(stats, key, json_object_new_int64(val));
        }
        free(text);
    }
    if (ct_cgroup_file(ct, "memory", cgroup_v2 ? "memory.current" : "memory.usage_in_bytes", path,
                       sizeof(path)) == 0 &&
        (text = util_read_file(AT_FDCWD, path, 256, NULL, &err)) != NULL) {
        json_object_object_add(stats, "mem_usage_B", json_object_new_int64(atoll(text)));
        free(text);
    }
    if (!cgroup_v2 && ct_cgroup_file(ct, "cpuacct", "cpuacct.usage", path, sizeof(path)) == 0 &&
        (text = util_read_file(AT_FDCWD, path, 256, NULL, &err)) != NULL) {
        json_object_object_add(stats, "cpu_usage_ns", json_object_new_int64(atoll(text)));
        free(text);
    } else if (cgroup_v2 && ct_cgroup_file(ct, "cpu", "cpu.stat", path, sizeof(path)) == 0 &&
               (text = util_read_file(AT_FDCWD, path, 4096, NULL, &err)) != NULL) {
        long long usec = 0;
        char *p = strstr(text, "usage_usec ");
        if (p)
            usec = atoll(p + 11);
        json_object_object_add(stats, "cpu_usage_ns", json_object_new_int64(usec * 1000));
        free(text);
    }
}

void cmd_info(struct req *r, struct container *ct)
{
    struct json_object *o = json_object_new_object(), *stats = json_object_new_object();
    char ip[32];

    json_object_object_add(o, "state", json_object_new_string(state_names[ct->state]));
    json_object_object_add(o, "handle", json_object_new_string(ct->handle));
    json_object_object_add(o, "id", json_object_new_string(ct->id));
    json_object_object_add(o, "events", json_object_get(ct->events));
    ip_str(ct->network + 1, ip, sizeof(ip));
    json_object_object_add(o, "host_ip", json_object_new_string(ip));
    ip_str(ct->network + 2, ip, sizeof(ip));
    json_object_object_add(o, "container_ip", json_object_new_string(ip));
    json_object_object_add(o, "container_path", json_object_new_string(ct->path));
    json_object_object_add(o, "limits", json_object_get(ct->limits));
    add_stats(ct, stats);
    json_object_object_add(o, "stats", stats);
    json_object_object_add(o, "job_ids", job_running_ids(ct));
    json_object_object_add(o, "properties", json_object_get(ct->properties));
    json_object_object_add(o, "grace_time",
                           ct->grace_time < 0 ? NULL : json_object_new_double(ct->grace_time));
    req_reply(r, o);
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

void cmd_list(struct req *r)
{
    struct json_object *filter = NULL, *out;

    if (req_nargs(r) > 1) {
        struct json_object *opts = req_arg(r, 1);
        if (!json_object_is_type(opts, json_type_object)) {
            req_error(r, "Options must be a hash");
            return;
        }
        filter = jsonh_get(opts, "properties");
        if (filter && !json_object_is_type(filter, json_type_object)) {
            req_error(r, "Expected `properties` to hold an object of strings.");
            return;
        }
    }
    out = json_object_new_array();
    for (struct container *ct = containers; ct; ct = ct->next)
        if ((ct->state == CT_ACTIVE || ct->state == CT_STOPPED) &&
            (filter == NULL || properties_match(ct, filter)))
            json_object_array_add(out, json_object_new_string(ct->handle));
    req_reply(r, out);
}

/* ---- restart: adopt what survived, tear down the rest ---- */

/* Does the container's wshd answer a ping? Start-up only, so a short blocking wait. */
static int wshd_alive(const char *path)
{
    char sock[PATH_MAX + 32];
    struct timeval tv = {.tv_sec = 2};
    struct json_object *msg, *reply;
    struct w_error err;
    int fd, ok = 0;

    snprintf(sock, sizeof(sock), "%s/run/wshd.sock", path);
    fd = wshd_connect(sock, 0, &err);
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    msg = json_object_new_object();
    json_object_object_add(msg, "op", json_object_new_string("ping"));
    if (wshd_send(fd, msg, NULL, 0, &err) == 0 && (reply = wshd_recv(fd, NULL, NULL, &err))) {
        ok = jsonh_get_bool(reply, "ok", 0);
        json_object_put(reply);
    }
    json_object_put(msg);
    close(fd);
    return ok;
}

/* Fill ct from its depot directory; returns 1 when the snapshot is usable. */
static int load_snapshot(struct container *ct, struct json_object **snap)
{
    char path[PATH_MAX + 32];
    struct json_object *o, *v;
    struct w_error err;
    char *text;
    size_t len;
    const char *state;

    snprintf(path, sizeof(path), "%s/snapshot.json", ct->path);
    text = util_read_file(AT_FDCWD, path, 1 << 20, &len, &err);
    if (text == NULL)
        return 0;
    o = jsonh_parse(text, len, &err);
    free(text);
    if (o == NULL || strcmp(jsonh_get_str(o, "id", ""), ct->id) != 0) {
        json_object_put(o);
        return 0;
    }
    strlcpy(ct->handle, jsonh_get_str(o, "handle", ct->id), sizeof(ct->handle));
    strlcpy(ct->rootfs, jsonh_get_str(o, "rootfs", ct->rootfs), sizeof(ct->rootfs));
    ct->uid = (uid_t)jsonh_get_int(o, "uid", 0);
    v = jsonh_get(o, "grace_time");
    ct->grace_time = v ? json_object_get_double(v) : -1;
    state = jsonh_get_str(o, "state", "");
    ct->state = strcmp(state, "active") == 0    ? CT_ACTIVE
                : strcmp(state, "stopped") == 0 ? CT_STOPPED
                                                : CT_BORN;
    if (json_object_is_type(v = jsonh_get(o, "properties"), json_type_object)) {
        json_object_put(ct->properties);
        ct->properties = json_object_get(v);
    }
    if (json_object_is_type(v = jsonh_get(o, "limits"), json_type_object)) {
        json_object_put(ct->limits);
        ct->limits = json_object_get(v);
    }
    if (json_object_is_type(v = jsonh_get(o, "events"), json_type_array)) {
        json_object_put(ct->events);
        ct->events = json_object_get(v);
    }
    *snap = o;
    return 1;
}

static void restore_one(const char *name)
{
    struct container *ct = calloc(1, sizeof(*ct));
    struct json_object *snap = NULL;
    long long now = loop_now_ms();
    uint32_t net;
    struct w_error err;
    int ni;

    if (ct == NULL)
        return;
    ct->properties = json_object_new_object();
    ct->limits = json_object_new_object();
    ct->events = json_object_new_array();
    net = (uint32_t)strtoul(name, NULL, 16);
    strlcpy(ct->id, name, sizeof(ct->id));
    strlcpy(ct->handle, name, sizeof(ct->handle));
    strlcpy(ct->rootfs, g_cfg->server.container_rootfs_path, sizeof(ct->rootfs));
    snprintf(ct->path, sizeof(ct->path), "%s/%s", g_cfg->server.container_depot_path, name);
    strlcpy(ct->log_path, ct->path, sizeof(ct->log_path));
    strlcat(ct->log_path, "/log/hooks.log", sizeof(ct->log_path));
    ct->network = net;
    ct->net_index = ct->uid_index = -1;
    ni = net >= g_cfg->network.pool_start_address
             ? (int)((net - g_cfg->network.pool_start_address) / 4)
             : -1;
    if (load_snapshot(ct, &snap) && ct->state != CT_BORN && !ct_lookup(ct->handle) &&
        wshd_alive(ct->path) && pool_take(&net_pool, ni, now) == ni &&
        (ct->uid_index = pool_take(&uid_pool, (int)(ct->uid - g_cfg->user.pool_start_uid), now)) >=
            0) {
        ct->net_index = ni;
        ct->env = build_env(ct, 0);
        ct->serial = next_serial++;
        ct->next = containers;
        containers = ct;
        job_restore(ct, jsonh_get(snap, "jobs"));
        json_object_put(snap);
        arm_grace(ct);
        log_msg(LOG_INFO, "container %s: adopted (%s)", ct->handle, state_names[ct->state]);
        return;
    }
    json_object_put(snap);
    if (ct->net_index < 0 && ni >= 0 && pool_take(&net_pool, ni, now) == ni)
        pool_release(&net_pool, ni, now); /* keep its release delay: the veth dies late */
    log_msg(LOG_WARNING, "container %s: dead or half-built, tearing it down", name);
    ct->env = build_env(ct, 0);
    if (ct->env == NULL || hook_run_sync("destroy.sh", NULL, ct->env, NULL, &err) < 0)
        log_msg(LOG_ERR, "container %s: %s", name, ct->env ? err.msg : "out of memory");
    ct_free(ct);
}

static void restore_all(void)
{
    DIR *d = opendir(g_cfg->server.container_depot_path);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        if (strlen(e->d_name) == 8 && strspn(e->d_name, "0123456789abcdef") == 8)
            restore_one(e->d_name);
    closedir(d);
}

/* ---- start-up ---- */

static int check_uid_pool(struct w_error *err)
{
    uid_t lo = g_cfg->user.pool_start_uid, hi = lo + (uid_t)g_cfg->user.pool_size;
    struct passwd *pw;
    int ret = 0;

    setpwent();
    while ((pw = getpwent()) != NULL) {
        if (pw->pw_uid >= lo && pw->pw_uid < hi) {
            ret = w_err(err, "user pool %u..%u overlaps host user %s (uid %u)", (unsigned)lo,
                        (unsigned)hi - 1, pw->pw_name, (unsigned)pw->pw_uid);
            break;
        }
    }
    endpwent();
    return ret;
}

int ct_init(struct w_error *err)
{
    char path[PATH_MAX], pool[48];
    char *env[16];
    int n = 0;

    if (check_uid_pool(err) < 0)
        return -1;
    if (pool_init(&net_pool, g_cfg->network.pool_size, g_cfg->network.release_delay_ms) < 0 ||
        pool_init(&uid_pool, g_cfg->user.pool_size, 0) < 0)
        return w_err(err, "out of memory");
    if (util_mkdir_p(g_cfg->server.container_depot_path, 0755, err) < 0)
        return w_err_prefix(err, "container depot");
    snprintf(path, sizeof(path), "%s/cgroup.controllers", g_cfg->server.cgroup_root);
    cgroup_v2 = access(path, F_OK) == 0;
    server_on_conn_closed(on_conn_closed);
    pool_cidr(pool, sizeof(pool));
    asprintf(&env[n++], "instance=%s", g_cfg->server.instance);
    asprintf(&env[n++], "network_pool=%s", pool);
    asprintf(&env[n++], "allow_host_access=%s",
             g_cfg->network.allow_host_access ? "true" : "false");
    asprintf(&env[n++], "cgroup_root=%s", g_cfg->server.cgroup_root);
    asprintf(&env[n++], "iptables=%s", g_cfg->server.iptables);
    asprintf(&env[n++], "hooks_path=%s", g_cfg->server.hooks_path);
    env[n] = NULL;
    if (hook_run_sync("host-setup.sh", NULL, env, NULL, err) < 0) {
        for (int i = 0; i < n; i++)
            free(env[i]);
        return -1;
    }
    for (int i = 0; i < n; i++)
        free(env[i]);
    restore_all();
    return 0;
}
