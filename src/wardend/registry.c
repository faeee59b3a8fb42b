/* Runs in wardend's loop. A plain list: a server holds at most network.pool_size
 * containers, and every lookup is one request's worth of work. */
#include "registry.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "env.h"
#include "events.h"
#include "jsonh.h"
#include "log.h"
#include "spawnp.h"
#include "util.h"
#include "wardend.h"

static struct container *containers;
static struct container *teardowns;
static uint64_t next_serial = 1;
struct pool net_pool, uid_pool, port_pool;

static const char *const state_names[CT_NSTATES] = {"born", "active", "stopped", "destroyed"};

/* The lifecycle as data: from each state, the states it may go to.
 *   born    -> active     create's hooks all succeeded
 *   born    -> stopped    restore adopted a container its snapshot says is stopped
 *   born    -> destroyed  create failed and was cleaned up; restore tore it down
 *   active  -> stopped    stop, or its wshd died
 *   active, stopped -> destroyed   destroy.sh succeeded (or the grace time ran out)
 * Nothing leaves destroyed: the container leaves the registry right after. */
static const int transitions[CT_NSTATES] = {
    [CT_BORN] = CT_MASK(CT_ACTIVE) | CT_MASK(CT_STOPPED) | CT_MASK(CT_DESTROYED),
    [CT_ACTIVE] = CT_MASK(CT_STOPPED) | CT_MASK(CT_DESTROYED),
    [CT_STOPPED] = CT_MASK(CT_DESTROYED),
    [CT_DESTROYED] = 0,
};

const char *ct_state_name(enum ct_state s)
{
    return s < CT_NSTATES ? state_names[s] : "unknown";
}

int ct_state_from_name(const char *s)
{
    for (int i = 0; i < CT_NSTATES; i++)
        if (strcmp(state_names[i], s) == 0)
            return i;
    return -1;
}

int ct_set_state(struct container *ct, enum ct_state s)
{
    if (ct->state == s)
        return 0;
    if (s >= CT_NSTATES || !(transitions[ct->state] & CT_MASK(s))) {
        log_msg(LOG_ERR, "container %s: internal error: no transition from %s to %s", ct->handle,
                ct_state_name(ct->state), ct_state_name(s));
        return -1;
    }
    log_msg(LOG_DEBUG, "container %s: %s -> %s", ct->handle, state_names[ct->state],
            state_names[s]);
    if (ct->state != CT_BORN || s == CT_ACTIVE) /* a create that failed was never created */
        events_publish(ct->handle, s == CT_ACTIVE ? "created" : state_names[s]);
    ct->state = s;
    return 0;
}

