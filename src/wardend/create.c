/* create: CONFIG checked field by field, pools, then the hooks setup.sh and start.sh,
 * then limit.sh for the limits asked; on any failure destroy.sh and the first error.
 * Runs in wardend's loop, as an op of the container's queue. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "create.h"
#include "hook.h"
#include "jsonh.h"
#include "lifecycle.h"
#include "limits.h"
#include "log.h"
#include "net.h"
#include "oom.h"
#include "req.h"
#include "snapshot.h"
#include "util.h"
#include "wardend.h"
#include "warm.h"
#include "wshd_watch.h"

enum { STEP_SETUP, STEP_START, STEP_LIMITS, STEP_DONE };

static void create_next(struct container *ct);

static void create_fail_done(void *data, const char *error)
{
    struct container *ct = data;
    struct ct_op *op = ct->ops;

    if (error)
        log_msg(LOG_ERR, "container %s: cleanup after failed create: %s", ct->handle, error);
    if (op->done)
        op->done(ct, op->error);
    op_error(op, op->error);
    op_done_remove(ct);
}

static void create_fail(struct container *ct, const char *error)
{
    struct ct_op *op = ct->ops;
    struct w_error err;

    if (error != op->error)
        strlcpy(op->error, error, sizeof(op->error));
    log_msg(LOG_WARNING, "container %s: create failed: %s", ct->handle, error);
    if (hook_run("destroy.sh", NULL, ct->env, NULL, create_fail_done, ct, &err) < 0)
        create_fail_done(ct, err.msg);
}

/* One hook of the create ended: go on once every hook of the step has. */
static void create_hook_done(void *data, const char *error)
{
    struct container *ct = data;
    struct ct_op *op = ct->ops;

    if (error && op->error[0] == '\0')
        strlcpy(op->error, error, sizeof(op->error));
    if (--op->pending > 0)
        return;
    if (op->error[0])
        create_fail(ct, op->error);
    else
        create_next(ct);
}

static void create_launch(struct container *ct, const char *name, const char *const *args,
                          const char *log_path)
{
    struct ct_op *op = ct->ops;
    struct w_error err;

    op->pending++;
    if (hook_run(name, args, ct->env, log_path, create_hook_done, ct, &err) < 0) {
        op->pending--;
        if (op->error[0] == '\0')
            strlcpy(op->error, err.msg, sizeof(op->error));
    }
}

/* start.sh may run beside setup.sh when it says so (a line "# hook-runner: beside
 * setup.sh": it passes $setup_done to wshd, which waits there before the container's
 * directory is used); an edited start.sh without it runs after setup.sh, as before. The
 * answer is kept while the file is unchanged. */
static int start_beside_ok(void)
{
    static struct stat seen;
    static int ok;
    char path[PATH_MAX];
    struct stat st;

    if (snprintf(path, sizeof(path), "%s/start.sh", g_cfg->server.hooks_path) >=
            (int)sizeof(path) ||
        stat(path, &st) < 0)
        return 0;
    if (st.st_dev == seen.st_dev && st.st_ino == seen.st_ino && st.st_size == seen.st_size &&
        st.st_mtim.tv_sec == seen.st_mtim.tv_sec && st.st_mtim.tv_nsec == seen.st_mtim.tv_nsec &&
        st.st_ctim.tv_sec == seen.st_ctim.tv_sec && st.st_ctim.tv_nsec == seen.st_ctim.tv_nsec)
        return ok;
    ok = util_file_has_line(path, "# hook-runner: beside setup.sh", 8192);
    seen = st;
    return ok;
}

/* setup.sh ended: on success start.sh's log can be opened and wshd may go on; either way
 * the write end closes (wshd reads EOF without "G": setup.sh failed, or we died).
 * start.sh's hook_timeout counts from here: a setup.sh past its own is the one reported. */
static void setup_beside_done(void *data, const char *error)
{
    struct container *ct = data;
    struct ct_op *op = ct->ops;

    if (op->start)
        hook_start_clock(op->start);
    if (error == NULL) {
        if (op->start)
            hook_log_open(op->start, ct->log_path);
        if (op->go[0] >= 0 && write(op->go[1], "G", 1) != 1)
            log_msg(LOG_WARNING, "container %s: cannot tell wshd setup.sh is done: %s", ct->handle,
                    strerror(errno));
    }
    close(op->go[1]);
    op->go[1] = -1;
    create_hook_done(ct, error);
}

static void start_beside_done(void *data, const char *error)
{
    struct container *ct = data;
    struct ct_op *op = ct->ops;

    op->start = NULL;
    if (op->go[0] >= 0) {
        close(op->go[0]);
        op->go[0] = -1;
    }
    create_hook_done(ct, error);
}

