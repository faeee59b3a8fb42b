/* Unit tests for wardend's configuration (src/wardend/cfg.c): defaults, a full document,
 * and one error per kind of mistake, each naming the offending key. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/wardend/cfg.h"
#include "jsonh.h"
#include "log.h"
#include "tap.h"

static void test_defaults(void)
{
    struct w_config c;

    config_defaults(&c);
    TAP_IS_STR(c.server.unix_domain_path, WARDEN_SOCKET, "default socket path");
    TAP_IS_INT(c.server.unix_domain_permissions, 0755, "default socket permissions 0755");
    TAP_OK(c.server.container_grace_time == 300, "default grace time 300 s");
    TAP_IS_INT(c.server.job_output_limit, 10 * 1024 * 1024, "default output limit 10 MiB");
    TAP_IS_INT(c.network.pool_start_address, 0x0afe0000, "default pool starts at 10.254.0.0");
    TAP_IS_STR(c.server.instance, "w", "default instance \"w\"");
    TAP_IS_STR(c.server.builtins_path, WARDEN_PKGLIBDIR "/warden-builtins.so",
               "default builtins_path under pkglibdir");
    TAP_OK(json_object_is_type(c.server.container_rlimits, json_type_object) &&
               json_object_object_length(c.server.container_rlimits) == 0,
           "default rlimits: an empty object");
    TAP_IS_INT(c.logging.level, LOG_INFO, "default log level info");
    config_free(&c);
    TAP_OK(c.server.container_rlimits == NULL, "config_free drops the rlimits");
}

static const char full_doc[] =
    "{\n"
    " \"server\": {\n"
    "  \"unix_domain_path\": \"/run/w/w.sock\",\n"
    "  \"unix_domain_permissions\": \"0770\",\n"
    "  \"container_rootfs_path\": \"/srv/rootfs\",\n"
    "  \"container_depot_path\": \"/srv/depot\",\n"
    "  \"hooks_path\": \"/srv/hooks\",\n"
    "  \"skeleton_path\": \"/srv/skel\",\n"
    "  \"wshd_path\": \"/srv/bin/wshd\",\n"
    "  \"instance\": \"t42\",\n"
    "  \"cgroup_root\": \"/cg\",\n"
    "  \"iptables\": \"/sbin/iptables-legacy\",\n"
    "  \"container_grace_time\": 12.5,\n"
    "  \"job_output_limit\": 4096,\n"
    "  \"stop_timeout\": 3,\n"
    "  \"hook_timeout\": 7.5,\n"
    "  \"max_request_bytes\": 65536,\n"
    "  \"container_rlimits\": {\"nofile\": 1024, \"core\": 0}\n"
    " },\n"
    " \"network\": {\n"
    "  \"pool_start_address\": \"10.9.8.0\",\n"
    "  \"pool_size\": 16,\n"
    "  \"release_delay_ms\": 0,\n"
    "  \"mtu\": 9000,\n"
    "  \"allow_networks\": [\"10.0.0.0/8\", \"192.168.1.1\"],\n"
    "  \"deny_networks\": [\"0.0.0.0/0\"],\n"
    "  \"allow_host_access\": true,\n"
    "  \"dns_servers\": [\"1.1.1.1\", \"8.8.8.8\"]\n"
    " },\n"
    " \"port\": {\"pool_start_port\": 20000, \"pool_size\": 100},\n"
    " \"user\": {\"pool_start_uid\": 70000, \"pool_size\": 32},\n"
    " \"logging\": {\"level\": \"debug\", \"file\": \"/var/log/w.log\"}\n"
    "}\n";

static void test_full_document(void)
{
    struct w_config c;
    struct w_error err = {0};
    int r;

    config_defaults(&c);
    r = config_load_json(&c, full_doc, strlen(full_doc), &err);
    if (!TAP_IS_INT(r, 0, "a full valid document loads"))
        tap_diag("error: %s", err.msg);
    TAP_IS_STR(c.server.unix_domain_path, "/run/w/w.sock", "server.unix_domain_path");
    TAP_IS_INT(c.server.unix_domain_permissions, 0770, "server.unix_domain_permissions");
    TAP_IS_STR(c.server.container_rootfs_path, "/srv/rootfs", "server.container_rootfs_path");
    TAP_IS_STR(c.server.container_depot_path, "/srv/depot", "server.container_depot_path");
    TAP_IS_STR(c.server.hooks_path, "/srv/hooks", "server.hooks_path");
    TAP_IS_STR(c.server.skeleton_path, "/srv/skel", "server.skeleton_path");
    TAP_IS_STR(c.server.wshd_path, "/srv/bin/wshd", "server.wshd_path");
    TAP_IS_STR(c.server.instance, "t42", "server.instance");
    TAP_IS_STR(c.server.cgroup_root, "/cg", "server.cgroup_root");
    TAP_IS_STR(c.server.iptables, "/sbin/iptables-legacy", "server.iptables");
    TAP_OK(c.server.container_grace_time == 12.5, "server.container_grace_time");
    TAP_IS_INT(c.server.job_output_limit, 4096, "server.job_output_limit");
    TAP_OK(c.server.stop_timeout == 3, "server.stop_timeout");
    TAP_OK(c.server.hook_timeout == 7.5, "server.hook_timeout");
    TAP_IS_INT(c.server.max_request_bytes, 65536, "server.max_request_bytes");
    TAP_IS_INT(jsonh_get_int(c.server.container_rlimits, "nofile", -1), 1024,
               "server.container_rlimits.nofile");
    TAP_IS_INT(jsonh_get_int(c.server.container_rlimits, "core", -1), 0,
               "server.container_rlimits.core");
    TAP_IS_INT(c.network.pool_start_address, 0x0a090800, "network.pool_start_address");
    TAP_IS_INT(c.network.pool_size, 16, "network.pool_size");
    TAP_IS_INT(c.network.release_delay_ms, 0, "network.release_delay_ms");
    TAP_IS_INT(c.network.mtu, 9000, "network.mtu");
    TAP_IS_STR(c.network.allow_networks, "10.0.0.0/8 192.168.1.1", "network.allow_networks");
    TAP_IS_STR(c.network.deny_networks, "0.0.0.0/0", "network.deny_networks");
    TAP_IS_INT(c.network.allow_host_access, 1, "network.allow_host_access");
    TAP_IS_STR(c.network.dns_servers, "1.1.1.1 8.8.8.8", "network.dns_servers");
    TAP_IS_INT(c.port.pool_start_port, 20000, "port.pool_start_port");
    TAP_IS_INT(c.port.pool_size, 100, "port.pool_size");
    TAP_IS_INT(c.user.pool_start_uid, 70000, "user.pool_start_uid");
    TAP_IS_INT(c.user.pool_size, 32, "user.pool_size");
    TAP_IS_INT(c.logging.level, LOG_DEBUG, "logging.level");
    TAP_IS_STR(c.logging.file, "/var/log/w.log", "logging.file");
    config_free(&c);
}

/* Load text over the defaults; returns config_load_json's result. */
static int load(const char *text, struct w_config *c, struct w_error *err)
{
    memset(err, 0, sizeof(*err));
    config_defaults(c);
    return config_load_json(c, text, strlen(text), err);
}

