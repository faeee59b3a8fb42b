/* Runs in wardend's loop. The pool is an array of ready containers; at most one refill
 * is in flight, and it starts only when no other hook runs (a cold create or destroy
 * goes first), so a refill never delays a request by more than it shares the CPU
 * with. A pooled container's create and destroy run the same hooks as any other;
 * only the reply is replaced by joining the pool. */
#include "warm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hook.h"
#include "lifecycle.h"
#include "log.h"
#include "registry.h"
#include "snapshot.h"
#include "util.h"
#include "wardend.h"
#include "wshd_watch.h"

enum {
    IDLE_POLL_MS = 5,    /* how often a due refill looks again for idle hooks */
    IDLE_WAIT_MS = 1000, /* after this long it goes anyway, so load cannot starve it */
    RETRY_MIN_MS = 1000, /* after a failed refill; doubles up to RETRY_MAX_MS */
    RETRY_MAX_MS = 60000,
};

static warm_prepare_fn *prepare_fn;
static struct container **ready; /* [0, nready), oldest first */
static int nready, cap;
static int filling;     /* a refill's create is in flight */
static int destroying;  /* destroy.sh of pooled containers in flight */
static int held;        /* warm_hold: no more refills */
static long long timer; /* the next refill attempt, 0: none */
static long long due;   /* when the refill became due (for IDLE_WAIT_MS) */
static int retry_ms = RETRY_MIN_MS;
static int draining;
static void (*drained)(void);

static void refill_later(long long ms);

static void check_drained(void)
{
    void (*cb)(void) = drained;

    if (!draining || cb == NULL || nready > 0 || filling || destroying > 0)
        return;
    drained = NULL;
    log_msg(LOG_INFO, "warm pool: drained");
    cb();
}

static void destroy_done(void *data, const char *error)
{
    struct container *ct = data;

    if (error)
        log_msg(LOG_ERR, "warm pool container %s: destroy failed: %s", ct->id, error);
    else
        log_msg(LOG_INFO, "warm pool container %s: destroyed", ct->id);
    lifecycle_remove(ct); /* releases its /30 and uid, frees it */
    destroying--;
    check_drained();
}

/* Tear ct (in no list) down with destroy.sh, as destroy does. */
static void destroy_pooled(struct container *ct)
{
    struct w_error err;

    ct_unwatch_wshd(ct); /* destroy.sh kills it */
    destroying++;
    if (hook_run("destroy.sh", NULL, ct->env, NULL, destroy_done, ct, &err) < 0)
        destroy_done(ct, err.msg);
}

static void remove_at(int i)
{
    memmove(&ready[i], &ready[i + 1], (size_t)(nready - i - 1) * sizeof(ready[0]));
    nready--;
}

static void prepared(struct container *ct, const char *error)
{
    filling = 0;
    if (error) {
        log_msg(LOG_WARNING, "warm pool: refill failed (next try in %d ms): %s", retry_ms, error);
        if (!draining)
            refill_later(retry_ms);
        retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
        check_drained();
        return;
    }
    retry_ms = RETRY_MIN_MS;
    if (draining || nready >= cap) {
        destroy_pooled(ct);
        return;
    }
    ready[nready++] = ct;
    log_msg(LOG_INFO, "warm pool container %s: ready (%d of %d)", ct->id, nready, cap);
    refill_later(0);
}

static void on_timer(struct loop *loop, long long id, void *data)
{
    struct w_error err;

    (void)loop, (void)id, (void)data;
    timer = 0;
    if (draining || held || filling || nready >= cap)
        return;
    if (hook_running() > 0 && loop_now_ms() - due < IDLE_WAIT_MS) {
        timer = loop_add_timer(g_loop, IDLE_POLL_MS, on_timer, NULL);
        return;
    }
    filling = 1;
    if (prepare_fn(prepared, &err) < 0) {
        filling = 0;
        log_msg(LOG_WARNING, "warm pool: refill not started (next try in %d ms): %s", retry_ms,
                err.msg);
        refill_later(retry_ms);
        retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
    }
}

/* A refill attempt in ms, unless one is due already or the pool is full. */
static void refill_later(long long ms)
{
    if (timer || draining || held || filling || nready >= cap)
        return;
    due = loop_now_ms() + ms;
    timer = loop_add_timer(g_loop, ms, on_timer, NULL);
}

int warm_init(warm_prepare_fn *prepare, struct w_error *err)
{
    prepare_fn = prepare;
    cap = g_cfg->server.warm_pool;
    if (cap == 0)
        return 0;
    if (ready == NULL && (ready = calloc((size_t)cap, sizeof(ready[0]))) == NULL)
        return w_err(err, "warm pool: out of memory");
    refill_later(0);
    return 0;
}

