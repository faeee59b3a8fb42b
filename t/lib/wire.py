#!/usr/bin/env python3
"""Raw client of a wardend socket, for the protocol tests.

  wire.py SOCK send [-n LINES] [-t SECS] [-g SECS] [--close] [--raw] [--when-read FILE] DATA...
      Write each DATA as its own write() (-g: pause between writes, so a line arrives
      split across reads), then read LINES reply lines and print them, each re-serialised
      canonically (sorted keys, no spaces; --raw: the bytes as received).  --when-read:
      once the server has read every byte written (none left queued on the socket), and
      before reading any reply, create FILE (exit 1 if that takes longer than the timeout).
      DATA: text with \\n \\t \\0 \\xNN \\\\ escapes;
      "-" = stdin; "@FILE" = the file's bytes; "py:EXPR" = a Python bytes expression.
      Exit 0: LINES lines read and (with --close) the server then closed the connection.
      Exit 1: fewer lines before the timeout.  Exit 2: --close but still open at the timeout.
      Exit 3: the server closed the connection before LINES lines.
      Exit 4: a reply line is not valid UTF-8 JSON.
  wire.py SOCK conns N        open N connections at once, ping on each; exit 0 if all answered.
  wire.py SOCK stall          a client stalls mid-line; another must still be answered.
  wire.py SOCK flood [SECS]   a client floods pings and never reads; another must keep being
                              answered and the flooder must be dropped within SECS.
  wire.py SOCK starve N PID [--wshd]
                              with the server PID limited to fewer than N descriptors: open
                              N connections, check PID stays idle (no accept loop spinning on
                              EMFILE), then free some and check the last client is answered
                              (--wshd: wshd's ping and reply instead of wardend's).
Every wait is bounded (default 30 s) so a broken server fails the test instead of hanging it.
"""
import codecs
import fcntl
import json
import os
import select
import socket
import struct
import sys
import termios
import time

PING = b'["ping"]\n'


def is_pong(line):
    try:
        return json.loads(line) == {"type": "object", "payload": "pong"}
    except (ValueError, TypeError):
        return False


def die(msg, code=1):
    print("wire: " + msg, file=sys.stderr)
    sys.exit(code)


def unescape(s):
    if s == "-":
        return sys.stdin.buffer.read()
    if s.startswith("@"):
        with open(s[1:], "rb") as f:
            return f.read()
    if s.startswith("py:"):
        env = {"__builtins__": {}, "bytes": bytes, "range": range, "bytearray": bytearray}
        v = eval(s[3:], env, {})  # test-author input only
        return v if isinstance(v, bytes) else str(v).encode()
    return codecs.escape_decode(os.fsencode(s))[0]


def connect(path, kind=socket.SOCK_STREAM):
    c = socket.socket(socket.AF_UNIX, kind)
    c.connect(path)
    return c


class Reader:
    """Line reader with a deadline; returns None on timeout, b"" at EOF."""

    def __init__(self, sock):
        self.sock, self.buf, self.eof = sock, b"", False

    def _fill(self, deadline):
        """Read once more; False on timeout."""
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.sock], [], [], left)[0]:
            return False
        try:
            data = self.sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
        self.buf += data
        return True

    def line(self, deadline):
        while b"\n" not in self.buf:
            if self.eof:
                return b""
            if not self._fill(deadline):
                return None
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def wait_close(self, deadline):
        while not self.eof:
            if not self._fill(deadline):
                return False
        return True


def unread_bytes(sock):
    """What the peer has not read yet of what we wrote (SIOCOUTQ; AF_UNIX counts
    buffer space until the peer has consumed the whole write)."""
    return struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ, b"\0" * 4))[0]


def cmd_send(path, args):
    lines, timeout, close, data, gap, raw = 1, 30.0, False, [], 0.0, False
    when_read = None
    while args:
        a = args.pop(0)
        if a == "--when-read":
            when_read = args.pop(0)
        elif a == "-g":
            gap = float(args.pop(0))
        elif a == "--raw":
            raw = True
        elif a == "-n":
            lines = int(args.pop(0))
        elif a == "-t":
            timeout = float(args.pop(0))
        elif a == "--close":
            close = True
        else:
            data.append(unescape(a))
    c = connect(path)
    try:
        for i, d in enumerate(data):
            if i and gap:
                time.sleep(gap)
            c.sendall(d)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close early (request too large); read what it said
    r, deadline = Reader(c), time.monotonic() + timeout
    if when_read is not None:
        while unread_bytes(c) > 0:
            if time.monotonic() >= deadline:
                die("the server did not read the request within %g s" % timeout, 1)
            time.sleep(0.005)
        open(when_read, "a").close()
    for i in range(lines):
        line = r.line(deadline)
        if line is None:
            die("timeout after %d of %d reply lines" % (i, lines), 1)
        if line == b"":
            die("server closed the connection after %d of %d reply lines" % (i, lines), 3)
        if not raw:
            try:
                line = canon(line)
            except ValueError as e:
                sys.stdout.buffer.write(line + b"\n")
                die("reply line %d is not valid UTF-8 JSON: %s" % (i + 1, e), 4)
        sys.stdout.buffer.write(line + b"\n")
        sys.stdout.flush()
    if close and not r.wait_close(deadline):
        die("server did not close the connection within %g s" % timeout, 2)
    return 0


