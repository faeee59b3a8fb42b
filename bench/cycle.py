#!/usr/bin/env python3
"""create and destroy latency, a full create -> run true -> destroy cycle, over RUNS
runs, and cycles per second with 2 concurrent clients; each beside crun's figure when
bench/run passes it (CRUN_P50_MS CRUN_PER_S_2)."""
import sys
import threading
import time

from wclient import Client, fmt, percentiles

sock, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50
crun_p50 = float(sys.argv[3]) if len(sys.argv) > 3 else 0
crun_par = float(sys.argv[4]) if len(sys.argv) > 4 else 0
c = Client(sock)
create, destroy, cycle = [], [], []


def one_cycle(cl):
    h = cl.call("create")
    st, out, err = cl.call("run", h, "true")
    cl.call("destroy", h)
    assert st == 0, (st, out, err)


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
    one_cycle(c)
    cycle.append((time.perf_counter() - t0) * 1000)


def loop(n):
    cl = Client(sock)
    for _ in range(n):
        one_cycle(cl)


t0 = time.perf_counter()
threads = [threading.Thread(target=loop, args=(runs,)) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
par = 2 * runs / (time.perf_counter() - t0)
print(fmt("create", percentiles(create)) + "   (goal <= 10 ms)")
print(fmt("destroy (until the reply)", percentiles(destroy)) + "   (goal <= 5 ms)")
p = percentiles(cycle)
line = fmt("create+run true+destroy", p)
if crun_p50:
    line += "   crun p50 %.2f ms, ratio %.1fx (goal <= 2x)" % (crun_p50, p["p50"] / crun_p50)
print(line)
line = "%-28s %.1f cycles/s" % ("2 concurrent clients", par)
if crun_par:
    line += "   crun x2 %.1f runs/s, ratio %.2fx (goal >= 0.5x)" % (crun_par, par / crun_par)
print(line)
