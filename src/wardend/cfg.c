#include "cfg.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "caps.h"
#include "jsonh.h"
#include "log.h"
#include "rlimits.h"
#include "util.h"

#ifndef WARDEN_SYSCONFDIR
#define WARDEN_SYSCONFDIR "/etc"
#endif
#ifndef WARDEN_SBINDIR
#define WARDEN_SBINDIR "/usr/sbin"
#endif
#ifndef WARDEN_PKGDATADIR
#define WARDEN_PKGDATADIR "/usr/share/warden"
#endif
#ifndef WARDEN_LOCALSTATEDIR
#define WARDEN_LOCALSTATEDIR "/var"
#endif
#ifndef WARDEN_SOCKET
#define WARDEN_SOCKET "/run/warden/warden.sock"
#endif

enum kind {
    K_STR,
    K_PERMS,
    K_SECONDS,
    K_SECONDS_OR_NULL,
    K_INT,
    K_BOOL,
    K_IPV4,
    K_CIDRS,
    K_IPS,
    K_LEVEL,
    K_RLIMITS,
    K_INSTANCE,
    K_CAPS,
    K_STR_OR_NULL
};

struct key {
    const char *section, *name;
    enum kind kind;
    size_t off, size;
    long long min, max;
};

#define F(field) offsetof(struct w_config, field), sizeof(((struct w_config *)0)->field)
static const struct key keys[] = {
    {"server", "unix_domain_path", K_STR, F(server.unix_domain_path), 0, 0},
    {"server", "unix_domain_permissions", K_PERMS, F(server.unix_domain_permissions), 0, 07777},
    {"server", "container_rootfs_path", K_STR, F(server.container_rootfs_path), 0, 0},
    {"server", "container_depot_path", K_STR, F(server.container_depot_path), 0, 0},
    {"server", "hooks_path", K_STR, F(server.hooks_path), 0, 0},
    {"server", "skeleton_path", K_STR, F(server.skeleton_path), 0, 0},
    {"server", "wshd_path", K_STR, F(server.wshd_path), 0, 0},
    {"server", "builtins_path", K_STR_OR_NULL, F(server.builtins_path), 0, 0},
    {"server", "instance", K_INSTANCE, F(server.instance), 0, 0},
    {"server", "cgroup_root", K_STR, F(server.cgroup_root), 0, 0},
    {"server", "iptables", K_STR, F(server.iptables), 0, 0},
    {"server", "container_grace_time", K_SECONDS_OR_NULL, F(server.container_grace_time), 0, 0},
    {"server", "job_output_limit", K_INT, F(server.job_output_limit), 0, LLONG_MAX},
    {"server", "stop_timeout", K_SECONDS, F(server.stop_timeout), 0, 0},
    {"server", "hook_timeout", K_SECONDS, F(server.hook_timeout), 0, 0},
    {"server", "hook_runners", K_INT, F(server.hook_runners), 0, 16},
    {"server", "hook_zygote", K_BOOL, F(server.hook_zygote), 0, 0},
    {"server", "copy_timeout", K_SECONDS_OR_NULL, F(server.copy_timeout), 0, 0},
    {"server", "max_request_bytes", K_INT, F(server.max_request_bytes), 64, 64LL << 20},
    {"server", "container_rlimits", K_RLIMITS, F(server.container_rlimits), 0, 0},
    {"server", "container_capabilities", K_CAPS, F(server.container_capabilities), 0, 0},
    {"server", "seccomp", K_BOOL, F(server.seccomp), 0, 0},
    {"server", "warm_pool", K_INT, F(server.warm_pool), 0, 1 << 20},
    {"server", "user_namespaces", K_BOOL, F(server.user_namespaces), 0, 0},
    {"server", "cgroup_favor_dynmods", K_BOOL, F(server.cgroup_favor_dynmods), 0, 0},
    {"server", "pidfile", K_STR_OR_NULL, F(server.pidfile), 0, 0},
    {"server", "syslog_socket", K_STR, F(server.syslog_socket), 0, 0},
    {"health_check_server", "port", K_INT, F(health_check_server.port), 0, 65535},
    {"network", "pool_start_address", K_IPV4, F(network.pool_start_address), 0, 0},
    {"network", "pool_size", K_INT, F(network.pool_size), 1, 1 << 20},
    {"network", "release_delay_ms", K_INT, F(network.release_delay_ms), 0, 600000},
    {"network", "mtu", K_INT, F(network.mtu), 68, 65535},
    {"network", "allow_networks", K_CIDRS, F(network.allow_networks), 0, 0},
    {"network", "deny_networks", K_CIDRS, F(network.deny_networks), 0, 0},
    {"network", "allow_host_access", K_BOOL, F(network.allow_host_access), 0, 0},
    {"network", "dns_servers", K_IPS, F(network.dns_servers), 0, 0},
    {"port", "pool_start_port", K_INT, F(port.pool_start_port), 1, 65535},
    {"port", "pool_size", K_INT, F(port.pool_size), 0, 65535},
    {"user", "pool_start_uid", K_INT, F(user.pool_start_uid), 1, 0x7fffffff},
    {"user", "pool_size", K_INT, F(user.pool_size), 1, 1 << 20},
    {"user", "subordinate_start_uid", K_INT, F(user.subordinate_start_uid), 1, 0x7fffffff},
    {"user", "subordinate_size", K_INT, F(user.subordinate_size), USERNS_SIZE, 0x7fffffff},
    {"logging", "level", K_LEVEL, F(logging.level), 0, 0},
    {"logging", "file", K_STR, F(logging.file), 0, 0},
};
#undef F

