#!/usr/bin/env python3
"""net in and net out on a live container: request round trip over N of each (each
adds one rule, so the last ones meet the longest chains), then destroy with them."""
import sys
import time

from wclient import Client, fmt, percentiles

sock, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
c = Client(sock)
h = c.call("create")
t_in, t_out = [], []
try:
    for i in range(runs):
        t0 = time.perf_counter()
        c.call("net", h, "in", 8000 + i)
        t_in.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        c.call("net", h, "out", "10.%d.%d.0/24:%d" % (i // 250, i % 250, 1000 + i))
        t_out.append((time.perf_counter() - t0) * 1000)
finally:
    t0 = time.perf_counter()
    c.call("destroy", h)
    t_destroy = (time.perf_counter() - t0) * 1000
print(fmt("net in", percentiles(t_in)))
print(fmt("net out", percentiles(t_out)))
print("destroy with %d net in + %d net out rules: %.2f ms" % (runs, runs, t_destroy))
