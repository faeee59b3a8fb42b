/* Capabilities and seccomp for the container's processes (see confine.h). */
#include "config.h"

#include "confine.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "seccomp_filter.h" /* generated in the build tree */

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

/* The capabilities of wshd's bounding set, read once: a bounding set only ever loses
 * capabilities, so what was in it then is all a child may have to drop. -1: not read. */
static int g_bset[128], g_nbset = -1;

void confine_prepare_child(void)
{
    int r;

    if (g_nbset >= 0)
        return;
    g_nbset = 0;
    for (int n = 0; n < 128 && (r = prctl(PR_CAPBSET_READ, n, 0, 0, 0)) >= 0; n++)
        if (r == 1)
            g_bset[g_nbset++] = n;
}

int confine_child_caps(uid_t uid)
{
    if (uid == 0)
        return 0;
    if (g_nbset < 0) { /* not prepared: every capability the kernel knows */
        for (int n = 0; prctl(PR_CAPBSET_READ, n, 0, 0, 0) >= 0; n++)
            if (prctl(PR_CAPBSET_DROP, n, 0, 0, 0) < 0)
                return -1;
        return 0;
    }
    for (int i = 0; i < g_nbset; i++)
        if (prctl(PR_CAPBSET_DROP, g_bset[i], 0, 0, 0) < 0)
            return -1;
    return 0;
}

/* ---- seccomp ----
 * The filter is compiled in (seccomp_filter.h above): seccomp-gen (src/wshd/seccomp_gen.c,
 * libseccomp) wrote it at build time; what it refuses is listed there and in
 * doc/security.md. */

int confine_seccomp(struct w_error *err)
{
    static const struct sock_fprog prog = {
        .len = sizeof(seccomp_filter) / sizeof(seccomp_filter[0]),
        .filter = (struct sock_filter *)seccomp_filter,
    };
    long r;

    /* TSYNC: on every thread wshd might have, so no thread clones an unfiltered job. */
    r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
    if (r < 0)
        return w_errno(err, errno, "load the seccomp filter");
    if (r > 0)
        return w_err(err, "load the seccomp filter: thread %ld has another filter", r);
    return 0;
}