static void test_values(void)
{
    struct w_config c;
    struct w_error err;

    TAP_IS_INT(load("{\"server\":{\"container_grace_time\":null}}", &c, &err), 0,
               "container_grace_time null loads");
    TAP_OK(c.server.container_grace_time < 0, "container_grace_time null means never (< 0)");
    config_free(&c);
    TAP_IS_INT(load("{\"server\":{\"builtins_path\":null}}", &c, &err), 0,
               "builtins_path null loads");
    TAP_IS_STR(c.server.builtins_path, "", "builtins_path null: none (the hooks run the programs)");
    config_free(&c);

    load("{\"server\":{\"unix_domain_permissions\":\"0700\"}}", &c, &err);
    TAP_IS_INT(c.server.unix_domain_permissions, 0700, "permissions \"0700\" is octal");
    config_free(&c);
    load("{\"server\":{\"unix_domain_permissions\":448}}", &c, &err);
    TAP_IS_INT(c.server.unix_domain_permissions, 0700, "permissions 448 is 0700");
    config_free(&c);

    TAP_IS_INT(load("{\"server\":{\"pidfile\":\"/run/w.pid\"},"
                    "\"health_check_server\":{\"port\":2345}}",
                    &c, &err),
               0, "pidfile and health_check_server.port load");
    TAP_IS_STR(c.server.pidfile, "/run/w.pid", "server.pidfile");
    TAP_IS_INT(c.health_check_server.port, 2345, "health_check_server.port");
    config_free(&c);
    TAP_IS_INT(load("{\"server\":{\"pidfile\":null}}", &c, &err), 0, "pidfile null loads");
    TAP_IS_STR(c.server.pidfile, "", "pidfile null means none");
    TAP_IS_STR(c.server.syslog_socket, "/dev/log", "syslog_socket defaults to /dev/log");
    TAP_IS_INT(c.health_check_server.port, 0, "the health check is off by default");
    config_free(&c);

    TAP_IS_INT(load("{}", &c, &err), 0, "an empty document loads");
    TAP_IS_STR(c.server.unix_domain_path, WARDEN_SOCKET, "an empty document keeps defaults");
    config_free(&c);

    TAP_IS_INT(load("{\"logging\":{\"file\":null}}", &c, &err), 0, "logging.file null loads");
    TAP_IS_STR(c.logging.file, "", "logging.file null means stderr");
    config_free(&c);

    TAP_IS_INT(load("{\"network\":{\"pool_start_address\":\"255.255.255.252\",\"pool_size\":1}}",
                    &c, &err),
               0, "a one-network pool at the very top of the address space fits");
    config_free(&c);

    config_defaults(&c);
    TAP_CONTAINS(c.server.container_capabilities, "CHOWN,", "default capabilities: crun's list");
    TAP_OK(strstr(c.server.container_capabilities, "SYS_ADMIN") == NULL,
           "default capabilities: no SYS_ADMIN");
    TAP_IS_INT(c.server.seccomp, 1, "seccomp on by default");
    config_free(&c);
    TAP_IS_INT(load("{\"server\":{\"container_capabilities\":[\"cap_chown\",\"NET_ADMIN\"],"
                    "\"seccomp\":false}}",
                    &c, &err),
               0, "container_capabilities with CAP_ and lower case loads");
    TAP_IS_STR(c.server.container_capabilities, "CHOWN,NET_ADMIN", "capabilities normalised");
    TAP_IS_INT(c.server.seccomp, 0, "seccomp false loads");
    config_free(&c);
    TAP_IS_INT(load("{\"server\":{\"container_capabilities\":[]}}", &c, &err), 0,
               "an empty capability list loads");
    TAP_IS_STR(c.server.container_capabilities, "", "an empty list is no capability");
    config_free(&c);
}

