/* Runs in wardend's loop. `limit` requests: checks in PROTOCOL.md's order (the name,
 * the number of values, the values, then the container's state), reads answered from
 * ct->limits at once (a limit never set reads as 0), writes queued as an op of the
 * container so they never interleave with its other hooks. Also create's `limits`
 * and `disk_size_mb`, and info's disk and bandwidth figures (cgroup.c has the rest),
 * read straight from the kernel (no process per info). */
#include "limits.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "hook.h"
#include "jsonh.h"
#include "lifecycle.h"
#include "log.h"
#include "oom.h"
#include "registry.h"
#include "req.h"
#include "snapshot.h"
#include "util.h"

#define MIB (1024LL * 1024)
#define MAX_BYTES (1LL << 60) /* mem: 1 EiB */
#define MAX_DISK (1LL << 44)  /* 16 TiB: a size in MiB fits an int */
#define MAX_RATE (1LL << 40)  /* bytes/s */
#define MAX_BURST (1LL << 30) /* bytes: tbf keeps the burst as a 32-bit time */
#define MAX_CPUS 4096
#define CPU_SHARES_MIN 2
#define CPU_SHARES_MAX 262144

enum limit_kind { L_MEM, L_DISK, L_CPU, L_CPUSET, L_BANDWIDTH };

static const char *const kind_names[] = {"mem", "disk", "cpu", "cpuset", "bandwidth"};

/* One parsed request: which limit, and its value(s) when it is a write. */
struct limit_req {
    enum limit_kind kind;
    int set;
    long long v[2];
    char cpuset[256];
};

/* A limit write in the container's op queue. op must stay first: op_done frees the
 * op by its address, which is then this whole struct. */
struct limit_op {
    struct ct_op op;
    struct limit_req lr;
};

/* ---- values ---- */

/* A non-negative integer, or a string of digits (the original's REPL sends those),
 * at most max. */
static int uint_value(struct json_object *v, long long max, long long *out)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t n = json_object_get_int64(v);
        /* json-c keeps integers above INT64_MAX as unsigned: get_int64 clamps them. */
        if (n < 0 || n > max)
            return -1;
        *out = n;
        return 0;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        size_t len = strlen(s);
        if (len == 0 || len > 18 || strspn(s, "0123456789") != len)
            return -1;
        *out = strtoll(s, NULL, 10);
        return *out <= max ? 0 : -1;
    }
    return -1;
}

/* Parse a CPU list ("0,2-3") into bits; -1 when it is not one. */
static int cpulist_parse(const char *s, unsigned char *bits)
{
    memset(bits, 0, MAX_CPUS / 8);
    if (*s == '\0')
        return -1;
    while (*s) {
        char *end;
        long a, b;
        if (*s < '0' || *s > '9')
            return -1;
        a = b = strtol(s, &end, 10);
        if (*end == '-') {
            s = end + 1;
            if (*s < '0' || *s > '9')
                return -1;
            b = strtol(s, &end, 10);
        }
        if (a < 0 || b < a || b >= MAX_CPUS)
            return -1;
        for (long c = a; c <= b; c++)
            bits[c / 8] |= (unsigned char)(1u << (c % 8));
        if (*end == ',' && end[1] != '\0')
            end++;
        else if (*end != '\0')
            return -1;
        s = end;
    }
    return 0;
}

/* LIST must name online CPUs only (sysfs's list of them, the same on v1 and v2). */
static int cpuset_check(const char *list, struct w_error *err)
{
    unsigned char want[MAX_CPUS / 8], online[MAX_CPUS / 8];
    char *text;
    size_t len;

    if (strlen(list) >= sizeof(((struct limit_req *)0)->cpuset) || cpulist_parse(list, want) < 0)
        return w_err(err, "Invalid limit");
    text = util_read_file(AT_FDCWD, "/sys/devices/system/cpu/online", 4096, &len, err);
    if (text == NULL)
        return w_err_prefix(err, "cannot tell the online CPUs");
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = '\0';
    if (cpulist_parse(text, online) < 0) {
        w_err(err, "cannot parse /sys/devices/system/cpu/online: '%s'", text);
        free(text);
        return -1;
    }
    for (int c = 0; c < MAX_CPUS; c++)
        if ((want[c / 8] & (1u << (c % 8))) && !(online[c / 8] & (1u << (c % 8)))) {
            w_err(err, "Invalid limit: CPU %d is not online (online: %s)", c, text);
            free(text);
            return -1;
        }
    free(text);
    return 0;
}

