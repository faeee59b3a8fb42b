/* Capabilities and seccomp for the container's processes (see confine.h). */
#include "config.h"

#include "confine.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"

int confine_bounding_set(uint64_t keep, struct w_error *err)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];

    /* PR_CAPBSET_READ fails with EINVAL past the kernel's last capability. */
    for (int n = 0; prctl(PR_CAPBSET_READ, n, 0, 0, 0) >= 0; n++) {
        if (n < 64 && (keep & (1ULL << n)))
            continue;
        if (prctl(PR_CAPBSET_DROP, n, 0, 0, 0) < 0)
            return w_errno(err, errno, "drop capability %s from the bounding set",
                           caps_name(n) ? caps_name(n) : "?");
    }
    /* A root job gains inheritable | bounding at exec, and ambient always: empty both. */
    if (syscall(SYS_capget, &h, d) < 0)
        return w_errno(err, errno, "capget");
    d[0].inheritable = d[1].inheritable = 0;
    if (syscall(SYS_capset, &h, d) < 0)
        return w_errno(err, errno, "capset (empty inheritable set)");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return w_errno(err, errno, "prctl PR_CAP_AMBIENT_CLEAR_ALL");
    return 0;
}

int confine_child_caps(uid_t uid)
{
    if (uid == 0)
        return 0;
    for (int n = 0; prctl(PR_CAPBSET_READ, n, 0, 0, 0) >= 0; n++)
        if (prctl(PR_CAPBSET_DROP, n, 0, 0, 0) < 0)
            return -1;
    return 0;
}

/* ---- seccomp ----
 * Docker's default profile is an allow-list; this is the deny-list of what that
 * profile refuses to a container without extra capabilities, so that a kernel bug in
 * one of these is not reachable from a container even by its root. Every entry fails
 * with EPERM, as in Docker; clone3 fails with ENOSYS so that libc falls back to clone,
 * whose flags the filter can see. A name the architecture lacks is skipped. */
static const char *const denied[] = {
    /* kernel and modules */
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "iopl",
    "ioperm",
    "uselib",
    "_sysctl",
    "sysfs",
    "ustat",
    "vm86",
    "vm86old",
    "lookup_dcookie",
    "nfsservctl",
    "quotactl",
    "quotactl_fd",
    "afs_syscall",
    /* keys, bpf, perf, userfaultfd, file handles, io_uring */
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    /* mounts and namespaces */
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "setns",
    /* clocks */
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    "clock_adjtime",
    "clock_adjtime64",
};

static struct sock_fprog g_prog; /* built once; the filter of every job */
static char g_failed[sizeof(((struct w_error *)0)->msg)]; /* why it could not be */

static int add_rules(scmp_filter_ctx ctx, struct w_error *err)
{
    struct scmp_arg_cmp newuser = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER);
    int rc;

    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);

        if (nr == __NR_SCMP_ERROR)
            continue;
        if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0)) < 0 && rc != -EDOM)
            return w_errno(err, -rc, "seccomp rule for %s", denied[i]);
    }
    /* New user namespaces: where unprivileged users get every capability back. */
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1, newuser)) < 0 ||
        (rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, newuser)) < 0)
        return w_errno(err, -rc, "seccomp rule for unshare/clone CLONE_NEWUSER");
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0)
        return w_errno(err, -rc, "seccomp rule for clone3");
    return 0;
}

/* The filter as BPF in memory: libseccomp exports only to a descriptor. */
static int export_prog(scmp_filter_ctx ctx, struct w_error *err)
{
    struct stat st;
    void *buf;
    int fd = memfd_create("wshd-seccomp", MFD_CLOEXEC), rc;

    if (fd < 0)
        return w_errno(err, errno, "memfd_create");
    if ((rc = seccomp_export_bpf(ctx, fd)) < 0) {
        close(fd);
        return w_errno(err, -rc, "seccomp_export_bpf");
    }
    if (fstat(fd, &st) < 0 || st.st_size == 0 || st.st_size % sizeof(struct sock_filter) ||
        (buf = malloc((size_t)st.st_size)) == NULL) {
        close(fd);
        return w_err(err, "seccomp filter: cannot read it back");
    }
    if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
        int e = errno;
        free(buf);
        close(fd);
        return w_errno(err, e, "read the seccomp filter");
    }
    close(fd);
    g_prog.len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
    g_prog.filter = buf;
    return 0;
}

int confine_seccomp_build(struct w_error *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = -1;

    if (ctx == NULL) {
        w_err(err, "seccomp_init failed");
        strlcpy(g_failed, err->msg, sizeof(g_failed));
        return -1;
    }
    /* 32-bit and x32 programs get the same filter instead of being killed. */
    if (seccomp_arch_native() == SCMP_ARCH_X86_64 &&
        ((rc = seccomp_arch_add(ctx, SCMP_ARCH_X86)) < 0 ||
         (rc = seccomp_arch_add(ctx, SCMP_ARCH_X32)) < 0)) {
        w_errno(err, -rc, "seccomp_arch_add");
        rc = -1;
        goto out;
    }
    /* We set no_new_privs ourselves where we want it (unprivileged jobs). */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    rc = add_rules(ctx, err) < 0 ? -1 : export_prog(ctx, err);
out:
    seccomp_release(ctx);
    if (rc < 0)
        strlcpy(g_failed, err->msg, sizeof(g_failed));
    return rc;
}

int confine_seccomp_check(struct w_error *err)
{
    if (g_failed[0] != '\0')
        return w_err(err, "the seccomp filter could not be built: %s", g_failed);
    return 0;
}

int confine_child_seccomp(void)
{
    if (g_prog.filter == NULL)
        return 0;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &g_prog);
}