int ct_state_allowed(const struct container *ct, int mask, struct w_error *err)
{
    char allowed[128] = "";

    if (mask & CT_MASK(ct->state))
        return 0;
    for (int s = 0; s < CT_NSTATES; s++) {
        if (!(mask & CT_MASK(s)))
            continue;
        if (allowed[0])
            strlcat(allowed, ", ", sizeof(allowed));
        strlcat(allowed, state_names[s], sizeof(allowed));
    }
    return w_err(err, "Container state must be one of '%s', current state is '%s'", allowed,
                 state_names[ct->state]);
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

struct container *ct_lookup_serial(uint64_t serial)
{
    for (struct container *ct = containers; ct; ct = ct->next)
        if (ct->serial == serial)
            return ct;
    return NULL;
}

void ct_add_event(struct container *ct, const char *event)
{
    json_object_array_add(ct->events, json_object_new_string(event));
    events_publish(ct->handle, event);
}

struct container *ct_alloc(void)
{
    struct container *ct = calloc(1, sizeof(*ct));

    if (ct == NULL)
        return NULL;
    ct->state = CT_BORN;
    ct->properties = json_object_new_object();
    ct->limits = json_object_new_object();
    ct->events = json_object_new_array();
    ct->net_index = ct->uid_index = -1;
    ct->wshd_fd = -1;
    strlcpy(ct->rootfs, g_cfg->server.container_rootfs_path, sizeof(ct->rootfs));
    return ct;
}

void ct_set_paths(struct container *ct)
{
    /* Cannot overflow: the depot path is bounded by CONFIG_STR, the id by 16. */
    snprintf(ct->path, sizeof(ct->path), "%.*s/%s", CONFIG_STR, g_cfg->server.container_depot_path,
             ct->id);
    snprintf(ct->log_path, sizeof(ct->log_path), "%.*s/log/hooks.log", CONFIG_STR, ct->path);
}

int ct_make_env(struct container *ct)
{
    struct env_ct in = {
        .id = ct->id,
        .handle = ct->handle,
        .path = ct->path,
        .rootfs = ct->rootfs,
        .bind_mounts = ct->bind_mounts,
        .hostname = ct->hostname,
        .tmpfs_mounts = ct->tmpfs_mounts,
        .sysctls = ct->sysctls,
        .read_only_root = ct->read_only_root,
        .network = ct->network,
        .uid = ct->uid,
        .network_address = ct->network_address,
        /* limits.disk (bytes), set at create, makes setup.sh create the image. */
        .disk_size_mb = (int)((jsonh_get_int(ct->limits, "disk", 0) + (1 << 20) - 1) >> 20),
    };

    spawnp_strv_free(ct->env);
    ct->env = env_container(&in);
    return ct->env ? 0 : -1;
}

void ct_register(struct container *ct)
{
    ct->serial = next_serial++;
    ct->next = containers;
    containers = ct;
}

void ct_unregister(struct container *ct)
{
    struct container **lists[] = {&containers, &teardowns};

    for (size_t i = 0; i < 2; i++)
        for (struct container **p = lists[i]; *p; p = &(*p)->next)
            if (*p == ct) {
                *p = ct->next;
                ct->next = NULL;
                return;
            }
}

void ct_teardown_add(struct container *ct)
{
    ct_unregister(ct);
    ct->next = teardowns;
    teardowns = ct;
}

struct container *ct_teardown_first(void)
{
    return teardowns;
}

struct container *ct_teardown_lookup(const char *handle)
{
    for (struct container *ct = teardowns; ct; ct = ct->next)
        if (ct->destroying == 1 && strcmp(ct->handle, handle) == 0)
            return ct;
    return NULL;
}

int ct_teardowns_running(void)
{
    int n = 0;

    for (struct container *ct = teardowns; ct; ct = ct->next)
        n += ct->destroying == 1;
    return n;
}

int ct_port_index(int p)
{
    int i = p - g_cfg->port.pool_start_port;
    return i >= 0 && i < g_cfg->port.pool_size ? i : -1;
}

void ct_release_pools(struct container *ct)
{
    long long now = loop_now_ms();

    pool_release(&net_pool, ct->net_index, now);
    pool_release(&uid_pool, ct->uid_index, now);
    for (int i = 0; i < ct->nports; i++)
        pool_release(&port_pool, ct_port_index(ct->ports[i][0]), now);
    ct->net_index = ct->uid_index = -1;
    ct->nports = 0;
}

void ct_free(struct container *ct)
{
    assert(ct->ops == NULL && ct->jobs == NULL && ct->wshd_fd < 0);
    json_object_put(ct->properties);
    json_object_put(ct->limits);
    json_object_put(ct->events);
    json_object_put(ct->net_out);
    free(ct->bind_mounts);
    free(ct->tmpfs_mounts);
    free(ct->sysctls);
    free(ct->ports);
    spawnp_strv_free(ct->env);
    free(ct);
}

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

/* net in's host ports must never be handed out by the kernel as a connection's source
 * port: refuse a pool that overlaps net.ipv4.ip_local_port_range. */
static int check_port_pool(struct w_error *err)
{
    int start = g_cfg->port.pool_start_port, end = start + g_cfg->port.pool_size - 1, lo, hi;
    char *text = util_read_file(AT_FDCWD, "/proc/sys/net/ipv4/ip_local_port_range", 256, NULL, err);

    if (text == NULL)
        return w_err_prefix(err, "port pool");
    if (sscanf(text, "%d %d", &lo, &hi) != 2) {
        free(text);
        return w_err(err, "port pool: cannot parse net.ipv4.ip_local_port_range");
    }
    free(text);
    if (g_cfg->port.pool_size > 0 && start <= hi && end >= lo)
        return w_err(err,
                     "port pool %d..%d (port.pool_start_port, port.pool_size) overlaps the "
                     "kernel's ephemeral ports %d..%d (net.ipv4.ip_local_port_range)",
                     start, end, lo, hi);
    return 0;
}

/* With user namespaces, the host uids the containers get, [lo, hi), must belong to no
 * one else: not the uid pool, no host user or group, no range of /etc/subuid or
 * /etc/subgid (another user's subordinate ids). */
static int check_sub_file(const char *path, uint64_t lo, uint64_t hi, struct w_error *err)
{
    char line[512];
    FILE *f = fopen(path, "re");
    int ret = 0;

    if (f == NULL)
        return errno == ENOENT ? 0 : w_errno(err, errno, "open %s", path);
    while (ret == 0 && fgets(line, sizeof(line), f) != NULL) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        unsigned long long start, count;

        if (c2 == NULL || sscanf(c1 + 1, "%llu", &start) != 1 ||
            sscanf(c2 + 1, "%llu", &count) != 1)
            continue;
        *c1 = '\0';
        if (start < hi && start + count > lo)
            ret = w_err(
                err, "user.subordinate_start_uid: %llu..%llu overlaps %s's range %llu..%llu in %s",
                (unsigned long long)lo, (unsigned long long)hi - 1, line, start, start + count - 1,
                path);
    }
    fclose(f);
    return ret;
}