/* setup.sh and start.sh at once: wshd's start, parent-before-clone.sh, clone and
 * parent-after-clone.sh (none of them reads the container's directory) overlap
 * setup.sh's work. 0 when both were started (or their error is in op->error), -1 when
 * they are to run one after the other: start.sh does not say it can, or the container's
 * directory is there already (setup.sh's destroy.sh of a stale one must not meet a
 * wshd of ours). */
static int create_beside(struct container *ct)
{
    struct ct_op *op = ct->ops;
    struct w_error err;
    char var[64], **envp;
    size_t n = 0;

    if (!start_beside_ok() || access(ct->path, F_OK) == 0 || errno != ENOENT)
        return -1;
    while (ct->env[n])
        n++;
    if ((envp = calloc(n + 2, sizeof(*envp))) == NULL)
        return -1;
    if (pipe2(op->go, O_CLOEXEC) < 0) {
        free(envp);
        return -1;
    }
    memcpy(envp, ct->env, n * sizeof(*envp));
    snprintf(var, sizeof(var), "setup_done=/proc/%d/fd/%d", (int)getpid(), op->go[0]);
    envp[n] = var;
    op->pending++;
    if (hook_run("setup.sh", NULL, ct->env, NULL, setup_beside_done, ct, &err) < 0) {
        op->pending--;
        strlcpy(op->error, err.msg, sizeof(op->error));
        close(op->go[0]);
        close(op->go[1]);
        op->go[0] = op->go[1] = -1;
        free(envp);
        return 0;
    }
    op->pending++;
    if (hook_run_log_later("start.sh", envp, start_beside_done, ct, &op->start, &err) < 0) {
        op->pending--;
        if (op->error[0] == '\0')
            strlcpy(op->error, err.msg, sizeof(op->error));
        close(op->go[0]);
        op->go[0] = -1;
    }
    free(envp);
    return 0;
}

static void create_next(struct container *ct)
{
    struct ct_op *op = ct->ops;
    struct w_error err;

    switch (op->step++) {
    case STEP_SETUP:
        /* setup.sh makes the container directory, so there is no hooks.log to write to
         * yet: its failures still reach the client and wardend's log. */
        if (create_beside(ct) == 0) {
            op->step = STEP_LIMITS;
            break;
        }
        create_launch(ct, "setup.sh", NULL, NULL);
        break;
    case STEP_START:
        /* No filter hook: the instance's global chains (host-setup.sh) hold every
         * container's default rules, keyed by the interface prefix; net.sh makes a
         * container's own chains on its first net in or net out. */
        create_launch(ct, "start.sh", NULL, ct->log_path);
        break;
    case STEP_LIMITS: {
        /* Before the handle goes out: a limit that fails fails the create. The OOM
         * watch is armed before the memory limit is written. */
        const char *argv[10]; /* 4 limits, up to 3 words each (bandwidth), NULL */
        char buf[4][32];
        if (limits_create_args(ct, argv, buf) == 0) {
            create_next(ct);
            return;
        }
        if (jsonh_get_int(ct->limits, "mem", 0) > 0 && oom_watch(ct, 0, &err) < 0) {
            strlcpy(op->error, err.msg, sizeof(op->error));
            break;
        }
        create_launch(ct, "limit.sh", argv, ct->log_path);
        break;
    }
    default:
        ct_set_state(ct, CT_ACTIVE);
        /* Only a container a restart would adopt is answered for. */
        if (snapshot_write_state(ct, &err) < 0) {
            create_fail(ct, err.msg);
            return;
        }
        ct_watch_wshd(ct);
        if (op->done) { /* for the warm pool: no reply, no grace timer */
            log_msg(LOG_INFO, "container %s: created for the warm pool (uid %u)", ct->id,
                    (unsigned)ct->uid);
            op->done(ct, NULL);
            op_done(ct);
            return;
        }
        log_msg(LOG_INFO, "container %s: created (id %s, uid %u)", ct->handle, ct->id,
                (unsigned)ct->uid);
        op_reply(op, json_object_new_string(ct->handle));
        arm_grace(ct);
        op_done(ct);
        return;
    }
    if (op->pending == 0) /* nothing could even be started */
        create_fail(ct, op->error);
}

static void op_create(struct container *ct, struct ct_op *op)
{
    op->step = STEP_SETUP;
    create_next(ct);
}

/* What parsing CONFIG fills in besides ct: the /30 asked for (-1: any, -2: one outside
 * the pool, so `could not acquire network`). */
struct create_args {
    struct container *ct;
    int net_index;
    long long disk_size_mb; /* 0: none asked */
};

static int opt_handle(struct json_object *v, struct create_args *a, struct w_error *err)
{
    const char *h = json_object_get_string(v);

    if (!json_object_is_type(v, json_type_string) || *h == '\0' || strlen(h) > 255)
        return w_err(err, "Expected `handle` to hold a non-empty string of at most 255 bytes.");
    if (ct_lookup(h))
        return w_err(err, "container with handle: %s already exists.", h);
    strlcpy(a->ct->handle, h, sizeof(a->ct->handle));
    return 0;
}