static int kind_of(const char *name)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
        if (strcmp(name, kind_names[i]) == 0)
            return (int)i;
    return -1;
}

/* Check one limit's value(s); vals[0..n) are borrowed. */
static int check_values(struct limit_req *lr, struct json_object *const *vals, int n,
                        struct w_error *err)
{
    switch (lr->kind) {
    case L_MEM:
    case L_DISK:
        if (uint_value(vals[0], lr->kind == L_MEM ? MAX_BYTES : MAX_DISK, &lr->v[0]) < 0)
            return w_err(err, "Invalid limit");
        if (lr->kind == L_DISK && lr->v[0] < MIB)
            return w_err(err, "Invalid limit: the disk must be at least 1 MiB (%lld bytes)", MIB);
        return 0;
    case L_CPU:
        if (uint_value(vals[0], LLONG_MAX, &lr->v[0]) < 0 || lr->v[0] < CPU_SHARES_MIN ||
            lr->v[0] > CPU_SHARES_MAX)
            return w_err(err, "Invalid limit");
        return 0;
    case L_CPUSET:
        if (!json_object_is_type(vals[0], json_type_string))
            return w_err(err, "Invalid limit");
        if (cpuset_check(json_object_get_string(vals[0]), err) < 0)
            return -1;
        strlcpy(lr->cpuset, json_object_get_string(vals[0]), sizeof(lr->cpuset));
        return 0;
    case L_BANDWIDTH:
        if (n != 2 || uint_value(vals[0], MAX_RATE, &lr->v[0]) < 0 ||
            uint_value(vals[1], MAX_BURST, &lr->v[1]) < 0)
            return w_err(err, "Invalid limit");
        if (lr->v[0] > 0 && lr->v[1] == 0)
            return w_err(err, "Invalid limit: the burst must be positive when the rate is");
        return 0;
    }
    return w_err(err, "Invalid limit");
}

/* ---- reads and writes ---- */

static struct json_object *bandwidth_object(long long rate, long long burst)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "rate", json_object_new_int64(rate));
    json_object_object_add(o, "burst", json_object_new_int64(burst));
    return o;
}

/* The value as a read replies it: what was set, or the kind's zero. */
static struct json_object *current_value(struct container *ct, enum limit_kind kind)
{
    struct json_object *v = jsonh_get(ct->limits, kind_names[kind]);

    if (v)
        return json_object_get(v);
    switch (kind) {
    case L_CPUSET:
        return json_object_new_string("");
    case L_BANDWIDTH:
        return bandwidth_object(0, 0);
    default:
        return json_object_new_int64(0);
    }
}

static void record_into(struct json_object *limits, const struct limit_req *lr)
{
    struct json_object *v;

    switch (lr->kind) {
    case L_CPUSET:
        v = json_object_new_string(lr->cpuset);
        break;
    case L_BANDWIDTH:
        v = bandwidth_object(lr->v[0], lr->v[1]);
        break;
    default:
        v = json_object_new_int64(lr->v[0]);
        break;
    }
    json_object_object_add(limits, kind_names[lr->kind], v);
}

static void limit_done(void *data, const char *error)
{
    struct container *ct = data;
    struct limit_op *lop = (struct limit_op *)ct->ops;

    if (error) {
        op_error(&lop->op, error);
    } else {
        record_into(ct->limits, &lop->lr);
        snapshot_save(ct);
        op_reply(&lop->op, json_object_new_string("ok"));
    }
    op_done(ct);
}

/* Bytes in use on the container's disk image (statfs of its host-side mount). */
static int disk_usage(struct container *ct, long long *bytes, long long *inodes,
                      struct w_error *err)
{
    char path[PATH_MAX + 16];
    struct statfs st;

    snprintf(path, sizeof(path), "%s/overlay", ct->path);
    if (statfs(path, &st) < 0)
        return w_errno(err, errno, "statfs %s", path);
    *bytes = (long long)(st.f_blocks - st.f_bfree) * (long long)st.f_frsize;
    *inodes = (long long)(st.f_files - st.f_ffree);
    return 0;
}

