#!/usr/bin/env python3
"""ab.py SOCK_A SOCK_B RUNS: create+destroy on two daemons in turn (A B, then B A, ...),
so that the machine's drift hits both alike; prints each one's create and destroy
latency and the pairwise differences B - A."""
import sys
import time

from wclient import Client, fmt, percentiles

a, b, runs = Client(sys.argv[1]), Client(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 100
ta, tb, da, db = [], [], [], []


def cycle(c, tc, td):
    t0 = time.perf_counter()
    h = c.call("create")
    t1 = time.perf_counter()
    c.call("destroy", h)
    t2 = time.perf_counter()
    tc.append((t1 - t0) * 1000)
    td.append((t2 - t1) * 1000)


for i in range(runs):
    if i % 2:
        cycle(b, tb, db)
        cycle(a, ta, da)
    else:
        cycle(a, ta, da)
        cycle(b, tb, db)
for what, xa, xb in (("create", ta, tb), ("destroy", da, db)):
    print(fmt(what + " A", percentiles(xa)))
    print(fmt(what + " B", percentiles(xb)))
    d = sorted(y - x for x, y in zip(xa, xb))
    r = sorted(y / x for x, y in zip(xa, xb))
    print("%-28s p50 %+7.2f ms   mean %+7.2f ms   ratio B/A p50 %.3f   (n=%d)" % (
        what + " B - A, pairwise", d[len(d) // 2], sum(d) / len(d), r[len(r) // 2], len(d)))
