#!/usr/bin/env python3
"""The fault proof: N rounds of `kill -9` of wardend at a random moment while clients
create, destroy, spawn, stream, set `limit mem` and ask for `net in` ports (the last two
once the server has them: a "not supported" answer turns them off, and the figures say
so), each followed by a restart and checks.

  killnine.py CONFIG ROUNDS SECONDS      (run by bench/killnine, which makes CONFIG)
  killnine.py --restart100 CONFIG N      restart time with N live containers

After each restart:
  - every container whose create was answered (and not destroyed) is listed, with the
    memory limit last answered, and a DNAT rule in the kernel for each answered host
    port (no port answered to two live containers);
  - nothing is listed that no create could have made;
  - every answered job links with status 0 and exactly the bytes it wrote (the script
    writes a known sequence), and every stream's bytes before the kill were a prefix;
  - no job id is ever handed out twice, and a create never answers with the handle of a
    container still alive;
  - no interface, chain, cgroup, mount, loop device, depot entry, wshd or hook process of
    this instance is left for any id that is not alive.
Exit 0 when every round passed; the figures go to stdout either way.
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wclient import Client, percentiles, fmt  # noqa: E402


class ServerGone(Exception):
    pass


class BadReply(Exception):
    pass


class Conn(Client):
    """Client whose reply lines, when not JSON, fail with the raw bytes."""

    def decode(self, line):
        try:
            return json.loads(line)
        except ValueError as e:
            raise BadReply("%s: %r" % (e, line[:200]))


def connect(path):
    try:
        c = Conn(path)
        c.sock.settimeout(60)  # a hung server fails the round instead of hanging it
        return c
    except OSError as e:
        raise ServerGone(str(e))


def call(c, *args):
    try:
        return c.call(*args)
    except (EOFError, OSError) as e:
        raise ServerGone(str(e))


class State:
    """What the clients were answered, shared by the worker threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.alive = {}  # handle -> id
        self.maybe = {}  # handle or "?" -> id (unanswered create / destroy)
        self.jobs = {}  # job id -> (handle, expected stdout bytes)
        self.job_ids = set()
        self.streams = []  # (job id, bytes streamed before the kill)
        self.counts = dict(create=0, destroy=0, spawn=0, stream=0, limit=0, net=0, lost=0)
        self.limits = {}  # handle -> answered `limit mem` bytes
        self.ports = {}  # handle -> [answered `net in` host ports]
        self.cut = {}  # op -> requests cut by a kill
        self.unsupported = set()  # "limit", "net": refused as not built
        self.errors = []
        self.serial = 0

    def fail(self, msg):
        with self.lock:
            self.errors.append(msg)


def job_script(token, lines):
    # Some sleeps so that jobs span the kill; output is known in advance.
    return ('i=0; while [ $i -lt %d ]; do echo "%s $i"; i=$((i+1)); '
            'if [ $((i %% 20)) = 0 ]; then sleep 0.05; fi; done' % (lines, token))


def expected(token, lines):
    return "".join("%s %d\n" % (token, i) for i in range(lines)).encode()


