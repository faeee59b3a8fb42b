#!/usr/bin/env python3
"""Round trip of `run true` on a live container, against fork+exec of /bin/true.

runtrue.py SOCK [RUNS]: RUNS (200) runs, then RUNS fork+execs.
runtrue.py SOCK RUNS SOCK_B: interleaved A/B of two daemons (bench/ab's AB_RUN): each
iteration one `run true` on each (the order alternating) and one fork+exec; prints both
sides against the anchor and the B/A ratio of each iteration's pair (its median)."""
import statistics
import subprocess
import sys
import time

from wclient import Client, fmt, percentiles


def run_true(c, h):
    t0 = time.perf_counter()
    st, _, _ = c.call("run", h, "true")
    dt = (time.perf_counter() - t0) * 1000
    assert st == 0
    return dt


def fork_exec():
    t0 = time.perf_counter()
    subprocess.run(["/bin/true"], check=True)
    return (time.perf_counter() - t0) * 1000


sock, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
socks = [sock] + sys.argv[3:4]
clients = [Client(s) for s in socks]
handles = []
try:
    for c in clients:
        handles.append(c.call("create"))
    for _ in range(10):
        for c, h in zip(clients, handles):
            c.call("run", h, "true")
    rt = [[] for _ in clients]
    fe = []
    if len(clients) == 1:
        rt[0] = [run_true(clients[0], handles[0]) for _ in range(runs)]
        fe = [fork_exec() for _ in range(runs)]
    else:
        for i in range(runs):
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for k in order:
                rt[k].append(run_true(clients[k], handles[k]))
            fe.append(fork_exec())
finally:
    for c, h in zip(clients, handles):
        c.call("destroy", h)
p_fe = percentiles(fe)
for k, name in enumerate(["run true (warden)"] if len(clients) == 1 else ["run true, A", "run true, B"]):
    p = percentiles(rt[k])
    print(fmt(name, p))
print(fmt("fork+exec /bin/true (host)", p_fe))
for k, name in enumerate([""] if len(clients) == 1 else ["A ", "B "]):
    print("%sratio p50: %.2fx (goal <= 1.5x)" % (name, percentiles(rt[k])["p50"] / p_fe["p50"]))
if len(clients) == 2:
    pair = [b / a for a, b in zip(rt[0], rt[1])]
    print("B/A: p50 %.3f, pairwise median %.3f, B - A p50 %+.3f ms (n=%d)" % (
        percentiles(rt[1])["p50"] / percentiles(rt[0])["p50"], statistics.median(pair),
        percentiles(rt[1])["p50"] - percentiles(rt[0])["p50"], runs))
