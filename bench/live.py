#!/usr/bin/env python3
"""Create with many live containers against none, what the live ones cost, and a load run.

Creates and destroys RUNS containers on an empty daemon (create p50/p90), then brings
LIVE containers up, creates and destroys RUNS more beside them, and reports the ratio of
the p50s, the proportional set size (PSS, /proc/PID/smaps_rollup) of each idle wshd and
wardend's resident set with LIVE containers. Then, for LOAD_SECS seconds, CLIENTS
clients (one connection each) run `true` in containers picked round robin: errors and
the round trip's p50/p99. Everything it made is destroyed."""
import sys
import threading
import time

from wclient import Client, fmt, percentiles

sock, live, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wardend_pid = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] != "0" else None
load_secs = float(sys.argv[5]) if len(sys.argv) > 5 else 0
clients = int(sys.argv[6]) if len(sys.argv) > 6 else 100
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
    load_rt, load_err, errors = [], [0], []
    if load_secs > 0 and handles:
        deadline = time.perf_counter() + load_secs
        lock = threading.Lock()

        def client(k):
            rt = []
            try:
                cl = Client(sock)
            except OSError as e:
                with lock:
                    load_err[0] += 1
                    errors.append(repr(e))
                return
            i = k
            while time.perf_counter() < deadline:
                h = handles[i % len(handles)]
                i += clients
                t0 = time.perf_counter()
                try:
                    st, _, _ = cl.call("run", h, "true")
                    ok = st == 0
                except (OSError, RuntimeError, EOFError, ValueError) as e:
                    ok = False
                    errors.append(repr(e))
                    cl = Client(sock)
                rt.append((time.perf_counter() - t0) * 1000)
                if not ok:
                    with lock:
                        load_err[0] += 1
            with lock:
                load_rt.extend(rt)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
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
if load_rt:
    s = sorted(load_rt)
    print("load: %d live, %d clients running `true` for %.0f s: %d runs, %d errors, "
          "round trip p50 %.1f ms, p99 %.1f ms (goal 0 errors, p99 <= 50 ms)" %
          (live, clients, load_secs, len(s), load_err[0], s[len(s) // 2],
           s[min(len(s) - 1, int(len(s) * 0.99))]))
    for e in errors[:3]:
        print("  error: %s" % e)