void config_defaults(struct w_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    strlcpy(cfg->server.unix_domain_path, WARDEN_SOCKET, sizeof(cfg->server.unix_domain_path));
    cfg->server.unix_domain_permissions = 0755;
    strlcpy(cfg->server.container_rootfs_path, WARDEN_LOCALSTATEDIR "/lib/warden/rootfs",
            CONFIG_STR);
    strlcpy(cfg->server.container_depot_path, WARDEN_LOCALSTATEDIR "/lib/warden/containers",
            CONFIG_STR);
    strlcpy(cfg->server.hooks_path, WARDEN_SYSCONFDIR "/warden/hooks", CONFIG_STR);
    strlcpy(cfg->server.skeleton_path, WARDEN_PKGDATADIR "/skeleton", CONFIG_STR);
    strlcpy(cfg->server.wshd_path, WARDEN_SBINDIR "/wshd", CONFIG_STR);
    strlcpy(cfg->server.builtins_path, WARDEN_PKGLIBDIR "/warden-builtins.so", CONFIG_STR);
    strlcpy(cfg->server.instance, "w", sizeof(cfg->server.instance));
    strlcpy(cfg->server.cgroup_root, "/sys/fs/cgroup", CONFIG_STR);
    strlcpy(cfg->server.iptables, "iptables", sizeof(cfg->server.iptables));
    cfg->server.container_grace_time = 300;
    cfg->server.job_output_limit = 10LL << 20;
    cfg->server.stop_timeout = 10;
    cfg->server.hook_timeout = 30;
    cfg->server.hook_runners = 2;
    cfg->server.hook_zygote = 1;
    cfg->server.copy_timeout = 3600;
    cfg->server.max_request_bytes = 1LL << 20;
    cfg->server.container_rlimits = json_object_new_object();
    strlcpy(cfg->server.container_capabilities, CAPS_DEFAULT, CONFIG_STR);
    cfg->server.seccomp = 1;
    cfg->server.cgroup_favor_dynmods = 1;
    strlcpy(cfg->server.syslog_socket, "/dev/log", sizeof(cfg->server.syslog_socket));
    cfg->network.pool_start_address = 0x0afe0000; /* 10.254.0.0 */
    cfg->network.pool_size = 256;
    cfg->network.release_delay_ms = 250;
    cfg->network.mtu = 1500;
    cfg->port.pool_start_port = 61001;
    cfg->port.pool_size = 4000;
    cfg->user.pool_start_uid = 10000;
    cfg->user.pool_size = 256;
    cfg->user.subordinate_start_uid = 1U << 30;
    cfg->user.subordinate_size = 256 * USERNS_SIZE;
    cfg->logging.level = LOG_INFO;
}

