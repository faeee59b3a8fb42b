#!/usr/bin/env python3
"""ab.py SOCK_A SOCK_B RUNS: create+destroy on two daemons in turn (A B, then B A, ...),
so that the machine's drift hits both alike; prints each one's create latency and the
pairwise difference B - A."""
import sys
import time

from wclient import Client, fmt, percentiles

a, b, runs = Client(sys.argv[1]), Client(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 100
ta, tb = [], []


def create_ms(c):
    t0 = time.perf_counter()
    h = c.call("create")
    t1 = time.perf_counter()
    c.call("destroy", h)
    return (t1 - t0) * 1000


for i in range(runs):
    if i % 2:
        tb.append(create_ms(b))
        ta.append(create_ms(a))
    else:
        ta.append(create_ms(a))
        tb.append(create_ms(b))
print(fmt("create A", percentiles(ta)))
print(fmt("create B", percentiles(tb)))
d = sorted(y - x for x, y in zip(ta, tb))
print("%-28s p50 %+7.2f ms   mean %+7.2f ms   (n=%d)" % ("create B - A, pairwise", d[len(d) // 2],
                                                      sum(d) / len(d), len(d)))
