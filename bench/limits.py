#!/usr/bin/env python3
"""limit latency on a live container (mem set, alternating two values, and a read),
and what a disk image adds to create and destroy (disk_size_mb against none)."""
import sys
import time

from wclient import Client, fmt, percentiles

sock, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50
c = Client(sock)


def timed(fn):
    t0 = time.perf_counter()
    r = fn()
    return r, (time.perf_counter() - t0) * 1000


h = c.call("create")
set_ms, get_ms, cpu_ms = [], [], []
for i in range(4 * runs):
    set_ms.append(timed(lambda: c.call("limit", h, "mem", (64 + (i % 2) * 64) << 20))[1])
    get_ms.append(timed(lambda: c.call("limit", h, "mem"))[1])
    cpu_ms.append(timed(lambda: c.call("limit", h, "cpu", 256 + (i % 2) * 256))[1])
c.call("destroy", h)
print(fmt("limit mem (set)", percentiles(set_ms)))
print(fmt("limit mem (read)", percentiles(get_ms)))
print(fmt("limit cpu (set)", percentiles(cpu_ms)))

for label, cfg in (("create", {}), ("create disk_size_mb 64", {"disk_size_mb": 64}),
                   ("create disk_size_mb 1024", {"disk_size_mb": 1024})):
    create, destroy = [], []
    for _ in range(runs):
        h, ms = timed(lambda: c.call("create", cfg) if cfg else c.call("create"))
        create.append(ms)
        destroy.append(timed(lambda: c.call("destroy", h))[1])
    print(fmt(label, percentiles(create)))
    print(fmt("  destroy", percentiles(destroy)))
