/* Unit tests for the slot pool (src/wardend/pool.c) behind networks, ports and uids.
 * Time is passed in explicitly, so the release delay is tested without waiting. */
#include <string.h>

#include "../../src/wardend/pool.h"
#include "tap.h"

static void init(struct pool *p, int size, int delay_ms)
{
    if (pool_init(p, size, delay_ms) < 0)
        TAP_BAIL("pool_init(%d, %d) failed", size, delay_ms);
}

static void test_exhaust(void)
{
    struct pool p;
    int seen[8] = {0}, distinct = 1;

    init(&p, 8, 0);
    TAP_IS_INT(pool_in_use(&p), 0, "a new pool has nothing in use");
    for (int k = 0; k < 8; k++) {
        int i = pool_acquire(&p, 0);
        if (i < 0 || i >= 8 || seen[i]++)
            distinct = 0;
    }
    TAP_OK(distinct, "8 acquires hand out 8 distinct indexes in range");
    TAP_IS_INT(pool_in_use(&p), 8, "in_use counts 8");
    TAP_IS_INT(pool_acquire(&p, 0), -1, "a full pool gives -1");
    TAP_IS_INT(pool_acquire(&p, 1000000), -1, "... however late");
    pool_release(&p, 5, 0);
    TAP_IS_INT(pool_in_use(&p), 7, "release makes in_use 7");
    TAP_IS_INT(pool_acquire(&p, 0), 5, "the released slot is handed out again");
    pool_free(&p);

    init(&p, 0, 0);
    TAP_IS_INT(pool_acquire(&p, 0), -1, "an empty pool gives -1");
    pool_free(&p);
}

static void test_round_robin(void)
{
    struct pool p;
    int got[6];

    init(&p, 4, 0);
    got[0] = pool_acquire(&p, 0);
    pool_release(&p, got[0], 0);
    got[1] = pool_acquire(&p, 0);
    got[2] = pool_acquire(&p, 0);
    got[3] = pool_acquire(&p, 0);
    got[4] = pool_acquire(&p, 0); /* wraps round to the slot released first */
    TAP_IS_INT(got[0], 0, "round robin: first 0");
    TAP_IS_INT(got[1], 1, "round robin: a released slot is not reused at once: 1");
    TAP_IS_INT(got[2], 2, "round robin: then 2");
    TAP_IS_INT(got[3], 3, "round robin: then 3");
    TAP_IS_INT(got[4], 0, "round robin: wraps to 0");
    pool_release(&p, 2, 0);
    pool_release(&p, 1, 0);
    got[5] = pool_acquire(&p, 0);
    TAP_IS_INT(got[5], 1, "round robin: the search starts after the last slot handed out");
    pool_free(&p);
}

static void test_take(void)
{
    struct pool p;

    init(&p, 4, 0);
    TAP_IS_INT(pool_take(&p, 2, 0), 2, "take a free slot");
    TAP_IS_INT(pool_take(&p, 2, 0), -1, "take a taken slot fails");
    TAP_IS_INT(pool_take(&p, -1, 0), -1, "take index -1 fails");
    TAP_IS_INT(pool_take(&p, 4, 0), -1, "take index == size fails");
    TAP_IS_INT(pool_take(&p, 1000, 0), -1, "take a far index fails");
    TAP_IS_INT(pool_in_use(&p), 1, "failed takes take nothing");
    TAP_IS_INT(pool_acquire(&p, 0), 0, "acquire skips nothing free: 0");
    TAP_IS_INT(pool_acquire(&p, 0), 1, "acquire: 1");
    TAP_IS_INT(pool_acquire(&p, 0), 3, "acquire skips the slot taken by index: 3");
    TAP_IS_INT(pool_acquire(&p, 0), -1, "then the pool is full");
    pool_release(&p, -1, 0);
    pool_release(&p, 4, 0);
    TAP_IS_INT(pool_in_use(&p), 4, "releasing out-of-range indexes changes nothing");
    pool_free(&p);
}

static void test_delay(void)
{
    struct pool p;

    init(&p, 2, 250);
    pool_take(&p, 0, 1000);
    pool_take(&p, 1, 1000);
    pool_release(&p, 0, 2000);
    TAP_IS_INT(pool_in_use(&p), 1, "a delayed slot is not in use");
    TAP_IS_INT(pool_acquire(&p, 2000), -1, "delay: not handed out at release time");
    TAP_IS_INT(pool_acquire(&p, 2249), -1, "delay: not handed out 1 ms before now+delay");
    TAP_IS_INT(pool_take(&p, 0, 2249), -1, "delay: not taken by index before now+delay");
    TAP_IS_INT(pool_acquire(&p, 2250), 0, "delay: handed out at now+delay");
    pool_release(&p, 1, 3000);
    TAP_IS_INT(pool_take(&p, 1, 3300), 1, "delay: taken by index after now+delay");
    pool_release(&p, 1, 4000);
    pool_release(&p, 1, 5000); /* already free: must not push the delay further out */
    TAP_IS_INT(pool_acquire(&p, 4250), 1, "a second release of a free slot is a no-op");
    pool_free(&p);
}

/* What a create that finds its network (or the whole pool) in a delay waits for. */
static void test_delay_left(void)
{
    struct pool p;

    init(&p, 3, 250);
    TAP_IS_INT(pool_delay_left(&p, -1, 0), -1, "delay left: none in a new pool");
    pool_take(&p, 0, 0);
    pool_take(&p, 1, 0);
    pool_take(&p, 2, 0);
    TAP_IS_INT(pool_delay_left(&p, 1, 100), -1, "delay left: a taken slot is in none");
    pool_release(&p, 1, 1000);
    pool_release(&p, 2, 1100);
    TAP_IS_INT(pool_delay_left(&p, 1, 1000), 250, "delay left: all of it at release");
    TAP_IS_INT(pool_delay_left(&p, 2, 1200), 150, "delay left: what is left of it");
    TAP_IS_INT(pool_delay_left(&p, -1, 1200), 50, "delay left: any slot, the soonest");
    TAP_IS_INT(pool_delay_left(&p, 1, 1250), -1, "delay left: none once it passed");
    TAP_IS_INT(pool_delay_left(&p, 7, 1000), -1, "delay left: none out of range");
    pool_free(&p);
}

int main(void)
{
    test_exhaust();
    test_round_robin();
    test_take();
    test_delay();
    test_delay_left();
    return tap_done();
}
