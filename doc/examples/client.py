#!/usr/bin/env python3
"""A complete client of wardend in one file, with nothing but the standard library.

    python3 doc/examples/client.py [SOCKET]      (default /run/warden/warden.sock)

Connects, creates a container, runs a job and prints its exit status and output,
streams a second job's output as it comes, and destroys the container, even when
a step fails. Each request is one JSON array on one line; each reply one JSON
object on one line, {"type": "object"|"error", "payload": ...} (doc/protocol.md).
Output is asked for as base64, so the bytes printed are exactly the job's.
Exit status: 0 done, 1 the server refused a request, 111 no connection.
"""
import base64
import json
import socket
import sys


class WardenError(Exception):
    """The server answered {"type": "error"}: the payload is its message."""


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""

    def send(self, *request):
        self.sock.sendall(json.dumps(list(request)).encode() + b"\n")

    def read(self):
        """One reply line; the payload, or WardenError."""
        while b"\n" not in self.buf:
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("wardend closed the connection")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        reply = json.loads(line)
        if reply["type"] == "error":
            raise WardenError(reply["payload"])
        return reply["payload"]

    def call(self, *request):
        self.send(*request)
        return self.read()

    def stream(self, handle, job):
        """Yield (name, bytes) for each chunk of the job's output until it ends."""
        self.send("stream", handle, job, {"output": "base64"})
        while True:
            chunk = self.read()
            if not chunk:  # [] closes the stream
                return
            yield chunk[0], base64.b64decode(chunk[1])


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/run/warden/warden.sock"
    try:
        c = Client(path)
    except OSError as e:
        print(f"client.py: connect to {path}: {e.strerror}", file=sys.stderr)
        return 111
    out = sys.stdout.buffer
    try:
        print("ping:", c.call("ping"), flush=True)
        handle = c.call("create", {"grace_time": 30, "properties": {"by": "client.py"}})
        print("created:", handle, flush=True)
        try:
            status, stdout, stderr = c.call("run", handle, "echo hello from $(hostname); exit 3",
                                            {"output": "base64"})
            print("run: exit status", status, flush=True)
            out.write(base64.b64decode(stdout))
            out.write(base64.b64decode(stderr))
            out.flush()
            job = c.call("spawn", handle, "for i in 1 2 3; do echo line $i; done")
            print("stream:", flush=True)
            for name, data in c.stream(handle, job):
                (out if name == "stdout" else sys.stderr.buffer).write(data)
                out.flush()
            print("info: state", c.call("info", handle)["state"], flush=True)
        finally:
            print("destroy:", c.call("destroy", handle), flush=True)
    except WardenError as e:
        print(f"client.py: wardend: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