/* A disk write can only grow an existing image: say precisely why otherwise. */
static int disk_precheck(struct container *ct, long long want, struct w_error *err)
{
    struct json_object *cur = jsonh_get(ct->limits, "disk");
    long long have, used, inodes;

    if (cur == NULL)
        return w_err(err,
                     "container %s has no disk image: ask for one at create "
                     "(disk_size_mb or limits.disk)",
                     ct->handle);
    have = (json_object_get_int64(cur) + MIB - 1) / MIB * MIB;
    if ((want + MIB - 1) / MIB * MIB >= have)
        return 0;
    if (disk_usage(ct, &used, &inodes, err) < 0)
        return -1;
    if (want < used)
        return w_err(err, "cannot shrink the disk to %lld bytes: %lld bytes are in use", want,
                     used);
    return w_err(err,
                 "cannot shrink the disk of a running container from %lld to %lld bytes "
                 "(ext4 grows online only; %lld bytes are in use)",
                 have, want, used);
}

static void op_limit(struct container *ct, struct ct_op *op)
{
    struct limit_op *lop = (struct limit_op *)op;
    struct limit_req *lr = &lop->lr;
    char a[2][32];
    const char *argv[5] = {kind_names[lr->kind], a[0], NULL, NULL, NULL};
    struct w_error err;

    snprintf(a[0], sizeof(a[0]), "%lld", lr->v[0]);
    snprintf(a[1], sizeof(a[1]), "%lld", lr->v[1]);
    if (lr->kind == L_CPUSET)
        argv[1] = lr->cpuset;
    if (lr->kind == L_BANDWIDTH)
        argv[2] = a[1];
    /* Armed before the limit is written: an OOM at once is not missed. */
    if ((lr->kind == L_MEM && lr->v[0] > 0 && oom_watch(ct, 0, &err) < 0) ||
        (lr->kind == L_DISK && disk_precheck(ct, lr->v[0], &err) < 0) ||
        hook_run("limit.sh", argv, ct->env, ct->log_path, limit_done, ct, &err) < 0) {
        op_error(op, err.msg);
        op_done(ct);
    }
}

/* The request's limit and values, checked (no state needed): 0, or -1 with err. */
static int parse_request(struct req *r, struct limit_req *lr, struct w_error *err)
{
    struct json_object *name = req_arg(r, 2), *vals[2];
    int nvals = (int)req_nargs(r) - 3, kind;

    memset(lr, 0, sizeof(*lr));
    if (!json_object_is_type(name, json_type_string) ||
        (kind = kind_of(json_object_get_string(name))) < 0)
        return w_err(err, "Unknown limit %s",
                     json_object_is_type(name, json_type_string) ? json_object_get_string(name)
                                                                 : jsonh_str(name, NULL));
    lr->kind = (enum limit_kind)kind;
    if (nvals > (kind == L_BANDWIDTH ? 2 : 1) || (kind == L_BANDWIDTH && nvals == 1))
        return w_err(err, "invalid number of arguments");
    for (int i = 0; i < nvals; i++)
        vals[i] = req_arg(r, (size_t)(3 + i));
    if (nvals > 0 && check_values(lr, vals, nvals, err) < 0)
        return -1;
    lr->set = nvals > 0;
    return 0;
}

int limits_check(struct req *r, struct w_error *err)
{
    struct limit_req lr;

    return parse_request(r, &lr, err);
}

int cmd_limit(struct req *r, struct container *ct, struct w_error *err)
{
    struct limit_op *lop;
    struct limit_req lr;

    if (parse_request(r, &lr, err) < 0)
        return -1;
    if (!lr.set) {
        req_reply(r, current_value(ct, lr.kind));
        return 0;
    }
    lop = calloc(1, sizeof(*lop));
    if (lop == NULL)
        return w_err(err, "out of memory");
    lop->op.run = op_limit;
    lop->op.req = r;
    lop->lr = lr;
    op_submit(ct, &lop->op);
    return 0;
}

/* ---- create ---- */

int limits_parse_create(struct json_object *limits, long long disk_size_mb,
                        struct json_object *ct_limits, struct w_error *err)
{
    long long disk = disk_size_mb > 0 ? disk_size_mb * MIB : 0;