void config_free(struct w_config *cfg)
{
    json_object_put(cfg->server.container_rlimits);
    cfg->server.container_rlimits = NULL;
}

static int check_rlimits(struct json_object *v, const char *what, struct w_error *err)
{
    if (!json_object_is_type(v, json_type_object))
        return w_err(err, "%s: expected an object", what);
    json_object_object_foreach(v, k, val)
    {
        if (rlimits_resource(k) < 0)
            return w_err(err, "%s: unknown rlimit '%s'", what, k);
        if (!json_object_is_type(val, json_type_int) || json_object_get_int64(val) < 0)
            return w_err(err, "%s.%s: expected a non-negative integer", what, k);
    }
    return 0;
}

int config_check_rlimits(struct json_object *v, const char *what, struct w_error *err)
{
    return check_rlimits(v, what, err);
}

/* A space-separated list of dotted addresses (with /mask when cidr). */
static int join_addresses(struct json_object *v, int cidr, char *out, size_t size, const char *what,
                          struct w_error *err)
{
    size_t n;

    if (!json_object_is_type(v, json_type_array))
        return w_err(err, "%s: expected an array of strings", what);
    out[0] = '\0';
    n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        const char *s;
        char addr[64], *slash;
        struct in_addr a;

        if (!json_object_is_type(e, json_type_string))
            return w_err(err, "%s[%zu]: expected a string", what, i);
        s = json_object_get_string(e);
        if (strlcpy(addr, s, sizeof(addr)) >= sizeof(addr))
            return w_err(err, "%s[%zu]: '%s' is too long", what, i, s);
        slash = strchr(addr, '/');
        if (slash) {
            char *end;
            long m;
            if (!cidr)
                return w_err(err, "%s[%zu]: '%s' is not an IPv4 address", what, i, s);
            *slash = '\0';
            m = strtol(slash + 1, &end, 10);
            if (*end || slash[1] == '\0' || m < 0 || m > 32)
                return w_err(err, "%s[%zu]: bad mask in '%s'", what, i, s);
        }
        if (inet_pton(AF_INET, addr, &a) != 1)
            return w_err(err, "%s[%zu]: '%s' is not an IPv4 %s", what, i, s,
                         cidr ? "network" : "address");
        if (out[0] && strlcat(out, " ", size) >= size)
            return w_err(err, "%s: too many entries", what);
        if (strlcat(out, s, size) >= size)
            return w_err(err, "%s: too many entries", what);
    }
    return 0;
}

/* An array of capability names (CHOWN or CAP_CHOWN), comma-separated into out. */
static int join_caps(struct json_object *v, char *out, size_t size, const char *what,
                     struct w_error *err)
{
    size_t n;

    if (!json_object_is_type(v, json_type_array))
        return w_err(err, "expected an array of capability names");
    out[0] = '\0';
    n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        int c;

        if (!json_object_is_type(e, json_type_string))
            return w_err(err, "[%zu]: expected a string", i);
        if ((c = caps_number(json_object_get_string(e))) < 0)
            return w_err(err, "[%zu]: unknown capability '%.64s'", i, json_object_get_string(e));
        if ((out[0] && strlcat(out, ",", size) >= size) || strlcat(out, caps_name(c), size) >= size)
            return w_err(err, "%s: too many entries", what);
    }
    return 0;
}

static int apply_key(struct w_config *cfg, const struct key *k, struct json_object *v,
                     struct w_error *err)
{
    char what[128];
    char *p = (char *)cfg + k->off;