/* Each entry: a document that must fail, and a string its error must contain. */
static const struct {
    const char *doc, *want, *name;
} bad[] = {
    {"{\"bogus\":{}}", "bogus", "unknown top-level section"},
    {"{\"server\":{\"bogus\":1}}", "server.bogus", "unknown key in a section"},
    {"{\"logging\":{\"colour\":true}}", "logging.colour", "unknown key in logging"},
    {"{\"health_check_server\":{\"port\":65536}}", "health_check_server.port",
     "a health check port past 65535"},
    {"{\"health_check_server\":{\"bogus\":1}}", "health_check_server.bogus",
     "unknown key in health_check_server"},
    {"{\"server\":{\"pidfile\":1}}", "server.pidfile", "a pidfile that is not a string"},
    {"{\"server\":[]}", "server", "a section that is not an object"},
    {"{\"server\":{\"job_output_limit\":\"10\"}}", "server.job_output_limit", "string for an int"},
    {"{\"server\":{\"unix_domain_path\":5}}", "server.unix_domain_path", "int for a string"},
    {"{\"network\":{\"allow_host_access\":[]}}", "network.allow_host_access", "array for a bool"},
    {"{\"network\":{\"allow_host_access\":1}}", "network.allow_host_access", "int for a bool"},
    {"{\"network\":{\"mtu\":1.5}}", "network.mtu", "double for an int"},
    {"{\"server\":{\"stop_timeout\":\"3\"}}", "server.stop_timeout", "string for seconds"},
    {"{\"server\":{\"stop_timeout\":null}}", "server.stop_timeout", "null where not allowed"},
    {"{\"server\":{\"hook_timeout\":-1}}", "server.hook_timeout", "negative seconds"},
    {"{\"server\":{\"unix_domain_path\":\"\"}}", "server.unix_domain_path", "empty string"},
    {"{\"server\":{\"iptables\":\"" /* 70 bytes into a 64-byte field */
     "0123456789012345678901234567890123456789012345678901234567890123456789\"}}",
     "server.iptables", "string longer than its field"},
    {"{\"network\":{\"mtu\":67}}", "network.mtu", "int below its range"},
    {"{\"network\":{\"mtu\":65536}}", "network.mtu", "int above its range"},
    {"{\"network\":{\"pool_size\":0}}", "network.pool_size", "zero pool size"},
    {"{\"server\":{\"max_request_bytes\":10}}", "server.max_request_bytes", "tiny request cap"},
    {"{\"port\":{\"pool_start_port\":0}}", "port.pool_start_port", "port 0"},
    {"{\"server\":{\"unix_domain_permissions\":\"0999\"}}", "server.unix_domain_permissions",
     "non-octal permissions"},
    {"{\"server\":{\"unix_domain_permissions\":\"\"}}", "server.unix_domain_permissions",
     "empty permissions"},
    {"{\"server\":{\"unix_domain_permissions\":65535}}", "server.unix_domain_permissions",
     "permissions out of range"},
    {"{\"server\":{\"unix_domain_permissions\":true}}", "server.unix_domain_permissions",
     "bool permissions"},
    {"{\"network\":{\"pool_start_address\":\"10.254.0\"}}", "network.pool_start_address",
     "IPv4 with three parts"},
    {"{\"network\":{\"pool_start_address\":\"10.254.0.256\"}}", "network.pool_start_address",
     "IPv4 with a part over 255"},
    {"{\"network\":{\"pool_start_address\":\"fe80::1\"}}", "network.pool_start_address",
     "IPv6 address"},
    {"{\"network\":{\"pool_start_address\":167641088}}", "network.pool_start_address",
     "address as a number"},
    {"{\"network\":{\"pool_start_address\":\"10.254.0.1\"}}", "network.pool_start_address",
     "pool start not aligned to a /30"},
    {"{\"network\":{\"pool_start_address\":\"255.255.255.0\",\"pool_size\":65}}",
     "network.pool_size", "pool running past 255.255.255.255"},
    {"{\"port\":{\"pool_start_port\":65000,\"pool_size\":1000}}", "port.pool_size",
     "port pool running past 65535"},
    {"{\"network\":{\"allow_networks\":[\"10.0.0.0/33\"]}}", "network.allow_networks",
     "CIDR mask over 32"},
    {"{\"network\":{\"allow_networks\":[\"10.0.0.0/\"]}}", "network.allow_networks",
     "CIDR with an empty mask"},
    {"{\"network\":{\"allow_networks\":[\"10.0.0/8\"]}}", "network.allow_networks",
     "CIDR with a bad address"},
    {"{\"network\":{\"deny_networks\":[\"10.0.0.0/8x\"]}}", "network.deny_networks",
     "CIDR with junk after the mask"},
    {"{\"network\":{\"allow_networks\":[8]}}", "network.allow_networks", "CIDR as a number"},
    {"{\"network\":{\"allow_networks\":\"10.0.0.0/8\"}}", "network.allow_networks",
     "CIDRs as a string instead of an array"},
    {"{\"network\":{\"dns_servers\":[\"1.1.1.1/32\"]}}", "network.dns_servers",
     "DNS server with a mask"},
    {"{\"logging\":{\"level\":\"loud\"}}", "logging.level", "unknown log level"},
    {"{\"logging\":{\"level\":3}}", "logging.level", "log level as a number"},
    {"{\"server\":{\"instance\":\"abcde\"}}", "server.instance", "instance too long"},
    {"{\"server\":{\"instance\":\"Ab\"}}", "server.instance", "instance with uppercase"},
    {"{\"server\":{\"instance\":\"\"}}", "server.instance", "empty instance"},
    {"{\"server\":{\"instance\":\"a-b\"}}", "server.instance", "instance with a dash"},
    {"{\"server\":{\"container_rlimits\":{\"files\":1}}}", "files", "unknown rlimit name"},
    {"{\"server\":{\"container_rlimits\":{\"nofile\":-1}}}", "server.container_rlimits.nofile",
     "negative rlimit"},
    {"{\"server\":{\"container_rlimits\":{\"nofile\":\"1\"}}}", "server.container_rlimits.nofile",
     "string rlimit"},
    {"{\"server\":{\"container_rlimits\":[]}}", "server.container_rlimits",
     "rlimits not an object"},
    {"{\"server\":{\"container_capabilities\":[\"SYS_GOD\"]}}",
     "server.container_capabilities: [0]: unknown capability 'SYS_GOD'", "unknown capability"},
    {"{\"server\":{\"container_capabilities\":\"CHOWN\"}}", "server.container_capabilities",
     "capabilities not an array"},
    {"{\"server\":{\"container_capabilities\":[1]}}", "server.container_capabilities: [0]",
     "a capability that is not a string"},
    {"{\"server\":{\"seccomp\":\"no\"}}", "server.seccomp", "seccomp not a boolean"},
    {"not json", "not valid JSON", "text that is not JSON"},
    {"{\"server\":{}", "not valid JSON", "truncated JSON"},
    {"[]", "object", "a document that is not an object"},
};

