#include "pool.h"

#include <stdlib.h>

int pool_init(struct pool *p, int size, int delay_ms)
{
    p->size = size;
    p->delay_ms = delay_ms;
    p->next = 0;
    p->used = calloc((size_t)(size > 0 ? size : 1), 1);
    p->free_at = calloc((size_t)(size > 0 ? size : 1), sizeof(*p->free_at));
    if (p->used == NULL || p->free_at == NULL) {
        pool_free(p);
        return -1;
    }
    return 0;
}

void pool_free(struct pool *p)
{
    free(p->used);
    free(p->free_at);
    p->used = NULL;
    p->free_at = NULL;
    p->size = 0;
}

int pool_take(struct pool *p, int i, long long now)
{
    if (i < 0 || i >= p->size || p->used[i] || p->free_at[i] > now)
        return -1;
    p->used[i] = 1;
    return i;
}

int pool_acquire(struct pool *p, long long now)
{
    for (int k = 0; k < p->size; k++) {
        int i = (p->next + k) % p->size;
        if (pool_take(p, i, now) == i) {
            p->next = (i + 1) % p->size;
            return i;
        }
    }
    return -1;
}

void pool_release(struct pool *p, int i, long long now)
{
    if (i < 0 || i >= p->size || !p->used[i])
        return;
    p->used[i] = 0;
    p->free_at[i] = now + p->delay_ms;
}

void pool_put_back(struct pool *p, int i)
{
    if (i >= 0 && i < p->size)
        p->used[i] = 0;
}

int pool_in_use(const struct pool *p)
{
    int n = 0;

    for (int i = 0; i < p->size; i++)
        n += p->used[i];
    return n;
}

long long pool_delay_left(const struct pool *p, int i, long long now)
{
    long long best = -1;

    for (int k = i < 0 ? 0 : i; k < (i < 0 ? p->size : (i < p->size ? i + 1 : 0)); k++)
        if (!p->used[k] && p->free_at[k] > now && (best < 0 || p->free_at[k] - now < best))
            best = p->free_at[k] - now;
    return best;
}
