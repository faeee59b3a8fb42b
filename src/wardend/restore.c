/* Start-up, before the socket serves: adopt every container of the depot whose wshd
 * answers and whose snapshot is whole (pools, jobs, grace timer), tear the rest down
 * with destroy.sh. Blocking waits are fine here: nobody is served yet. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ct_int.h"
#include "hook.h"
#include "job.h"
#include "jsonh.h"
#include "log.h"
#include "server.h"
#include "util.h"
#include "wshd_proto.h"

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
    struct container *ct = ct_alloc();
    struct json_object *snap = NULL;
    long long now = loop_now_ms();
    uint32_t net;
    struct w_error err;
    int ni;

    if (ct == NULL)
        return;
    net = (uint32_t)strtoul(name, NULL, 16);
    strlcpy(ct->id, name, sizeof(ct->id));
    strlcpy(ct->handle, name, sizeof(ct->handle));
    ct_set_paths(ct);
    ct->network = net;
    ni = net >= g_cfg->network.pool_start_address
             ? (int)((net - g_cfg->network.pool_start_address) / 4)
             : -1;
    if (load_snapshot(ct, &snap) && ct->state != CT_BORN && !ct_lookup(ct->handle) &&
        wshd_alive(ct->path) && pool_take(&net_pool, ni, now) == ni &&
        (ct->uid_index = pool_take(&uid_pool, (int)(ct->uid - g_cfg->user.pool_start_uid), now)) >=
            0) {
        ct->net_index = ni;
        ct->env = build_env(ct, 0);
        ct_register(ct);
        job_restore(ct, jsonh_get(snap, "jobs"));
        json_object_put(snap);
        ct_watch_wshd(ct);
        arm_grace(ct);
        log_msg(LOG_INFO, "container %s: adopted (%s)", ct->handle, ct_state_name(ct->state));
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

void ct_restore_all(void)
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
