/* A pool of numbered slots (networks, uids, ports) with an optional delay before a
 * released slot is handed out again (a dying netns takes its veth down late). */
#ifndef W_POOL_H
#define W_POOL_H

struct pool {
    int size;
    int delay_ms;
    int next; /* where the next search starts: round robin */
    unsigned char *used;
    long long *free_at; /* loop_now_ms() before which a released slot stays out */
};

int pool_init(struct pool *p, int size, int delay_ms);
void pool_free(struct pool *p);
/* Take any free slot; returns its index, or -1 when none is free now. */
int pool_acquire(struct pool *p, long long now);
/* Take slot i; -1 if out of range, taken or still in its release delay. */
int pool_take(struct pool *p, int i, long long now);
void pool_release(struct pool *p, int i, long long now);
/* Undo an acquire that was never used: free at once, no release delay. */
void pool_put_back(struct pool *p, int i);
int pool_in_use(const struct pool *p);
/* ms until slot i leaves its release delay (i < 0: the first of all slots to leave
 * one); -1 when it is in none (taken or free now; i < 0: no slot is in a delay). */
long long pool_delay_left(const struct pool *p, int i, long long now);

#endif