def worker(sock, st, stop, rnd):
    c = None
    while not stop.is_set():
        op = "connect"
        try:
            if c is None:
                c = connect(sock)
            op = rnd.choices(["create", "destroy", "spawn", "stream", "limit", "net"],
                             [3, 2, 4, 2, 1, 1])[0]
            if op in st.unsupported:
                op = "spawn"
            with st.lock:
                handles = list(st.alive)
                st.serial += 1
                serial = st.serial
            if op == "create" or not handles:
                name = "kn%d" % serial if rnd.random() < 0.5 else None
                with st.lock:
                    st.maybe[name or "?%d" % serial] = None
                h = call(c, "create", {"handle": name} if name else {})
                with st.lock:
                    st.maybe.pop(name or "?%d" % serial, None)
                    if h in st.alive:
                        st.errors.append("create answered %s, the handle of a live container" % h)
                    st.alive[h] = None  # its id: from info, at the check
                    st.counts["create"] += 1
            elif op == "destroy":
                h = rnd.choice(handles)
                with st.lock:
                    if h not in st.alive:
                        continue
                    st.maybe[h] = st.alive.pop(h)
                    # Its jobs go unchecked from now on: the handle may be a new
                    # container's (ids are networks) by the next check.
                    for j in [j for j, v in st.jobs.items() if v[0] == h]:
                        st.jobs.pop(j)
                    st.limits.pop(h, None)
                    st.ports.pop(h, None)
                call(c, "destroy", h)
                with st.lock:
                    st.maybe.pop(h, None)
                    st.counts["destroy"] += 1
            elif op in ("limit", "net"):
                h = rnd.choice(handles)
                try:
                    if op == "limit":
                        m = rnd.randint(64, 256) << 20
                        call(c, "limit", h, "mem", m)
                    else:
                        r = call(c, "net", h, "in", 8080)
                except RuntimeError as e:
                    if "not supported" in str(e):
                        with st.lock:
                            st.unsupported.add(op)
                    continue
                with st.lock:
                    if h in st.alive:
                        if op == "limit":
                            st.limits[h] = m
                        else:
                            st.ports.setdefault(h, []).append(r["host_port"])
                    st.counts[op] += 1
            else:
                h = rnd.choice(handles)
                token = "t%d-%x" % (serial, rnd.getrandbits(32))
                lines = rnd.randint(1, 400)
                try:
                    j = call(c, "spawn", h, job_script(token, lines))
                except RuntimeError:
                    continue  # destroyed meanwhile by another worker
                with st.lock:
                    if j in st.job_ids:
                        st.errors.append("job id %d handed out twice" % j)
                    st.job_ids.add(j)
                    if h in st.alive:  # else a destroy of it has begun
                        st.jobs[j] = (h, expected(token, lines))
                    st.counts["spawn"] += 1
                if op == "stream":
                    got = bytearray()
                    try:
                        c.sock.sendall(json.dumps(["stream", h, j]).encode() + b"\n")
                        while True:
                            r = c._line()
                            if r["type"] == "error" or r["payload"] == []:
                                break
                            if r["payload"][0] == "stdout":
                                got += r["payload"][1].encode()
                        with st.lock:
                            st.counts["stream"] += 1
                    except (EOFError, OSError):
                        with st.lock:
                            st.streams.append((j, bytes(got)))
                        raise ServerGone("mid-stream")
                    with st.lock:
                        st.streams.append((j, bytes(got)))
        except ServerGone:
            with st.lock:
                st.counts["lost"] += 1
                st.cut[op] = st.cut.get(op, 0) + 1
            if c:
                c.close()
            c = None
            stop.wait(0.05)
        except RuntimeError:
            pass  # a refusal (destroyed meanwhile, pool empty): not a fault
        except BadReply as e:
            st.fail("a reply is not JSON: %s" % e)
            c.close()
            c = None
    if c:
        c.close()


class Daemon:
    def __init__(self, conf, build):
        self.conf_path = conf
        self.conf = json.load(open(conf))
        self.sock = self.conf["server"]["unix_domain_path"]
        self.depot = self.conf["server"]["container_depot_path"]
        self.inst = self.conf["server"]["instance"]
        self.bin = os.path.join(build, "src/wardend/wardend")
        self.proc = None

    def start(self, bound=60.0):
        t0 = time.monotonic()
        self.proc = subprocess.Popen([self.bin, "-c", self.conf_path],
                                     stdout=subprocess.DEVNULL, stderr=open(self.depot + ".log", "ab"),
                                     start_new_session=True)
        while time.monotonic() - t0 < bound:
            if self.proc.poll() is not None:
                raise SystemExit("wardend exited with %s at start" % self.proc.returncode)
            try:
                c = Client(self.sock)
                ok = c.call("ping") == "pong"
                c.close()
                if ok:
                    return (time.monotonic() - t0) * 1000.0
            except (OSError, EOFError):
                pass
            time.sleep(0.002)
        raise SystemExit("wardend did not answer within %.0f s" % bound)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def term(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def sh(cmd):
    return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True).stdout


