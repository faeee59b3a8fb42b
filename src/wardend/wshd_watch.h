/* Noticing a container's wshd die, with a pidfd in the loop. */
#ifndef W_WSHD_WATCH_H
#define W_WSHD_WATCH_H

struct container;

/* on_exit runs (from the loop) when a watched wshd has died, after its watch is gone;
 * set once at start-up by main, so this module calls nothing above it. */
void wshd_watch_init(void (*on_exit)(struct container *ct));
/* Watch ct's wshd (run/wshd.pid); failures are logged, the container goes on unwatched. */
void ct_watch_wshd(struct container *ct);
void ct_unwatch_wshd(struct container *ct);
/* SIGKILL to ct's watched wshd through its pidfd (no pid reuse can misdirect it): as
 * pid 1 of the container's pid namespace its death takes every process there with it.
 * 0 when sent, -1 when ct's wshd is not watched or the signal failed. */
int ct_kill_wshd(struct container *ct);

#endif
