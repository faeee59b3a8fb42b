#!/usr/bin/env python3
"""Create with many live containers against none, and what the live ones cost.

Creates and destroys RUNS containers on an empty daemon (create p50/p90), then brings
LIVE containers up, creates and destroys RUNS more beside them, and reports the ratio of
the p50s, the proportional set size (PSS, /proc/PID/smaps_rollup) of each idle wshd and
wardend's resident set with LIVE containers. Everything it made is destroyed."""
import os
import sys
import time

from wclient import Client, fmt, percentiles

sock, live, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wardend_pid = int(sys.argv[4]) if len(sys.argv) > 4 else None
c = Client(sock)


def creates(n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        h = c.call("create")
        out.append((time.perf_counter() - t0) * 1000)
        c.call("destroy", h)
    return out


def kib(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


empty = creates(runs)
handles = []
try:
    for _ in range(live):
        handles.append(c.call("create"))
    full = creates(runs)
    pss = []
    for h in handles[: min(len(handles), 50)]:
        path = c.call("info", h)["container_path"]
        with open(path + "/run/wshd.pid") as f:
            pid = int(f.read())
        pss.append(kib("/proc/%d/smaps_rollup" % pid, "Pss"))
    rss = kib("/proc/%d/status" % wardend_pid, "VmRSS") if wardend_pid else 0
finally:
    for h in handles:
        c.call("destroy", h)
p0, p1 = percentiles(empty), percentiles(full)
print(fmt("create, 0 live", p0))
print(fmt("create, %d live" % live, p1))
print("create p50 with %d live / with 0: %.2f (goal <= 1.2 at 250)" % (live, p1["p50"] / p0["p50"]))
pss.sort()
print("wshd PSS per idle container: p50 %d KiB, max %d KiB (n=%d; goal <= 512 KiB)" %
      (pss[len(pss) // 2], pss[-1], len(pss)))
if rss:
    print("wardend RSS with %d containers: %.1f MiB (goal <= 16 MiB at 250)" % (live, rss / 1024))