    snprintf(what, sizeof(what), "%s.%s", k->section, k->name);
    switch (k->kind) {
    case K_STR_OR_NULL:
        if (v == NULL) {
            *p = '\0';
            return 0;
        }
        if (!json_object_is_type(v, json_type_string))
            return w_err(err, "config key %s: expected a string or null", what);
        if (strlcpy(p, json_object_get_string(v), k->size) >= k->size)
            return w_err(err, "config key %s: longer than %zu bytes", what, k->size - 1);
        return 0;
    case K_STR:
    case K_INSTANCE:
        if (!json_object_is_type(v, json_type_string))
            return w_err(err, "config key %s: expected a string", what);
        if (strlcpy(p, json_object_get_string(v), k->size) >= k->size)
            return w_err(err, "config key %s: longer than %zu bytes", what, k->size - 1);
        if (k->kind == K_INSTANCE) {
            size_t len = strlen(p);
            if (len == 0 || len > 4 || strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789") != len)
                return w_err(err, "config key %s: 1 to 4 lowercase letters or digits", what);
        } else if (*p == '\0')
            return w_err(err, "config key %s: must not be empty", what);
        return 0;
    case K_PERMS: {
        long long m;
        if (json_object_is_type(v, json_type_string)) {
            char *end;
            const char *s = json_object_get_string(v);
            m = strtoll(s, &end, 8);
            if (*s == '\0' || *end != '\0')
                return w_err(err, "config key %s: '%s' is not an octal mode", what, s);
        } else if (json_object_is_type(v, json_type_int)) {
            m = json_object_get_int64(v);
        } else
            return w_err(err, "config key %s: expected an octal string like \"0755\"", what);
        if (m < 0 || m > 07777)
            return w_err(err, "config key %s: mode out of range", what);
        *(mode_t *)p = (mode_t)m;
        return 0;
    }
    case K_SECONDS_OR_NULL:
        if (v == NULL) {
            *(double *)p = -1;
            return 0;
        }
        /* fall through */
    case K_SECONDS:
        if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
            return w_err(err, "config key %s: expected a number of seconds", what);
        if (json_object_get_double(v) < 0 || json_object_get_double(v) > 1e9)
            return w_err(err, "config key %s: out of range", what);
        *(double *)p = json_object_get_double(v);
        return 0;
    case K_INT: {
        long long x;
        if (!json_object_is_type(v, json_type_int))
            return w_err(err, "config key %s: expected an integer", what);
        x = json_object_get_int64(v);
        if (x < k->min || x > k->max)
            return w_err(err, "config key %s: %lld is out of range %lld..%lld", what, x, k->min,
                         k->max);
        if (k->size == sizeof(long long))
            *(long long *)p = x;
        else
            *(int *)p = (int)x;
        return 0;
    }
    case K_BOOL:
        if (!json_object_is_type(v, json_type_boolean))
            return w_err(err, "config key %s: expected true or false", what);
        *(int *)p = json_object_get_boolean(v);
        return 0;
    case K_IPV4: {
        struct in_addr a;
        if (!json_object_is_type(v, json_type_string) ||
            inet_pton(AF_INET, json_object_get_string(v), &a) != 1)
            return w_err(err, "config key %s: expected a dotted IPv4 address", what);
        if (ntohl(a.s_addr) & 3)
            return w_err(err, "config key %s: must be aligned to a /30", what);
        *(uint32_t *)p = ntohl(a.s_addr);
        return 0;
    }
    case K_CIDRS:
    case K_IPS:
        if (join_addresses(v, k->kind == K_CIDRS, p, k->size, what, err) < 0)
            return w_err_prefix(err, "config key %s", what);
        return 0;
    case K_LEVEL: {
        int lv;
        if (!json_object_is_type(v, json_type_string))
            return w_err(err, "config key %s: expected a level name", what);
        lv = log_level_from_name(json_object_get_string(v));
        if (lv < 0)
            return w_err(err, "config key %s: unknown level '%s' (debug, info, warn, error)", what,
                         json_object_get_string(v));
        *(int *)p = lv;
        return 0;
    }
    case K_CAPS:
        if (join_caps(v, p, k->size, what, err) < 0)
            return w_err_prefix(err, "config key %s", what);
        return 0;
    case K_RLIMITS:
        if (check_rlimits(v, what, err) < 0)
            return w_err_prefix(err, "config key %s", what);
        json_object_put(cfg->server.container_rlimits);
        cfg->server.container_rlimits = json_object_get(v);
        return 0;
    }
    return w_err(err, "config key %s: internal error", what);
}

static int apply_section(struct w_config *cfg, const char *section, struct json_object *obj,
                         struct w_error *err)
{
    if (!json_object_is_type(obj, json_type_object))
        return w_err(err, "config key %s: expected an object", section);
    json_object_object_foreach(obj, name, v)
    {
        const struct key *k = NULL;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
                k = &keys[i];
        if (k == NULL)
            return w_err(err, "unknown config key %s.%s", section, name);
        if (v == NULL && k->kind == K_STR && strcmp(name, "file") == 0) {
            cfg->logging.file[0] = '\0';
            continue;
        }
        if (v == NULL && k->kind != K_SECONDS_OR_NULL && k->kind != K_STR_OR_NULL)
            return w_err(err, "config key %s.%s: must not be null", section, name);
        if (apply_key(cfg, k, v, err) < 0)
            return -1;
    }
    return 0;
}

int config_load_json(struct w_config *cfg, const char *text, size_t len, struct w_error *err)
{
    static const char *const sections[] = {"server", "network", "port",
                                           "user",   "logging", "health_check_server"};
    struct json_object *root = jsonh_parse(text, len, err);
    int ret = -1;

    if (root == NULL)
        return w_err_prefix(err, "config is not valid JSON");
    if (!json_object_is_type(root, json_type_object)) {
        w_err(err, "config must be a JSON object");
        goto out;
    }
    json_object_object_foreach(root, section, obj)
    {
        size_t i;
        for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
            if (strcmp(section, sections[i]) == 0)
                break;
        if (i == sizeof(sections) / sizeof(sections[0])) {
            w_err(err, "unknown config key %s", section);
            goto out;
        }
        if (apply_section(cfg, section, obj, err) < 0)
            goto out;
    }
    if ((uint64_t)cfg->network.pool_start_address + 4ULL * (uint64_t)cfg->network.pool_size >
        0x100000000ULL) {
        w_err(err, "config key network.pool_size: the pool runs past 255.255.255.255");
        goto out;
    }
    /* Each pooled container holds a /30 and a uid: leave at least one for a cold create. */
    if (cfg->server.warm_pool >= cfg->network.pool_size ||
        cfg->server.warm_pool >= cfg->user.pool_size) {
        w_err(err,
              "config key server.warm_pool: %d leaves no room for a cold create "
              "(network.pool_size %d, user.pool_size %d; it must be smaller than both)",
              cfg->server.warm_pool, cfg->network.pool_size, cfg->user.pool_size);
        goto out;
    }
    if (cfg->port.pool_start_port + cfg->port.pool_size > 65536) {
        w_err(err, "config key port.pool_size: the pool runs past port 65535");
        goto out;
    }
    if (cfg->user.subordinate_size % USERNS_SIZE != 0) {
        w_err(err, "config key user.subordinate_size: must be a multiple of %d", USERNS_SIZE);
        goto out;
    }
    if (cfg->server.user_namespaces &&
        cfg->user.subordinate_size / USERNS_SIZE < cfg->user.pool_size) {
        w_err(err,
              "config key user.subordinate_size: %d uids hold %d containers of %d, fewer than "
              "user.pool_size (%d)",
              cfg->user.subordinate_size, cfg->user.subordinate_size / USERNS_SIZE, USERNS_SIZE,
              cfg->user.pool_size);
        goto out;
    }
    if (cfg->server.user_namespaces &&
        (long long)cfg->user.pool_start_uid + cfg->user.pool_size > USERNS_SIZE) {
        w_err(err,
              "config key user.pool_size: with server.user_namespaces the uid pool must lie "
              "inside the container's mapped uids 0..%d",
              USERNS_SIZE - 1);
        goto out;
    }
    ret = 0;
out:
    json_object_put(root);
    return ret;
}

int config_load_file(struct w_config *cfg, const char *path, struct w_error *err)
{
    size_t len;
    char *text = util_read_file(AT_FDCWD, path, 1 << 20, &len, err);
    int ret;

    if (text == NULL)
        return w_err_prefix(err, "config %s", path);
    ret = config_load_json(cfg, text, len, err);
    free(text);
    if (ret < 0)
        return w_err_prefix(err, "config %s", path);
    return 0;
}
