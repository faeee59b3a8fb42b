#!/usr/bin/env python3
"""Stream throughput of a job writing SIZE MiB, against `cat` through a pipe, RUNS times.

The job writes with dd inside the container and has ended before the timing starts,
so the figures are of serving stored output. Two clients: a Python one that reads
base64 stream lines and counts decoded bytes without a JSON parser per line (the
server's and the transport's figure), and the C CLI, `warden stream H J | cat
>/dev/null` (decoding and writing the bytes, as a user runs it). The anchor is
`head -c SIZE /dev/zero | cat >/dev/null`, timed in the same loop."""
import socket
import subprocess
import sys
import time

from wclient import Client, percentiles

sock, mib = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1024
cli = sys.argv[3] if len(sys.argv) > 3 else None
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
total = mib << 20


def py_stream(h, job):
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
    assert got == total, (got, total)
    return dt


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True)
    return time.perf_counter() - t0


c = Client(sock)
h = c.call("create")
py, cl, cat = [], [], []
try:
    job = c.call("spawn", h, "dd if=/dev/zero bs=1048576 count=%d 2>/dev/null" % mib,
                 {"output": "base64"})
    while c.call("info", h)["job_ids"]:
        time.sleep(0.1)
    for _ in range(runs):
        py.append(py_stream(h, job))
        if cli:
            cl.append(timed("%s -s %s stream %s %d | cat >/dev/null" % (cli, sock, h, job)))
        cat.append(timed("head -c %d /dev/zero | cat >/dev/null" % total))
finally:
    c.call("destroy", h)


def rate(samples):
    p = percentiles(samples)
    return mib / p["p50"], mib / p["p90"]  # MiB/s at the median time, and at p90


a50, a90 = rate(cat)
for name, s in (("stream, Python client", py), ("stream, warden CLI | cat", cl)):
    if s:
        r50, r90 = rate(s)
        print("%-28s p50 %6.0f MiB/s  p90 %6.0f MiB/s   cat through a pipe p50 %6.0f MiB/s"
              "   ratio %.2fx  (goal >= 0.5x, n=%d, %d MiB)" % (name, r50, r90, a50, r50 / a50,
                                                                  len(s), mib))
