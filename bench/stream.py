#!/usr/bin/env python3
"""Stream throughput of a job writing SIZE MiB, against `cat` through a pipe.

The job writes with dd inside the container; the client reads base64 stream lines and
counts decoded bytes without a JSON parser per line (the lines have one fixed shape),
so the figure is the server's and the transport's, not Python's."""
import socket
import subprocess
import sys
import time

from wclient import Client

sock, mib = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1024
total = mib << 20
c = Client(sock)
h = c.call("create")
try:
    job = c.call("spawn", h, "dd if=/dev/zero bs=1048576 count=%d 2>/dev/null" % mib,
                 {"output": "base64"})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(b'["stream","%s",%d]\n' % (h.encode(), job))
    head, end = b'{"type":"object","payload":["stdout","', b'{"type":"object","payload":[]}'
    # One buffer, received into in place; only the unfinished line is ever moved.
    got, done, used = 0, False, 0
    data = bytearray(1 << 23)
    t0 = time.perf_counter()
    while not done:
        if used == len(data):
            data.extend(bytes(len(data)))
        n = s.recv_into(memoryview(data)[used:])
        if n == 0:
            raise EOFError("server closed the stream")
        start, used = 0, used + n
        while True:
            nl = data.find(b"\n", start, used)
            if nl < 0:
                break
            if data.startswith(end, start) and nl - start == len(end):
                done = True
                break
            if not data.startswith(head, start) or data[nl - 3:nl] != b'"]}':
                raise ValueError(bytes(data[start:start + 80]))
            b64 = nl - start - len(head) - 3
            got += b64 // 4 * 3 - data[nl - 5:nl - 3].count(b"=")
            start = nl + 1
        if start:
            data[:used - start] = data[start:used]
            used -= start
    dt = time.perf_counter() - t0
    s.close()
finally:
    c.call("destroy", h)
assert got == total, (got, total)
t0 = time.perf_counter()
subprocess.run("head -c %d /dev/zero | cat > /dev/null" % total, shell=True, check=True)
dc = time.perf_counter() - t0
print("stream %d MiB: %.2f s, %.0f MiB/s" % (mib, dt, mib / dt))
print("cat through a pipe: %.2f s, %.0f MiB/s" % (dc, mib / dc))
print("ratio: %.2fx (goal: at least 0.3x)" % ((mib / dt) / (mib / dc)))
