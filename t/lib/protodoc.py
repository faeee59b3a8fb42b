#!/usr/bin/env python3
"""The examples of doc/protocol.md, extracted and sent to a real wardend (t/85).

  protodoc.py DOC count [ENV]     print how many examples (requests) DOC holds for ENV
                                  (every ENV when none is given: "ENV N" per line)
  protodoc.py DOC envs            print the ENV names DOC's examples use, one a line
  protodoc.py DOC run SOCK [ENV]  send every example of ENV (default "main") in page order
                                  to the wardend at SOCK; print "ok"/"not ok" per example
                                  and "examples: N" at the end; exit 1 on any mismatch

An example block is a fenced code block whose info string is `wire`, optionally followed
by `env=NAME` (the server configuration it needs; t/85 starts one server per NAME; the
default is "main"). Each line of a block is one of:

  > REQUEST      a request line, sent as written (with <name> placeholders filled in)
  < REPLY        a reply line expected for the request above (one per reply line)
  # text         a comment
  (blank)

REPLY is compared byte for byte with what the server writes, except for two kinds of
placeholder: `...` matches anything (within the line), and `<name>` matches a run of
characters without `"` (part of a string, or a number) and remembers it: a later
`<name>` in a reply must match the same text, and a `<name>` in a request is replaced by
it. Every block runs on one connection of its own, its requests in order; when the
server closes it, the next request opens a new one. Text outside the blocks is prose
and is ignored, so sections can be added freely.
"""
import re
import select
import socket
import sys
import time

PLACEHOLDER = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>|\.\.\.")
TIMEOUT = 60.0


class DocError(Exception):
    pass


def parse(path):
    """[(env, lineno, [(lineno, request, [reply...])])] of every `wire` block."""
    blocks, cur, fence = [], None, None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = re.match(r"^(```+|~~~+)\s*(.*)$", line)
            if cur is None and fence is None and m:
                fence = m.group(1)
                words = m.group(2).split()
                if words and words[0] == "wire":
                    env = "main"
                    for w in words[1:]:
                        if not w.startswith("env="):
                            raise DocError("%s:%d: unknown block attribute %r" % (path, n, w))
                        env = w[4:]
                    cur = (env, n, [])
                continue
            if fence is not None and line.strip() == fence:
                if cur is not None:
                    if not cur[2]:
                        raise DocError("%s:%d: a wire block without requests" % (path, cur[1]))
                    blocks.append(cur)
                cur, fence = None, None
                continue
            if cur is None:
                continue
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("> "):
                cur[2].append((n, line[2:], []))
            elif line.startswith("< "):
                if not cur[2]:
                    raise DocError("%s:%d: a reply before any request" % (path, n))
                cur[2][-1][2].append(line[2:])
            else:
                raise DocError("%s:%d: not a request, reply or comment: %r" % (path, n, line))
    if fence is not None:
        raise DocError("%s: unterminated code block" % path)
    for _env, _n, reqs in blocks:
        for n, _req, replies in reqs:
            if not replies:
                raise DocError("%s:%d: a request without a reply" % (path, n))
    return blocks


def fill(request, known):
    def sub(m):
        if m.group(0) == "...":
            raise DocError("`...` in a request: %s" % request)
        name = m.group(1)
        if name not in known:
            raise DocError("<%s> used in a request before a reply gave it" % name)
        return known[name]

    return PLACEHOLDER.sub(sub, request)


def match(template, line, known):
    """True if LINE matches TEMPLATE; new placeholders are added to KNOWN."""
    pattern, names, pos = "", [], 0
    for m in PLACEHOLDER.finditer(template):
        pattern += re.escape(template[pos:m.start()])
        pos = m.end()
        if m.group(0) == "...":
            pattern += ".*?"
        elif m.group(1) in known:
            pattern += re.escape(known[m.group(1)])
        elif m.group(1) in names:
            pattern += "(?P=%s)" % m.group(1)
        else:
            names.append(m.group(1))
            pattern += '(?P<%s>[^"]*?)' % m.group(1)
    pattern += re.escape(template[pos:])
    r = re.fullmatch(pattern, line, re.S)
    if not r:
        return False
    for name in names:
        known[name] = r.group(name)
    return True


class Conn:
    def __init__(self, path):
        self.path, self.sock, self.buf = path, None, b""

    def send(self, data):
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(self.path)
            self.buf = b""
        self.sock.sendall(data)

    def line(self, deadline):
        """The next line, or None on timeout, b"" (and the connection dropped) at EOF."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            try:
                data = self.sock.recv(1 << 20)
            except ConnectionResetError:
                data = b""
            if not data:
                self.close()
                return b""
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def run(path, sock, env):
    known, count, bad = {}, 0, 0
    for benv, _n, reqs in parse(path):
        if benv != env:
            continue
        conn = Conn(sock)
        try:
            for n, req, replies in reqs:
                count += 1
                line = fill(req, known)
                conn.send(line.encode() + b"\n")
                deadline, why = time.monotonic() + TIMEOUT, None
                for want in replies:
                    got = conn.line(deadline)
                    if got is None:
                        why = "no reply within %g s; expected: %s" % (TIMEOUT, want)
                    elif got == b"":
                        why = "the server closed the connection; expected: %s" % want
                    else:
                        got = got.decode("utf-8", "replace")
                        if not match(want, got, known):
                            why = "expected: %s\n#   got:      %s" % (want, got)
                    if why:
                        break
                if why:
                    bad += 1
                    print("not ok %d doc/protocol.md:%d %s\n#   %s" % (count, n, line, why))
                    conn.close()
                else:
                    print("ok %d doc/protocol.md:%d %s" % (count, n, line))
        finally:
            conn.close()
    print("examples: %d" % count)
    return 1 if bad else 0


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 100
    doc, mode = argv[1], argv[2]
    try:
        if mode == "count":
            per = {}
            for env, _n, reqs in parse(doc):
                per[env] = per.get(env, 0) + len(reqs)
            if len(argv) > 3:
                print(per.get(argv[3], 0))
            else:
                for env in sorted(per):
                    print(env, per[env])
            return 0
        if mode == "envs":
            seen = []
            for env, _n, _reqs in parse(doc):
                if env not in seen:
                    seen.append(env)
            print("\n".join(seen))
            return 0
        if mode == "run":
            return run(doc, argv[3], argv[4] if len(argv) > 4 else "main")
    except DocError as e:
        print("protodoc: %s" % e, file=sys.stderr)
        return 2
    print("protodoc: unknown mode %s" % mode, file=sys.stderr)
    return 100


if __name__ == "__main__":
    sys.exit(main(sys.argv))