static int check_subordinate(struct w_error *err)
{
    uint64_t lo = g_cfg->user.subordinate_start_uid,
             hi = lo + (uint64_t)g_cfg->user.subordinate_size;
    uint64_t plo = g_cfg->user.pool_start_uid, phi = plo + (uint64_t)g_cfg->user.pool_size;
    struct passwd *pw;
    struct group *gr;
    int ret = 0;

    if (!g_cfg->server.user_namespaces)
        return 0;
    if (hi > 0xffffffffULL)
        return w_err(err, "user.subordinate_size: the range runs past uid 4294967294");
    if (plo < hi && phi > lo)
        return w_err(err, "user.subordinate_start_uid: %llu..%llu overlaps the uid pool %llu..%llu",
                     (unsigned long long)lo, (unsigned long long)hi - 1, (unsigned long long)plo,
                     (unsigned long long)phi - 1);
    setpwent();
    while (ret == 0 && (pw = getpwent()) != NULL)
        if (pw->pw_uid >= lo && pw->pw_uid < hi)
            ret =
                w_err(err, "user.subordinate_start_uid: %llu..%llu overlaps host user %s (uid %u)",
                      (unsigned long long)lo, (unsigned long long)hi - 1, pw->pw_name,
                      (unsigned)pw->pw_uid);
    endpwent();
    setgrent();
    while (ret == 0 && (gr = getgrent()) != NULL)
        if (gr->gr_gid >= lo && gr->gr_gid < hi)
            ret =
                w_err(err, "user.subordinate_start_uid: %llu..%llu overlaps host group %s (gid %u)",
                      (unsigned long long)lo, (unsigned long long)hi - 1, gr->gr_name,
                      (unsigned)gr->gr_gid);
    endgrent();
    if (ret < 0)
        return ret;
    if (check_sub_file("/etc/subuid", lo, hi, err) < 0 ||
        check_sub_file("/etc/subgid", lo, hi, err) < 0)
        return -1;
    return 0;
}

/* With user namespaces, wshd and its hooks reach the container's directory and the
 * hooks as the container's root, an unprivileged host uid: every directory on the way
 * must let others through. */
static int check_reachable(const char *dir, struct w_error *err)
{
    char path[CONFIG_STR], *slash;
    struct stat st;

    if (!g_cfg->server.user_namespaces)
        return 0;
    strlcpy(path, dir, sizeof(path));
    for (;;) {
        if (stat(path[0] ? path : "/", &st) < 0)
            return w_errno(err, errno, "stat %s", path[0] ? path : "/");
        if ((st.st_mode & S_IXOTH) == 0)
            return w_err(err,
                         "server.user_namespaces: %s (mode %04o) must be searchable by others: "
                         "a container's root is an unprivileged host user",
                         path[0] ? path : "/", (unsigned)(st.st_mode & 07777));
        if ((slash = strrchr(path, '/')) == NULL || path[0] == '\0')
            break;
        *slash = '\0';
    }
    return 0;
}

int registry_init(struct w_error *err)
{
    if (check_uid_pool(err) < 0 || check_port_pool(err) < 0 || check_subordinate(err) < 0)
        return -1;
    if (pool_init(&net_pool, g_cfg->network.pool_size, g_cfg->network.release_delay_ms) < 0 ||
        pool_init(&uid_pool, g_cfg->user.pool_size, 0) < 0 ||
        pool_init(&port_pool, g_cfg->port.pool_size, g_cfg->network.release_delay_ms) < 0)
        return w_err(err, "pool_init: out of memory");
    if (util_mkdir_p(g_cfg->server.container_depot_path, 0755, err) < 0)
        return w_err_prefix(err, "container depot");
    if (check_reachable(g_cfg->server.container_depot_path, err) < 0 ||
        check_reachable(g_cfg->server.hooks_path, err) < 0)
        return -1;
    cgroup_init();
    return 0;
}
