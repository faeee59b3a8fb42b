/* Start-up, before the socket serves: adopt every container of the depot whose wshd
 * answers and whose snapshot is whole (pools, jobs, grace timer), tear the rest down
 * with destroy.sh. Blocking waits are fine here: nobody is served yet. */
#include "restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#include "oom.h"
#include "snapshot.h"
#include "wardend.h"
#include "warm.h"
#include "wshd_proto.h"
#include "wshd_watch.h"

/* One ping of the container's wshd, waiting at most 2 s for the answer. */
static int wshd_ping(const char *sock, struct w_error *err)
{
    struct timeval tv = {.tv_sec = 2};
    struct json_object *msg, *reply = NULL;
    int fd, ok = -1;

    fd = wshd_connect(sock, 0, err);
    if (fd < 0)
        return w_err_prefix(err, "wshd does not answer");
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    msg = json_object_new_object();
    json_object_object_add(msg, "op", json_object_new_string("ping"));
    if (wshd_send(fd, msg, NULL, 0, err) < 0 || (reply = wshd_recv(fd, NULL, NULL, err)) == NULL)
        w_err_prefix(err, "wshd does not answer a ping");
    else if (!jsonh_get_bool(reply, "ok", 0))
        w_err(err, "wshd refused a ping");
    else
        ok = 0;
    json_object_put(reply);
    json_object_put(msg);
    close(fd);
    return ok;
}

/* Does the container's wshd answer? Start-up only, so blocking waits. No socket, no
 * listener, a closed connection or a wrong answer mean wshd is dead or broken; only a
 * ping that timed out (a loaded host) is asked again, up to 5 times in all, as tearing
 * down a live container loses what it runs. */
static int wshd_alive(const char *path, struct w_error *err)
{
    char sock[PATH_MAX + 32];

    snprintf(sock, sizeof(sock), "%s/run/wshd.sock", path);
    for (int i = 0; i < 5; i++) {
        if (wshd_ping(sock, err) == 0)
            return 0;
        if (err->errnum != EAGAIN && err->errnum != EINTR)
            return -1;
        log_msg(LOG_WARNING, "%s: %s; asking again", path, err->msg);
    }
    return -1;
}

/* net in's host ports back out of the pool; one another container holds is dropped. */
static void take_ports(struct container *ct, long long now)
{
    int kept = 0;

    for (int i = 0; i < ct->nports; i++) {
        int idx = ct_port_index(ct->ports[i][0]);
        if (idx >= 0 && pool_take(&port_pool, idx, now) != idx) {
            log_msg(LOG_WARNING, "container %s: host port %d is taken, dropping its net in",
                    ct->handle, ct->ports[i][0]);
            continue;
        }
        ct->ports[kept][0] = ct->ports[i][0];
        ct->ports[kept][1] = ct->ports[i][1];
        kept++;
    }
    ct->nports = kept;
}

/* net in's DNAT and net out's ACCEPT rules live only in the kernel: check them, and
 * re-add what is missing (a flushed table, a firewall reload), with one net.sh restore
 * per container that has any, none for the others. */
static void restore_net(struct container *ct)
{
    size_t nout = ct->net_out ? json_object_array_length(ct->net_out) : 0;
    size_t nargs = 1 + 2 * (size_t)ct->nports + 5 * nout, k = 0;
    const char **args;
    char(*pairs)[16];
    struct w_error err;

    if ((ct->nports == 0 && nout == 0) || ct->env == NULL)
        return;
    args = calloc(nargs + 1, sizeof(*args));
    pairs = calloc((size_t)ct->nports + 1, sizeof(*pairs));
    if (args == NULL || pairs == NULL) {
        log_msg(LOG_ERR, "container %s: net rules not checked: out of memory", ct->handle);
        goto out;
    }
    args[k++] = "restore";
    for (int i = 0; i < ct->nports; i++) {
        snprintf(pairs[i], sizeof(pairs[i]), "%d:%d", ct->ports[i][0], ct->ports[i][1]);
        args[k++] = "in";
        args[k++] = pairs[i];
    }
    for (size_t i = 0; i < nout; i++) {
        struct json_object *rule = json_object_array_get_idx(ct->net_out, i);
        args[k++] = "out";
        for (size_t j = 0; j < 4; j++) /* 4 strings: snapshot_load checked */
            args[k++] = json_object_get_string(json_object_array_get_idx(rule, j));
    }
    if (hook_run_sync("net.sh", args, ct->env, ct->log_path, &err) < 0)
        log_msg(LOG_WARNING, "container %s: net rules not checked: %s", ct->handle, err.msg);
out:
    free(args);
    free(pairs);
}

/* Everything adoption needs, in order; on failure err says which check failed and ct
 * holds no pool entry. */
static int adoptable(struct container *ct, int ni, struct json_object **snap, long long now,
                     struct w_error *err)
{
    int ui;

    if (snapshot_load(ct, snap, err) < 0)
        return -1;
    if (ct_lookup(ct->handle))
        return w_err(err, "handle %s is already another container's", ct->handle);
    if (wshd_alive(ct->path, err) < 0)
        return -1;
    if (ni < 0 || pool_take(&net_pool, ni, now) != ni)
        return w_err(err, "its network is outside the pool or already taken");
    ui = (int)(ct->uid - g_cfg->user.pool_start_uid);
    if (pool_take(&uid_pool, ui, now) != ui) {
        pool_release(&net_pool, ni, now);
        return w_err(err, "its uid %u is already taken", (unsigned)ct->uid);
    }
    ct->net_index = ni;
    ct->uid_index = ui;
    take_ports(ct, now);
    return 0;
}