/* A number, null, or (as the original's Float() took, and its REPL always sends) a
 * string that is wholly a non-negative number. */
static int opt_grace_time(struct json_object *v, struct create_args *a, struct w_error *err)
{
    double d;

    if (v == NULL) {
        a->ct->grace_time = -1;
        return 0;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end;
        errno = 0;
        d = strtod(s, &end);
        if (*s == '\0' || *end != '\0' || errno != 0 || !(d >= 0 && d < 1e9))
            return w_err(err, "Cannot parse grace time from \"%s\".", s);
    } else if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
        d = json_object_get_double(v);
        if (!(d >= 0 && d < 1e9))
            return w_err(err, "Expected `grace_time` to hold a non-negative number or null.");
    } else {
        return w_err(err, "Expected `grace_time` to hold a non-negative number or null.");
    }
    a->ct->grace_time = d;
    return 0;
}

/* limits.disk in bytes is what makes the image (limits.c checks the two agree). */
static int opt_disk_size_mb(struct json_object *v, struct create_args *a, struct w_error *err)
{
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        return w_err(err, "Expected `disk_size_mb` to hold a non-negative integer.");
    a->disk_size_mb = json_object_get_int64(v);
    return limits_parse_create(NULL, a->disk_size_mb, a->ct->limits, err);
}

static int opt_rootfs(struct json_object *v, struct create_args *a, struct w_error *err)
{
    struct stat st;

    if (!json_object_is_type(v, json_type_string) || *json_object_get_string(v) != '/')
        return w_err(err, "Expected `rootfs` to hold an absolute path.");
    if (stat(json_object_get_string(v), &st) < 0 || !S_ISDIR(st.st_mode))
        return w_err(err, "rootfs %s not found", json_object_get_string(v));
    strlcpy(a->ct->rootfs, json_object_get_string(v), sizeof(a->ct->rootfs));
    return 0;
}

static int opt_properties(struct json_object *v, struct create_args *a, struct w_error *err)
{
    if (!json_object_is_type(v, json_type_object))
        return w_err(err, "Expected `properties` to hold an object of strings.");
    json_object_object_foreach(v, k, pv)
    {
        (void)k;
        if (!json_object_is_type(pv, json_type_string))
            return w_err(err, "Expected `properties` to hold an object of strings.");
    }
    json_object_put(a->ct->properties);
    a->ct->properties = json_object_get(v);
    return 0;
}

static int opt_limits(struct json_object *v, struct create_args *a, struct w_error *err)
{
    return limits_parse_create(v, a->disk_size_mb, a->ct->limits, err);
}

/* One [SRC, DST] or [SRC, DST, {"mode": M}] as the line "SRC\tDST\tMODE\n" of
 * start.sh's bind mount list. Without a mode it is read-write, as in the original. */
static int bind_mount_line(struct json_object *e, size_t i, FILE *f, struct w_error *err)
{
    size_t n = json_object_is_type(e, json_type_array) ? json_object_array_length(e) : 0;
    struct json_object *src = n >= 2 ? json_object_array_get_idx(e, 0) : NULL;
    struct json_object *dst = n >= 2 ? json_object_array_get_idx(e, 1) : NULL;
    struct json_object *opt = n == 3 ? json_object_array_get_idx(e, 2) : NULL, *mode;
    const char *m = "rw", *s, *d;
    struct stat st;

    if (n < 2 || n > 3 || !json_object_is_type(src, json_type_string) ||
        !json_object_is_type(dst, json_type_string) ||
        (n == 3 && !json_object_is_type(opt, json_type_object)))
        return w_err(err, "Expected `bind_mounts[%zu]` to be [SRC, DST, {\"mode\":\"ro\"|\"rw\"}].",
                     i);
    s = json_object_get_string(src);
    d = json_object_get_string(dst);
    if (opt && json_object_object_get_ex(opt, "mode", &mode)) {
        m = json_object_is_type(mode, json_type_string) ? json_object_get_string(mode) : "";
        if (strcmp(m, "ro") != 0 && strcmp(m, "rw") != 0)
            return w_err(err, "Invalid mode for bind mount \"%s\". Must be one of \"ro\", \"rw\".",
                         s);
    }
    if (strpbrk(s, "\t\n") || strpbrk(d, "\t\n") || *s != '/' || *d != '/')
        return w_err(
            err, "Expected `bind_mounts[%zu]` to hold absolute paths without tabs or newlines.", i);
    if (stat(s, &st) < 0)
        return w_err(err, "bind mount source %s not found", s);
    fprintf(f, "%s\t%s\t%s\n", s, d, m);
    return 0;
}

