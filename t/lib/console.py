#!/usr/bin/env python3
"""console.py OCI ROOT WSOCK BUNDLE ID: what an engine does with process.terminal (runc's
--console-socket protocol). Listen on a unix socket, become a child subreaper, run
`OCI create --console-socket SOCK ID`, take the pty master it sends (SCM_RIGHTS), `start`,
then on the master: once the output holds "ready", set the window to 40 x 120, wait a
moment and type "go\\r"; read until EOF (the keeper ended). Print the master's name as
sent, everything read from it, and the keeper's end (`exited N`); delete the container.
Bounded: 60 s."""
import array, ctypes, fcntl, os, select, socket, struct, subprocess, sys, tempfile, termios, time

oci, root, wsock, bundle, cid = sys.argv[1:6]
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the keeper is ours to wait for
base = [oci, "--root", root, "--socket", wsock]
d = tempfile.mkdtemp()
path = os.path.join(d, "console.sock")
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(path)
ls.listen(1)
ls.settimeout(30)
pidfile = os.path.join(d, "pid")
create = subprocess.Popen(base + ["create", "--bundle", bundle, "--console-socket", path,
                                  "--pid-file", pidfile, cid])
conn, _ = ls.accept()
msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4))
fds = array.array("i")
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
if len(fds) != 1:
    sys.exit("console.py: no descriptor on the console socket")
master = fds[0]
print("name:" + msg.decode(), flush=True)
if create.wait() != 0:
    sys.exit("console.py: create failed")
keeper = int(open(pidfile).read())
if subprocess.call(base + ["start", cid]) != 0:
    sys.exit("console.py: start failed")
out, typed, deadline = b"", False, time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([master], [], [], 0.5)
    if r:
        try:
            b = os.read(master, 65536)
        except OSError:
            break
        if not b:
            break
        out += b
    if not typed and b"ready" in out:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        time.sleep(1)
        os.write(master, b"go\r")
        typed = True
    if b"end" in out:
        break
sys.stdout.write(out.decode(errors="replace"))
_, st = os.waitpid(keeper, 0)
print("exited %d" % os.WEXITSTATUS(st) if os.WIFEXITED(st) else "signaled %d" % os.WTERMSIG(st))
subprocess.call(base + ["delete", "--force", cid])
