#!/usr/bin/env python3
"""Stream throughput of a job writing SIZE MiB, against `cat` through a pipe."""
import base64
import subprocess
import sys
import time

from wclient import Client

sock, mib = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1024
total = mib << 20
c = Client(sock)
h = c.call("create")
try:
    job = c.call("spawn", h, "head -c %d /dev/zero" % total, {"output": "base64"})
    got = 0
    t0 = time.perf_counter()
    for kind, chunk in c.stream("stream", h, job):
        got += len(base64.b64decode(chunk))
    dt = time.perf_counter() - t0
finally:
    c.call("destroy", h)
assert got == total, (got, total)
t0 = time.perf_counter()
subprocess.run("head -c %d /dev/zero | cat > /dev/null" % total, shell=True, check=True)
dc = time.perf_counter() - t0
print("stream %d MiB: %.2f s, %.0f MiB/s" % (mib, dt, mib / dt))
print("cat through a pipe: %.2f s, %.0f MiB/s" % (dc, mib / dc))
print("ratio: %.2fx (goal: at least 0.3x)" % ((mib / dt) / (mib / dc)))
