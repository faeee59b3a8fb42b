/* Noticing a container's wshd die. wshd is not wardend's child (start.sh's wshd forks
 * the container's pid 1 and exits), so a pidfd in the loop tells us. Its death kills
 * every process of the container (pid 1 of its pid namespace); what that means for the
 * container (stopped, the event "wshd exited", its jobs ended) is lifecycle.c's, which
 * main hands in as the callback. */
#include "wshd_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "registry.h"
#include "util.h"
#include "wardend.h"

static void (*exit_cb)(struct container *ct);

void wshd_watch_init(void (*on_exit)(struct container *ct))
{
    exit_cb = on_exit;
}

static void on_wshd_exit(struct loop *loop, int fd, int mask, void *data)
{
    struct container *ct = data;

    (void)loop, (void)fd, (void)mask;
    ct_unwatch_wshd(ct);
    if (exit_cb)
        exit_cb(ct);
}

void ct_watch_wshd(struct container *ct)
{
    char path[PATH_MAX + 32], *text;
    struct w_error err;
    long pid;
    int fd;

    if (ct->wshd_fd >= 0)
        return;
    snprintf(path, sizeof(path), "%s/run/wshd.pid", ct->path);
    text = util_read_file(AT_FDCWD, path, 32, NULL, &err);
    if (text == NULL) {
        log_msg(LOG_WARNING, "container %s: not watching wshd: %s", ct->handle, err.msg);
        return;
    }
    pid = strtol(text, NULL, 10);
    free(text);
    if (pid <= 1) {
        log_msg(LOG_WARNING, "container %s: not watching wshd: bad pid in %s", ct->handle, path);
        return;
    }
    fd = util_pidfd_open((pid_t)pid, &err);
    if (fd < 0) {
        /* ENOSYS before Linux 5.3; ESRCH if it is already gone (then stop/destroy tell). */
        log_msg(LOG_WARNING, "container %s: not watching wshd: %s", ct->handle, err.msg);
        return;
    }
    if (loop_add_fd(g_loop, fd, LOOP_READ, on_wshd_exit, ct, &err) < 0) {
        log_msg(LOG_WARNING, "container %s: not watching wshd: %s", ct->handle, err.msg);
        close(fd);
        return;
    }
    ct->wshd_fd = fd;
}

void ct_unwatch_wshd(struct container *ct)
{
    if (ct->wshd_fd < 0)
        return;
    loop_del_fd(g_loop, ct->wshd_fd, LOOP_READ);
    close(ct->wshd_fd);
    ct->wshd_fd = -1;
}

int ct_kill_wshd(struct container *ct)
{
    if (ct->wshd_fd < 0)
        return -1;
    return (int)syscall(SYS_pidfd_send_signal, ct->wshd_fd, SIGKILL, NULL, 0) == 0 ? 0 : -1;
}
