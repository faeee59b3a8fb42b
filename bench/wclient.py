"""A minimal Warden protocol client for the benchmarks (one JSON line out, one in)."""
import json
import socket


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""

    def _line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError("server closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return self.decode(line)

    def decode(self, line):
        """One reply line as JSON; a subclass may say more about a bad one."""
        return json.loads(line)

    def call(self, *args):
        self.sock.sendall(json.dumps(list(args)).encode() + b"\n")
        reply = self._line()
        if reply["type"] == "error":
            raise RuntimeError(reply["payload"])
        return reply["payload"]

    def stream(self, *args):
        """Yield stream payloads until the closing []."""
        self.sock.sendall(json.dumps(list(args)).encode() + b"\n")
        while True:
            reply = self._line()
            if reply["type"] == "error":
                raise RuntimeError(reply["payload"])
            if reply["payload"] == []:
                return
            yield reply["payload"]

    def close(self):
        self.sock.close()


def percentiles(samples_ms):
    s = sorted(samples_ms)
    pick = lambda q: s[min(len(s) - 1, int(round(q * (len(s) - 1))))]
    return {"p50": pick(0.5), "p90": pick(0.9), "min": s[0], "max": s[-1], "n": len(s)}


def fmt(name, p):
    return "%-28s p50 %7.2f ms   p90 %7.2f ms   min %7.2f   max %7.2f   (n=%d)" % (
        name, p["p50"], p["p90"], p["min"], p["max"], p["n"])
