/* Unit tests for the select() event loop (src/lib/loop.c): timer order and deletion,
 * fd callbacks and their removal, the FD_SETSIZE guard, paused fds, loop_stop and signals as fd
 * events. Every loop_run that waits for an event also has a 5 s guard timer, only so
 * that a broken loop fails the test instead of hanging it; no result depends on timing. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "loop.h"
#include "tap.h"

#define GUARD_MS 5000

static char order[64]; /* labels of the callbacks that ran, in order */
static int guard_fired;

static void note(const char *label)
{
    strlcat(order, label, sizeof(order));
}

static void on_guard(struct loop *loop, long long id, void *data)
{
    (void)id, (void)data;
    guard_fired = 1;
    loop_stop(loop);
}

static struct loop *new_loop(void)
{
    struct loop *loop = loop_new();

    if (loop == NULL)
        TAP_BAIL("loop_new failed");
    order[0] = '\0';
    guard_fired = 0;
    return loop;
}

static int run(struct loop *loop, const char *name)
{
    struct w_error err = {0};
    long long guard = loop_add_timer(loop, GUARD_MS, on_guard, NULL);
    int r = loop_run(loop, &err);

    loop_del_timer(loop, guard);
    if (!TAP_IS_INT(r, 0, name))
        tap_diag("error: %s", err.msg);
    if (guard_fired)
        tap_diag("the %d ms guard timer stopped the loop", GUARD_MS);
    return r;
}

static void on_timer(struct loop *loop, long long id, void *data)
{
    (void)loop, (void)id;
    note(data);
}

static void on_timer_stop(struct loop *loop, long long id, void *data)
{
    (void)id;
    note(data);
    loop_stop(loop);
}

static long long victim_timer;

static void on_timer_delete(struct loop *loop, long long id, void *data)
{
    (void)id;
    note(data);
    loop_del_timer(loop, victim_timer);
}

static void test_timers(void)
{
    struct loop *loop = new_loop();
    long long gone;

    loop_add_timer(loop, 10, on_timer, "a");
    gone = loop_add_timer(loop, 15, on_timer, "X");
    loop_add_timer(loop, 20, on_timer, "b");
    loop_add_timer(loop, 25, on_timer_delete, "c");
    loop_add_timer(loop, 30, on_timer, "d");
    victim_timer = loop_add_timer(loop, 35, on_timer, "Y");
    loop_add_timer(loop, 40, on_timer_stop, "e");
    TAP_OK(gone > 0 && victim_timer > gone, "timer ids are positive and increasing");
    loop_del_timer(loop, gone);
    /* Sleep past every due time first: the loop then finds them all due at once and
     * must still fire them in order of due time, not in the order it stores them. */
    usleep(60 * 1000);
    run(loop, "loop_run with timers returns 0");
    TAP_IS_STR(order, "abcde", "timers fire in order of due time; deleted ones never fire");
    loop_free(loop);

    loop = new_loop();
    loop_add_timer(loop, 30, on_timer_stop, "c");
    loop_add_timer(loop, 10, on_timer, "a");
    loop_add_timer(loop, 20, on_timer, "b");
    run(loop, "loop_run with timers added out of order");
    TAP_IS_STR(order, "abc", "timers added out of order fire in order of due time");
    loop_free(loop);
}

static int fd_calls;

static void on_read_once(struct loop *loop, int fd, int mask, void *data)
{
    char c;

    (void)data;
    fd_calls++;
    TAP_IS_INT(mask, LOOP_READ, "the fd callback gets LOOP_READ");
    TAP_IS_INT(read(fd, &c, 1), 1, "the fd is readable in its callback");
    loop_del_fd(loop, fd, LOOP_READ);
    loop_stop(loop);
}

static void on_stop_timer(struct loop *loop, long long id, void *data)
{
    (void)id, (void)data;
    loop_stop(loop);
}

static void test_fd_callbacks(void)
{
    struct loop *loop = new_loop();
    struct w_error err = {0};
    int p[2];

    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        TAP_BAIL("pipe: %s", strerror(errno));
    TAP_IS_INT(loop_add_fd(loop, p[0], LOOP_READ, on_read_once, NULL, &err), 0, "add a pipe");
    fd_calls = 0;
    if (write(p[1], "xy", 2) != 2)
        TAP_BAIL("write: %s", strerror(errno));
    run(loop, "loop_run until the pipe is read");
    TAP_IS_INT(fd_calls, 1, "the fd callback fired once when the pipe became readable");
    /* Still one byte in the pipe, but the registration is gone. */
    loop_add_timer(loop, 20, on_stop_timer, NULL);
    run(loop, "loop_run after loop_del_fd");
    TAP_IS_INT(fd_calls, 1, "no callback after loop_del_fd, though the pipe is readable");
    loop_free(loop);
    close(p[0]);
    close(p[1]);
}

static void on_write(struct loop *loop, int fd, int mask, void *data)
{
    (void)data;
    TAP_IS_INT(mask, LOOP_WRITE, "the write callback gets LOOP_WRITE");
    loop_del_fd(loop, fd, LOOP_WRITE);
    note("w");
    loop_stop(loop);
}