static void test_errors(void)
{
    char name[200];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct w_config c;
        struct w_error err;
        int r = load(bad[i].doc, &c, &err);

        snprintf(name, sizeof(name), "%s is refused", bad[i].name);
        TAP_IS_INT(r, -1, name);
        snprintf(name, sizeof(name), "%s: the error names %s", bad[i].name, bad[i].want);
        TAP_CONTAINS(err.msg, bad[i].want, name);
        config_free(&c);
    }
}

static struct json_object *parse(const char *text)
{
    struct w_error err;
    struct json_object *v = jsonh_parse(text, strlen(text), &err);

    if (v == NULL)
        TAP_BAIL("test data %s: %s", text, err.msg);
    return v;
}

static void test_check_rlimits(void)
{
    struct w_error err = {0};
    struct json_object *v;

    v = parse("{\"as\":1,\"nproc\":0,\"stack\":8388608}");
    TAP_IS_INT(config_check_rlimits(v, "rlimits", &err), 0, "check_rlimits: valid names pass");
    json_object_put(v);

    v = json_object_new_object();
    TAP_IS_INT(config_check_rlimits(v, "rlimits", &err), 0, "check_rlimits: empty object passes");
    json_object_put(v);

    v = parse("{\"nofile\":1,\"bogus\":2}");
    TAP_IS_INT(config_check_rlimits(v, "opts.rlimits", &err), -1, "check_rlimits: unknown name");
    TAP_CONTAINS(err.msg, "opts.rlimits", "check_rlimits: the error uses the caller's name");
    TAP_CONTAINS(err.msg, "bogus", "check_rlimits: the error names the rlimit");
    json_object_put(v);

    v = parse("{\"cpu\":-5}");
    TAP_IS_INT(config_check_rlimits(v, "r", &err), -1, "check_rlimits: negative value");
    TAP_CONTAINS(err.msg, "r.cpu", "check_rlimits: the error names r.cpu");
    json_object_put(v);

    v = parse("{\"cpu\":1.5}");
    TAP_IS_INT(config_check_rlimits(v, "r", &err), -1, "check_rlimits: non-integer value");
    json_object_put(v);

    v = json_object_new_int(3);
    TAP_IS_INT(config_check_rlimits(v, "r", &err), -1, "check_rlimits: not an object");
    json_object_put(v);
    TAP_IS_INT(config_check_rlimits(NULL, "r", &err), -1, "check_rlimits: NULL");
}