def leaks(d, live_ids):
    """What of this instance is left in the kernel and the depot for ids not alive."""
    inst, depot, left = d.inst, d.depot, []

    def interfaces():
        out = []
        for line in sh("ip -o link show").splitlines():
            name = line.split(": ")[1].split("@")[0] if ": " in line else ""
            if name.startswith(inst + "-") and name.split("-")[1] not in live_ids:
                out.append("interface " + name)
        return out

    # destroy leaves a veth pair to its dying network namespace (DESIGN.md: nothing on
    # the reply path that the kernel does by itself), which the kernel frees on its own
    # time after the reply: a pair still there 10 s on is left over.
    deadline = time.time() + 10
    while interfaces() and time.time() < deadline:
        time.sleep(0.1)
    left += interfaces()
    for table in ("filter", "nat"):
        for line in sh("iptables -w -t %s -S" % table).splitlines():
            if line.startswith("-N warden-%s-" % inst):
                rest = line.split()[1][len("warden-%s-" % inst):]
                if len(rest) == 8 and rest not in live_ids:
                    left.append("chain " + line.split()[1])
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        if os.path.basename(root) == "warden-" + inst:
            left += ["cgroup %s/%s" % (root, x) for x in dirs if x not in live_ids]
            dirs[:] = []
        elif root.count("/") > 5:
            dirs[:] = []
    for line in open("/proc/self/mounts"):
        mp = line.split()[1]
        if mp.startswith(depot + "/") and mp[len(depot) + 1:][:8] not in live_ids:
            left.append("mount " + mp)
    for line in sh("losetup -a").splitlines():
        if depot + "/" in line and line.split(depot + "/")[1][:8] not in live_ids:
            left.append("loop " + line)
    for e in os.listdir(depot):
        if len(e) == 8 and all(x in "0123456789abcdef" for x in e) and e not in live_ids:
            left.append("depot entry " + e)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read()
            env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        for kv in env:
            if kv.startswith(b"container_path=" + depot.encode() + b"/"):
                cid = kv.decode(errors="replace")[len("container_path=") + len(depot) + 1:][:8]
                if cid not in live_ids:
                    left.append("process %s %s" % (pid, cmd.replace(b"\0", b" ")[:60]))
                break
        if cmd.startswith(b"wshd: "):
            cid = cmd[6:14].decode(errors="replace")
            try:
                cg = open("/proc/%s/cgroup" % pid).read()
            except OSError:
                continue
            if ("warden-%s/" % inst) in cg and cid not in live_ids:
                left.append("wshd %s of %s" % (pid, cid))
    return left


def check_round(d, st, rnd_no):
    """After a restart: the books against the server and the kernel."""
    c = connect(d.sock)
    listed = set(c.call("list"))
    with st.lock:
        alive, maybe = dict(st.alive), dict(st.maybe)
    for h in alive:
        if h not in listed:
            st.fail("round %d: %s was answered for and is gone" % (rnd_no, h))
    for h in listed - set(alive):
        if h not in maybe and not any(k.startswith("?") for k in maybe):
            st.fail("round %d: %s is listed, but no create could have made it" % (rnd_no, h))
    # The books now follow the server: an unanswered create that made it is alive,
    # an unanswered destroy that went through is gone.
    ids, infos = {}, {}
    for h in listed:
        infos[h] = c.call("info", h)
        ids[h] = infos[h]["id"]
    with st.lock:
        limits, ports = dict(st.limits), {h: list(p) for h, p in st.ports.items()}
    for h, m in limits.items():
        if h in infos and (infos[h].get("limits") or {}).get("mem") != m:
            st.fail("round %d: %s: limit mem %r after the restart, %d answered" % (
                rnd_no, h, (infos[h].get("limits") or {}).get("mem"), m))
    nat = sh("iptables -w -t nat -S")
    owner = {}
    for h, ps in ports.items():
        if h not in infos:
            continue
        for p in ps:
            if p in owner:
                st.fail("round %d: host port %d answered to %s and %s" % (rnd_no, p, owner[p], h))
            owner[p] = h
            if ("--dport %d " % p) not in nat:
                st.fail("round %d: %s: no DNAT for host port %d after the restart" % (rnd_no, h, p))
    with st.lock:
        st.alive = ids
        st.maybe = {}
        st.limits = {h: m for h, m in st.limits.items() if h in ids}
        st.ports = {h: p for h, p in st.ports.items() if h in ids}
        jobs = dict(st.jobs)
        streams, st.streams = st.streams, []
    # Jobs: byte-complete (the socket's timeout bounds each link).
    done = {}
    for j, (h, want) in jobs.items():
        if h not in ids:
            continue
        try:
            r = c.call("link", h, j)
        except RuntimeError as e:
            st.fail("round %d: link %s %d: %s" % (rnd_no, h, j, e))
            continue
        got = (r[1] or "").encode()
        if r[0] != 0 or got != want:
            st.fail("round %d: job %d of %s: status %r, %d of %d bytes%s" % (
                rnd_no, j, h, r[0], len(got), len(want), "" if got == want[:len(got)] else ", differing"))
        done[j] = want
    for j, got in streams:
        if j not in jobs:  # its container's destroy began: unchecked
            continue
        want = jobs[j][1]
        if got != want[:len(got)]:
            st.fail("round %d: stream of job %d is not a prefix of its output" % (rnd_no, j))
    with st.lock:
        for j in done:  # checked once; their ids stay in job_ids
            st.jobs.pop(j, None)
        for j in list(st.jobs):
            if st.jobs[j][0] not in ids:
                st.jobs.pop(j)
    c.close()
    left = leaks(d, set(ids.values()))
    for x in left:
        st.fail("round %d: left over: %s" % (rnd_no, x))
    return len(listed)


