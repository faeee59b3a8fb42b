#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <time.h>

struct fd_slot {
    int mask;
    long long paused_until; /* read side paused (not in rset) until then; 0: not paused */
    loop_fd_cb *rcb, *wcb;
    void *rdata, *wdata;
    /* The select() round in which each direction was last registered anew: a callback
     * may close an fd and another take its number in the same round, and the readiness
     * select reported was the old descriptor's. */
    unsigned long rsince, wsince;
};

struct timer {
    long long id, when;
    loop_timer_cb *cb;
    void *data;
    struct timer *next;
};

struct loop {
    struct fd_slot fds[FD_SETSIZE];
    fd_set rset, wset;
    int maxfd;
    int npaused;
    struct timer *timers; /* unsorted; the loop holds few timers */
    long long next_timer_id;
    int stop;
    unsigned long round; /* select() calls so far */
};

long long loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
    struct loop *loop = calloc(1, sizeof(*loop));

    if (loop == NULL)
        return NULL;
    FD_ZERO(&loop->rset);
    FD_ZERO(&loop->wset);
    loop->maxfd = -1;
    loop->next_timer_id = 1;
    return loop;
}

void loop_free(struct loop *loop)
{
    if (loop == NULL)
        return;
    while (loop->timers) {
        struct timer *t = loop->timers;
        loop->timers = t->next;
        free(t);
    }
    free(loop);
}

static void unpause(struct loop *loop, struct fd_slot *s)
{
    if (s->paused_until) {
        s->paused_until = 0;
        loop->npaused--;
    }
}

void loop_pause_read(struct loop *loop, int fd, long long ms)
{
    struct fd_slot *s;

    if (fd < 0 || fd >= FD_SETSIZE || !(loop->fds[fd].mask & LOOP_READ))
        return;
    s = &loop->fds[fd];
    FD_CLR(fd, &loop->rset);
    if (s->paused_until == 0)
        loop->npaused++;
    s->paused_until = loop_now_ms() + (ms > 0 ? ms : 1);
}

int loop_accept_failed(struct loop *loop, int fd, int errnum, long long ms)
{
    if (errnum != EMFILE && errnum != ENFILE && errnum != ENOBUFS && errnum != ENOMEM)
        return 0;
    loop_pause_read(loop, fd, ms);
    return 1;
}

/* Puts paused descriptors whose time has come back into the read set. */
static void resume_paused(struct loop *loop)
{
    long long now = loop_now_ms();

    for (int fd = 0; loop->npaused > 0 && fd <= loop->maxfd; fd++) {
        struct fd_slot *s = &loop->fds[fd];
        if (s->paused_until && s->paused_until <= now) {
            unpause(loop, s);
            FD_SET(fd, &loop->rset);
        }
    }
}

int loop_add_fd(struct loop *loop, int fd, int mask, loop_fd_cb *cb, void *data,
                struct w_error *err)
{
    struct fd_slot *s;

    if (fd < 0 || fd >= FD_SETSIZE)
        return w_err(err, "fd %d is out of range for select() (FD_SETSIZE %d)", fd, FD_SETSIZE);
    s = &loop->fds[fd];
    if (mask & LOOP_READ) {
        if (!(s->mask & LOOP_READ))
            s->rsince = loop->round;
        s->rcb = cb;
        s->rdata = data;
        FD_SET(fd, &loop->rset);
        unpause(loop, s);
    }
    if (mask & LOOP_WRITE) {
        if (!(s->mask & LOOP_WRITE))
            s->wsince = loop->round;
        s->wcb = cb;
        s->wdata = data;
        FD_SET(fd, &loop->wset);
    }
    s->mask |= mask;
    if (fd > loop->maxfd)
        loop->maxfd = fd;
    return 0;
}