static void test_load_file(void)
{
    char dir[] = "/tmp/warden-test-config-XXXXXX", path[128];
    struct w_config c;
    struct w_error err = {0};
    FILE *f;

    if (mkdtemp(dir) == NULL)
        TAP_BAIL("mkdtemp: %s", strerror(errno));
    snprintf(path, sizeof(path), "%s/missing.conf", dir);
    config_defaults(&c);
    TAP_IS_INT(config_load_file(&c, path, &err), -1, "load_file: a missing file fails");
    TAP_CONTAINS(err.msg, path, "load_file: the error names the path");
    TAP_IS_INT(err.errnum, ENOENT, "load_file: errnum is ENOENT");
    config_free(&c);

    snprintf(path, sizeof(path), "%s/warden.conf", dir);
    f = fopen(path, "w");
    if (f == NULL)
        TAP_BAIL("fopen %s: %s", path, strerror(errno));
    fputs("{\"server\":{\"instance\":\"f1\"}}\n", f);
    fclose(f);
    config_defaults(&c);
    TAP_IS_INT(config_load_file(&c, path, &err), 0, "load_file: a valid file loads");
    TAP_IS_STR(c.server.instance, "f1", "load_file: its value is applied");
    config_free(&c);

    f = fopen(path, "w");
    if (f == NULL)
        TAP_BAIL("fopen %s: %s", path, strerror(errno));
    fputs("{\"server\":{\"bogus\":1}}\n", f);
    fclose(f);
    config_defaults(&c);
    TAP_IS_INT(config_load_file(&c, path, &err), -1, "load_file: a bad file fails");
    TAP_CONTAINS(err.msg, path, "load_file: a content error names the path");
    TAP_CONTAINS(err.msg, "server.bogus", "load_file: ... and the key");
    config_free(&c);

    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_defaults();
    test_full_document();
    test_values();
    test_errors();
    test_check_rlimits();
    test_load_file();
    return tap_done();
}
