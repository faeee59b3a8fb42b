#!/usr/bin/env python3
"""create and destroy latency, and a full create -> run true -> destroy cycle, over N runs."""
import sys
import time

from wclient import Client, fmt, percentiles

sock, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50
c = Client(sock)
create, destroy, cycle = [], [], []
for _ in range(runs):
    t0 = time.perf_counter()
    h = c.call("create")
    t1 = time.perf_counter()
    c.call("destroy", h)
    t2 = time.perf_counter()
    create.append((t1 - t0) * 1000)
    destroy.append((t2 - t1) * 1000)
for _ in range(runs):
    t0 = time.perf_counter()
    h = c.call("create")
    st, out, err = c.call("run", h, "true")
    c.call("destroy", h)
    cycle.append((time.perf_counter() - t0) * 1000)
    assert st == 0, (st, out, err)
print(fmt("create", percentiles(create)))
print(fmt("destroy", percentiles(destroy)))
print(fmt("create+run true+destroy", percentiles(cycle)))
