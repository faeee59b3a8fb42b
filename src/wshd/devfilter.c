/* The device allow-list as a cgroup v2 BPF program (see devfilter.h), with the raw
 * bpf() system call: no libbpf for a dozen instructions. */
#include "config.h"

#include "devfilter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdint.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One rule: type (BPF_DEVCG_DEV_CHAR/BLOCK), major and minor (-1: any), access. */
struct dev_rule {
    int type, major, minor, access;
};

#define RWM (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)
/* lib/cgroup.sh's cg_v1_devices, the same list. */
static const struct dev_rule rules[] = {
    {BPF_DEVCG_DEV_CHAR, 1, 3, RWM},    /* null */
    {BPF_DEVCG_DEV_CHAR, 1, 5, RWM},    /* zero */
    {BPF_DEVCG_DEV_CHAR, 1, 7, RWM},    /* full */
    {BPF_DEVCG_DEV_CHAR, 1, 8, RWM},    /* random */
    {BPF_DEVCG_DEV_CHAR, 1, 9, RWM},    /* urandom */
    {BPF_DEVCG_DEV_CHAR, 5, 0, RWM},    /* tty */
    {BPF_DEVCG_DEV_CHAR, 5, 2, RWM},    /* ptmx */
    {BPF_DEVCG_DEV_CHAR, 136, -1, RWM}, /* pts */
    {BPF_DEVCG_DEV_CHAR, -1, -1, BPF_DEVCG_ACC_MKNOD},
    {BPF_DEVCG_DEV_BLOCK, -1, -1, BPF_DEVCG_ACC_MKNOD},
};

#define INSN(c, d, s, o, i)                                                                        \
    ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define MOV_X(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_K(d, k) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, k)
#define AND_K(d, k) INSN(BPF_ALU64 | BPF_AND | BPF_K, d, 0, 0, k)
#define RSH_K(d, k) INSN(BPF_ALU64 | BPF_RSH | BPF_K, d, 0, 0, k)
#define JNE_K(d, k, o) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, k)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

#define MAX_INSNS (6 + 8 * (sizeof(rules) / sizeof(rules[0])) + 2)

/* r2 = type, r3 = access, r4 = major, r5 = minor (struct bpf_cgroup_dev_ctx); then per
 * rule: every test that fails jumps to the next rule; all pass: return 1 (allow).
 * Past the last rule: return 0 (EPERM). */
static size_t build(struct bpf_insn *p)
{
    size_t n = 0;

    p[n++] = LDX_W(2, 1, 0);
    p[n++] = AND_K(2, 0xffff);
    p[n++] = LDX_W(3, 1, 0);
    p[n++] = RSH_K(3, 16);
    p[n++] = LDX_W(4, 1, 4);
    p[n++] = LDX_W(5, 1, 8);
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const struct dev_rule *r = &rules[i];
        struct bpf_insn blk[8];
        size_t k = 0;

        blk[k++] = JNE_K(2, r->type, 0);
        if (r->major >= 0)
            blk[k++] = JNE_K(4, r->major, 0);
        if (r->minor >= 0)
            blk[k++] = JNE_K(5, r->minor, 0);
        if (r->access != RWM) { /* every access asked for must be in the rule's */
            blk[k++] = MOV_X(6, 3);
            blk[k++] = AND_K(6, ~r->access & RWM);
            blk[k++] = JNE_K(6, 0, 0);
        }
        blk[k++] = MOV_K(0, 1);
        blk[k++] = EXIT();
        for (size_t j = 0; j < k; j++) {
            if (blk[j].code == (BPF_JMP | BPF_JNE | BPF_K))
                blk[j].off = (int16_t)(k - j - 1); /* to the first insn after the block */
            p[n++] = blk[j];
        }
    }
    p[n++] = MOV_K(0, 0);
    p[n++] = EXIT();
    return n;
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int load_prog(struct w_error *err)
{
    struct bpf_insn insns[MAX_INSNS];
    static char log[4096];
    union bpf_attr a;
    int fd;

    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insn_cnt = (uint32_t)build(insns);
    a.insns = (uint64_t)(uintptr_t)insns;
    a.license = (uint64_t)(uintptr_t) "GPL";
    memcpy(a.prog_name, "warden_devices", sizeof("warden_devices"));
    fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
    if (fd < 0) {
        int e = errno;

        /* Again with the verifier's log, for the message. */
        a.log_buf = (uint64_t)(uintptr_t)log;
        a.log_size = sizeof(log);
        a.log_level = 1;
        if ((fd = (int)sys_bpf(BPF_PROG_LOAD, &a)) >= 0)
            return fd;
        size_t len = strnlen(log, sizeof(log));

        if (len > 0) /* the verifier's verdict is its last line */
            return w_errno(err, e, "bpf BPF_PROG_LOAD (verifier: %s)",
                           log + (len > 300 ? len - 300 : 0));
        return w_errno(err, e, "bpf BPF_PROG_LOAD");
    }
    return fd;
}

/* Detach the device programs attached to the cgroup itself (a stale filter of an
 * earlier cg_create: setup tears down what it finds). */
static int detach_old(int cg, const char *dir, struct w_error *err)
{
    uint32_t ids[64];
    union bpf_attr a;

    memset(&a, 0, sizeof(a));
    a.query.target_fd = (uint32_t)cg;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (uint64_t)(uintptr_t)ids;
    a.query.prog_cnt = sizeof(ids) / sizeof(ids[0]);
    if (sys_bpf(BPF_PROG_QUERY, &a) < 0)
        return w_errno(err, errno, "bpf BPF_PROG_QUERY %s", dir);
    for (uint32_t i = 0; i < a.query.prog_cnt; i++) {
        union bpf_attr g, d;
        int fd;

        memset(&g, 0, sizeof(g));
        g.prog_id = ids[i];
        if ((fd = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &g)) < 0)
            continue; /* gone meanwhile */
        memset(&d, 0, sizeof(d));
        d.target_fd = (uint32_t)cg;
        d.attach_bpf_fd = (uint32_t)fd;
        d.attach_type = BPF_CGROUP_DEVICE;
        if (sys_bpf(BPF_PROG_DETACH, &d) < 0 && errno != ENOENT) {
            int e = errno;
            close(fd);
            return w_errno(err, e, "bpf BPF_PROG_DETACH %s", dir);
        }
        close(fd);
    }
    return 0;
}

int devfilter_attach(const char *dir, struct w_error *err)
{
    struct statfs sf;
    union bpf_attr a;
    int cg, prog, rc = -1;

    if ((cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return w_errno(err, errno, "open %s", dir);
    if (fstatfs(cg, &sf) < 0) {
        w_errno(err, errno, "statfs %s", dir);
        goto out;
    }
    if (sf.f_type != CGROUP2_SUPER_MAGIC) {
        rc = 1;
        goto out;
    }
    if (detach_old(cg, dir, err) < 0 || (prog = load_prog(err)) < 0)
        goto out;
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)cg;
    a.attach_bpf_fd = (uint32_t)prog;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI; /* beside the programs of parents (systemd's) */
    if (sys_bpf(BPF_PROG_ATTACH, &a) < 0)
        w_errno(err, errno, "bpf BPF_PROG_ATTACH %s", dir);
    else
        rc = 0;
    close(prog);
out:
    close(cg);
    return rc;
}
