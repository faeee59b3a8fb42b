/* Runs in wardend's loop. Every operation that runs hooks goes through the container's
 * op queue, so create, stop and destroy of one container never interleave; a client
 * whose connection closes while its op waits just loses the reply, the op still runs. */
#include "ct_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "hook.h"
#include "job.h"
#include "jsonh.h"
#include "log.h"
#include "server.h"
#include "util.h"

static struct container *containers;
static uint64_t next_serial = 1;
struct pool net_pool, uid_pool;
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

void ip_str(uint32_t addr, char *buf, size_t size)
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

    if (op == NULL) {
        if (r)
            req_error(r, "out of memory");
        return NULL;
    }
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
    if (op->req) {
        req_set_cancel(op->req, NULL, NULL);
        req_error(op->req, "%s", msg);
        op->req = NULL;
    }
}

/* The head op finished: run the next one. ct must still be registered. */
void op_done(struct container *ct)
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

void env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

void pool_cidr(char *buf, size_t size)
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
char **build_env(struct container *ct, int disk_size_mb)
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

void ct_free(struct container *ct)
{
    ct_unwatch_wshd(ct);
    json_object_put(ct->properties);
    json_object_put(ct->limits);
    json_object_put(ct->events);
    free(ct->bind_mounts);
    env_free(ct->env);
    free(ct);
}

/* Remove ct from the registry and release what it held; queued ops get `unknown handle`. */
void ct_remove(struct container *ct)
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

/* Give ct its serial and put it in the registry. */
void ct_register(struct container *ct)
{
    ct->serial = next_serial++;
    ct->next = containers;
    containers = ct;
}

void ct_set_paths(struct container *ct)
{
    /* Cannot overflow: the depot path is bounded by CONFIG_STR, the id by 16. */
    snprintf(ct->path, sizeof(ct->path), "%.*s/%s", CONFIG_STR, g_cfg->server.container_depot_path,
             ct->id);
    snprintf(ct->log_path, sizeof(ct->log_path), "%.*s/log/hooks.log", CONFIG_STR, ct->path);
}

struct container *ct_alloc(void)
{
    struct container *ct = calloc(1, sizeof(*ct));

    if (ct == NULL)
        return NULL;
    ct->properties = json_object_new_object();
    ct->limits = json_object_new_object();
    ct->events = json_object_new_array();
    ct->net_index = ct->uid_index = -1;
    ct->wshd_fd = -1;
    strlcpy(ct->rootfs, g_cfg->server.container_rootfs_path, sizeof(ct->rootfs));
    return ct;
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
    ct_unwatch_wshd(ct); /* destroy.sh kills it */
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
    ct_restore_all();
    return 0;
}