void loop_del_fd(struct loop *loop, int fd, int mask)
{
    struct fd_slot *s;

    if (fd < 0 || fd >= FD_SETSIZE)
        return;
    s = &loop->fds[fd];
    if (mask & LOOP_READ) {
        FD_CLR(fd, &loop->rset);
        unpause(loop, s);
    }
    if (mask & LOOP_WRITE)
        FD_CLR(fd, &loop->wset);
    s->mask &= ~mask;
    if (fd == loop->maxfd && s->mask == 0)
        while (loop->maxfd >= 0 && loop->fds[loop->maxfd].mask == 0)
            loop->maxfd--;
}

long long loop_add_timer(struct loop *loop, long long ms, loop_timer_cb *cb, void *data)
{
    struct timer *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    t->id = loop->next_timer_id++;
    t->when = loop_now_ms() + ms;
    t->cb = cb;
    t->data = data;
    t->next = loop->timers;
    loop->timers = t;
    return t->id;
}

void loop_del_timer(struct loop *loop, long long id)
{
    for (struct timer **p = &loop->timers; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            struct timer *t = *p;
            *p = t->next;
            free(t);
            return;
        }
    }
}

void loop_stop(struct loop *loop)
{
    loop->stop = 1;
}

/* Fire one due timer at a time, earliest first (ties: oldest first): a callback may
 * add or delete timers. */
static void run_timers(struct loop *loop)
{
    for (;;) {
        long long now = loop_now_ms();
        struct timer **p, **best = NULL, *t;

        for (p = &loop->timers; *p; p = &(*p)->next)
            if ((*p)->when <= now && (best == NULL || (*p)->when < (*best)->when ||
                                      ((*p)->when == (*best)->when && (*p)->id < (*best)->id)))
                best = p;
        if (best == NULL)
            return;
        t = *best;
        *best = t->next;
        t->cb(loop, t->id, t->data);
        free(t);
    }
}

static void consider(long long *best, long long d)
{
    if (d < 0)
        d = 0;
    if (*best < 0 || d < *best)
        *best = d;
}

static long long next_timeout(struct loop *loop)
{
    long long best = -1, now = loop_now_ms();

    for (struct timer *t = loop->timers; t; t = t->next)
        consider(&best, t->when - now);
    for (int fd = 0; loop->npaused > 0 && fd <= loop->maxfd; fd++)
        if (loop->fds[fd].paused_until)
            consider(&best, loop->fds[fd].paused_until - now);
    return best;
}

int loop_run(struct loop *loop, struct w_error *err)
{
    loop->stop = 0;
    while (!loop->stop) {
        fd_set r, w;
        struct timeval tv, *tvp = NULL;
        long long ms = next_timeout(loop);
        int n, maxfd = loop->maxfd;

        /* select() modifies its sets: work on copies. */
        memcpy(&r, &loop->rset, sizeof(r));
        memcpy(&w, &loop->wset, sizeof(w));
        if (ms >= 0) {
            tv.tv_sec = ms / 1000;
            tv.tv_usec = (ms % 1000) * 1000;
            tvp = &tv;
        }
        loop->round++;
        n = select(maxfd + 1, &r, &w, NULL, tvp);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return w_errno(err, errno, "select");
        }
        for (int fd = 0; n > 0 && fd <= maxfd; fd++) {
            struct fd_slot *s = &loop->fds[fd];
            int rd = FD_ISSET(fd, &r), wr = FD_ISSET(fd, &w);

            if (rd || wr)
                n--;
            /* Re-check the registration: an earlier callback may have removed it, or
             * removed it and registered a new descriptor of the same number. */
            if (rd && (s->mask & LOOP_READ) && s->rsince != loop->round)
                s->rcb(loop, fd, LOOP_READ, s->rdata);
            if (wr && (s->mask & LOOP_WRITE) && s->wsince != loop->round)
                s->wcb(loop, fd, LOOP_WRITE, s->wdata);
        }
        run_timers(loop);
        if (loop->npaused > 0)
            resume_paused(loop);
    }
    return 0;
}

int loop_signalfd(const int *signals, int n, struct w_error *err)
{
    sigset_t set;
    int fd;

    sigemptyset(&set);
    for (int i = 0; i < n; i++)
        sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return w_errno(err, errno, "sigprocmask");
    fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return w_errno(err, errno, "signalfd");
    return fd;
}