/* The network index of id NAME in the pool, -1 when it is not one of the pool's. */
static int pool_index(uint32_t net)
{
    uint32_t start = g_cfg->network.pool_start_address;

    if (net < start || (net - start) % 4 != 0 ||
        (uint64_t)(net - start) / 4 >= (uint64_t)g_cfg->network.pool_size)
        return -1;
    return (int)((net - start) / 4);
}

/* Does process PID's environment hold exactly KV ("container_path=...")? */
static int environ_has(const char *pid, const char *kv)
{
    char path[64], buf[65536];
    size_t klen = strlen(kv);
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%s/environ", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    for (char *p = buf; p < buf + n; p += strlen(p) + 1)
        if (strlen(p) == klen && memcmp(p, kv, klen) == 0)
            return 1;
    return 0;
}

/* Hooks run in their own process groups and so outlive a wardend killed by -9: a
 * create's net.sh or a destroy's destroy.sh may still be at work on this container.
 * KILL every process whose environment names its container_path (hooks and what they
 * started; wshd too, which destroy.sh would kill anyway), a few rounds, as a bash may
 * fork between our scan and its death. Start-up only. */
static void kill_leftover_hooks(const char *ct_path)
{
    char kv[PATH_MAX + 32];
    struct dirent *e;
    int found = 1;

    snprintf(kv, sizeof(kv), "container_path=%s", ct_path);
    for (int round = 0; round < 5 && found; round++) {
        DIR *d = opendir("/proc");
        found = 0;
        if (d == NULL)
            return;
        while ((e = readdir(d)) != NULL) {
            if (strspn(e->d_name, "0123456789") != strlen(e->d_name) ||
                atoi(e->d_name) == getpid() || !environ_has(e->d_name, kv))
                continue;
            log_msg(LOG_INFO, "killing process %s, left from a hook of %s", e->d_name, ct_path);
            kill((pid_t)atoi(e->d_name), SIGKILL);
            found = 1;
        }
        closedir(d);
        if (found)
            usleep(20 * 1000);
    }
}

/* A wardend killed mid-write leaves its temp file (PREFIX.tmp.PID): the file itself is
 * whole, the old or the new. */
static void remove_stale_temps(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    size_t n = strlen(prefix);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, n) == 0 && strncmp(e->d_name + n, ".tmp.", 5) == 0 &&
            unlinkat(dirfd(d), e->d_name, 0) == 0)
            log_msg(LOG_INFO, "%s: removed stale %s", dir, e->d_name);
    closedir(d);
}

static void restore_one(const char *name)
{
    struct container *ct = ct_alloc();
    struct json_object *snap = NULL;
    long long now = loop_now_ms();
    struct w_error why, err;
    int ni;

    if (ct == NULL) {
        log_msg(LOG_ERR, "container %s: not restored: out of memory", name);
        return;
    }
    strlcpy(ct->id, name, sizeof(ct->id));
    strlcpy(ct->handle, name, sizeof(ct->handle));
    ct_set_paths(ct);
    ct->network = (uint32_t)strtoul(name, NULL, 16);
    ni = pool_index(ct->network);
    remove_stale_temps(ct->path, "snapshot.json");
    if (adoptable(ct, ni, &snap, now, &why) == 0) {
        if (ct_make_env(ct) < 0)
            log_msg(LOG_ERR, "container %s: hook environment: out of memory", ct->handle);
        if (ct->pooled) { /* not a client's: back into the pool, or torn down */
            json_object_put(snap);
            warm_adopt(ct);
            return;
        }
        ct_register(ct);
        restore_net(ct);
        job_restore(ct, jsonh_get(snap, "jobs"));
        json_object_put(snap);
        ct_watch_wshd(ct);
        /* An OOM while wardend was down is seen now: kills since the cgroup began. */
        if (ct->state == CT_ACTIVE && jsonh_get_int(ct->limits, "mem", 0) > 0 &&
            oom_watch(ct, 1, &err) < 0)
            log_msg(LOG_WARNING, "container %s: %s", ct->handle, err.msg);
        arm_grace(ct);
        log_msg(LOG_INFO, "container %s: adopted (%s)", ct->handle, ct_state_name(ct->state));
        return;
    }
    json_object_put(snap);
    if (ni >= 0 && pool_take(&net_pool, ni, now) == ni)
        pool_release(&net_pool, ni, now); /* keep its release delay: the veth dies late */
    log_msg(LOG_WARNING, "container %s: not adopted (%s); tearing it down", name, why.msg);
    kill_leftover_hooks(ct->path);
    if (ct_make_env(ct) < 0)
        log_msg(LOG_ERR, "container %s: destroy.sh environment: out of memory", name);
    else if (hook_run_sync("destroy.sh", NULL, ct->env, NULL, &err) < 0)
        log_msg(LOG_ERR, "container %s: %s", name, err.msg);
    ct_set_state(ct, CT_DESTROYED);
    ct_free(ct);
}

void restore_all(void)
{
    DIR *d = opendir(g_cfg->server.container_depot_path);
    struct dirent *e;

    if (d == NULL)
        return;
    remove_stale_temps(g_cfg->server.container_depot_path, ".job_seq");
    while ((e = readdir(d)) != NULL)
        if (strlen(e->d_name) == 8 && strspn(e->d_name, "0123456789abcdef") == 8)
            restore_one(e->d_name);
    closedir(d);
}
