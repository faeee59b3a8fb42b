#!/usr/bin/env python3
"""Create with many live containers against none, what the live ones cost, and a load run.

Creates and destroys RUNS containers on an empty daemon (create p50/p90), then brings
LIVE containers up, creates and destroys RUNS more beside them, and reports the ratio of
the p50s, the proportional set size (PSS, /proc/PID/smaps_rollup) of each idle wshd and
wardend's resident set with LIVE containers. Then, for LOAD_SECS seconds, CLIENTS
clients (one connection each) run `true` in containers picked round robin: errors and
the round trip's p50/p99: a closed loop, each client sending its next request when the
last is answered, so the round trip is the queue of CLIENTS requests over what the
machine serves per second (Little's law), not a stall. With RATE (> 0, runs per second
for all clients together) a second, paced run follows: each client sends on a fixed
schedule (RATE/CLIENTS per second, offsets spread) and the round trip counts from the
scheduled moment, so a late answer also delays what it held up (no coordinated
omission). Everything it made is destroyed."""
import sys
import threading
import time

from wclient import Client, fmt, percentiles

sock, live, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wardend_pid = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] != "0" else None
load_secs = float(sys.argv[5]) if len(sys.argv) > 5 else 0
clients = int(sys.argv[6]) if len(sys.argv) > 6 else 100
rate = float(sys.argv[7]) if len(sys.argv) > 7 else 0
c = Client(sock)


def load(rate):
    """CLIENTS clients running `true` for load_secs: (round trips in ms, errors, first
    error texts). rate 0: closed loop; else each sends on a schedule of rate/clients/s
    and a round trip counts from its scheduled send."""
    load_rt, load_err, errors = [], [0], []
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
        i, n = k, 0
        start = time.perf_counter() + (k / rate if rate else 0)
        while True:
            t0 = start + n * clients / rate if rate else time.perf_counter()
            if t0 >= deadline:
                break
            if rate:
                time.sleep(max(0.0, t0 - time.perf_counter()))
            h = handles[i % len(handles)]
            i += clients
            n += 1
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
    return load_rt, load_err[0], errors



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
    loads = []
    if load_secs > 0 and handles:
        loads.append(("closed loop", load(0)))
        if rate > 0:
            loads.append(("paced at %.0f runs/s" % rate, load(rate)))
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
for name, (load_rt, load_err, errors) in loads:
    if not load_rt:
        continue
    s = sorted(load_rt)
    print("load, %s: %d live, %d clients running `true` for %.0f s: %d runs (%.0f/s), %d errors, "
          "round trip p50 %.1f ms, p99 %.1f ms (goal 0 errors, p99 <= 50 ms)" %
          (name, live, clients, load_secs, len(s), len(s) / load_secs, load_err, s[len(s) // 2],
           s[min(len(s) - 1, int(len(s) * 0.99))]))
    for e in errors[:3]:
        print("  error: %s" % e)