static int opt_bind_mounts(struct json_object *v, struct create_args *a, struct w_error *err)
{
    size_t len = 0, n;
    char *list = NULL;
    FILE *f;

    if (!json_object_is_type(v, json_type_array))
        return w_err(err, "Expected `bind_mounts` to hold an array.");
    f = open_memstream(&list, &len);
    if (f == NULL)
        return w_errno(err, errno, "bind mount list: open_memstream");
    n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++)
        if (bind_mount_line(json_object_array_get_idx(v, i), i, f, err) < 0) {
            fclose(f);
            free(list);
            return -1;
        }
    if (fclose(f) != 0) {
        free(list);
        return w_err(err, "bind mount list: out of memory");
    }
    a->ct->bind_mounts = list;
    return 0;
}

/* RFC 1123: labels of 1-63 letters, digits and '-' (not first or last), joined by '.';
 * at most 64 bytes in all (the kernel's limit). */
static int valid_hostname(const char *h)
{
    size_t label = 0;

    if (*h == '\0' || strlen(h) > 64)
        return 0;
    for (const char *p = h;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || p[-1] == '-')
                return 0;
            if (*p == '\0')
                return 1;
            label = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-') {
            if ((label == 0 && *p == '-') || ++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
}

static int opt_hostname(struct json_object *v, struct create_args *a, struct w_error *err)
{
    if (!json_object_is_type(v, json_type_string) || !valid_hostname(json_object_get_string(v)))
        return w_err(err, "Expected `hostname` to hold a hostname of at most 64 bytes: labels of "
                          "letters, digits and '-' (not first or last) joined by '.'.");
    strlcpy(a->ct->hostname, json_object_get_string(v), sizeof(a->ct->hostname));
    return 0;
}

/* An absolute path other than /, without tabs, newlines, empty, "." or ".." parts. */
static int mount_point_ok(const char *d)
{
    if (*d != '/' || d[1] == '\0' || strpbrk(d, "\t\n"))
        return 0;
    for (const char *p = d; *p;) {
        size_t n;
        p++;
        n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n;
    }
    return 1;
}

/* One [DST] or [DST, {"size": BYTES, "mode": "OCTAL", "options": [FLAG...]}] as the line
 * "DST\tOPTIONS\n" of setup.sh's tmpfs list (OPTIONS for mount(8), mode=1777 unless
 * given). */
static int tmpfs_mount_line(struct json_object *e, size_t i, FILE *f, struct w_error *err)
{
    static const char *const flags[] = {"nosuid",  "nodev",    "noexec",      "ro",
                                        "noatime", "relatime", "strictatime", NULL};
    size_t n = json_object_is_type(e, json_type_array) ? json_object_array_length(e) : 0;
    struct json_object *dst = n >= 1 ? json_object_array_get_idx(e, 0) : NULL;
    struct json_object *opt = n == 2 ? json_object_array_get_idx(e, 1) : NULL, *v;
    const char *mode = "1777";

    if (n < 1 || n > 2 || !json_object_is_type(dst, json_type_string) ||
        (n == 2 && !json_object_is_type(opt, json_type_object)))
        return w_err(err,
                     "Expected `tmpfs_mounts[%zu]` to be [DST, {\"size\":BYTES,\"mode\":\"1777\","
                     "\"options\":[\"nosuid\",...]}].",
                     i);
    if (!mount_point_ok(json_object_get_string(dst)))
        return w_err(err,
                     "Expected `tmpfs_mounts[%zu]` to hold an absolute path other than / without "
                     "tabs, newlines, \".\" or \"..\".",
                     i);
    if (opt) {
        json_object_object_foreach(opt, k, kv)
        {
            (void)kv;
            if (strcmp(k, "size") != 0 && strcmp(k, "mode") != 0 && strcmp(k, "options") != 0)
                return w_err(err, "Unknown key `%s` in `tmpfs_mounts[%zu]` (size, mode, options).",
                             k, i);
        }
    }
    if ((v = jsonh_get(opt, "mode")) != NULL) {
        mode = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        size_t len = strlen(mode);
        if (len < 3 || len > 4 || strspn(mode, "01234567") != len)
            return w_err(err,
                         "Expected `tmpfs_mounts[%zu].mode` to hold an octal mode string such as "
                         "\"1777\".",
                         i);
    }
    fprintf(f, "%s\tmode=%s", json_object_get_string(dst), mode);
    if ((v = jsonh_get(opt, "size")) != NULL) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0)
            return w_err(
                err, "Expected `tmpfs_mounts[%zu].size` to hold a positive integer (bytes).", i);
        fprintf(f, ",size=%lld", (long long)json_object_get_int64(v));
    }
    if ((v = jsonh_get(opt, "options")) != NULL) {
        if (!json_object_is_type(v, json_type_array))
            return w_err(err, "Expected `tmpfs_mounts[%zu].options` to hold an array of strings.",
                         i);
        for (size_t j = 0; j < json_object_array_length(v); j++) {
            struct json_object *o = json_object_array_get_idx(v, j);
            const char *s =
                json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
            size_t k;
            for (k = 0; s && flags[k] && strcmp(flags[k], s) != 0; k++)
                ;
            if (s == NULL || flags[k] == NULL)
                return w_err(err,
                             "Unknown option %s in `tmpfs_mounts[%zu].options` (nosuid, nodev, "
                             "noexec, ro, noatime, relatime, strictatime).",
                             json_object_to_json_string(o), i);
            fprintf(f, ",%s", s);
        }
    }
    fputc('\n', f);
    return 0;
}

