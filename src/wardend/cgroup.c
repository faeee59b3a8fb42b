/* Runs in wardend's loop (info) and once at start-up (cgroup_init). */
#include "cgroup.h"

#include <fcntl.h>
#include <limits.h>
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

void cgroup_stats(const char *id, struct json_object *stats)
{
    char path[PATH_MAX], *text;
    struct w_error err;

    if (cgroup_file(id, "memory", "memory.stat", path, sizeof(path)) == 0 &&
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
    if (cgroup_file(id, "memory", v2 ? "memory.current" : "memory.usage_in_bytes", path,
                    sizeof(path)) == 0 &&
        (text = util_read_file(AT_FDCWD, path, 256, NULL, &err)) != NULL) {
        json_object_object_add(stats, "mem_usage_B", json_object_new_int64(atoll(text)));
        free(text);
    }
    if (!v2 && cgroup_file(id, "cpuacct", "cpuacct.usage", path, sizeof(path)) == 0 &&
        (text = util_read_file(AT_FDCWD, path, 256, NULL, &err)) != NULL) {
        json_object_object_add(stats, "cpu_usage_ns", json_object_new_int64(atoll(text)));
        free(text);
    } else if (v2 && cgroup_file(id, "cpu", "cpu.stat", path, sizeof(path)) == 0 &&
               (text = util_read_file(AT_FDCWD, path, 4096, NULL, &err)) != NULL) {
        long long usec = 0;
        char *p = strstr(text, "usage_usec ");
        if (p)
            usec = atoll(p + 11);
        json_object_object_add(stats, "cpu_usage_ns", json_object_new_int64(usec * 1000));
        free(text);
    }
}
