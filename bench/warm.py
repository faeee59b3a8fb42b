#!/usr/bin/env python3
"""warm.py COLD_SOCK WARM_SOCK WARM_DEPOT RUNS [CRUN_P50_MS]: create p50 and
create+run true+destroy with server.warm_pool off (COLD_SOCK) and on (WARM_SOCK),
interleaved one run each, so both see the same load. Before each warm run it waits
(bounded, untimed) until the pool is full again, which is what a caller that does not
create faster than the pool refills sees; a back-to-back figure shows the other end."""
import glob
import json
import sys
import time

from wclient import Client, fmt, percentiles

cold_sock, warm_sock, depot, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
crun_p50 = float(sys.argv[5]) if len(sys.argv) > 5 else 0
size = int(sys.argv[6]) if len(sys.argv) > 6 else 2
cold, warm = Client(cold_sock), Client(warm_sock)


def pooled():
    n = 0
    for s in glob.glob(depot + "/*/snapshot.json"):
        try:
            n += json.load(open(s)).get("pooled", False) is True
        except (OSError, ValueError):
            pass
    return n


def wait_full():
    deadline = time.time() + 30
    while pooled() < size:
        if time.time() > deadline:
            raise RuntimeError("the warm pool did not refill within 30 s")
        time.sleep(0.01)


def timed(c, run_true):
    t0 = time.perf_counter()
    h = c.call("create")
    t1 = time.perf_counter()
    if run_true:
        st, _, _ = c.call("run", h, "true")
        assert st == 0
    c.call("destroy", h)
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t0) * 1000


res = {k: [] for k in ("cc", "wc", "ccy", "wcy", "wb")}
for _ in range(runs):
    res["cc"].append(timed(cold, False)[0])
    wait_full()
    res["wc"].append(timed(warm, False)[0])
    res["ccy"].append(timed(cold, True)[1])
    wait_full()
    res["wcy"].append(timed(warm, True)[1])
# Back to back: as fast as one client can, so the pool empties and refills under it.
wait_full()
for _ in range(runs):
    res["wb"].append(timed(warm, True)[1])

for key, name in (("cc", "create, warm_pool 0"), ("wc", "create, warm_pool %d" % size)):
    print(fmt(name, percentiles(res[key])))
for key, name in (("ccy", "cycle, warm_pool 0"), ("wcy", "cycle, warm_pool %d" % size),
                  ("wb", "cycle, warm, back to back")):
    p = percentiles(res[key])
    line = fmt(name, p)
    if crun_p50:
        line += "   crun p50 %.2f ms, ratio %.2fx" % (crun_p50, p["p50"] / crun_p50)
    print(line)
