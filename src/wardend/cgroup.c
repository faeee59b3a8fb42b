/* Runs in wardend's loop (info) and once at start-up (cgroup_init). info reads the
 * kernel's files directly: no process per request. */
#include "cgroup.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "wardend.h"

static int v2;

void cgroup_init(void)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/cgroup.controllers", g_cfg->server.cgroup_root);
    v2 = access(path, F_OK) == 0;
}

int cgroup_v2(void)
{
    return v2;
}

int cgroup_file(const char *id, const char *controller, const char *file, char *out, size_t size)
{
    int n;

    if (v2)
        n = snprintf(out, size, "%s/warden-%s/%s/%s", g_cfg->server.cgroup_root,
                     g_cfg->server.instance, id, file);
    else
        n = snprintf(out, size, "%s/%s/warden-%s/%s/%s", g_cfg->server.cgroup_root, controller,
                     g_cfg->server.instance, id, file);
    return n < (int)size ? 0 : -1;
}

/* A cgroup file of container id as text (NULL when it cannot be read: no such
 * controller, or gone). */
static char *cg_read(const char *id, const char *controller, const char *file, size_t max)
{
    char path[PATH_MAX];
    struct w_error err;

    if (cgroup_file(id, controller, file, path, sizeof(path)) < 0)
        return NULL;
    return util_read_file(AT_FDCWD, path, max, NULL, &err);
}

int cgroup_kill(const char *id)
{
    /* lib/cgroup.sh's cg_v1_controllers: a half-attached process is in some of them. */
    static const char *const v1[] = {"pids",    "memory", "cpu",     "cpuacct",
                                     "devices", "cpuset", "freezer", NULL};
    char path[PATH_MAX], *text, *p, *end;
    int n = 0;

    if (v2 && cgroup_file(id, NULL, "cgroup.kill", path, sizeof(path)) == 0) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t w = fd >= 0 ? write(fd, "1", 1) : -1;
        if (fd >= 0)
            close(fd);
        if (w == 1)
            return 0;
    }
    for (int i = 0; v2 ? i == 0 : v1[i] != NULL; i++) {
        if ((text = cg_read(id, v1[i], "cgroup.procs", 1 << 20)) == NULL)
            continue;
        for (p = text;; p = end) {
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 1 && kill((pid_t)pid, SIGKILL) == 0)
                n++;
        }
        free(text);
    }
    return n;
}

struct stat_name {
    const char *v2, *v1;
};

/* "key value" lines into obj; with map (ended by a NULL entry), only the mapped keys,
 * under their v1 names. */
static void add_kv_lines(struct json_object *obj, char *text, const struct stat_name *map)
{
    char *save = NULL;

    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[128];
        long long val;
        if (sscanf(line, "%127s %lld", key, &val) != 2)
            continue;
        if (map == NULL) {
            json_object_object_add(obj, key, json_object_new_int64(val));
            continue;
        }
        for (const struct stat_name *m = map; m->v2; m++)
            if (strcmp(key, m->v2) == 0)
                json_object_object_add(obj, m->v1, json_object_new_int64(val));
    }
}

/* v2 memory.stat keys with a v1 equivalent, under the v1 name (hierarchical on v2, so
 * the total_ names too). */
static const struct stat_name mem_v2_map[] = {
    {"file", "cache"},
    {"anon", "rss"},
    {"file_mapped", "mapped_file"},
    {"shmem", "shmem"},
    {"file_dirty", "dirty"},
    {"file_writeback", "writeback"},
    {"anon_thp", "rss_huge"},
    {"pgfault", "pgfault"},
    {"pgmajfault", "pgmajfault"},
    {"inactive_anon", "inactive_anon"},
    {"active_anon", "active_anon"},
    {"inactive_file", "inactive_file"},
    {"active_file", "active_file"},
    {"unevictable", "unevictable"},
    {"file", "total_cache"},
    {"anon", "total_rss"},
    {"file_mapped", "total_mapped_file"},
    {"shmem", "total_shmem"},
    {"pgfault", "total_pgfault"},
    {"pgmajfault", "total_pgmajfault"},
    {"inactive_anon", "total_inactive_anon"},
    {"active_anon", "total_active_anon"},
    {"inactive_file", "total_inactive_file"},
    {"active_file", "total_active_file"},
    {"unevictable", "total_unevictable"},
    {NULL, NULL},
};

static void add_memory(const char *id, struct json_object *info, struct json_object *stats)
{
    struct json_object *ms = json_object_new_object();
    char *text;

    if ((text = cg_read(id, "memory", "memory.stat", 1 << 16)) != NULL) {
        char *copy = v2 ? strdup(text) : NULL;
        /* The flat stats hold memory.stat as the kernel names it; memory_stat, v1 names. */
        if (copy) {
            add_kv_lines(stats, copy, NULL);
            free(copy);
        }
        add_kv_lines(ms, text, v2 ? mem_v2_map : NULL);
        free(text);
        if (!v2) {
            json_object_object_foreach(ms, k, val)
            {
                json_object_object_add(stats, k, json_object_get(val));
            }
        }
    }
    if ((text = cg_read(id, "memory", v2 ? "memory.current" : "memory.usage_in_bytes", 256))) {
        json_object_object_add(stats, "mem_usage_B", json_object_new_int64(atoll(text)));
        free(text);
    }
    if (v2 && (text = cg_read(id, "memory", "memory.swap.current", 256))) {
        json_object_object_add(ms, "swap", json_object_new_int64(atoll(text)));
        free(text);
    }
    json_object_object_add(info, "memory_stat", ms);
}

/* cpu_stat: usage in ns; user and system in clock ticks (USER_HZ), as cpuacct.stat. */
static void add_cpu(const char *id, struct json_object *info, struct json_object *stats)
{
    struct json_object *cs = json_object_new_object();
    long long usage = -1, user = -1, sys = -1;
    char *text, *p;

    if (v2) {
        long hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
        if ((text = cg_read(id, "cpu", "cpu.stat", 4096)) != NULL) {
            if ((p = strstr(text, "usage_usec ")))
                usage = atoll(p + 11) * 1000;
            if ((p = strstr(text, "user_usec ")))
                user = atoll(p + 10) * hz / 1000000;
            if ((p = strstr(text, "system_usec ")))
                sys = atoll(p + 12) * hz / 1000000;
            free(text);
        }
    } else {
        if ((text = cg_read(id, "cpuacct", "cpuacct.usage", 256)) != NULL) {
            usage = atoll(text);
            free(text);
        }
        if ((text = cg_read(id, "cpuacct", "cpuacct.stat", 4096)) != NULL) {
            if ((p = strstr(text, "user ")))
                user = atoll(p + 5);
            if ((p = strstr(text, "system ")))
                sys = atoll(p + 7);
            free(text);
        }
    }
    if (usage >= 0) {
        json_object_object_add(cs, "usage", json_object_new_int64(usage));
        json_object_object_add(stats, "cpu_usage_ns", json_object_new_int64(usage));
    }
    if (user >= 0)
        json_object_object_add(cs, "user", json_object_new_int64(user));
    if (sys >= 0)
        json_object_object_add(cs, "system", json_object_new_int64(sys));
    json_object_object_add(info, "cpu_stat", cs);
}

void cgroup_stats(const char *id, struct json_object *info, struct json_object *stats)
{
    add_memory(id, info, stats);
    add_cpu(id, info, stats);
}