def canon(line):
    obj = json.loads(line.decode("utf-8"))
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def ping_ok(path, timeout=30.0):
    c = connect(path)
    try:
        c.sendall(PING)
        line = Reader(c).line(time.monotonic() + timeout)
        return is_pong(line)
    finally:
        c.close()


def cmd_conns(path, n):
    socks = [connect(path) for _ in range(n)]
    for s in socks:
        s.sendall(PING)
    deadline, bad = time.monotonic() + 60, 0
    for s in socks:
        if not is_pong(Reader(s).line(deadline)):
            bad += 1
    for s in socks:
        s.close()
    if bad:
        die("%d of %d connections not answered" % (bad, n))
    print("%d connections answered" % n)
    return 0


def cmd_stall(path):
    staller = connect(path)
    staller.sendall(b'["pi')
    if not ping_ok(path):
        die("a client that sent half a line blocked another client")
    staller.sendall(b'ng"]\n')
    if not is_pong(Reader(staller).line(time.monotonic() + 30)):
        die("the stalled client was not answered once its line was complete")
    staller.close()
    print("stalled client blocked nobody")
    return 0


def cmd_flood(path, secs):
    flooder = connect(path)
    flooder.setblocking(False)
    chunk, sent, deadline = PING * 512, 0, time.monotonic() + secs
    checks = 0
    while time.monotonic() < deadline:
        try:
            sent += flooder.send(chunk)
            continue
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            if not ping_ok(path):
                die("server stopped answering after dropping the flooder")
            print("flooder dropped after %d bytes; %d checks answered" % (sent, checks))
            return 0
        # The flooder's socket is full: the server must still serve others meanwhile.
        if not ping_ok(path):
            die("a client that never reads blocked another client (after %d bytes)" % sent)
        checks += 1
        select.select([], [flooder], [], 0.2)
    die("flooder not dropped within %g s (%d bytes sent, %d checks answered)"
        % (secs, sent, checks))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cmd_starve(path, n, pid, wshd=False):
    # wshd speaks one JSON message per SOCK_SEQPACKET packet, wardend one per line.
    kind, ping = (socket.SOCK_SEQPACKET, b'{"op":"ping"}') if wshd else (socket.SOCK_STREAM, PING)
    socks = [connect(path, kind) for _ in range(n)]
    for s in socks:
        s.sendall(ping)
    time.sleep(0.3)
    before = cpu_seconds(pid)
    time.sleep(1.0)
    used = cpu_seconds(pid) - before
    if used > 0.3:
        die("the server used %.2f s of CPU in 1 s while out of descriptors" % used)
    # Keep a quarter: fewer than the descriptors the closed ones give back.
    for s in socks[: n - n // 4]:
        s.close()
    last = socks[-1]
    if wshd:
        ok = bool(select.select([last], [], [], 30)[0])
        line = last.recv(1 << 16) if ok else None
        ok = ok and json.loads(line).get("ok") is True
    else:
        line = Reader(last).line(time.monotonic() + 30)
        ok = is_pong(line)
    if not ok:
        die("the last client was not answered after descriptors were freed: %r" % line)
    for s in socks[n - n // 4:]:
        s.close()
    print("idle while starved (%.2f s CPU in 1 s); last client answered" % used)
    return 0


def main(argv):
    if len(argv) < 3:
        die(__doc__.strip(), 100)
    path, mode, rest = argv[1], argv[2], argv[3:]
    if mode == "send":
        return cmd_send(path, rest)
    if mode == "conns":
        return cmd_conns(path, int(rest[0]))
    if mode == "stall":
        return cmd_stall(path)
    if mode == "starve":
        return cmd_starve(path, int(rest[0]), int(rest[1]), rest[2:] == ["--wshd"])
    if mode == "flood":
        return cmd_flood(path, float(rest[0]) if rest else 120.0)
    die("unknown mode " + mode, 100)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