static int opt_tmpfs_mounts(struct json_object *v, struct create_args *a, struct w_error *err)
{
    size_t len = 0;
    char *list = NULL;
    FILE *f;

    if (!json_object_is_type(v, json_type_array))
        return w_err(err, "Expected `tmpfs_mounts` to hold an array.");
    f = open_memstream(&list, &len);
    if (f == NULL)
        return w_errno(err, errno, "tmpfs mount list: open_memstream");
    for (size_t i = 0; i < json_object_array_length(v); i++)
        if (tmpfs_mount_line(json_object_array_get_idx(v, i), i, f, err) < 0) {
            fclose(f);
            free(list);
            return -1;
        }
    if (fclose(f) != 0) {
        free(list);
        return w_err(err, "tmpfs mount list: out of memory");
    }
    a->ct->tmpfs_mounts = list;
    return 0;
}

static int opt_read_only_root(struct json_object *v, struct create_args *a, struct w_error *err)
{
    if (!json_object_is_type(v, json_type_boolean))
        return w_err(err, "Expected `read_only_root` to hold a boolean.");
    a->ct->read_only_root = json_object_get_boolean(v);
    return 0;
}

/* Sysctls of the container's own network and ipc namespaces only: any other is the
 * host's, which a container never changes. */
static int sysctl_of_container(const char *k)
{
    static const char *const prefixes[] = {"net.",       "kernel.shm", "kernel.msg",
                                           "kernel.sem", "fs.mqueue.", NULL};

    for (int i = 0; prefixes[i]; i++)
        if (strncmp(k, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

/* A name of dot-separated parts of letters, digits, '_' and '-'. */
static int sysctl_name_ok(const char *k)
{
    size_t len = strlen(k);

    if (len == 0 || len > 200 ||
        strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789_-.") != len)
        return 0;
    return k[0] != '.' && k[len - 1] != '.' && strstr(k, "..") == NULL;
}

static int opt_sysctls(struct json_object *v, struct create_args *a, struct w_error *err)
{
    size_t len = 0;
    char *list = NULL;
    FILE *f;

    if (!json_object_is_type(v, json_type_object))
        return w_err(err, "Expected `sysctls` to hold an object of strings.");
    json_object_object_foreach(v, k, sv)
    {
        if (!sysctl_name_ok(k))
            return w_err(err, "Invalid sysctl name \"%.200s\" in `sysctls`.", k);
        if (!sysctl_of_container(k))
            return w_err(err,
                         "sysctl %s is not of the container's own namespaces (net.*, "
                         "kernel.shm*, kernel.msg*, kernel.sem*, fs.mqueue.*)",
                         k);
        if (!json_object_is_type(sv, json_type_string) ||
            strpbrk(json_object_get_string(sv), "\t\n") || json_object_get_string_len(sv) > 4096)
            return w_err(err,
                         "Expected `sysctls.%s` to hold a string of at most 4096 bytes without "
                         "tabs or newlines.",
                         k);
    }
    f = open_memstream(&list, &len);
    if (f == NULL)
        return w_errno(err, errno, "sysctl list: open_memstream");
    json_object_object_foreach(v, k2, sv2)
    {
        fprintf(f, "%s\t%s\n", k2, json_object_get_string(sv2));
    }
    if (fclose(f) != 0) {
        free(list);
        return w_err(err, "sysctl list: out of memory");
    }
    a->ct->sysctls = list;
    return 0;
}

static int opt_network(struct json_object *v, struct create_args *a, struct w_error *err)
{
    uint32_t ip, start = g_cfg->network.pool_start_address;
    struct in_addr in;

    if (!json_object_is_type(v, json_type_string) ||
        inet_pton(AF_INET, json_object_get_string(v), &in) != 1)
        return w_err(err, "Expected `network` to hold a dotted IPv4 address.");
    ip = ntohl(in.s_addr);
    if (ip < start || (uint64_t)(ip - start) / 4 >= (uint64_t)g_cfg->network.pool_size)
        a->net_index = -2;
    else
        a->net_index = (int)((ip - start) / 4);
    return 0;
}

/* warden contain --network-address (doc/protocol.md, Additions). */
static int opt_network_address(struct json_object *v, struct create_args *a, struct w_error *err)
{
    return net_set_address(a->ct, v, err);
}

/* CONFIG's keys in the order they are checked (PROTOCOL.md's create table). */
static const struct create_opt {
    const char *name;
    int (*parse)(struct json_object *v, struct create_args *a, struct w_error *err);
} create_opts[] = {
    {"handle", opt_handle},
    {"grace_time", opt_grace_time},
    {"disk_size_mb", opt_disk_size_mb},
    {"rootfs", opt_rootfs},
    {"properties", opt_properties},
    {"limits", opt_limits},
    {"bind_mounts", opt_bind_mounts},
    {"tmpfs_mounts", opt_tmpfs_mounts},
    {"read_only_root", opt_read_only_root},
    {"hostname", opt_hostname},
    {"sysctls", opt_sysctls},
    {"network", opt_network},
    {"network_address", opt_network_address},
};
#define N_CREATE_OPTS (sizeof(create_opts) / sizeof(create_opts[0]))

/* Validate CONFIG field by field: first that every key is known, then each key in the
 * table's order; fills a. */
static int parse_create_config(struct json_object *cfg, struct create_args *a, struct w_error *err)
{
    struct json_object *v;

    if (cfg == NULL)
        return 0;
    if (!json_object_is_type(cfg, json_type_object))
        return w_err(err, "Config must be a hash");
    json_object_object_foreach(cfg, key, val)
    {
        size_t i;
        (void)val;
        for (i = 0; i < N_CREATE_OPTS && strcmp(key, create_opts[i].name) != 0; i++)
            ;
        if (i == N_CREATE_OPTS)
            return w_err(err, "Unknown create option `%s`.", key);
    }
    for (size_t i = 0; i < N_CREATE_OPTS; i++)
        if (json_object_object_get_ex(cfg, create_opts[i].name, &v) &&
            create_opts[i].parse(v, a, err) < 0)
            return -1;
    return 0;
}

/* May a create that names no network have /30 number i? Not one that a create waiting
 * for a teardown named (it would lose it the moment it was freed for it), nor, when
 * the handle will be the id, one whose id a caller chose as another's handle. */
static int network_for_anyone(int i, int handle_is_id)
{
    char id[16];

    if (lifecycle_parked_wants(i))
        return 0;
    if (!handle_is_id)
        return 1;
    snprintf(id, sizeof(id), "%08x", g_cfg->network.pool_start_address + 4u * (uint32_t)i);
    return ct_lookup(id) == NULL && ct_teardown_lookup(id) == NULL;
}

/* Any free /30 that network_for_anyone allows. */
static int acquire_network(int handle_is_id, long long now)
{
    int skipped[64], nskipped = 0, i;

    while ((i = pool_acquire(&net_pool, now)) >= 0) {
        if (network_for_anyone(i, handle_is_id))
            break;
        if (nskipped == (int)(sizeof(skipped) / sizeof(skipped[0]))) {
            pool_put_back(&net_pool, i);
            i = -1;
            break;
        }
        skipped[nskipped++] = i;
    }
    while (nskipped > 0)
        pool_put_back(&net_pool, skipped[--nskipped]);
    return i;
}

/* The container's pools, id, handle, paths and hook environment; on failure nothing
 * stays taken; -2 (network) or -3 (uid) when that pool had no entry free now for a
 * create that takes any. */
static int create_assign(struct container *ct, int net_index, struct w_error *err)
{
    long long now = loop_now_ms();

    ct->net_index = net_index == -1 ? acquire_network(ct->handle[0] == '\0', now)
                                    : (net_index >= 0 ? pool_take(&net_pool, net_index, now) : -1);
    if (ct->net_index < 0) {
        w_err(err, "could not acquire network");
        return net_index == -1 ? -2 : -1;
    }
    ct->uid_index = pool_acquire(&uid_pool, now);
    if (ct->uid_index < 0) {
        pool_release(&net_pool, ct->net_index, now);
        w_err(err, "could not acquire user id");
        return -3;
    }
    ct->network = g_cfg->network.pool_start_address + 4u * (uint32_t)ct->net_index;
    ct->uid = g_cfg->user.pool_start_uid + (uid_t)ct->uid_index;
    snprintf(ct->id, sizeof(ct->id), "%08x", ct->network);
    if (ct->handle[0] == '\0')
        strlcpy(ct->handle, ct->id, sizeof(ct->handle));
    ct_set_paths(ct);
    if (ct_lookup(ct->handle)) /* a chosen handle equal to another's id */
        w_err(err, "container with handle: %s already exists.", ct->handle);
    else if (ct_make_env(ct) < 0)
        w_err(err, "container %s: hook environment: out of memory", ct->handle);
    else
        return 0;
    pool_release(&net_pool, ct->net_index, now);
    pool_release(&uid_pool, ct->uid_index, now);
    return -1;
}

/* The options a warm pool container can serve: it was made with the defaults, and
 * these three are only wardend's bookkeeping (wardend(8), WARM POOL). */
static int poolable(struct json_object *cfg)
{
    static const char *const ok[] = {"handle", "grace_time", "properties"};

    if (g_cfg->server.warm_pool == 0)
        return 0;
    if (cfg == NULL)
        return 1;
    json_object_object_foreach(cfg, key, val)
    {
        size_t i;
        (void)val;
        for (i = 0; i < sizeof(ok) / sizeof(ok[0]) && strcmp(key, ok[i]) != 0; i++)
            ;
        if (i == sizeof(ok) / sizeof(ok[0]))
            return 0;
    }
    return 1;
}

/* Hand out a pooled container with want's handle, grace time and properties; 0 when
 * the pool had none (the caller goes the cold way). */
static int create_from_pool(struct container *want, struct req *r)
{
    struct container *ct = warm_take(want->handle[0] ? want->handle : NULL);
    struct json_object *props;

    if (ct == NULL)
        return 0;
    ct->grace_time = want->grace_time;
    props = ct->properties;
    ct->properties = want->properties;
    want->properties = props;
    ct_register(ct);
    ct_ref(ct, r);
    snapshot_save(ct);
    log_msg(LOG_INFO, "container %s: created from the warm pool (id %s, uid %u)", ct->handle,
            ct->id, (unsigned)ct->uid);
    req_reply(r, json_object_new_string(ct->handle));
    return 1;
}

int create_pooled(void (*done)(struct container *ct, const char *error), struct w_error *err)
{
    struct container *ct = ct_alloc();
    struct ct_op *op;

    if (ct == NULL)
        return w_err(err, "out of memory");
    ct->grace_time = g_cfg->server.container_grace_time;
    ct->pooled = 1;
    if (create_assign(ct, -1, err) < 0) { /* the pool tries again later */
        ct_free(ct);
        return -1;
    }
    op = op_new(op_create, NULL);
    if (op == NULL) {
        ct_release_pools(ct);
        ct_free(ct);
        return w_err(err, "out of memory");
    }
    op->done = done;
    op_submit(ct, op);
    return 0;
}

/* A create parked by lifecycle_park, run again from the start (CONFIG is checked
 * anew: a rootfs or bind mount source may have gone meanwhile). */
static void create_again(struct req *r)
{
    struct w_error err;

    if (cmd_create(r, &err) < 0)
        req_fail(r, &err);
}

/* Does a teardown still running (destroy replied, destroy.sh at work) hold what this
 * create asks for by name: its handle, its /30, its network_address? */
static int held_by_teardown(const struct create_args *a)
{
    const char *addr = a->ct->network_address;
    size_t alen = strcspn(addr, "/");

    if (a->ct->handle[0] && ct_teardown_lookup(a->ct->handle))
        return 1;
    for (struct container *t = ct_teardown_first(); t; t = t->next)
        if (t->destroying == 1 && ((a->net_index >= 0 && t->net_index == a->net_index) ||
                                   (alen > 0 && strncmp(t->network_address, addr, alen) == 0 &&
                                    t->network_address[alen] == '/')))
            return 1;
    return 0;
}

/* destroy replies before destroy.sh ran (doc/protocol.md, Decisions): a create must not
 * fail for what a teardown still holds. 1 when r is parked (it runs again once the
 * teardown ended, or the entry's release delay passed), 0 to go on, -1 with err. */
static int create_wait(struct req *r, const struct create_args *a, int assigned,
                       struct w_error *err)
{
    long long now = loop_now_ms(), delay = -1;
    const char *why;

    if (assigned == 0) { /* what it names */
        if (held_by_teardown(a))
            why = "a teardown holds its handle or network";
        else if (a->net_index >= 0 && (delay = pool_delay_left(&net_pool, a->net_index, now)) >= 0)
            why = "its network is in its release delay";
        else
            return 0;
    } else if (ct_teardowns_running() > 0) { /* -2, -3: that pool had nothing free now */
        why = assigned == -2 ? "no network is free until a teardown ends"
                             : "no uid is free until a teardown ends";
    } else if (assigned == -2 && (delay = pool_delay_left(&net_pool, -1, now)) >= 0) {
        why = "every free network is in its release delay";
    } else {
        return -1;
    }
    log_msg(LOG_DEBUG, "create%s%s: waits (%s)", a->ct->handle[0] ? " of " : "", a->ct->handle,
            why);
    return lifecycle_park(r, delay, create_again, a->net_index, err) < 0 ? -1 : 1;
}

int cmd_create(struct req *r, struct w_error *err)
{
    struct create_args a = {ct_alloc(), -1, 0};
    struct json_object *cfg = req_nargs(r) > 1 ? req_arg(r, 1) : NULL;
    struct ct_op *op;
    int ret;

    if (a.ct == NULL)
        return w_err(err, "out of memory");
    a.ct->grace_time = g_cfg->server.container_grace_time;
    if (parse_create_config(cfg, &a, err) < 0) {
        ct_free(a.ct);
        return -1;
    }
    if ((ret = create_wait(r, &a, 0, err)) != 0) {
        ct_free(a.ct);
        return ret < 0 ? -1 : 0;
    }
    if (poolable(cfg) && create_from_pool(a.ct, r)) {
        ct_free(a.ct);
        return 0;
    }
    if ((ret = create_assign(a.ct, a.net_index, err)) < 0) {
        ret = ret < -1 ? create_wait(r, &a, ret, err) : -1;
        ct_free(a.ct);
        return ret < 0 ? -1 : 0;
    }
    ct_register(a.ct); /* born, as ct_alloc made it */
    ct_ref(a.ct, r);
    op = op_new(op_create, r);
    if (op == NULL) {
        lifecycle_remove(a.ct);
        return w_err(err, "out of memory");
    }
    op_submit(a.ct, op);
    return 0;
}

/* Each line "F1\tF2[\tF3]" of list (NULL: none) to fn, its fields split in place. */
static void each_line(const char *list, void (*fn)(char **f, int n, struct json_object *out),
                      struct json_object *out)
{
    char *copy = list ? strdup(list) : NULL, *save = NULL;

    for (char *l = copy ? strtok_r(copy, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        char *f[3] = {l, NULL, NULL};
        int n = 1;

        while (n < 3 && (f[n] = strchr(f[n - 1], '\t')) != NULL)
            *f[n]++ = '\0', n++;
        fn(f, n, out);
    }
    free(copy);
}

static void bind_info(char **f, int n, struct json_object *out)
{
    struct json_object *e = json_object_new_array(), *o = json_object_new_object();

    json_object_array_add(e, json_object_new_string(f[0]));
    json_object_array_add(e, json_object_new_string(n > 1 ? f[1] : ""));
    json_object_object_add(o, "mode", json_object_new_string(n > 2 ? f[2] : "rw"));
    json_object_array_add(e, o);
    json_object_array_add(out, e);
}

/* "DST\tmode=M[,size=N][,FLAG...]" to [DST, {"mode": M, "size": N, "options": [FLAG...]}]. */
static void tmpfs_info(char **f, int n, struct json_object *out)
{
    struct json_object *e = json_object_new_array(), *o = json_object_new_object(),
                       *flags = json_object_new_array();
    char *save = NULL;

    json_object_array_add(e, json_object_new_string(f[0]));
    for (char *opt = n > 1 ? strtok_r(f[1], ",", &save) : NULL; opt;
         opt = strtok_r(NULL, ",", &save)) {
        if (strncmp(opt, "mode=", 5) == 0)
            json_object_object_add(o, "mode", json_object_new_string(opt + 5));
        else if (strncmp(opt, "size=", 5) == 0)
            json_object_object_add(o, "size", json_object_new_int64(strtoll(opt + 5, NULL, 10)));
        else
            json_object_array_add(flags, json_object_new_string(opt));
    }
    json_object_object_add(o, "options", flags);
    json_object_array_add(e, o);
    json_object_array_add(out, e);
}

static void sysctl_info(char **f, int n, struct json_object *out)
{
    json_object_object_add(out, f[0], json_object_new_string(n > 1 ? f[1] : ""));
}

struct json_object *create_options_info(const struct container *ct)
{
    struct json_object *o = json_object_new_object(), *binds = json_object_new_array(),
                       *tmpfs = json_object_new_array(), *sysctls = json_object_new_object();

    each_line(ct->bind_mounts, bind_info, binds);
    each_line(ct->tmpfs_mounts, tmpfs_info, tmpfs);
    each_line(ct->sysctls, sysctl_info, sysctls);
    json_object_object_add(o, "bind_mounts", binds);
    json_object_object_add(o, "tmpfs_mounts", tmpfs);
    json_object_object_add(o, "sysctls", sysctls);
    json_object_object_add(o, "hostname",
                           json_object_new_string(ct->hostname[0] ? ct->hostname : ct->id));
    json_object_object_add(o, "read_only_root", json_object_new_boolean(ct->read_only_root));
    json_object_object_add(o, "network_address",
                           ct->network_address[0] ? json_object_new_string(ct->network_address)
                                                  : NULL);
    return o;
}
