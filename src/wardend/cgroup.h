/* The one owner of the cgroup version and the stats: which layout the host has (v2
 * when server.cgroup_root holds cgroup.controllers; every hook gets it as
 * cgroup_version), where a container's files are, and the stats `info` reports. The
 * hooks make, fill, limit and remove the cgroups in the same layout (hooks/lib/cgroup.sh);
 * info's stats test that the two agree. */
#ifndef W_CGROUP_H
#define W_CGROUP_H

#include <json-c/json.h>
#include <stddef.h>

/* Look at server.cgroup_root once, at start-up. */
void cgroup_init(void);
int cgroup_v2(void);
/* The host path of file in container id's cgroup for controller ("memory", "cpuacct";
 * ignored on v2); -1 when it does not fit in out. */
int cgroup_file(const char *id, const char *controller, const char *file, char *out, size_t size);
/* SIGKILL to every process of container id's cgroups, sent and not waited for: v2
 * writes cgroup.kill (the kernel kills them all, forks included); v1 kills each pid
 * of each controller's cgroup.procs. The number of pids killed on v1 (0 on v2). */
int cgroup_kill(const char *id);
/* info of container id: memory_stat (memory.stat's keys, v1 names; on v2 those with an
 * equivalent), cpu_stat (usage ns, user and system in clock ticks) into info, and the
 * flat figures (every memory_stat key, mem_usage_B, cpu_usage_ns) into stats; files
 * that cannot be read are left out. */
void cgroup_stats(const char *id, struct json_object *info, struct json_object *stats);

#endif
