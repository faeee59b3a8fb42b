/* wardend's configuration: built-in defaults, then a JSON file. Every key is optional;
 * an unknown key or a wrong type is an error naming the key. */
#ifndef W_CFG_H
#define W_CFG_H

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define CONFIG_STR 512
/* Container uids (and gids) 0..USERNS_SIZE-1 are mapped in a user namespace. */
#define USERNS_SIZE 65536

struct w_config {
    struct {
        char unix_domain_path[108];
        mode_t unix_domain_permissions;
        char container_rootfs_path[CONFIG_STR];
        char container_depot_path[CONFIG_STR];
        char hooks_path[CONFIG_STR];
        char skeleton_path[CONFIG_STR];
        char wshd_path[CONFIG_STR];
        char builtins_path[CONFIG_STR]; /* the hooks' loadable builtins; "" none */
        char instance[8];
        char cgroup_root[CONFIG_STR];
        char iptables[64];
        double container_grace_time; /* seconds; < 0 means never (null) */
        long long job_output_limit;
        double stop_timeout;
        double hook_timeout;
        int hook_runners;    /* bash hook runners kept started ahead of need (hook.c); 0: none */
        int hook_zygote;     /* one bash forks every bash hook (the builtins' zygote; hook.c) */
        double copy_timeout; /* seconds a copy may run; < 0 means no limit (null) */
        long long max_request_bytes;
        struct json_object *container_rlimits;   /* object name -> int; owned */
        char container_capabilities[CONFIG_STR]; /* comma-separated names, no CAP_ */
        int seccomp;                             /* wshd loads its filter in every job */
        int warm_pool;            /* containers kept prepared for create (warm.c); 0: none */
        int user_namespaces;      /* containers get a user namespace (doc/security.md) */
        int cgroup_favor_dynmods; /* host-setup.sh remounts cgroups with favordynmods */
        char pidfile[CONFIG_STR]; /* "" none */
        char syslog_socket[108];  /* where log_tag jobs' output goes */
    } server;
    struct {
        int port; /* 127.0.0.1:port answers HTTP 200; 0 off */
    } health_check_server;
    struct {
        uint32_t pool_start_address; /* host byte order */
        int pool_size;               /* number of /30 networks */
        int release_delay_ms;
        int mtu;
        char allow_networks[CONFIG_STR]; /* space-separated CIDRs */
        char deny_networks[CONFIG_STR];
        int allow_host_access;
        char dns_servers[CONFIG_STR];
    } network;
    struct {
        int pool_start_port;
        int pool_size;
    } port;
    struct {
        uid_t pool_start_uid;
        int pool_size;
        /* With server.user_namespaces: container N of the uid pool (uid pool_start_uid + N)
         * has container uids 0..USERNS_SIZE-1 at host uids
         * subordinate_start_uid + N * USERNS_SIZE and on. */
        uid_t subordinate_start_uid;
        int subordinate_size;
    } user;
    struct {
        int level;
        char file[CONFIG_STR];
    } logging;
};

void config_defaults(struct w_config *cfg);
/* Apply a JSON document on top of cfg. */
int config_load_json(struct w_config *cfg, const char *text, size_t len, struct w_error *err);
int config_load_file(struct w_config *cfg, const char *path, struct w_error *err);
void config_free(struct w_config *cfg);
/* Validate an rlimits object (name -> non-negative integer); what names it in errors. */
int config_check_rlimits(struct json_object *v, const char *what, struct w_error *err);

#endif
