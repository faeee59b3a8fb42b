#!/usr/bin/env python3
"""Round trip of `run true` on a live container, against fork+exec of /bin/true."""
import subprocess
import sys
import time

from wclient import Client, fmt, percentiles

sock, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
c = Client(sock)
h = c.call("create")
try:
    for _ in range(10):
        c.call("run", h, "true")
    rt = []
    for _ in range(runs):
        t0 = time.perf_counter()
        st, _, _ = c.call("run", h, "true")
        rt.append((time.perf_counter() - t0) * 1000)
        assert st == 0
    fe = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["/bin/true"], check=True)
        fe.append((time.perf_counter() - t0) * 1000)
finally:
    c.call("destroy", h)
p_rt, p_fe = percentiles(rt), percentiles(fe)
print(fmt("run true (warden)", p_rt))
print(fmt("fork+exec /bin/true (host)", p_fe))
print("ratio p50: %.2fx (goal <= 1.5x)" % (p_rt["p50"] / p_fe["p50"]))
