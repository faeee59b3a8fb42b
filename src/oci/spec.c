/* config.json, field by field (runtime-spec config.md and config-linux.md), into
 * wardend's create CONFIG and spawn OPTS and the job's script. Every field falls in one
 * of three kinds, listed in doc/oci.md:
 *   honoured    mapped onto create, limit and spawn (root.path and root.readonly,
 *               process, hostname, mounts: bind and tmpfs ones, linux.sysctl,
 *               linux.resources memory/cpu);
 *   warden's    a field whose subject warden decides by its own policy for every
 *               container (capabilities, seccomp, masked paths, ...): accepted, and
 *               named in a warning on the log so it is never dropped silently;
 *   refused     anything else, including unknown fields: an error naming the field.
 * Runs in warden-oci create/run, a one-shot tool. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonh.h"
#include "oci.h"
#include "util.h"

struct ctx {
    void (*warn)(const char *msg);
    struct w_error *err;
    FILE *script;
};

static void warn_field(struct ctx *c, const char *field)
{
    char msg[300];

    snprintf(msg, sizeof(msg), "config.json %s: not applied, warden's own policy is in force",
             field);
    c->warn(msg);
}

/* Every key of obj (named path) is in allowed (NULL-terminated). */
static int only_keys(struct ctx *c, struct json_object *obj, const char *path,
                     const char *const *allowed)
{
    json_object_object_foreach(obj, k, v)
    {
        size_t i;
        (void)v;
        for (i = 0; allowed[i] && strcmp(allowed[i], k) != 0; i++)
            ;
        if (allowed[i] == NULL)
            return w_err(c->err, "config.json %s%s%s: not supported by warden-oci", path,
                         *path ? "." : "", k);
    }
    return 0;
}

static int want_type(struct ctx *c, struct json_object *v, json_type t, const char *field,
                     const char *what)
{
    if (v == NULL || !json_object_is_type(v, t))
        return w_err(c->err, "config.json %s: must be %s", field, what);
    return 0;
}

/* Empty: absent, null, false, 0, "", [] or {}. */
static int is_empty(struct json_object *v)
{
    if (v == NULL)
        return 1;
    switch (json_object_get_type(v)) {
    case json_type_null:
        return 1;
    case json_type_boolean:
        return !json_object_get_boolean(v);
    case json_type_int:
        return json_object_get_int64(v) == 0;
    case json_type_string:
        return json_object_get_string_len(v) == 0;
    case json_type_array:
        return json_object_array_length(v) == 0;
    case json_type_object:
        return json_object_object_length(v) == 0;
    default:
        return 0;
    }
}

/* A shell word for s: single quotes, each ' as '\''. */
static void sh_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

