#!/usr/bin/env bats
# wshd and wsh on their own: real namespaces, a busybox rootfs, the minimal hooks of
# t/fixtures/wshd-hooks (no wardend, no real hooks). Each test gets its own container
# directory; teardown kills the wshd it started (by the pid in run/wshd.pid: pid 1 of
# the container, so every process inside goes with it) and removes the directory.

load helpers

WSHD=$WARDEN_BUILD/src/wshd/wshd
WSH=$WARDEN_BUILD/src/wshd/wsh
HOOKS=$WARDEN_SRC/t/fixtures/wshd-hooks

setup_file() {
	[[ $(id -u) == 0 ]] || return 0
	local r=$BATS_FILE_TMPDIR/rootfs
	"$WARDEN_SRC/scripts/mkrootfs-busybox" "$r" >/dev/null
	echo 'vcap:x:10001:10001:vcap:/home/vcap:/bin/sh' >>"$r/etc/passwd"
	printf '%s\n' 'vcap:x:10001:' 'extra:x:20000:root,vcap' >>"$r/etc/group"
	mkdir -p "$r/home/vcap"
	chown 10001:10001 "$r/home/vcap"
	# A tiny SOCK_SEQPACKET client: client.py SOCK [JSON|@FILE]... sends each message
	# on one connection and prints each reply (bounded wait).
	cat >"$BATS_FILE_TMPDIR/client.py" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(30)
s.connect(sys.argv[1])
for arg in sys.argv[2:]:
    data = open(arg[1:], "rb").read() if arg.startswith("@") else arg.encode()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, len(data) + 65536)
    s.send(data)
    print(s.recv(1 << 21).decode())
PY
}

setup() {
	requires root
	[[ -x $WSHD && -x $WSH ]] || skip "wshd/wsh not built in $WARDEN_BUILD"
	T=$(mktemp -d /tmp/wshd-test.XXXXXX)
	C=$T/c
	S=$C/run/wshd.sock
	mkdir -p "$C"/{run,jobs,log,mnt}
	WSHD_PID=
	WSHD_ARGS=()
}

teardown() {
	[[ -n ${T:-} ]] || return 0
	local pid=${WSHD_PID:-$(cat "$C/run/wshd.pid" 2>/dev/null || true)}
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		wait_for 10 eval "! kill -0 $pid 2>/dev/null" || true
	fi
	# The container's mounts live in its own namespace; this is only a safety net.
	awk -v p="$T/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do umount -l "$m" || true; done
	rm -rf --one-file-system "$T"
	unset T
}

start_wshd() {
	run_cmd env container_path="$C" rootfs_path="$BATS_FILE_TMPDIR/rootfs" "$@" \
		"$WSHD" --run "$C/run" --hooks "$HOOKS" --root "$C/mnt" --title "wshd: test" "${WSHD_ARGS[@]}"
}

started() {
	start_wshd "$@"
	assert_success
	WSHD_PID=$(cat "$C/run/wshd.pid")
}

client() { python3 "$BATS_FILE_TMPDIR/client.py" "$S" "$@"; }

# wsh_run ARGS...: wsh on this container's socket, stdin from /dev/null.
wsh_run() { run_cmd "$WSH" --socket "$S" "$@" </dev/null; }

