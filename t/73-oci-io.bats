#!/usr/bin/env bats
# warden-oci and a process's input (doc/oci.md): the keeper passes its stdin (create's,
# or run's) to the process, byte for byte; process.terminal puts the process on a pty,
# relayed to the pty whose master went to --console-socket (runc's protocol) or, for
# run in the foreground, to run's own terminal. Real containers, as t/71-oci.bats.

# Scripts in single quotes are expanded by the container's shell, not here.
# shellcheck disable=SC2016

load helpers
load oci-lib

WINSTANCE=${WPREFIX}q
export WINSTANCE
# shellcheck disable=SC2034 # read by oci-lib.bash's setup_file
POOLS='"network":{"pool_start_address":"10.253.216.0","pool_size":8},"user":{"pool_start_uid":62500,"pool_size":8},"port":{"pool_start_port":63700,"pool_size":10}'

setup() {
	oci_setup
}

teardown() {
	local p
	oci_delete_all
	# processes a test started (and, when it failed, what it was checking is gone)
	for p in ${KILL_PIDS:-}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	KILL_PIDS=
	# the keeper's stdin copier, should it have outlived the keeper (and be still it)
	if [[ -n ${FEEDER:-} ]] && grep -q warden-oci "/proc/$FEEDER/cmdline" 2>/dev/null; then
		kill "$FEEDER" 2>/dev/null || true
	fi
	FEEDER=
}

# bundle ARGS_JSON [TERMINAL]: a config.json running ARGS, on a terminal when TERMINAL is
# "true" (consoleSize 30 x 100).
bundle() {
	python3 - "$BUNDLE/config.json" "$WARDEN_TEST_ROOTFS" "$1" "${2:-false}" <<'PY'
import json, sys
path, rootfs, args, term = sys.argv[1:5]
c = {
    "ociVersion": "1.0.2",
    "root": {"path": rootfs, "readonly": False},
    "process": {"terminal": term == "true", "consoleSize": {"height": 30, "width": 100},
                "user": {"uid": 0, "gid": 0}, "args": json.loads(args),
                "env": ["PATH=/usr/bin:/bin", "TERM=xterm"], "cwd": "/"},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
               {"destination": "/dev/pts", "type": "devpts", "source": "devpts"}],
    "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
}
json.dump(c, open(path, "w"))
PY
}

@test "run: the process reads run's stdin byte for byte; its end is the process's EOF" {
	{
		python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 2)'
		head -c 200000 /dev/urandom
	} >"$BATS_TEST_TMPDIR/in"
	bundle '["/bin/sh","-c","cat; exit 6"]'
	run_cmd bash -c "$(printf '%q ' "$OCI_BIN") --root '$OCIROOT' --socket '$WSOCK' run --bundle '$BUNDLE' i1 \
		<'$BATS_TEST_TMPDIR/in' >'$BATS_TEST_TMPDIR/out'"
	assert_failure 6
	run_cmd cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	assert_success
	# create's stdin is the one the process gets (the keeper inherits it)
	bundle '["/bin/sh","-c","read x; echo \"got:$x\""]'
	python3 "$WARDEN_SRC/t/lib/subreaper.py" "$WTMP/i2.pid" "$OCI_BIN" --root "$OCIROOT" \
		--socket "$WSOCK" create --bundle "$BUNDLE" --pid-file "$WTMP/i2.pid" i2 \
		<<<"hello" >"$WTMP/i2.out" 2>&1 &
	local p=$!
	wait_for 20 test -e "$WTMP/i2.pid.waiting"
	oci start i2
	wait "$p"
	run_cmd cat "$WTMP/i2.out"
	assert_output "created $(cat "$WTMP/i2.pid")
got:hello
exited 0"
	oci delete i2
}

@test "create --console-socket: the master comes to the socket; keys, output and resize go through" {
	bundle '["/bin/sh","-c","[ -t 0 ] && echo on-tty; stty size; echo ready; read x; stty size; echo \"got:$x\"; echo end"]' true
	run_cmd python3 "$WARDEN_SRC/t/lib/console.py" "$OCI_BIN" "$OCIROOT" "$WSOCK" "$BUNDLE" c1
	assert_success
	assert_line_match 0 "name:/dev/pts/*"
	assert_output_contains $'on-tty\r\n30 100\r\nready\r\n'
	assert_output_contains $'go\r\n40 120\r\ngot:go\r\nend'
	assert_output_contains "exited 0"
	[[ ! -e $OCIROOT/c1 ]] || _explain "c1 left behind"
}

@test "process.terminal: create without --console-socket is refused; run in the foreground uses its terminal" {
	bundle '["/bin/sh","-c","stty size; echo ready; read x; echo \"<$x>\"; exit 2"]' true
	run_cmd oci create --bundle "$BUNDLE" t1
	assert_failure 1
	assert_output_contains "process.terminal is true: --console-socket is needed"
	run_cmd oci run --detach --bundle "$BUNDLE" t1
	assert_failure 1
	assert_output_contains "--console-socket is needed"
	[[ ! -e $OCIROOT/t1 ]] || _explain "t1 left behind"
	local cmd
	cmd="stty -g >'$BATS_TEST_TMPDIR/before'; $(printf '%q ' "$OCI_BIN") --root '$OCIROOT' --socket '$WSOCK' run --bundle '$BUNDLE' t2; echo \"rc=\$?\"; stty -g >'$BATS_TEST_TMPDIR/after'"
	run_cmd python3 "$WARDEN_SRC/t/lib/jobio.py" pty 33 99 ready 'xyz\r' -- bash -c "$cmd"
	assert_success
	assert_output_contains $'33 99\r\nready\r\n'
	assert_output_contains $'xyz\r\n<xyz>\r\nrc=2'
	run_cmd cmp "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	assert_success
}

@test "delete --force of a running container: the keeper's stdin copier goes with the keeper" {
	bundle '["/bin/sh","-c","echo up; cat >/dev/null; sleep 1000"]'
	mkfifo "$BATS_TEST_TMPDIR/in"
	# a writer that never closes the process's stdin
	sleep 1000 >"$BATS_TEST_TMPDIR/in" &
	local writer=$! keeper feeder
	KILL_PIDS="$writer"
	python3 "$WARDEN_SRC/t/lib/subreaper.py" "$WTMP/f1.pid" "$OCI_BIN" --root "$OCIROOT" \
		--socket "$WSOCK" create --bundle "$BUNDLE" --pid-file "$WTMP/f1.pid" f1 \
		<"$BATS_TEST_TMPDIR/in" >"$WTMP/f1.out" 2>&1 &
	local reaper=$!
	KILL_PIDS="$KILL_PIDS $reaper"
	wait_for 20 test -e "$WTMP/f1.pid.waiting"
	oci start f1
	wait_for 20 grep -q up "$WTMP/f1.out"
	keeper=$(cat "$WTMP/f1.pid")
	feeder=$(cat /proc/"$keeper"/task/*/children)
	[[ -n $feeder ]] || _explain "the keeper has no child"
	FEEDER=$feeder
	run_cmd oci delete --force f1
	assert_success
	wait "$reaper" || true
	wait_for 10 eval "! kill -0 $feeder 2>/dev/null"
}