static int do_root(struct ctx *c, struct json_object *root, const char *bundle, struct spec *s)
{
    static const char *const keys[] = {"path", "readonly", NULL};
    struct json_object *p = jsonh_get(root, "path");
    struct stat sb;

    if (want_type(c, root, json_type_object, "root", "an object") < 0 ||
        only_keys(c, root, "root", keys) < 0 ||
        want_type(c, p, json_type_string, "root.path", "a string") < 0)
        return -1;
    if (json_object_get_string(p)[0] == '/')
        strlcpy(s->rootfs, json_object_get_string(p), sizeof(s->rootfs));
    else
        snprintf(s->rootfs, sizeof(s->rootfs), "%s/%s", bundle, json_object_get_string(p));
    if (stat(s->rootfs, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return w_err(c->err, "config.json root.path: %s is not a directory", s->rootfs);
    json_object_object_add(s->create, "rootfs", json_object_new_string(s->rootfs));
    if (jsonh_get(root, "readonly") &&
        !json_object_is_type(jsonh_get(root, "readonly"), json_type_boolean))
        return w_err(c->err, "config.json root.readonly: must be a boolean");
    /* Warden's rootfs is a shared read-only base under a private writable layer: a
     * read-only root is that layer remounted read-only by the hooks, after the mounts. */
    if (jsonh_get_bool(root, "readonly", 0))
        json_object_object_add(s->create, "read_only_root", json_object_new_boolean(1));
    return 0;
}

static int do_user(struct ctx *c, struct json_object *u)
{
    static const char *const keys[] = {"uid", "gid", "umask", "additionalGids", "username", NULL};
    struct json_object *v;

    if (u == NULL)
        return 0;
    if (want_type(c, u, json_type_object, "process.user", "an object") < 0 ||
        only_keys(c, u, "process.user", keys) < 0)
        return -1;
    /* A job runs as root or as the container's own (pooled) user: uid 0 is root. */
    if (jsonh_get_int(u, "uid", 0) != 0)
        return w_err(c->err, "config.json process.user.uid: only 0 is supported (warden runs a "
                             "job as root or as the container's pooled user)");
    if (jsonh_get_int(u, "gid", 0) != 0)
        return w_err(c->err, "config.json process.user.gid: only 0 is supported");
    if ((v = jsonh_get(u, "additionalGids")) != NULL) {
        if (want_type(c, v, json_type_array, "process.user.additionalGids", "an array") < 0)
            return -1;
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (json_object_get_int64(json_object_array_get_idx(v, i)) != 0)
                return w_err(c->err, "config.json process.user.additionalGids: only 0 is "
                                     "supported (root's groups)");
    }
    if ((v = jsonh_get(u, "umask")) != NULL) {
        if (want_type(c, v, json_type_int, "process.user.umask", "an integer") < 0)
            return -1;
        fprintf(c->script, "umask %03o\n", (unsigned)json_object_get_int(v) & 0777);
    }
    return 0;
}

static int do_rlimits(struct ctx *c, struct json_object *a, struct json_object *rl)
{
    if (want_type(c, a, json_type_array, "process.rlimits", "an array") < 0)
        return -1;
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *e = json_object_array_get_idx(a, i);
        const char *type = jsonh_get_str(e, "type", "");
        long long hard = jsonh_get_int(e, "hard", -1), soft = jsonh_get_int(e, "soft", -1);
        char name[32];
        size_t n = 0;

        if (strncmp(type, "RLIMIT_", 7) != 0 || strlen(type) > 7 + sizeof(name) - 1)
            return w_err(c->err, "config.json process.rlimits[%zu].type: not an RLIMIT_ name", i);
        for (const char *p = type + 7; *p; p++)
            name[n++] = (char)tolower((unsigned char)*p);
        name[n] = '\0';
        if (hard < 0 || soft < 0)
            return w_err(c->err,
                         "config.json process.rlimits[%zu]: soft and hard must be "
                         "integers >= 0",
                         i);
        if (hard != soft)
            return w_err(c->err,
                         "config.json process.rlimits[%zu] (%s): soft %lld != hard %lld "
                         "(warden sets both to one value)",
                         i, type, soft, hard);
        json_object_object_add(rl, name, json_object_new_int64(hard));
    }
    return 0;
}

static int shell_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

/* The config's environment goes in spawn's env; what wardend adds and the config does
 * not have is unset by the script. A name no shell can hold (Slurm passes the caller's
 * exported bash functions, BASH_FUNC_f%%) cannot survive the job's /bin/sh: a warning
 * names it. */
static int do_env(struct ctx *c, struct json_object *env, struct spec *s)
{
    static const char *const added[] = {"HOME", "USER", "LANG", "PATH", NULL};
    struct json_object *o = json_object_new_object();

    json_object_object_add(s->spawn, "env", o);
    if (env == NULL)
        return 0;
    if (want_type(c, env, json_type_array, "process.env", "an array of strings") < 0)
        return -1;
    for (size_t i = 0; i < json_object_array_length(env); i++) {
        struct json_object *e = json_object_array_get_idx(env, i);
        const char *kv = json_object_get_string(e), *eq;
        char name[256];
        if (!json_object_is_type(e, json_type_string) || (eq = strchr(kv, '=')) == NULL ||
            eq == kv || (size_t)(eq - kv) >= sizeof(name))
            return w_err(c->err, "config.json process.env[%zu]: must be a string KEY=VALUE", i);
        memcpy(name, kv, (size_t)(eq - kv));
        name[eq - kv] = '\0';
        if (!shell_name(name)) {
            /* The job's /bin/sh drops what it cannot hold before it execs the program. */
            char msg[400];
            snprintf(msg, sizeof(msg),
                     "config.json process.env[%zu]: %.64s is not a name "
                     "/bin/sh passes on; the program will not have it",
                     i, name);
            c->warn(msg);
            continue;
        }
        json_object_object_add(o, name, json_object_new_string(eq + 1));
    }
    for (int i = 0; added[i]; i++)
        if (jsonh_get(o, added[i]) == NULL)
            fprintf(c->script, "unset %s\n", added[i]);
    return 0;
}

/* After the script's cd: the shell's own OLDPWD, PWD and SHLVL are not the config's. */
static void shell_vars(struct ctx *c, struct json_object *env)
{
    static const char *const own[] = {"OLDPWD", "PWD", "SHLVL", NULL};

    for (int i = 0; own[i]; i++) {
        const char *v = jsonh_get_str(env, own[i], NULL);
        fprintf(c->script, v ? "export %s=" : "unset %s\n", own[i]);
        if (v) {
            sh_quote(c->script, v);
            fputc('\n', c->script);
        }
    }
}

static int do_process(struct ctx *c, struct json_object *p, struct spec *s)
{
    static const char *const keys[] = {"terminal",
                                       "consoleSize",
                                       "user",
                                       "args",
                                       "env",
                                       "cwd",
                                       "rlimits",
                                       "capabilities",
                                       "noNewPrivileges",
                                       "apparmorProfile",
                                       "oomScoreAdj",
                                       "selinuxLabel",
                                       NULL};
    static const char *const policy[] = {"capabilities", "noNewPrivileges", "apparmorProfile",
                                         "oomScoreAdj",  "selinuxLabel",    NULL};
    struct json_object *args = jsonh_get(p, "args"), *cwd = jsonh_get(p, "cwd"), *v;
    struct json_object *rl = json_object_new_object();

    json_object_object_add(s->spawn, "rlimits", rl);
    if (want_type(c, p, json_type_object, "process", "an object") < 0 ||
        only_keys(c, p, "process", keys) < 0)
        return -1;
    for (int i = 0; policy[i]; i++)
        if (!is_empty(jsonh_get(p, policy[i]))) {
            char f[64];
            snprintf(f, sizeof(f), "process.%s", policy[i]);
            warn_field(c, f);
        }
    if ((v = jsonh_get(p, "terminal")) != NULL &&
        want_type(c, v, json_type_boolean, "process.terminal", "a boolean") < 0)
        return -1;
    s->terminal = jsonh_get_bool(p, "terminal", 0);
    if ((v = jsonh_get(p, "consoleSize")) != NULL) { /* {"height":R,"width":C} */
        struct json_object *h = jsonh_get(v, "height"), *w = jsonh_get(v, "width");
        if (!json_object_is_type(h, json_type_int) || !json_object_is_type(w, json_type_int) ||
            json_object_get_int64(h) < 0 || json_object_get_int64(h) > 65535 ||
            json_object_get_int64(w) < 0 || json_object_get_int64(w) > 65535)
            return w_err(c->err, "config.json process.consoleSize: must be "
                                 "{\"height\":N,\"width\":N}, each 0 to 65535");
        s->rows = (int)json_object_get_int64(h);
        s->cols = (int)json_object_get_int64(w);
    }
    if (do_user(c, jsonh_get(p, "user")) < 0 || do_env(c, jsonh_get(p, "env"), s) < 0)
        return -1;
    if ((v = jsonh_get(p, "rlimits")) != NULL && do_rlimits(c, v, rl) < 0)
        return -1;
    if (want_type(c, cwd, json_type_string, "process.cwd", "an absolute path") < 0 ||
        json_object_get_string(cwd)[0] != '/')
        return w_err(c->err, "config.json process.cwd: must be an absolute path");
    fputs("cd ", c->script);
    sh_quote(c->script, json_object_get_string(cwd));
    fputs(" || exit 126\n", c->script);
    if (jsonh_get(p, "env"))
        shell_vars(c, jsonh_get(s->spawn, "env"));
    if (want_type(c, args, json_type_array, "process.args", "a non-empty array of strings") < 0 ||
        json_object_array_length(args) == 0)
        return w_err(c->err, "config.json process.args: must be a non-empty array of strings");
    fputs("exec", c->script);
    for (size_t i = 0; i < json_object_array_length(args); i++) {
        struct json_object *a = json_object_array_get_idx(args, i);
        if (!json_object_is_type(a, json_type_string))
            return w_err(c->err, "config.json process.args[%zu]: must be a string", i);
        fputc(' ', c->script);
        sh_quote(c->script, json_object_get_string(a));
    }
    fputc('\n', c->script);
    return 0;
}

/* The filesystems warden mounts in every container, as it makes them. */
static int standard_mount(const char *type, const char *dst)
{
    static const char *const std[][2] = {
        {"proc", "/proc"},
        {"sysfs", "/sys"},
        {"tmpfs", "/dev"},
        {"devpts", "/dev/pts"},
        {"tmpfs", "/dev/shm"},
        {"shm", "/dev/shm"},
        {"mqueue", "/dev/mqueue"},
        {"cgroup", "/sys/fs/cgroup"},
        {"cgroup2", "/sys/fs/cgroup"},
    };

    for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
        if (strcmp(std[i][0], type) == 0 && strcmp(std[i][1], dst) == 0)
            return 1;
    return 0;
}

static int is_one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

/* A tmpfs elsewhere than warden's own: create's tmpfs_mounts, its options (mount(8)'s)
 * as size, mode and flags; any other option is refused, naming it. */
static int tmpfs_mount(struct ctx *c, size_t i, const char *dst, struct json_object *opts,
                       struct json_object *list)
{
    static const char *const flags[] = {"nosuid",  "nodev",    "noexec",      "ro",
                                        "noatime", "relatime", "strictatime", NULL};
    /* rw, suid, dev, exec: the defaults; private: warden's propagation for every mount. */
    static const char *const noop[] = {"rw", "suid", "dev", "exec", "private", "rprivate", NULL};
    /* Podman's tmpcopyup (the directory's content copied in), other propagations. */
    static const char *const unapplied[] = {"tmpcopyup", "shared",     "rshared",     "slave",
                                            "rslave",    "unbindable", "runbindable", NULL};
    struct json_object *t = json_object_new_array(), *o = json_object_new_object();
    struct json_object *fl = json_object_new_array();

    json_object_array_add(t, json_object_new_string(dst));
    json_object_array_add(t, o);
    json_object_array_add(list, t);
    json_object_object_add(o, "options", fl);
    for (size_t j = 0; opts && j < json_object_array_length(opts); j++) {
        const char *op = json_object_get_string(json_object_array_get_idx(opts, j));
        size_t k;

        if (op == NULL)
            op = "";
        for (k = 0; flags[k] && strcmp(flags[k], op) != 0; k++)
            ;
        if (flags[k]) {
            json_object_array_add(fl, json_object_new_string(op));
        } else if (strncmp(op, "mode=", 5) == 0) {
            size_t len = strlen(op + 5);
            if (len < 3 || len > 4 || strspn(op + 5, "01234567") != len)
                return w_err(c->err, "config.json mounts[%zu].options: %s is not an octal mode", i,
                             op);
            json_object_object_add(o, "mode", json_object_new_string(op + 5));
        } else if (strncmp(op, "size=", 5) == 0) {
            char *end;
            unsigned long long n;
            errno = 0;
            n = strtoull(op + 5, &end, 10);
            int shift = *end == 'k' || *end == 'K'   ? 10
                        : *end == 'm' || *end == 'M' ? 20
                        : *end == 'g' || *end == 'G' ? 30
                                                     : 0;
            if (shift)
                end++;
            if (end == op + 5 || *end != '\0' || errno != 0 || n == 0 || n > (1ULL << 40))
                return w_err(c->err,
                             "config.json mounts[%zu].options: %s is not a size in bytes, "
                             "k, m or g",
                             i, op);
            json_object_object_add(o, "size", json_object_new_int64((int64_t)(n << shift)));
        } else if (is_one_of(op, noop)) {
            /* what every tmpfs of warden's is anyway */
        } else if (is_one_of(op, unapplied)) {
            char f[96];
            snprintf(f, sizeof(f), "mounts[%zu].options %s", i, op);
            warn_field(c, f);
        } else {
            return w_err(c->err,
                         "config.json mounts[%zu].options: %s is not supported for a tmpfs "
                         "(size=, mode=, nosuid, nodev, noexec, ro, rw, noatime, relatime, "
                         "strictatime are; tmpcopyup and propagations are warned)",
                         i, op);
        }
    }
    return 0;
}

/* warden mounts every tmpfs before the bind mounts: one under a bind mount's destination
 * would be hidden by it. */
static int tmpfs_under_bind(struct ctx *c, struct json_object *tmpfs, struct json_object *binds)
{
    for (size_t i = 0; i < json_object_array_length(tmpfs); i++) {
        const char *t = json_object_get_string(
            json_object_array_get_idx(json_object_array_get_idx(tmpfs, i), 0));
        for (size_t j = 0; j < json_object_array_length(binds); j++) {
            const char *b = json_object_get_string(
                json_object_array_get_idx(json_object_array_get_idx(binds, j), 1));
            size_t n = strlen(b);
            if (strncmp(t, b, n) == 0 && (t[n] == '/' || t[n] == '\0' || strcmp(b, "/") == 0))
                return w_err(c->err,
                             "config.json mounts: the tmpfs on %s is inside the bind mount on "
                             "%s (warden mounts every tmpfs first, so the bind mount would "
                             "hide it)",
                             t, b);
        }
    }
    return 0;
}

static int do_mounts(struct ctx *c, struct json_object *m, struct spec *s)
{
    static const char *const keys[] = {"destination", "type", "source", "options", NULL};
    struct json_object *binds = json_object_new_array(), *tmpfs = json_object_new_array();

    json_object_object_add(s->create, "bind_mounts", binds);
    json_object_object_add(s->create, "tmpfs_mounts", tmpfs);
    if (want_type(c, m, json_type_array, "mounts", "an array") < 0)
        return -1;
    for (size_t i = 0; i < json_object_array_length(m); i++) {
        struct json_object *e = json_object_array_get_idx(m, i), *opts = jsonh_get(e, "options");
        const char *dst = jsonh_get_str(e, "destination", ""), *type = jsonh_get_str(e, "type", "");
        const char *src = jsonh_get_str(e, "source", "");
        int bind = strcmp(type, "bind") == 0, ro = 0;
        char path[32];

        snprintf(path, sizeof(path), "mounts[%zu]", i);
        if (want_type(c, e, json_type_object, path, "an object") < 0 ||
            only_keys(c, e, path, keys) < 0)
            return -1;
        if (dst[0] != '/')
            return w_err(c->err, "config.json mounts[%zu].destination: must be an absolute path",
                         i);
        for (size_t j = 0; opts && j < json_object_array_length(opts); j++) {
            const char *o = json_object_get_string(json_object_array_get_idx(opts, j));
            if (o && (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0))
                bind = 1;
            if (o && strcmp(o, "ro") == 0)
                ro = 1;
        }
        if (!bind) {
            if (standard_mount(type, dst))
                continue; /* warden mounts it in every container */
            if (strcmp(type, "tmpfs") == 0) {
                if (opts && want_type(c, opts, json_type_array, path, "options an array") < 0)
                    return -1;
                if (tmpfs_mount(c, i, dst, opts, tmpfs) < 0)
                    return -1;
                continue;
            }
            return w_err(c->err,
                         "config.json mounts[%zu]: a %s mount on %s is not supported "
                         "(bind mounts and warden's own proc, sysfs, /dev, devpts, "
                         "shm, mqueue are)",
                         i, type[0] ? type : "(typeless)", dst);
        }
        if (src[0] != '/')
            return w_err(c->err, "config.json mounts[%zu].source: must be an absolute path", i);
        struct json_object *b = json_object_new_array(), *mode = json_object_new_object();
        json_object_array_add(b, json_object_new_string(src));
        json_object_array_add(b, json_object_new_string(dst));
        json_object_object_add(mode, "mode", json_object_new_string(ro ? "ro" : "rw"));
        json_object_array_add(b, mode);
        json_object_array_add(binds, b);
    }
    return tmpfs_under_bind(c, tmpfs, binds);
}

static int do_resources(struct ctx *c, struct json_object *r, struct json_object *limits)
{
    static const char *const keys[] = {"memory", "cpu", "devices", "pids", NULL};
    static const char *const mkeys[] = {"limit", NULL};
    static const char *const ckeys[] = {"shares", "cpus", NULL};
    struct json_object *v;

    if (want_type(c, r, json_type_object, "linux.resources", "an object") < 0 ||
        only_keys(c, r, "linux.resources", keys) < 0)
        return -1;
    if (!is_empty(jsonh_get(r, "devices")))
        warn_field(c, "linux.resources.devices");
    /* No pids limit is what warden gives: only "unlimited" (0 or less) is honoured. */
    if ((v = jsonh_get(r, "pids")) != NULL && jsonh_get_int(v, "limit", 0) > 0)
        return w_err(c->err, "config.json linux.resources.pids.limit: not supported (warden "
                             "sets no pids limit; 0 or -1 is accepted)");
    if ((v = jsonh_get(r, "memory")) != NULL) {
        if (only_keys(c, v, "linux.resources.memory", mkeys) < 0)
            return -1;
        if (jsonh_get(v, "limit") && jsonh_get_int(v, "limit", -1) > 0)
            json_object_object_add(limits, "mem",
                                   json_object_new_int64(jsonh_get_int(v, "limit", 0)));
    }
    if ((v = jsonh_get(r, "cpu")) != NULL) {
        if (only_keys(c, v, "linux.resources.cpu", ckeys) < 0)
            return -1;
        /* 1024 is the kernel's default share, which every container has already. */
        if (jsonh_get_int(v, "shares", 0) > 0 && jsonh_get_int(v, "shares", 0) != 1024)
            json_object_object_add(limits, "cpu",
                                   json_object_new_int64(jsonh_get_int(v, "shares", 0)));
        if (jsonh_get_str(v, "cpus", "")[0])
            json_object_object_add(limits, "cpuset",
                                   json_object_new_string(jsonh_get_str(v, "cpus", "")));
    }
    return 0;
}

/* A namespace list that asks for exactly what warden makes (new pid, network, ipc, uts
 * and mount namespaces; cgroup namespaces are left as the host's). */
static int do_namespaces(struct ctx *c, struct json_object *ns)
{
    static const char *const made[] = {"pid", "network", "ipc", "uts", "mount"};
    int seen[5] = {0};

    if (want_type(c, ns, json_type_array, "linux.namespaces", "an array") < 0)
        return -1;
    for (size_t i = 0; i < json_object_array_length(ns); i++) {
        struct json_object *e = json_object_array_get_idx(ns, i);
        const char *t = jsonh_get_str(e, "type", "");
        size_t k;
        if (!is_empty(jsonh_get(e, "path")))
            return w_err(c->err,
                         "config.json linux.namespaces[%zu].path: joining an existing "
                         "namespace is not supported",
                         i);
        if (strcmp(t, "cgroup") == 0) {
            warn_field(c, "linux.namespaces (cgroup)");
            continue;
        }
        for (k = 0; k < 5 && strcmp(made[k], t) != 0; k++)
            ;
        if (k == 5)
            return w_err(c->err,
                         "config.json linux.namespaces[%zu]: a %s namespace is not "
                         "supported",
                         i, t);
        seen[k] = 1;
    }
    for (size_t k = 0; k < 5; k++)
        if (!seen[k])
            return w_err(c->err,
                         "config.json linux.namespaces: warden always makes a new %s "
                         "namespace, so the list must have it",
                         made[k]);
    return 0;
}

/* Sysctls of the container's own namespaces (network, ipc): create's sysctls, written
 * by the hooks before /proc/sys is made read-only. One of the host's (anything else) is
 * refused: a container never changes the host. */
static int do_sysctl(struct ctx *c, struct json_object *sc, struct spec *s)
{
    static const char *const ns_prefixes[] = {"net.",       "kernel.shm", "kernel.msg",
                                              "kernel.sem", "fs.mqueue.", NULL};

    if (want_type(c, sc, json_type_object, "linux.sysctl", "an object of strings") < 0)
        return -1;
    json_object_object_foreach(sc, k, v)
    {
        int ok = 0;
        for (int i = 0; ns_prefixes[i]; i++)
            ok |= strncmp(k, ns_prefixes[i], strlen(ns_prefixes[i])) == 0;
        if (!ok)
            return w_err(c->err,
                         "config.json linux.sysctl.%s: not a sysctl of the "
                         "container's own namespaces",
                         k);
        if (!json_object_is_type(v, json_type_string))
            return w_err(c->err, "config.json linux.sysctl.%s: must be a string", k);
    }
    if (json_object_object_length(sc) > 0)
        json_object_object_add(s->create, "sysctls", json_object_get(sc));
    return 0;
}

static int do_linux(struct ctx *c, struct json_object *l, struct spec *s)
{
    static const char *const keys[] = {
        "namespaces", "resources", "cgroupsPath",       "seccomp", "maskedPaths", "readonlyPaths",
        "mountLabel", "devices",   "rootfsPropagation", "sysctl",  NULL};
    static const char *const policy[] = {"cgroupsPath",       "seccomp",    "maskedPaths",
                                         "readonlyPaths",     "mountLabel", "devices",
                                         "rootfsPropagation", NULL};
    struct json_object *limits = json_object_new_object(), *v;

    if (want_type(c, l, json_type_object, "linux", "an object") < 0 ||
        only_keys(c, l, "linux", keys) < 0) {
        json_object_put(limits);
        return -1;
    }
    for (int i = 0; policy[i]; i++)
        if (!is_empty(jsonh_get(l, policy[i]))) {
            char f[64];
            snprintf(f, sizeof(f), "linux.%s", policy[i]);
            warn_field(c, f);
        }
    if ((v = jsonh_get(l, "sysctl")) != NULL && do_sysctl(c, v, s) < 0) {
        json_object_put(limits);
        return -1;
    }
    if ((v = jsonh_get(l, "namespaces")) != NULL && do_namespaces(c, v) < 0) {
        json_object_put(limits);
        return -1;
    }
    if ((v = jsonh_get(l, "resources")) != NULL && do_resources(c, v, limits) < 0) {
        json_object_put(limits);
        return -1;
    }
    if (json_object_object_length(limits) > 0)
        json_object_object_add(s->create, "limits", limits);
    else
        json_object_put(limits);
    return 0;
}

/* create's hostname (wardend checks it is one); empty: the container's warden id. */
static int do_hostname(struct ctx *c, struct json_object *h, struct spec *s)
{
    if (want_type(c, h, json_type_string, "hostname", "a string") < 0)
        return -1;
    if (json_object_get_string_len(h) > 0)
        json_object_object_add(s->create, "hostname", json_object_get(h));
    return 0;
}

static int load(struct ctx *c, struct json_object *cfg, const char *bundle, struct spec *s)
{
    static const char *const keys[] = {"ociVersion", "root",  "process",     "hostname",
                                       "mounts",     "linux", "annotations", "hooks",
                                       "domainname", NULL};
    const char *ver = jsonh_get_str(cfg, "ociVersion", NULL);
    struct json_object *v;

    if (want_type(c, cfg, json_type_object, "(top level)", "an object") < 0 ||
        only_keys(c, cfg, "", keys) < 0)
        return -1;
    if (ver == NULL || strncmp(ver, "1.", 2) != 0)
        return w_err(c->err,
                     "config.json ociVersion: must be a string 1.x (this runtime "
                     "implements %s)",
                     OCI_VERSION);
    if (!is_empty(jsonh_get(cfg, "hooks")))
        return w_err(c->err, "config.json hooks: OCI hooks are not supported (warden's own "
                             "hooks run instead)");
    if (!is_empty(jsonh_get(cfg, "domainname")))
        return w_err(c->err, "config.json domainname: not supported by warden-oci");
    if (do_root(c, jsonh_get(cfg, "root"), bundle, s) < 0)
        return -1;
    if ((v = jsonh_get(cfg, "hostname")) != NULL && do_hostname(c, v, s) < 0)
        return -1;
    if ((v = jsonh_get(cfg, "mounts")) != NULL && do_mounts(c, v, s) < 0)
        return -1;
    if ((v = jsonh_get(cfg, "linux")) != NULL && do_linux(c, v, s) < 0)
        return -1;
    if ((v = jsonh_get(cfg, "annotations")) != NULL) {
        if (want_type(c, v, json_type_object, "annotations", "an object") < 0)
            return -1;
        s->annotations = json_object_get(v);
    }
    /* process last: the script ends with its exec. */
    return do_process(c, jsonh_get(cfg, "process"), s);
}

int spec_load(const char *bundle, struct spec *s, void (*warn)(const char *msg),
              struct w_error *err)
{
    char path[PATH_MAX];
    size_t len, slen = 0;
    struct json_object *cfg;
    char *buf;
    struct ctx c = {.warn = warn, .err = err};
    int r;

    memset(s, 0, sizeof(*s));
    if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path))
        return w_err(err, "bundle path too long");
    if ((buf = util_read_file(AT_FDCWD, path, 4 << 20, &len, err)) == NULL)
        return -1;
    cfg = jsonh_parse(buf, len, err);
    free(buf);
    if (cfg == NULL)
        return w_err_prefix(err, "%s", path);
    s->create = json_object_new_object();
    s->spawn = json_object_new_object();
    json_object_object_add(s->spawn, "privileged", json_object_new_boolean(1));
    json_object_object_add(s->spawn, "output", json_object_new_string("base64"));
    c.script = open_memstream(&s->script, &slen);
    if (c.script == NULL) {
        json_object_put(cfg);
        return w_errno(err, errno, "open_memstream");
    }
    r = load(&c, cfg, bundle, s);
    fclose(c.script);
    json_object_put(cfg);
    if (r < 0)
        spec_free(s);
    return r;
}

void spec_free(struct spec *s)
{
    json_object_put(s->create);
    json_object_put(s->spawn);
    json_object_put(s->annotations);
    free(s->script);
    memset(s, 0, sizeof(*s));
}