static void test_write_callback(void)
{
    struct loop *loop = new_loop();
    struct w_error err = {0};
    int p[2];

    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        TAP_BAIL("pipe: %s", strerror(errno));
    loop_add_fd(loop, p[1], LOOP_WRITE, on_write, NULL, &err);
    run(loop, "loop_run with a writable fd");
    TAP_IS_STR(order, "w", "a write callback fires for an empty pipe");
    loop_free(loop);
    close(p[0]);
    close(p[1]);
}

/* Two readable pipes: whichever callback runs first removes both registrations. */
static int pair_fds[2];

static void on_read_kill_other(struct loop *loop, int fd, int mask, void *data)
{
    (void)fd, (void)mask;
    note(data);
    loop_del_fd(loop, pair_fds[0], LOOP_READ);
    loop_del_fd(loop, pair_fds[1], LOOP_READ);
    loop_stop(loop);
}

/* Two pipes with a byte each: both read ends readable, a[0] < b[0]. */
static void readable_pipes(int a[2], int b[2])
{
    if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0)
        TAP_BAIL("pipe: %s", strerror(errno));
    if (write(a[1], "x", 1) != 1 || write(b[1], "x", 1) != 1)
        TAP_BAIL("write: %s", strerror(errno));
}

static void test_delete_other(void)
{
    struct loop *loop = new_loop();
    struct w_error err = {0};
    int a[2], b[2];

    readable_pipes(a, b);
    /* a[0] < b[0], and the loop visits fds in ascending order: a's callback runs first
     * and removes b's registration, so b's callback must not run in the same round. */
    pair_fds[0] = a[0];
    pair_fds[1] = b[0];
    loop_add_fd(loop, a[0], LOOP_READ, on_read_kill_other, "a", &err);
    loop_add_fd(loop, b[0], LOOP_READ, on_read_kill_other, "b", &err);
    run(loop, "loop_run with two readable pipes");
    TAP_IS_STR(order, "a", "a callback that deletes another fd's registration prevents it");
    loop_free(loop);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

/* a's callback closes b (readable in this round) and takes its number for a new, empty
 * pipe: the new registration must not get the old descriptor's readiness. */
static int reuse_b, reuse_new[2];

static void on_read_new(struct loop *loop, int fd, int mask, void *data)
{
    (void)loop, (void)fd, (void)mask, (void)data;
    note("n"); /* the new pipe holds nothing: any call is the stale readiness */
}

static void on_read_reuse(struct loop *loop, int fd, int mask, void *data)
{
    struct w_error err = {0};

    (void)mask, (void)data;
    note("a");
    loop_del_fd(loop, fd, LOOP_READ);
    loop_del_fd(loop, reuse_b, LOOP_READ);
    close(reuse_b);
    if (pipe2(reuse_new, O_CLOEXEC) < 0)
        TAP_BAIL("pipe: %s", strerror(errno));
    if (reuse_new[0] != reuse_b && dup3(reuse_new[0], reuse_b, O_CLOEXEC) < 0)
        TAP_BAIL("dup3: %s", strerror(errno));
    loop_add_fd(loop, reuse_b, LOOP_READ, on_read_new, NULL, &err);
    loop_add_timer(loop, 50, on_timer_stop, "t");
}

static void test_reused_fd(void)
{
    struct loop *loop = new_loop();
    struct w_error err = {0};
    int a[2], b[2];

    readable_pipes(a, b);
    reuse_b = b[0];
    loop_add_fd(loop, a[0], LOOP_READ, on_read_reuse, NULL, &err);
    loop_add_fd(loop, b[0], LOOP_READ, on_read_new, NULL, &err);
    run(loop, "loop_run with a descriptor number reused inside a round");
    TAP_IS_STR(order, "at",
               "a descriptor registered anew in a round gets no readiness of the old one");
    loop_free(loop);
    close(a[0]), close(a[1]), close(b[1]), close(reuse_b);
    if (reuse_new[0] != reuse_b)
        close(reuse_new[0]);
    close(reuse_new[1]);
}

static void never(struct loop *loop, int fd, int mask, void *data)
{
    (void)loop, (void)fd, (void)mask, (void)data;
}

static void test_fd_setsize(void)
{
    struct loop *loop = new_loop();
    struct w_error err = {0};
    struct rlimit rl;
    int p[2], high = FD_SETSIZE + 3;

    TAP_IS_INT(loop_add_fd(loop, FD_SETSIZE, LOOP_READ, never, NULL, &err), -1,
               "loop_add_fd refuses fd == FD_SETSIZE");
    TAP_CONTAINS(err.msg, "FD_SETSIZE", "the error mentions FD_SETSIZE");
    TAP_IS_INT(loop_add_fd(loop, -1, LOOP_READ, never, NULL, &err), -1,
               "loop_add_fd refuses fd -1");
    loop_del_fd(loop, FD_SETSIZE + 100, LOOP_READ); /* ignored; ASan builds check the bounds */

    /* A real descriptor above FD_SETSIZE. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= (rlim_t)high) {
        rl.rlim_cur = (rlim_t)high + 1;
        if (rl.rlim_max < rl.rlim_cur)
            rl.rlim_max = rl.rlim_cur;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (pipe2(p, O_CLOEXEC) < 0)
        TAP_BAIL("pipe: %s", strerror(errno));
    if (dup3(p[0], high, O_CLOEXEC) != high) {
        printf("ok %d - # SKIP cannot dup to fd %d: %s\n", ++tap_n, high, strerror(errno));
    } else {
        TAP_IS_INT(loop_add_fd(loop, high, LOOP_READ, never, NULL, &err), -1,
                   "loop_add_fd refuses a real fd above FD_SETSIZE");
        TAP_OK(fcntl(high, F_GETFD) >= 0, "... and leaves it open");
        close(high);
    }
    close(p[0]);
    close(p[1]);
    loop_free(loop);
}

static void test_stop(void)
{
    struct loop *loop = new_loop();

    loop_add_timer(loop, 0, on_timer_stop, "s");
    loop_add_timer(loop, 60 * 60 * 1000, on_timer, "late");
    run(loop, "loop_stop from a timer callback returns loop_run");
    TAP_IS_STR(order, "s", "only the stopping timer ran");
    loop_free(loop);
}

static void on_signal(struct loop *loop, int fd, int mask, void *data)
{
    struct signalfd_siginfo si;

    (void)mask, (void)data;
    if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo == SIGUSR1)
        note("usr1");
    else
        note("?");
    loop_stop(loop);
}

static void test_signalfd(void)
{
    struct loop *loop = new_loop();
    struct w_error err = {0};
    int sigs[] = {SIGUSR1};
    int fd = loop_signalfd(sigs, 1, &err);
    int fl;

    if (!TAP_OK(fd >= 0, "loop_signalfd for SIGUSR1"))
        tap_diag("error: %s", err.msg);
    if (fd < 0) {
        loop_free(loop);
        return;
    }
    fl = fcntl(fd, F_GETFL);
    TAP_OK(fl >= 0 && (fl & O_NONBLOCK), "the signalfd is non-blocking");
    TAP_OK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "the signalfd is CLOEXEC");
    loop_add_fd(loop, fd, LOOP_READ, on_signal, NULL, &err);
    raise(SIGUSR1); /* blocked now: pending until read from the signalfd */
    run(loop, "loop_run with a pending SIGUSR1");
    TAP_IS_STR(order, "usr1", "SIGUSR1 raised to self arrives as an fd event");
    loop_free(loop);
    close(fd);
}

static long long paused_at;

static void on_read_paused(struct loop *loop, int fd, int mask, void *data)
{
    (void)mask, (void)data;
    fd_calls++;
    if (fd_calls == 1) {
        note("r");
        paused_at = loop_now_ms();
        loop_pause_read(loop, fd, 50); /* the pipe stays readable: only the pause holds it */
        return;
    }
    note("R");
    TAP_OK(loop_now_ms() - paused_at >= 50, "a paused fd is not watched before its time");
    loop_stop(loop);
}

static void on_read_stop(struct loop *loop, int fd, int mask, void *data)
{
    (void)fd, (void)mask, (void)data;
    note("n");
    loop_stop(loop);
}

static void test_pause(void)
{
    struct loop *loop = new_loop();
    struct w_error err = {0};
    int p[2];

    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0 || write(p[1], "x", 1) != 1)
        TAP_BAIL("pipe: %s", strerror(errno));
    loop_add_fd(loop, p[0], LOOP_READ, on_read_paused, NULL, &err);
    loop_add_timer(loop, 20, on_timer, "t");
    fd_calls = 0;
    run(loop, "loop_run with a paused fd");
    TAP_IS_STR(order, "rtR", "a paused readable fd is skipped, then watched again");
    TAP_IS_INT(fd_calls, 2, "its callback ran once before and once after the pause");

    /* Deleting a paused fd forgets the pause: added again, it is watched at once. */
    order[0] = '\0';
    loop_pause_read(loop, p[0], 60 * 1000);
    loop_del_fd(loop, p[0], LOOP_READ);
    loop_add_fd(loop, p[0], LOOP_READ, on_read_stop, NULL, &err);
    run(loop, "loop_run after deleting and re-adding a paused fd");
    TAP_IS_STR(order, "n", "a re-added fd is watched without waiting for the old pause");
    TAP_OK(!guard_fired, "no wait for the guard timer");
    close(p[0]);
    close(p[1]);
    loop_free(loop);
}

int main(void)
{
    test_timers();
    test_fd_callbacks();
    test_write_callback();
    test_delete_other();
    test_reused_fd();
    test_fd_setsize();
    test_pause();
    test_stop();
    test_signalfd();
    TAP_OK(loop_now_ms() > 0, "loop_now_ms is positive");
    return tap_done();
}