def shrink(d, st):
    """Keep the pool from filling: destroy down to a handful between rounds."""
    c = Client(d.sock)
    with st.lock:
        hs = list(st.alive)
    random.shuffle(hs)
    for h in hs[6:]:
        c.call("destroy", h)
        with st.lock:
            st.alive.pop(h, None)
            st.limits.pop(h, None)
            st.ports.pop(h, None)
            for j in [j for j, v in st.jobs.items() if v[0] == h]:
                st.jobs.pop(j)
    c.close()


def fault_proof(conf, rounds, seconds, build):
    d = Daemon(conf, build)
    st = State()
    restarts, t_end = [], time.monotonic() + seconds
    seed = int(os.environ.get("KN_SEED", int(time.time())))
    rng = random.Random(seed)
    print("# seed %d (KN_SEED), %d rounds at most, %d s at most, instance %s" % (
        seed, rounds, seconds, d.inst))
    d.start()
    done_rounds = 0
    try:
        for rnd_no in range(1, rounds + 1):
            if time.monotonic() > t_end:
                print("# time bound reached after %d rounds" % done_rounds)
                break
            stop = threading.Event()
            ws = [threading.Thread(target=worker, args=(d.sock, st, stop, random.Random(rng.random())))
                  for _ in range(3)]
            for w in ws:
                w.start()
            time.sleep(rng.uniform(0.05, 1.5))
            d.kill9()
            time.sleep(rng.uniform(0, 0.2))
            restarts.append(d.start())
            stop.set()
            for w in ws:
                w.join(120)
            n = check_round(d, st, rnd_no)
            shrink(d, st)
            done_rounds = rnd_no
            if rnd_no % 10 == 0:
                print("# round %d: %d containers listed, %d errors so far" % (rnd_no, n, len(st.errors)),
                      flush=True)
    finally:
        try:
            c = Client(d.sock)
            for h in c.call("list"):
                c.call("destroy", h)
            c.close()
        except (OSError, EOFError, RuntimeError) as e:
            print("# cleanup: %s" % e)
        d.term()
    print("rounds %d; answered: %d creates, %d destroys, %d spawns, %d whole streams, "
          "%d limit mem, %d net in; %d requests cut by a kill" % (
              done_rounds, st.counts["create"], st.counts["destroy"], st.counts["spawn"],
              st.counts["stream"], st.counts["limit"], st.counts["net"], st.counts["lost"]))
    print("cut by a kill (connect: refused while no wardend ran): " + ", ".join("%s %d" % kv for kv in sorted(st.cut.items())))
    for op in sorted(st.unsupported):
        print("# not checked: %s (this server says it is not supported yet)" % op)
    if restarts:
        print(fmt("restart until ping answers", percentiles(restarts)))
    left = leaks(d, set())
    for x in left:
        st.errors.append("after the last destroy: left over: %s" % x)
    for e in st.errors[:50]:
        print("FAIL " + e)
    if st.errors:
        log = d.depot + ".log"
        not_adopted = [x for x in open(log, errors="replace") if "not adopted" in x]
        print("# wardend's log: %s (kept); %d containers not adopted:" % (log, len(not_adopted)))
        for x in not_adopted[:20]:
            print("#   " + x.rstrip())
    print("%d failures" % len(st.errors))
    return 1 if st.errors else 0


def restart_many(conf, n, build, reps=5):
    d = Daemon(conf, build)
    d.start()
    c = Client(d.sock)
    t0 = time.monotonic()
    hs = [c.call("create") for _ in range(n)]
    print("# %d containers created in %.1f s" % (n, time.monotonic() - t0))
    c.close()
    times = []
    try:
        for _ in range(reps):
            d.kill9()
            times.append(d.start())
            c = Client(d.sock)
            listed = c.call("list")
            c.close()
            if sorted(listed) != sorted(hs):
                print("FAIL: %d of %d adopted" % (len(set(listed) & set(hs)), n))
                return 1
        print(fmt("restart, %d live containers" % n, percentiles(times)))
    finally:
        c = Client(d.sock)
        for h in c.call("list"):
            c.call("destroy", h)
        c.close()
        d.term()
    return 0


if __name__ == "__main__":
    build = os.environ["KN_BUILD"]
    if sys.argv[1] == "--restart100":
        sys.exit(restart_many(sys.argv[2], int(sys.argv[3]), build))
    sys.exit(fault_proof(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), build))