    if (disk_size_mb > MAX_DISK / MIB)
        return w_err(err, "Expected `disk_size_mb` to hold a non-negative integer of at most %lld.",
                     MAX_DISK / MIB);
    if (limits != NULL && !json_object_is_type(limits, json_type_object))
        return w_err(err, "Expected `limits` to hold an object.");
    if (limits != NULL) {
        json_object_object_foreach(limits, key, val)
        {
            struct limit_req lr = {0};
            struct json_object *vals[2] = {val, NULL};
            int kind = kind_of(key), n = 1;

            if (kind < 0)
                return w_err(err, "Unknown limit %s", key);
            lr.kind = (enum limit_kind)kind;
            if (kind == L_BANDWIDTH) {
                if (!json_object_is_type(val, json_type_object) ||
                    json_object_object_length(val) != 2 ||
                    !json_object_object_get_ex(val, "rate", &vals[0]) ||
                    !json_object_object_get_ex(val, "burst", &vals[1]))
                    return w_err(err, "Expected `limits.bandwidth` to hold "
                                      "{\"rate\":BYTES_PER_S,\"burst\":BYTES}.");
                n = 2;
            }
            if (check_values(&lr, vals, n, err) < 0)
                return w_err_prefix(err, "`limits.%s`", key);
            if (kind == L_DISK) {
                if (disk_size_mb > 0 && (lr.v[0] + MIB - 1) / MIB != disk_size_mb)
                    return w_err(err,
                                 "Expected `disk_size_mb` (%lld MiB) and `limits.disk` "
                                 "(%lld bytes) to agree.",
                                 disk_size_mb, lr.v[0]);
                disk = lr.v[0];
                continue;
            }
            record_into(ct_limits, &lr);
        }
    }
    if (disk > 0)
        json_object_object_add(ct_limits, "disk", json_object_new_int64(disk));
    return 0;
}

int limits_create_args(struct container *ct, const char **argv, char buf[][32])
{
    static const enum limit_kind order[] = {L_MEM, L_CPU, L_CPUSET, L_BANDWIDTH};
    int n = 0, b = 0;

    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        struct json_object *v = jsonh_get(ct->limits, kind_names[order[i]]);
        if (v == NULL)
            continue;
        argv[n++] = kind_names[order[i]];
        if (order[i] == L_CPUSET) {
            argv[n++] = json_object_get_string(v);
        } else if (order[i] == L_BANDWIDTH) {
            snprintf(buf[b], 32, "%lld", jsonh_get_int(v, "rate", 0));
            argv[n++] = buf[b++];
            snprintf(buf[b], 32, "%lld", jsonh_get_int(v, "burst", 0));
            argv[n++] = buf[b++];
        } else {
            snprintf(buf[b], 32, "%lld", (long long)json_object_get_int64(v));
            argv[n++] = buf[b++];
        }
    }
    argv[n] = NULL;
    return n;
}

/* ---- info ---- */

void limits_info(struct container *ct, struct json_object *info, struct json_object *stats)
{
    struct json_object *bw = jsonh_get(ct->limits, "bandwidth");
    long long used, inodes;
    struct w_error err;

    if (jsonh_get(ct->limits, "disk") && disk_usage(ct, &used, &inodes, &err) == 0) {
        struct json_object *ds = json_object_new_object();
        json_object_object_add(ds, "bytes_used", json_object_new_int64(used));
        json_object_object_add(ds, "inodes_used", json_object_new_int64(inodes));
        json_object_object_add(info, "disk_stat", ds);
        json_object_object_add(stats, "disk_used_B", json_object_new_int64(used));
        json_object_object_add(stats, "disk_inodes_used", json_object_new_int64(inodes));
    }
    if (bw) {
        static const char *const keys[] = {"in_rate", "in_burst", "out_rate", "out_burst"};
        struct json_object *bs = json_object_new_object();
        for (int i = 0; i < 4; i++) {
            long long v = jsonh_get_int(bw, i % 2 ? "burst" : "rate", 0);
            json_object_object_add(bs, keys[i], json_object_new_int64(v));
            char flat[32];
            snprintf(flat, sizeof(flat), "bandwidth_%s", keys[i]);
            json_object_object_add(stats, flat, json_object_new_int64(v));
        }
        json_object_object_add(info, "bandwidth_stat", bs);
    }
}
