#!/usr/bin/env python3
"""Helpers of t/43-job-io.bats that a shell cannot do.

  jobio.py passfd SOCK REQ [--data FILE] [--winsize ROWS COLS] [--keep SECS]
      Send the spawn request REQ (a JSON array with pass_fds in its options) on SOCK, take
      the descriptor that comes with the reply, print the job id and the descriptor's
      kind ("fifo" or "tty") on one line. Then --winsize: TIOCSWINSZ on it; --data: write
      FILE's bytes to it; then close it (a pipe: the job's EOF) unless --keep holds it
      open for SECS seconds first. Exit 1 when no descriptor came.
  jobio.py pty ROWS COLS SEND_AFTER SEND -- CMD...
      Run CMD on a new pty of ROWS x COLS; once its output holds SEND_AFTER, write SEND
      (\\r, \\n, \\xNN escapes); write everything CMD printed to stdout and exit with
      its status (128+N when killed by signal N). Bounded: 60 s.
"""
import array
import codecs
import fcntl
import json
import os
import pty
import select
import socket
import stat
import struct
import sys
import termios
import time


def passfd(argv):
    sock, req = argv[0], argv[1]
    data = winsize = None
    keep = 0.0
    i = 2
    while i < len(argv):
        if argv[i] == "--data":
            data, i = argv[i + 1], i + 2
        elif argv[i] == "--winsize":
            winsize, i = (int(argv[i + 1]), int(argv[i + 2])), i + 3
        elif argv[i] == "--keep":
            keep, i = float(argv[i + 1]), i + 2
        else:
            sys.exit("passfd: unknown argument " + argv[i])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(req.encode() + b"\n")
    buf, fds = b"", []
    while not buf.endswith(b"\n"):
        msg, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(4 * 4))
        if not msg:
            break
        buf += msg
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(cdata[: len(cdata) - (len(cdata) % a.itemsize)])
                fds.extend(a)
    reply = json.loads(buf)
    if reply.get("type") != "object" or not fds:
        print(json.dumps(reply), file=sys.stderr)
        sys.exit(1)
    fd = fds[0]
    for extra in fds[1:]:
        os.close(extra)
    mode = os.fstat(fd).st_mode
    kind = "tty" if os.isatty(fd) else "fifo" if stat.S_ISFIFO(mode) else "other"
    print(reply["payload"], kind, flush=True)
    if winsize:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", winsize[0], winsize[1], 0, 0))
    if data:
        with open(data, "rb") as f:
            b = f.read()
        off = 0
        while off < len(b):
            try:
                off += os.write(fd, b[off:])
            except BlockingIOError:  # a pty master is non-blocking: its flags are wshd's
                select.select([], [fd], [], 1)
    if keep:
        time.sleep(keep)
    os.close(fd)
    s.close()


def ptyrun(argv):
    rows, cols, after = int(argv[0]), int(argv[1]), argv[2].encode()
    send = codecs.escape_decode(argv[3].encode())[0]
    assert argv[4] == "--"
    cmd = argv[5:]
    pid, master = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvp(cmd[0], cmd)
    out, sent, deadline = b"", False, time.time() + 60
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                b = os.read(master, 65536)
            except OSError:  # EIO: every slave is closed
                break
            if not b:
                break
            out += b
        if not sent and after in out:
            os.write(master, send)
            sent = True
    else:
        os.kill(pid, 9)
    _, st = os.waitpid(pid, 0)
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    sys.exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))


if __name__ == "__main__":
    {"passfd": passfd, "pty": ptyrun}[sys.argv[1]](sys.argv[2:])
