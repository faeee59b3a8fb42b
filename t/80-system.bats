#!/usr/bin/env bats
# wardend as a system daemon: the sd_notify datagrams (READY=1 only once the socket
# answers, STOPPING=1 on SIGTERM) sent to a socket this test binds, the <N> priority
# prefixes on stderr under journald, and etc/warden.service checked by systemd-analyze.

# shellcheck disable=SC2030,SC2031,SC2016 # bats subshells; literal $MAINPID
load helpers

NOTIFY_LISTENER='
import socket, sys
path, wsock, out = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(60)
with open(out, "a", buffering=1) as f:
    while True:
        d = s.recv(4096).decode()
        line = d.replace("\n", "\\n")
        if "READY=1" in d:
            # At READY=1 the socket must already answer.
            try:
                c = socket.socket(socket.AF_UNIX)
                c.settimeout(10)
                c.connect(wsock)
                c.sendall(b"[\"ping\"]\n")
                line += " ping=" + c.makefile().readline().strip()
            except OSError as e:
                line += " ping failed: %s" % e
        f.write(line + "\n")
        if "STOPPING=1" in d:
            break
'

teardown() {
	if [[ -n ${LISTENER_PID:-} ]]; then
		kill "$LISTENER_PID" 2>/dev/null || true
		wait "$LISTENER_PID" 2>/dev/null || true
	fi
	unset NOTIFY_SOCKET JOURNAL_STREAM LISTENER_PID
	wardend_stop
}

@test "READY=1 reaches NOTIFY_SOCKET once the socket answers; STOPPING=1 on SIGTERM" {
	requires wardend
	wardend_config
	python3 -c "$NOTIFY_LISTENER" "$WTMP/notify" "$WSOCK" "$WTMP/notified" &
	LISTENER_PID=$!
	wait_for 10 test -S "$WTMP/notify"
	export NOTIFY_SOCKET=$WTMP/notify
	wardend_start
	wait_for 10 grep -q READY=1 "$WTMP/notified"
	run_cmd cat "$WTMP/notified"
	assert_output 'READY=1 ping={"type":"object","payload":"pong"}'
	kill -TERM "$WARDEND_PID"
	wait_for 10 grep -q STOPPING=1 "$WTMP/notified"
	run_cmd cat "$WTMP/notified"
	[[ ${lines[1]} == STOPPING=1 ]] || _explain "expected STOPPING=1 as the second datagram"
	wait "$LISTENER_PID"
	unset LISTENER_PID
}

@test "a NOTIFY_SOCKET nobody listens on is logged, not fatal" {
	requires wardend
	wardend_config
	export NOTIFY_SOCKET=$WTMP/nobody-listens
	: >"$NOTIFY_SOCKET"
	wardend_start
	run_w ping
	assert_output pong
	run_cmd cat "$WTMP/wardend.log"
	assert_output_contains "send READY=1 to NOTIFY_SOCKET $NOTIFY_SOCKET"
}

@test "stderr lines carry <N> priorities when JOURNAL_STREAM is our stderr, timestamps otherwise" {
	requires wardend
	wardend_config
	: >"$WTMP/wardend.out"
	JOURNAL_STREAM=$(stat -c %d:%i "$WTMP/wardend.out")
	export JOURNAL_STREAM
	# No log file: wardend logs to stderr, which wardend_start appends to wardend.out.
	wardend_start '{"logging":{"level":"info","file":null}}'
	run_w ping
	run_cmd cat "$WTMP/wardend.out"
	assert_output_contains "<6>wardend "
	assert_output_contains " ready on $WSOCK"
	for l in "${lines[@]}"; do
		[[ $l =~ ^\<[0-7]\> ]] || _explain "a line without a priority prefix: $l"
	done
	wardend_stop

	# JOURNAL_STREAM inherited but stderr is another file: no prefixes.
	wardend_config
	: >"$WTMP/other"
	JOURNAL_STREAM=$(stat -c %d:%i "$WTMP/other")
	wardend_start '{"logging":{"level":"info","file":null}}'
	run_cmd cat "$WTMP/wardend.out"
	assert_output_contains " ready on $WSOCK"
	refute_output_contains "<6>"
	[[ ${lines[0]} =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T.*Z\ info:\ wardend ]] ||
		_explain "expected a timestamp and the level name"
}

@test "etc/warden.service: Type=notify, KillMode=process, Delegate, and systemd-analyze verify" {
	unit=$WARDEN_BUILD/etc/warden.service
	[[ -f $unit ]] || _explain "no $unit: make in $WARDEN_BUILD"
	run_cmd cat "$unit"
	for d in Type=notify KillMode=process Delegate=yes RuntimeDirectory=warden \
		StateDirectory=warden 'ExecReload=/bin/kill -HUP $MAINPID' Restart=on-failure \
		WantedBy=multi-user.target; do
		assert_output_contains "$d"
	done
	command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	# The unit as installed, but naming the built wardend; its man pages where man finds them.
	sed "s|^ExecStart=[^ ]*|ExecStart=$WARDEND_BIN|" "$unit" >"$WTMP/warden.service"
	for s in 5 7 8; do
		mkdir -p "$WTMP/man/man$s"
		cp "$WARDEN_BUILD"/doc/man/*."$s" "$WTMP/man/man$s/"
	done
	run_cmd env MANPATH="$WTMP/man" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$WTMP/warden.service"
	assert_success
	assert_output ''
}

@test "mkrootfs-debootstrap: usage, refuses a foreign non-empty dir and an unknown suite (no download)" {
	requires root
	command -v debootstrap >/dev/null || skip "no debootstrap"
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	run_cmd "$WARDEN_SRC/scripts/mkrootfs-debootstrap"
	assert_failure 100
	run_cmd "$WARDEN_SRC/scripts/mkrootfs-debootstrap" --help
	assert_success
	assert_output_contains "DIR [SUITE] [MIRROR]"
	mkdir "$WTMP/foreign"
	echo precious >"$WTMP/foreign/file"
	run_cmd "$WARDEN_SRC/scripts/mkrootfs-debootstrap" "$WTMP/foreign" bookworm http://127.0.0.1:9/none
	assert_failure 1
	assert_output_contains "is not empty and not a rootfs built by mkrootfs-debootstrap"
	[[ $(cat "$WTMP/foreign/file") == precious ]]
	run_cmd "$WARDEN_SRC/scripts/mkrootfs-debootstrap" "$WTMP/new" no-such-suite http://127.0.0.1:9/none
	assert_failure 1
	assert_output_contains "debootstrap knows no suite 'no-such-suite'"
	[[ ! -e $WTMP/new ]] || _explain "left $WTMP/new"
	# A mirror that does not answer: a precise failure and nothing left behind.
	run_cmd "$WARDEN_SRC/scripts/mkrootfs-debootstrap" "$WTMP/new" bookworm http://127.0.0.1:9/none
	assert_failure 1
	assert_output_contains "debootstrap failed"
	run_cmd ls -A "$WTMP"
	assert_output foreign
}
