/* create: CONFIG checked field by field, pools, then the hooks setup.sh, start.sh and
 * net.sh setup; on any failure destroy.sh and the first error. Runs in wardend's loop,
 * as an op of the container's queue. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "create.h"
#include "hook.h"
#include "jsonh.h"
#include "lifecycle.h"
#include "log.h"
#include "req.h"
#include "snapshot.h"
#include "util.h"
#include "wardend.h"
#include "wshd_watch.h"

enum { STEP_SETUP, STEP_START, STEP_DONE };

static void create_next(struct container *ct);

static void create_fail_done(void *data, const char *error)
{
    struct container *ct = data;
    struct ct_op *op = ct->ops;

    if (error)
        log_msg(LOG_ERR, "container %s: cleanup after failed create: %s", ct->handle, error);
    op_error(op, op->error);
    op_done_remove(ct);
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
        ct_set_state(ct, CT_ACTIVE);
        snapshot_save(ct);
        ct_watch_wshd(ct);
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
    struct container *ct = ct_alloc();
    struct json_object *cfg = req_nargs(r) > 1 ? req_arg(r, 1) : NULL;
    long long now = loop_now_ms();
    int net_index = -1;
    struct ct_op *op;

    if (ct == NULL) {
        req_error(r, "out of memory");
        return;
    }
    ct->grace_time = g_cfg->server.container_grace_time;
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
    ct_set_paths(ct);
    if (ct_make_env(ct) < 0) {
        pool_release(&net_pool, ct->net_index, now);
        pool_release(&uid_pool, ct->uid_index, now);
        ct_free(ct);
        req_error(r, "out of memory");
        return;
    }
    ct_register(ct); /* born, as ct_alloc made it */
    ct_ref(ct, r);
    op = op_new(op_create, r);
    if (op == NULL) {
        lifecycle_remove(ct);
        return;
    }
    op_submit(ct, op);
}
