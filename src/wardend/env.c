/* Runs in wardend's loop when a container's environment is made (create, restore) and
 * once at start-up for host-setup.sh. Each value is formatted once; a failed allocation
 * anywhere gives NULL, never a partial environment. */
#include "env.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cgroup.h"
#include "spawnp.h"
#include "wardend.h"

void env_ip_str(uint32_t addr, char *buf, size_t size)
{
    struct in_addr a = {.s_addr = htonl(addr)};
    inet_ntop(AF_INET, &a, buf, (socklen_t)size);
}

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

void env_pool_cidr(char *buf, size_t size)
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
    env_ip_str(g_cfg->network.pool_start_address & mask, ip, sizeof(ip));
    snprintf(buf, size, "%s/%d", ip, prefix);
}

/* The one table of doc/hooks.md, for this container. */
char **env_container(const struct env_ct *ct)
{
    const struct w_config *c = g_cfg;
    char net[32], host[32], cont[32], pool[48];
    char **env = NULL;
    size_t n = 0;
    int bad = 0;

    env_ip_str(ct->network, net, sizeof(net));
    env_ip_str(ct->network + 1, host, sizeof(host));
    env_ip_str(ct->network + 2, cont, sizeof(cont));
    env_pool_cidr(pool, sizeof(pool));
    bad |= env_add(&env, &n, "instance", "%s", c->server.instance);
    bad |= env_add(&env, &n, "id", "%s", ct->id);
    bad |= env_add(&env, &n, "handle", "%s", ct->handle);
    bad |= env_add(&env, &n, "container_path", "%s", ct->path);
    bad |= env_add(&env, &n, "rootfs_path", "%s", ct->rootfs);
    bad |= env_add(&env, &n, "skeleton_path", "%s", c->server.skeleton_path);
    bad |= env_add(&env, &n, "hooks_path", "%s", c->server.hooks_path);
    bad |= env_add(&env, &n, "wshd_path", "%s", c->server.wshd_path);
    bad |= env_add(&env, &n, "builtins_path", "%s", c->server.builtins_path);
    bad |= env_add(&env, &n, "network_network", "%s", net);
    bad |= env_add(&env, &n, "network_host_ip", "%s", host);
    bad |= env_add(&env, &n, "network_container_ip", "%s", cont);
    bad |= env_add(&env, &n, "network_netmask", "255.255.255.252");
    bad |=
        env_add(&env, &n, "network_address", "%s", ct->network_address ? ct->network_address : "");
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
    bad |= env_add(&env, &n, "cgroup_version", "%d", cgroup_v2() ? 2 : 1);
    bad |= env_add(&env, &n, "iptables", "%s", c->server.iptables);
    bad |= env_add(&env, &n, "stop_timeout", "%g", c->server.stop_timeout);
    bad |= env_add(&env, &n, "bind_mounts", "%s", ct->bind_mounts ? ct->bind_mounts : "");
    bad |= env_add(&env, &n, "disk_size_mb", "%d", ct->disk_size_mb);
    bad |= env_add(&env, &n, "hostname", "%s", ct->hostname ? ct->hostname : "");
    bad |= env_add(&env, &n, "tmpfs_mounts", "%s", ct->tmpfs_mounts ? ct->tmpfs_mounts : "");
    bad |= env_add(&env, &n, "read_only_root", "%s", ct->read_only_root ? "true" : "false");
    bad |= env_add(&env, &n, "sysctls", "%s", ct->sysctls ? ct->sysctls : "");
    bad |= env_add(&env, &n, "container_capabilities", "%s", c->server.container_capabilities);
    bad |= env_add(&env, &n, "seccomp", "%s", c->server.seccomp ? "true" : "false");
    bad |= env_add(&env, &n, "user_namespaces", "%s", c->server.user_namespaces ? "true" : "false");
    if (c->server.user_namespaces)
        bad |= env_add(&env, &n, "userns_root_uid", "%llu",
                       (unsigned long long)c->user.subordinate_start_uid +
                           (unsigned long long)(ct->uid - c->user.pool_start_uid) * USERNS_SIZE);
    else
        bad |= env_add(&env, &n, "userns_root_uid", "%s", "");
    if (getenv("DEBUG"))
        bad |= env_add(&env, &n, "DEBUG", "%s", getenv("DEBUG"));
    if (bad) {
        spawnp_strv_free(env);
        return NULL;
    }
    return env;
}

/* host-setup.sh's environment: the names it must make or clean and the instance's
 * filter policy, nothing per container. */
char **env_host(void)
{
    const struct w_config *c = g_cfg;
    char pool[48];
    char **env = NULL;
    size_t n = 0;
    int bad = 0;

    env_pool_cidr(pool, sizeof(pool));
    bad |= env_add(&env, &n, "instance", "%s", c->server.instance);
    bad |= env_add(&env, &n, "network_pool", "%s", pool);
    bad |= env_add(&env, &n, "allow_host_access", "%s",
                   c->network.allow_host_access ? "true" : "false");
    bad |= env_add(&env, &n, "allow_networks", "%s", c->network.allow_networks);
    bad |= env_add(&env, &n, "deny_networks", "%s", c->network.deny_networks);
    bad |= env_add(&env, &n, "cgroup_root", "%s", c->server.cgroup_root);
    bad |= env_add(&env, &n, "cgroup_version", "%d", cgroup_v2() ? 2 : 1);
    bad |= env_add(&env, &n, "iptables", "%s", c->server.iptables);
    bad |= env_add(&env, &n, "hooks_path", "%s", c->server.hooks_path);
    bad |= env_add(&env, &n, "cgroup_favor_dynmods", "%s",
                   c->server.cgroup_favor_dynmods ? "true" : "false");
    if (bad) {
        spawnp_strv_free(env);
        return NULL;
    }
    return env;
}
