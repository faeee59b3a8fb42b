#!/usr/bin/env python3
"""subreaper.py PIDFILE CMD...: what an engine (conmon, containerd-shim) does around an OCI
runtime's create: become a child subreaper, run CMD (create, then anything), read the
container's pid from PIDFILE, wait for that process (it is ours once CMD has exited and
it was reparented), and print `exited N` or `signaled N`. Used by t/71-oci.bats."""
import ctypes, os, subprocess, sys

PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl: %s" % os.strerror(ctypes.get_errno()))
pidfile, cmd = sys.argv[1], sys.argv[2:]
rc = subprocess.call(cmd)
if rc != 0:
    print("create failed %d" % rc, flush=True)
    sys.exit(1)
pid = int(open(pidfile).read())
print("created %d" % pid, flush=True)
# Tell the test we are waiting; it starts, signals or deletes the container.
open(pidfile + ".waiting", "w").close()
while True:
    try:
        got, status = os.waitpid(-1, 0)
    except ChildProcessError:
        print("not a child", flush=True)
        sys.exit(1)
    if got == pid:
        break
if os.WIFSIGNALED(status):
    print("signaled %d" % os.WTERMSIG(status), flush=True)
else:
    print("exited %d" % os.WEXITSTATUS(status), flush=True)