@test "wshd starts, runs the hooks in order, writes wshd.pid and answers ping" {
	started
	[[ -S $S ]]
	[[ $(stat -c %a "$S") == 600 ]]
	kill -0 "$WSHD_PID"
	run_cmd cat "$C/hooks.trace"
	assert_output "before-clone
after-clone $WSHD_PID
before-pivot"
	run_cmd client '{"op":"ping"}'
	assert_output '{"ok":true,"pid":1}'
	# Hooks get SIGPIPE back at its default (wshd ignores it) and only 0, 1, 2 (and the
	# fd ls opens) of wshd's descriptors.
	local ign
	ign=$(awk '{ print $2 }' "$C/hook.sigign")
	(((16#$ign & (1 << 12)) == 0)) || _explain "SIGPIPE ignored in a hook: SigIgn $ign"
	run_cmd cat "$C/hook.fds"
	assert_output "$(printf '0\n1\n2\n3')"
}

@test "wshd is linked as configure chose: statically (no program interpreter) unless sanitized or asked not to" {
	local mk=$WARDEN_BUILD/Makefile ldflags
	[[ -f $mk ]] || skip "no Makefile in $WARDEN_BUILD"
	ldflags=$(sed -n 's/^WSHD_LDFLAGS = //p' "$mk")
	run_cmd readelf -l "$WSHD"
	assert_success
	if [[ $ldflags == -static ]]; then
		refute_output_contains "program interpreter"
	else
		assert_output_contains "program interpreter"
	fi
	# auto links it statically whenever it can: not sanitized, the static libraries there.
	if ! sanitized && ! grep -q -- "static-wshd" "$WARDEN_BUILD/config.log" &&
		[[ -f /usr/lib/x86_64-linux-gnu/libjson-c.a && -f /usr/lib/x86_64-linux-gnu/libbsd.a ]]; then
		[[ $ldflags == -static ]] || _explain "auto did not link wshd statically: WSHD_LDFLAGS '$ldflags'"
	fi
	# Either way it starts and serves.
	started
	run_cmd client '{"op":"ping"}'
	assert_output '{"ok":true,"pid":1}'
}

@test "out of descriptors: wshd pauses accepting instead of spinning, then serves the queue" {
	started
	run_cmd prlimit --pid "$WSHD_PID" --nofile=32:32
	assert_success
	run_cmd python3 "$WARDEN_SRC/t/lib/wire.py" "$S" starve 64 "$WSHD_PID" --wshd
	assert_success
	wsh_run echo still serving
	assert_output "still serving"
}

@test "pid 1 of the container is wshd with its title; the after-pivot hook ran inside" {
	started
	wsh_run --user root cat /proc/1/cmdline
	assert_output_contains "wshd: test"
	wsh_run cat /tmp/after-pivot
	assert_output "after-pivot"
	run_cmd find "$BATS_FILE_TMPDIR/rootfs" -maxdepth 1 -name '.wshd-oldroot-*'
	assert_output ""
}

@test "wsh passes the exit code, stdin, stdout and stderr through" {
	started
	wsh_run sh -c 'exit 3'
	assert_failure 3
	run_cmd bash -c "echo hello | '$WSH' --socket '$S' tr a-z A-Z"
	assert_output "HELLO"
	run_cmd bash -c "'$WSH' --socket '$S' sh -c 'echo out; echo err >&2' 2>'$T/err'"
	assert_output "out"
	[[ $(cat "$T/err") == err ]]
	local rc=0
	"$WSH" --socket "$S" nonexistent-command </dev/null 2>"$T/err" || rc=$?
	[[ $rc == 127 ]]
	grep -q "exec nonexistent-command: No such file" "$T/err"
}

@test "users come from the container's passwd and group; env arrives" {
	started
	wsh_run id -u
	assert_output 10001
	wsh_run id -G
	assert_output "10001 20000"
	wsh_run --user root id -u
	assert_output 0
	# shellcheck disable=SC2016 # expanded in the container
	wsh_run --user vcap --env FOO=bar --env X='a b' sh -c 'echo "$FOO|$X|$HOME|$USER|$PATH|$LANG|$(pwd)"'
	assert_output "bar|a b|/home/vcap|vcap|/usr/local/bin:/usr/bin:/bin|en_US.UTF-8|/home/vcap"
	# A refusal is wsh's own failure (111), not a status of the process.
	wsh_run --user nobody-here true
	assert_failure 111
	assert_output_contains "unknown user nobody-here"
	wsh_run --rlimit nofile=17 sh -c 'ulimit -n'
	assert_output 17
}

@test "a process gets only descriptors 0, 1 and 2" {
	started
	wsh_run ls /proc/self/fd
	# 3 is the directory ls itself opened.
	assert_output "0
1
2
3"
}

@test "wsh exits 111 when wshd cannot be reached, naming the socket" {
	run_cmd "$WSH" --socket "$BATS_TEST_TMPDIR/none.sock" true
	assert_failure 111
	assert_output "wsh: connect to $BATS_TEST_TMPDIR/none.sock: No such file or directory"
}

@test "a killed process makes wsh exit 255; wsh forwards SIGTERM" {
	started
	wsh_run sh -c 'kill -9 $$'
	assert_failure 255
	"$WSH" --socket "$S" sleep 1000 </dev/null &
	local wpid=$!
	# The sleep is wshd's child (its pid 1's): find it from the host.
	sleeping() { ps -e -o ppid=,comm= | awk -v p="$WSHD_PID" '$1 == p && $2 == "sleep"' | grep -q .; }
	wait_for 20 sleeping
	kill -TERM "$wpid"
	local rc=0
	wait "$wpid" || rc=$?
	[[ $rc == 255 ]]
	wait_for 20 eval '! sleeping'
}

@test "wsh without a command: login shell on a pty from a terminal, plain from a pipe" {
	started
	# wsh on a terminal of its own (python's pty), typing into it.
	run_cmd python3 - "$WSH" "$S" <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--socket", sys.argv[2]])
os.write(fd, b"echo $0 $(id -u) $(tty); exit 7\n")
out = b""
while True:
    try:
        d = os.read(fd, 4096)
    except OSError:  # EIO: wsh is gone
        break
    if not d:
        break
    out += d
_, st = os.waitpid(pid, 0)
print(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(st))
PY
	assert_failure 7
	assert_output_contains "-sh 10001 /dev/pts/"
	run_cmd bash -c "printf 'echo \$0 \$(id -u); tty; exit 5\n' | '$WSH' --socket '$S'"
	assert_failure 5
	assert_output "-sh 10001
not a tty"
}

@test "a failing child-before-pivot hook: precise last line (the hook's own last line in it), nothing left behind" {
	start_wshd wshd_test_fail=1
	assert_failure 111
	[[ ${lines[-1]} == "wshd: hook child-before-pivot.sh exited with status 1: child-before-pivot: failing on request" ]] ||
		_explain "last line"
	[[ ! -e $C/run/wshd.pid && ! -e $S ]]
	run_cmd pgrep -f "$C/run"
	assert_failure 1
}

@test "parent-after-clone.sh fails once the child has bound its socket (they run at once): the socket goes too" {
	cp -a "$HOOKS" "$T/hooks"
	cat >"$T/hooks/parent-after-clone.sh" <<'SH'
#!/bin/bash
for ((i = 0; i < 100; i++)); do [[ -S $container_path/run/wshd.sock ]] && break; sleep 0.05; done
[[ -S $container_path/run/wshd.sock ]] || { echo "parent-after-clone: no socket yet" >&2; exit 3; }
echo "parent-after-clone: failing after the child's socket" >&2
exit 2
SH
	HOOKS=$T/hooks start_wshd
	assert_failure 111
	[[ ${lines[-1]} == "wshd: hook parent-after-clone.sh exited with status 2: parent-after-clone: failing after the child's socket" ]] ||
		_explain "last line"
	[[ ! -e $C/run/wshd.pid && ! -e $S ]] || _explain "wshd.pid or the socket left"
	run_cmd pgrep -f "$C/run"
	assert_failure 1
}

# beside_pbc BODY: a copy of the fixture hooks whose parent-before-clone.sh has the line
# that lets it run beside the clone, records when it began and ended, and runs BODY.
beside_pbc() {
	cp -a "$HOOKS" "$T/hooks"
	cat >"$T/hooks/parent-before-clone.sh" <<SH
#!/bin/bash
# hook-runner: beside clone
echo "\$EPOCHREALTIME" >"\$container_path/pbc.begin"
$1
echo "\$EPOCHREALTIME" >"\$container_path/pbc.end"
SH
	# shellcheck disable=SC2016 # expanded by the hooks
	printf '%s\n' '#!/bin/bash' 'echo "$EPOCHREALTIME" >"$container_path/cbp.begin"' \
		"$(tail -n +2 "$HOOKS/child-before-pivot.sh")" >"$T/hooks/child-before-pivot.sh"
	# shellcheck disable=SC2016 # expanded by the hooks
	printf '%s\n' '#!/bin/bash' 'echo "$EPOCHREALTIME" >"$container_path/pac.begin"' \
		"$(tail -n +2 "$HOOKS/parent-after-clone.sh")" >"$T/hooks/parent-after-clone.sh"
}

@test "parent-before-clone.sh with '# hook-runner: beside clone' runs beside the clone: child-before-pivot.sh overlaps it, parent-after-clone.sh waits" {
	beside_pbc 'sleep 0.5'
	HOOKS=$T/hooks started
	local b e c p
	read -r b <"$C/pbc.begin"
	read -r e <"$C/pbc.end"
	read -r c <"$C/cbp.begin"
	read -r p <"$C/pac.begin"
	awk -v b="$b" -v e="$e" -v c="$c" -v p="$p" 'BEGIN { exit !(b < c && c < e && e < p) }' ||
		_explain "want parent-before-clone.sh's start $b < child-before-pivot.sh $c < its end $e < parent-after-clone.sh $p"
	run_cmd client '{"op":"ping"}'
	assert_output '{"ok":true,"pid":1}'
	# Without the line it comes before the clone, as always.
	kill -KILL "$WSHD_PID"
	wait_for 10 eval "! kill -0 $WSHD_PID 2>/dev/null"
	rm -rf "$C"/run/* "$C"/*.begin "$C"/*.end
	sed -i '/^# hook-runner: beside clone$/d' "$T/hooks/parent-before-clone.sh"
	HOOKS=$T/hooks started
	read -r e <"$C/pbc.end"
	read -r c <"$C/cbp.begin"
	awk -v e="$e" -v c="$c" 'BEGIN { exit !(e < c) }' ||
		_explain "want parent-before-clone.sh's end $e < child-before-pivot.sh $c"
}

@test "parent-before-clone.sh fails beside the clone: its last line, the child killed, nothing left behind" {
	beside_pbc 'sleep 0.3; echo "parent-before-clone: failing beside the clone" >&2; exit 4'
	HOOKS=$T/hooks start_wshd
	assert_failure 111
	[[ ${lines[-1]} == "wshd: hook parent-before-clone.sh exited with status 4: parent-before-clone: failing beside the clone" ]] ||
		_explain "last line"
	[[ -e $C/cbp.begin ]] || _explain "child-before-pivot.sh did not run beside it"
	[[ ! -e $C/pac.begin ]] || _explain "parent-after-clone.sh ran"
	[[ ! -e $C/run/wshd.pid && ! -e $S ]] || _explain "wshd.pid or the socket left"
	run_cmd pgrep -f "$C/run"
	assert_failure 1
}

@test "wshd --after: waits for G before the clone; a path that is not a pipe, or its end without G, fails and leaves nothing" {
	# Not a pipe: refused before any hook runs.
	WSHD_ARGS=(--after /etc/hostname)
	start_wshd
	assert_failure 111
	assert_output_contains "wshd: --after /etc/hostname: not a pipe"
	[[ ! -e $C/hooks.trace ]] || _explain "a hook ran"
	# A FIFO with no writer (gone without G): parent-before-clone.sh ran, no clone.
	mkfifo "$T/go"
	WSHD_ARGS=(--after "$T/go")
	start_wshd
	assert_failure 111
	assert_output_contains "wshd: setup.sh did not finish (no go on --after $T/go)"
	run_cmd cat "$C/hooks.trace"
	assert_output before-clone
	[[ ! -e $C/run/wshd.pid && ! -e $S ]] || _explain "wshd.pid or the socket left"
	run_cmd pgrep -f "$C/run"
	assert_failure 1
	# With G waiting in it (its writer still there) it clones and serves.
	rm -f "$C/hooks.trace"
	exec 4<>"$T/go"
	printf G >&4
	started
	exec 4>&-
	run_cmd client '{"op":"ping"}'
	assert_output '{"ok":true,"pid":1}'
}

@test "a hook that cannot be run (no exec bit): precise last line, nothing left behind" {
	cp -a "$HOOKS" "$T/hooks"
	chmod -x "$T/hooks/parent-after-clone.sh"
	HOOKS=$T/hooks start_wshd
	assert_failure 111
	[[ ${lines[-1]} == "wshd: hook parent-after-clone.sh: cannot run $T/hooks/parent-after-clone.sh: Permission denied" ]] ||
		_explain "last line"
	[[ ! -e $C/run/wshd.pid && ! -e $S ]]
	run_cmd pgrep -f "$C/run"
	assert_failure 1
}

@test "child-after-pivot.sh (the rootfs's /bin/sh) runs without the old root, bounded" {
	cp -a "$HOOKS" "$T/hooks"
	cat >"$T/hooks/child-after-pivot.sh" <<'SH'
ls -a / >/tmp/after-pivot.root
grep '^CapBnd:' /proc/self/status >/tmp/after-pivot.caps
SH
	WSHD_ARGS=(--caps "CHOWN,KILL")
	HOOKS=$T/hooks started
	# Read in the container's mount namespace, where they are.
	run_cmd nsenter -t "$WSHD_PID" -m cat /tmp/after-pivot.root /tmp/after-pivot.caps
	assert_success
	refute_output_contains .wshd-oldroot
	assert_output_contains "CapBnd:	0000000000000021" # CHOWN (0) and KILL (5)
}

@test "a child-after-pivot.sh of only comments and blank lines starts no shell" {
	cp -a "$HOOKS" "$T/hooks"
	cp -a "$BATS_FILE_TMPDIR/rootfs" "$T/rootfs"
	rm "$T/rootfs/bin/sh" # a shell started after pivot_root would fail the start
	printf '#!/bin/sh\n# only comments\n\n  \t# and blanks\n' >"$T/hooks/child-after-pivot.sh"
	HOOKS=$T/hooks started rootfs_path="$T/rootfs"
	run_cmd client '{"op":"ping"}'
	assert_output '{"ok":true,"pid":1}'
}

@test "a child-after-pivot.sh with one command after its comments is run" {
	cp -a "$HOOKS" "$T/hooks"
	cp -a "$BATS_FILE_TMPDIR/rootfs" "$T/rootfs"
	rm "$T/rootfs/bin/sh" # so the shell's start fails, which shows it was tried
	printf '#!/bin/sh\n# a comment\n:\n' >"$T/hooks/child-after-pivot.sh"
	HOOKS=$T/hooks start_wshd rootfs_path="$T/rootfs"
	assert_failure
	assert_output_contains "child-after-pivot.sh"
}

@test "no child-after-pivot.sh at all: wshd starts no shell after pivot_root and serves" {
	cp -a "$HOOKS" "$T/hooks"
	rm "$T/hooks/child-after-pivot.sh"
	# The fixture's after-pivot hook would leave /tmp/after-pivot in the (bound) rootfs.
	rm -f "$BATS_FILE_TMPDIR/rootfs/tmp/after-pivot"
	HOOKS=$T/hooks started
	[[ ! -e $BATS_FILE_TMPDIR/rootfs/tmp/after-pivot ]] || _explain "an after-pivot hook ran"
	run_cmd client '{"op":"ping"}'
	assert_output '{"ok":true,"pid":1}'
}

@test "exec'd processes: root gets --caps, the user none; both have the seccomp filter" {
	WSHD_ARGS=(--caps "CHOWN,KILL")
	started
	wsh_run --user root grep -E '^(CapBnd|CapEff|Seccomp):' /proc/self/status
	assert_success
	assert_output "$(printf 'CapEff:\t0000000000000021\nCapBnd:\t0000000000000021\nSeccomp:\t2')"
	wsh_run --user vcap grep -E '^(CapBnd|CapEff|Seccomp):' /proc/self/status
	assert_output "$(printf 'CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nSeccomp:\t2')"
}

@test "wshd --no-seccomp: exec'd processes run without the filter" {
	WSHD_ARGS=(--no-seccomp)
	started
	wsh_run grep '^Seccomp:' /proc/self/status
	assert_output "$(printf 'Seccomp:\t0')"
}

@test "wshd --caps: an unknown name is a usage error, nothing starts" {
	WSHD_ARGS=(--caps "CHOWN,SYS_GOD")
	start_wshd
	assert_failure 100
	assert_output "wshd: --caps: unknown capability \"SYS_GOD\""
	[[ ! -e $C/run/wshd.pid && ! -e $C/hooks.trace ]]
}

@test "garbage on the socket never takes wshd down" {
	started
	run_cmd client 'garbage' '[1,2]' '{"op":1}' '{"op":"nope"}' \
		'{"op":"exec","argv":["true"]}' '{"op":"spawn","job":-1,"script":"true"}' \
		'{"op":"spawn","job":1}' '{"op":"exec","argv":[],"pty":true}' \
		'{"op":"signal","signal":9}' '{"op":"spawn","job":1,"script":"true","rlimits":{"x":1}}'
	assert_success
	[[ $(grep -c '"error"' <<<"$output") == 10 ]] || _explain "10 error replies"
	printf '\xff\xfe{' >"$T/bad"
	run_cmd client "@$T/bad"
	assert_output_contains '"error"'
	run_cmd python3 -c "
import socket
for i in range(50):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect('$S'); s.send(b'x' * 1000); s.close()"
	assert_success
	kill -0 "$WSHD_PID"
	run_cmd client '{"op":"ping"}'
	assert_output '{"ok":true,"pid":1}'
}

@test "spawn writes jobs/N/stdout, stderr and status" {
	started
	run_cmd client '{"op":"spawn","job":1,"script":"echo out; echo err >&2; ls /proc/self/fd; exit 4"}'
	assert_output_contains '"ok":true'
	wait_for 20 test -e "$C/jobs/1/status"
	[[ $(cat "$C/jobs/1/status") == '{"exit":4}' ]]
	[[ $(cat "$C/jobs/1/stdout") == "out
0
1
2
3" ]]
	[[ $(cat "$C/jobs/1/stderr") == err ]]
	run_cmd client '{"op":"spawn","job":1,"script":"true"}'
	assert_output '{"error":"job 1 already exists"}'
	run_cmd client '{"op":"spawn","job":2,"script":"kill -TERM $$"}'
	wait_for 20 test -e "$C/jobs/2/status"
	[[ $(cat "$C/jobs/2/status") == '{"exit":null,"signal":15}' ]]
}

@test "spawn: an output file appears with its first byte, never without one; a finished job's status is a link of a shared file" {
	started
	run_cmd client '{"op":"spawn","job":1,"script":"sleep 2; echo late"}'
	assert_output_contains '"ok":true'
	[[ ! -e $C/jobs/1/stdout && ! -e $C/jobs/1/stderr ]] || _explain "output files before any output"
	wait_for 20 test -e "$C/jobs/1/status"
	[[ $(cat "$C/jobs/1/status") == '{"exit":0}' && $(cat "$C/jobs/1/stdout") == late ]]
	[[ ! -e $C/jobs/1/stderr ]] || _explain "no stderr: the job wrote none"
	run_cmd client '{"op":"spawn","job":2,"script":"true"}' '{"op":"spawn","job":3,"script":"exit 4"}'
	assert_success
	wait_for 20 test -e "$C/jobs/2/status"
	wait_for 20 test -e "$C/jobs/3/status"
	inode() { stat -c %i "$C/jobs/$1"; }
	[[ $(inode 1/status) == $(inode 2/status) && $(inode 2/status) == $(inode .status-exit-0) ]] ||
		_explain "jobs 1 and 2 share the status file of exit 0"
	[[ $(cat "$C/jobs/3/status") == '{"exit":4}' && $(inode 3/status) != $(inode 2/status) ]]
	run_cmd ls -A "$C/jobs/2"
	assert_output status
}

@test "spawn: the job's directory is the spare wshd made ahead, renamed; an existing one is still an error" {
	started
	inode() { stat -c %i "$C/jobs/$1"; }
	wait_for 20 test -d "$C/jobs/.spare"
	local spare
	spare=$(inode .spare)
	run_cmd client '{"op":"spawn","job":1,"script":"true"}'
	assert_output_contains '"ok":true'
	[[ $(inode 1) == "$spare" ]] || _explain "jobs/1 is the spare renamed"
	wait_for 20 test -d "$C/jobs/.spare"
	[[ $(inode .spare) != "$spare" ]] || _explain "a new spare after the spawn"
	spare=$(inode .spare)
	run_cmd client '{"op":"spawn","job":1,"script":"true"}'
	assert_output '{"error":"job 1 already exists"}'
	[[ $(inode .spare) == "$spare" && -z $(ls -A "$C/jobs/.spare") ]] || _explain "the spare kept, empty"
	# A spare that went away: mkdir, then a spare again.
	rmdir "$C/jobs/.spare"
	run_cmd client '{"op":"spawn","job":2,"script":"echo two"}'
	assert_output_contains '"ok":true'
	wait_for 20 test -e "$C/jobs/2/status"
	[[ $(cat "$C/jobs/2/stdout") == two ]]
	wait_for 20 test -d "$C/jobs/.spare"
}

@test "spawn: output limit, discard_output, long scripts, background children" {
	started
	run_cmd client '{"op":"spawn","job":1,"script":"yes 0123456789","output_limit":100000}' \
		'{"op":"spawn","job":2,"script":"yes | head -c 5000","discard_output":true}' \
		'{"op":"spawn","job":3,"script":"sleep 1000 & echo started"}'
	assert_success
	python3 -c "print('{\"op\":\"spawn\",\"job\":4,\"script\":\"echo first\\\\n' + '#' * 150000 + '\\\\necho last\"}')" >"$T/long.json"
	run_cmd client "@$T/long.json"
	assert_output_contains '"ok":true'
	for j in 1 2 3 4; do wait_for 20 test -e "$C/jobs/$j/status"; done
	[[ $(cat "$C/jobs/1/status") == '{"exit":null,"signal":9,"reason":"output limit"}' ]]
	[[ $(stat -c %s "$C/jobs/1/stdout") == 100000 ]]
	[[ $(cat "$C/jobs/2/status") == '{"exit":0}' && ! -s $C/jobs/2/stdout ]]
	[[ $(cat "$C/jobs/3/status") == '{"exit":0}' && $(cat "$C/jobs/3/stdout") == started ]]
	[[ $(cat "$C/jobs/4/status") == '{"exit":0}' ]]
	[[ $(cat "$C/jobs/4/stdout") == "first
last" ]]
}

@test "no zombies after many execs, spawns and orphans" {
	started
	local i
	for i in $(seq 1 30); do
		"$WSH" --socket "$S" sh -c 'sleep 0.01 & exit 0' </dev/null
	done
	for i in $(seq 1 10); do
		client "{\"op\":\"spawn\",\"job\":$i,\"script\":\"true & true\"}" >/dev/null
	done
	for i in $(seq 1 10); do wait_for 20 test -e "$C/jobs/$i/status"; done
	zombies() { ps -e -o ppid=,stat= | awk -v p="$WSHD_PID" '$1 == p && $2 ~ /^Z/' | grep -q .; }
	wait_for 20 eval '! zombies'
	kill -0 "$WSHD_PID"
}