void warm_adopt(struct container *ct)
{
    struct w_error err;

    cap = g_cfg->server.warm_pool;
    if (cap > 0 && ready == NULL)
        ready = calloc((size_t)cap, sizeof(ready[0]));
    if (ready && nready < cap && ct->state == CT_ACTIVE) {
        ready[nready++] = ct;
        ct_watch_wshd(ct);
        log_msg(LOG_INFO, "warm pool container %s: adopted (%d of %d)", ct->id, nready, cap);
        return;
    }
    /* Start-up, nobody served yet: a blocking teardown is fine. */
    log_msg(LOG_INFO, "warm pool container %s: not wanted (server.warm_pool %d); tearing it down",
            ct->id, cap);
    if (hook_run_sync("destroy.sh", NULL, ct->env, NULL, &err) < 0)
        log_msg(LOG_ERR, "warm pool container %s: %s", ct->id, err.msg);
    lifecycle_remove(ct);
}

/* Rewrite the handle= line of etc/config (setup.sh wrote the id there), so that
 * `set -a; . etc/config` gives the handle create handed out. */
static int set_config_handle(struct container *ct, struct w_error *err)
{
    char path[PATH_MAX + 16], *text, *line, *end;
    size_t len, rest;
    FILE *f;
    char *out = NULL;
    size_t outlen = 0;
    int ret;

    snprintf(path, sizeof(path), "%s/etc/config", ct->path);
    text = util_read_file(AT_FDCWD, path, 1 << 20, &len, err);
    if (text == NULL)
        return -1;
    f = open_memstream(&out, &outlen);
    if (f == NULL) {
        free(text);
        return w_errno(err, errno, "%s: open_memstream", path);
    }
    for (line = text; line < text + len; line = end) {
        end = memchr(line, '\n', (size_t)(text + len - line));
        end = end ? end + 1 : text + len;
        rest = (size_t)(end - line);
        if (rest < 7 || memcmp(line, "handle=", 7) != 0) {
            fwrite(line, 1, rest, f);
            continue;
        }
        fputs("handle='", f); /* single quotes: only ' itself needs care */
        for (const char *h = ct->handle; *h; h++)
            *h == '\'' ? fputs("'\\''", f) : fputc(*h, f);
        fputs("'\n", f);
    }
    free(text);
    if (fclose(f) != 0) {
        free(out);
        return w_err(err, "%s: out of memory", path);
    }
    ret = util_write_file_atomic(AT_FDCWD, path, out, outlen, err);
    free(out);
    return ret;
}

static struct container *take_at(int i, const char *handle)
{
    struct container *ct = ready[i];
    struct w_error err;

    remove_at(i);
    ct->pooled = 0;
    if (handle)
        strlcpy(ct->handle, handle, sizeof(ct->handle));
    if (ct_make_env(ct) < 0 || set_config_handle(ct, &err) < 0) {
        log_msg(LOG_WARNING, "warm pool container %s: cannot hand it out: %s", ct->id,
                ct->env ? err.msg : "out of memory");
        destroy_pooled(ct);
        return NULL;
    }
    return ct;
}

struct container *warm_take(const char *handle)
{
    struct container *ct = NULL;

    for (int i = 0; i < nready && ct == NULL;) {
        if (ready[i]->state != CT_ACTIVE) { /* its wshd died while it waited */
            struct container *dead = ready[i];
            log_msg(LOG_WARNING, "warm pool container %s: %s; tearing it down", dead->id,
                    ct_state_name(dead->state));
            remove_at(i);
            destroy_pooled(dead);
        } else if (handle == NULL && ct_lookup(ready[i]->id)) {
            i++; /* its id is another container's handle now */
        } else {
            ct = take_at(i, handle);
        }
    }
    refill_later(0);
    return ct;
}

void warm_hold(void)
{
    held = 1;
    if (timer)
        loop_del_timer(g_loop, timer);
    timer = 0;
}

int warm_busy(void)
{
    return filling + destroying;
}

void warm_drain(void (*done)(void))
{
    if (draining) /* a second signal: the first drain goes on */
        return;
    draining = 1;
    drained = done;
    if (timer)
        loop_del_timer(g_loop, timer);
    timer = 0;
    if (nready > 0 || filling)
        log_msg(LOG_INFO, "warm pool: draining %d container(s)%s", nready,
                filling ? " and the one being made" : "");
    while (nready > 0) {
        struct container *ct = ready[--nready];
        destroy_pooled(ct);
    }
    check_drained();
}
