/* Runs in wardend's loop. cgroup v1: an eventfd registered on memory.oom_control via
 * cgroup.event_control; the kernel signals it at every OOM of the cgroup (and when the
 * cgroup is removed). cgroup v2: inotify on memory.events, which the kernel modifies
 * at every event it counts. Either way a wake-up only says "look": the watch reads the
 * `oom_kill` counter and calls back only when it has grown, so a cgroup going away, a
 * memory.high event or a spurious wake-up never stop a container. v1 signals when the
 * cgroup goes under OOM, just before the killer picks its victim, so a wake-up that
 * finds the counter unchanged looks again a few times over the next half second. */
#include "oom.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cgroup.h"
#include "log.h"
#include "registry.h"
#include "util.h"
#include "wardend.h"

struct watch {
    struct container *ct;
    int fd;              /* eventfd (v1) or inotify (v2) */
    char file[PATH_MAX]; /* where oom_kill is counted */
    long long kills;     /* the count already reported */
    long long timer;     /* a look again after a wake-up, 0: none */
    int looks;           /* looks again since the last wake-up */
    struct watch *next;
};

static struct watch *watches;
static oom_cb *on_oom;

void oom_init(oom_cb *cb)
{
    on_oom = cb;
}

static struct watch *find(struct container *ct)
{
    for (struct watch *w = watches; w; w = w->next)
        if (w->ct == ct)
            return w;
    return NULL;
}

/* The `oom_kill N` line of memory.oom_control (v1) or memory.events (v2); -1 when the
 * file cannot be read (the cgroup is gone) or has no such line (a kernel before 4.13). */
static long long read_kills(const char *file)
{
    struct w_error err;
    char *text = util_read_file(AT_FDCWD, file, 4096, NULL, &err), *p;
    long long n = -1;

    if (text == NULL)
        return -1;
    for (p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, "oom_kill ", 9) == 0) {
            n = atoll(p + 9);
            break;
        }
    free(text);
    return n;
}

static void look(struct watch *w);

static void on_look_again(struct loop *loop, long long id, void *data)
{
    struct watch *w = data;

    (void)loop, (void)id;
    w->timer = 0;
    look(w);
}

static void on_event(struct loop *loop, int fd, int mask, void *data)
{
    struct watch *w = data;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    (void)loop, (void)mask;
    while (read(fd, buf, sizeof(buf)) > 0)
        ; /* eventfd: one 8-byte count; inotify: events; either way, drained */
    w->looks = 0;
    if (w->timer) {
        loop_del_timer(g_loop, w->timer);
        w->timer = 0;
    }
    look(w);
}

static void look(struct watch *w)
{
    static const int again_ms[] = {10, 40, 150, 300};
    struct container *ct = w->ct;
    long long n;

    n = read_kills(w->file);
    if (n < 0) {
        /* The cgroup went away under us (destroy, or by hand): nothing left to watch. */
        log_msg(LOG_DEBUG, "container %s: OOM watch ends: %s unreadable", ct->handle, w->file);
        oom_unwatch(ct);
        return;
    }
    if (n <= w->kills) {
        if (w->looks < (int)(sizeof(again_ms) / sizeof(again_ms[0])))
            w->timer = loop_add_timer(g_loop, again_ms[w->looks++], on_look_again, w);
        return;
    }
    log_msg(LOG_WARNING, "container %s: out of memory: the kernel killed %lld process(es)",
            ct->handle, n - w->kills);
    w->kills = n;
    if (on_oom)
        on_oom(ct); /* may unwatch: w is not touched after this */
}

/* v1: eventfd + cgroup.event_control. The registration holds its own reference to
 * memory.oom_control, so that descriptor is closed once written. */
static int arm_v1(struct container *ct, struct watch *w, struct w_error *err)
{
    char ctl[PATH_MAX], line[64];
    w_autofd ofd = -1;
    w_autofd cfd = -1;
    int efd, n;

    if (cgroup_file(ct->id, "memory", "cgroup.event_control", ctl, sizeof(ctl)) < 0)
        return w_err(err, "cgroup path too long");
    ofd = open(w->file, O_RDONLY | O_CLOEXEC);
    if (ofd < 0)
        return w_errno(err, errno, "open %s", w->file);
    cfd = open(ctl, O_WRONLY | O_CLOEXEC);
    if (cfd < 0)
        return w_errno(err, errno, "open %s", ctl);
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        return w_errno(err, errno, "eventfd");
    n = snprintf(line, sizeof(line), "%d %d", efd, ofd);
    if (write(cfd, line, (size_t)n) != n) {
        int e = errno;
        close(efd);
        return w_errno(err, e, "write to %s", ctl);
    }
    w->fd = efd;
    return 0;
}

static int arm_v2(struct watch *w, struct w_error *err)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

    if (fd < 0)
        return w_errno(err, errno, "inotify_init1");
    if (inotify_add_watch(fd, w->file, IN_MODIFY) < 0) {
        int e = errno;
        close(fd);
        return w_errno(err, e, "inotify on %s", w->file);
    }
    w->fd = fd;
    return 0;
}

int oom_watch(struct container *ct, int since_start, struct w_error *err)
{
    struct watch *w;
    int v1;

    if (find(ct))
        return 0;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return w_err(err, "out of memory");
    w->ct = ct;
    w->fd = -1;
    if (cgroup_file(ct->id, "memory", "memory.oom_control", w->file, sizeof(w->file)) < 0) {
        free(w);
        return w_err(err, "cgroup path too long");
    }
    v1 = access(w->file, F_OK) == 0;
    if (!v1 && cgroup_file(ct->id, "memory", "memory.events", w->file, sizeof(w->file)) < 0) {
        free(w);
        return w_err(err, "cgroup path too long");
    }
    /* Read the count before arming: a kill in between is then seen at the first event. */
    w->kills = since_start ? 0 : read_kills(w->file);
    if (w->kills < 0)
        w->kills = 0;
    if ((v1 ? arm_v1(ct, w, err) : arm_v2(w, err)) < 0 ||
        loop_add_fd(g_loop, w->fd, LOOP_READ, on_event, w, err) < 0) {
        if (w->fd >= 0)
            close(w->fd);
        free(w);
        return w_err_prefix(err, "OOM watch of container %s", ct->handle);
    }
    w->next = watches;
    watches = w;
    /* A kill counted already (since_start, after a restart) is reported now. */
    if (read_kills(w->file) > w->kills)
        look(w);
    return 0;
}

void oom_unwatch(struct container *ct)
{
    for (struct watch **p = &watches; *p; p = &(*p)->next) {
        struct watch *w = *p;
        if (w->ct != ct)
            continue;
        *p = w->next;
        loop_del_fd(g_loop, w->fd, LOOP_READ);
        if (w->timer)
            loop_del_timer(g_loop, w->timer);
        close(w->fd);
        free(w);
        return;
    }
}
