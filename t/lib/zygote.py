#!/usr/bin/env python3
"""zygote.py BUILTINS SCRIPT INPUT...: drive warden-builtins.so's zygote builtin as wardend
does (src/lib/hookrun.c hookrun_fork). Starts `bash -c SCRIPT zygote BUILTINS` with its
stdin a Unix socket, waits for the "R" SCRIPT writes there before it runs `zygote`, then
for each INPUT sends one byte with three descriptors (a socket for the child's stdin and
a pipe for its stdout and stderr), reads the child's pid, writes INPUT to the child's
stdin and closes it, reads its output to EOF and reaps it with waitpid (it must be our
child). Prints `driver PID` and `zygote PID` first, then per INPUT `child N PID`, the
child's output and `exited N` or `signaled N`; an INPUT "@nofds" sends the byte alone
and prints the zygote's answer (`answer N`). At the end closes the socket and prints
`zygote exited N`.
zygote.py --fd FD INPUT...: the same with the zygote that `zygote -c` made before it
exec'd this (FD its socket; no "R"): each INPUT is then a hook runner's request (a hook
file's path, then K=V words: NUL-separated as src/lib/hookrun.c sends it). Used by
t/10-hooks.bats."""
import os, socket, struct, subprocess, sys

zyg = None
if sys.argv[1] == "--fd":
    ours, inputs = socket.socket(fileno=int(sys.argv[2])), sys.argv[3:]
    inputs = ["\0".join([i.split()[0], "", "0"] + i.split()[1:]) + "\0" for i in inputs]
    print("driver %d" % os.getpid(), flush=True)
else:
    builtins, script, inputs = sys.argv[1], sys.argv[2], sys.argv[3:]
    ours, theirs = socket.socketpair()
    zyg = subprocess.Popen(["bash", "--noprofile", "--norc", "-c", script, "zygote", builtins],
                           stdin=theirs)
    theirs.close()
    print("driver %d" % os.getpid())
    print("zygote %d" % zyg.pid, flush=True)
    if ours.recv(1) != b"R":
        sys.exit("zygote.py: no R from the zygote (exit %s)" % zyg.wait())
for n, text in enumerate(inputs):
    if text == "@nofds":
        ours.send(b"F")
        print("answer %d" % struct.unpack("i", ours.recv(4))[0], flush=True)
        continue
    r, w = os.pipe()
    mine, child = socket.socketpair()
    socket.send_fds(ours, [b"F"], [child.fileno(), w, w])
    child.close()
    os.close(w)
    pid = struct.unpack("i", ours.recv(4))[0]
    print("child %d %d" % (n, pid), flush=True)
    mine.sendall(text.encode())
    mine.shutdown(socket.SHUT_WR)
    with os.fdopen(r, "rb") as out:
        sys.stdout.write(out.read().decode())
    got, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        print("signaled %d" % os.WTERMSIG(status), flush=True)
    else:
        print("exited %d" % os.WEXITSTATUS(status), flush=True)
    mine.close()
ours.close()
if zyg is not None:
    print("zygote exited %d" % zyg.wait(), flush=True)
