/* Start-up, before the socket serves: adopt every container of the depot whose wshd
 * answers and whose snapshot is whole (pools, jobs, grace timer), tear the rest down
 * with destroy.sh. Blocking waits are fine here: nobody is served yet. */
#include "restore.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "hook.h"
#include "job.h"
#include "jsonh.h"
#include "lifecycle.h"
#include "log.h"
#include "snapshot.h"
#include "wardend.h"
#include "wshd_proto.h"
#include "wshd_watch.h"

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
    if (snapshot_load(ct, &snap) && ct->state != CT_BORN && !ct_lookup(ct->handle) &&
        wshd_alive(ct->path) && pool_take(&net_pool, ni, now) == ni &&
        (ct->uid_index = pool_take(&uid_pool, (int)(ct->uid - g_cfg->user.pool_start_uid), now)) >=
            0) {
        ct->net_index = ni;
        if (ct_make_env(ct) < 0)
            log_msg(LOG_ERR, "container %s: hook environment: out of memory", ct->handle);
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
    if (ct_make_env(ct) < 0 || hook_run_sync("destroy.sh", NULL, ct->env, NULL, &err) < 0)
        log_msg(LOG_ERR, "container %s: %s", name, ct->env ? err.msg : "out of memory");
    ct_set_state(ct, CT_DESTROYED);
    ct_free(ct);
}

void restore_all(void)
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
