#!/usr/bin/env bats
# Operations the original Warden's later versions had: server.pidfile,
# health_check_server.port, and the SIGUSR2 drain (stop accepting; close idle and
# link/stream connections; finish the request in flight elsewhere; write every
# snapshot; exit 0 leaving containers and jobs running for the next wardend).

# shellcheck disable=SC2030,SC2031,SC2016 # bats subshells; scripts for the container
load helpers

teardown() {
	[[ -n ${IDLE_PID:-} ]] && { kill "$IDLE_PID" 2>/dev/null; wait "$IDLE_PID" 2>/dev/null; }
	unset IDLE_PID
	wardend_stop
}

@test "server.pidfile: wardend's pid while it runs; a second wardend on it is refused; gone after SIGTERM" {
	wardend_config
	pf=$WTMP/server.pid
	wardend_start "{\"server\":{\"pidfile\":\"$pf\"}}"
	run_cmd cat "$pf"
	assert_output "$WARDEND_PID"
	# Another daemon (its own socket) on the same pidfile.
	python3 - "$WTMP/warden.conf" "$WTMP/other.conf" "$WTMP/other.sock" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["server"]["unix_domain_path"] = sys.argv[3]
c["logging"]["file"] = None
json.dump(c, open(sys.argv[2], "w"))
PY
	run_cmd timeout 30 "$WARDEND_BIN" --config "$WTMP/other.conf"
	assert_failure 111
	assert_output_contains "pidfile $pf: wardend $WARDEND_PID is running"
	run_cmd cat "$pf"
	assert_output "$WARDEND_PID"
	kill -TERM "$WARDEND_PID"
	wait "$WARDEND_PID" || _explain "wardend exited with $?"
	[[ ! -e $pf ]] || _explain "pidfile left after SIGTERM"
	# A stale pidfile (no such process) is taken over.
	echo 999999999 >"$pf"
	wardend_start "{\"server\":{\"pidfile\":\"$pf\"}}"
	run_cmd cat "$pf"
	assert_output "$WARDEND_PID"
}

# http_get PORT [REQUEST]: one request to 127.0.0.1:PORT, the whole reply on stdout.
http_get() {
	python3 - "$@" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall((sys.argv[2] if len(sys.argv) > 2 else "GET / HTTP/1.1\r\nHost: x\r\n\r\n").encode())
out = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    out += d
sys.stdout.write(out.decode())
PY
}

@test "health_check_server.port: any request on 127.0.0.1 gets HTTP/1.1 200 OK; off by default" {
	wardend_start
	run_cmd ss -Htln
	refute_output_contains ":2345"
	wardend_stop
	wardend_start '{"health_check_server":{"port":2345}}'
	run_cmd http_get 2345
	assert_success
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]] || _explain "expected the status line"
	run_cmd http_get 2345 $'POST /anything HTTP/1.0\r\nContent-Length: 0\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]] || _explain "expected 200 for any request"
	run_cmd http_get 2345 $'not http at all\n\n'
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]] || _explain "expected 200 for anything"
	# Only on loopback.
	run_cmd ss -Htln "sport = :2345"
	assert_output_contains "127.0.0.1:2345"
	# A client that connects and says nothing holds up no one.
	python3 -c 'import socket,time; s=socket.create_connection(("127.0.0.1",2345)); time.sleep(30)' &
	IDLE_PID=$!
	run_cmd http_get 2345
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]] || _explain "blocked by an idle client"
	run_w ping
	assert_output pong
	# A port that is taken stops the start with a message naming it.
	WTMP_SAVE=$WTMP
	unset WTMP
	wardend_config '{"health_check_server":{"port":2345}}'
	run_cmd timeout 30 "$WARDEND_BIN" --config "$WTMP/warden.conf"
	assert_failure 111
	run_cmd cat "$WTMP/wardend.log"
	assert_output_contains "health check: listen on 127.0.0.1:2345: Address already in use"
	rm -rf "$WTMP"
	WTMP=$WTMP_SAVE WSOCK=$WTMP_SAVE/w.sock
}

@test "SIGUSR2 drains: idle and link closed, the request in flight answered, snapshots, exit 0, containers adopted" {
	requires rootfs
	wardend_start '{"server":{"stop_timeout":3}}'
	a=$(w create --handle drain-a)
	b=$(w create --handle drain-b)
	# A job in b that outlives the drain, and a process in a that ignores TERM (so that
	# `stop a` takes stop_timeout: the request in flight).
	jb=$(w spawn "$b" 'for i in 1 2 3 4 5 6; do echo "tick $i"; sleep 1; done; exit 7')
	w spawn "$a" --privileged 'trap "" TERM; sleep 60' >/dev/null
	touch -d '1 hour ago' "$WTMP"/depot/*/snapshot.json
	# An idle connection, a link waiting for jb, and a stop in flight.
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
print("idle: eof" if s.recv(1) == b"" else "idle: data", flush=True)' "$WSOCK" >"$WTMP/idle.out" &
	IDLE_PID=$!
	w link "$b" "$jb" >"$WTMP/link.out" 2>&1 &
	link_pid=$!
	wire send "[\"stop\",\"$a\"]\n" >"$WTMP/stop.out" 2>&1 &
	stop_pid=$!
	wait_for 10 eval '[[ -n $(ls "$WTMP"/depot/*/log/hooks.log 2>/dev/null) ]] && grep -q "stop.sh" "$WTMP"/depot/*/log/hooks.log'
	# All three connected before the drain (the idle client and the link start slower
	# than the stop), then a moment for wardend to read the link's request.
	# (wardend binds a temporary name and renames it: ss shows that name.)
	wait_for 10 eval '(($(ss -xH state connected | grep -cF " $WSOCK") >= 3))'
	sleep 0.3
	kill -USR2 "$WARDEND_PID"
	wait "$WARDEND_PID"
	rc=$?
	((rc == 0)) || _explain "wardend exited with $rc after the drain"
	wardend_log
	wait "$stop_pid" || true
	run_cmd cat "$WTMP/stop.out"
	assert_output_contains '"type":"object"'
	wait "$link_pid" && _explain "link ended normally during the drain"
	wait "$IDLE_PID"
	unset IDLE_PID
	run_cmd cat "$WTMP/idle.out"
	assert_output "idle: eof"
	[[ ! -S $WSOCK ]] || _explain "the socket is still there"
	run_cmd cat "$WTMP/wardend.log"
	assert_output_contains "drain: closed 1 idle and 1 waiting connections, 1 finishing"
	assert_output_contains "drain: 2 snapshots written; exiting"
	for s in "$WTMP"/depot/*/snapshot.json; do
		[[ $s -nt $WTMP/warden.conf ]] || _explain "$s was not written by the drain"
	done
	# The next wardend adopts both; b's job ran on and links with its whole output.
	unset WARDEND_PID
	wardend_start '{"server":{"stop_timeout":3}}'
	run_w list
	assert_output_contains drain-a
	assert_output_contains drain-b
	run_w link "$b" "$jb"
	assert_failure 7
	assert_output $'tick 1\ntick 2\ntick 3\ntick 4\ntick 5\ntick 6'
}

SYSLOG_LISTENER='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(65536).decode(errors="replace").replace("\n", "\\n") + "\n")
'

# syslog_start: a syslog stand-in on $WTMP/log.sock; datagrams go to $WTMP/syslog, one per line.
syslog_start() {
	python3 -c "$SYSLOG_LISTENER" "$WTMP/log.sock" "$WTMP/syslog" &
	IDLE_PID=$!
	wait_for 10 test -S "$WTMP/log.sock"
}

@test "log_tag: stdout to syslog at user.info, stderr at user.err, tag warden.TAG; the files keep it all" {
	requires rootfs
	wardend_config
	syslog_start
	wardend_start "{\"server\":{\"syslog_socket\":\"$WTMP/log.sock\"}}"
	h=$(w create)
	run_cmd bash -c "'$WARDEN_BIN' -s '$WSOCK' run '$h' --log-tag web.1 'echo out1; echo err1 >&2; printf \"no \"; sleep 0.2; echo newline; printf last' 2>'$WTMP/err'"
	assert_success
	assert_output $'out1\nno newline\nlast'
	run_cmd cat "$WTMP/err"
	assert_output err1
	wait_for 10 grep -q 'last$' "$WTMP/syslog"
	run_cmd cat "$WTMP/syslog"
	[[ ${#lines[@]} == 4 ]] || _explain "expected 4 datagrams"
	[[ $output =~ \<14\>[A-Z][a-z][a-z]\ [\ 0-9][0-9]\ [0-9:]{8}\ warden\.web\.1:\ out1 ]] ||
		_explain "expected <14>TIMESTAMP warden.web.1: out1"
	assert_output_contains "warden.web.1: err1"
	[[ $output == *"<11>"*"warden.web.1: err1"* ]] || _explain "stderr is not at user.err (<11>)"
	assert_output_contains "<14>"
	assert_output_contains "warden.web.1: no newline"
	assert_output_contains "warden.web.1: last"
	# Without log_tag nothing goes there; a bad tag is refused.
	run_w run "$h" 'echo quiet'
	assert_output quiet
	run_cmd grep -c quiet "$WTMP/syslog"
	assert_output 0
	run_cmd wire send "[\"spawn\",\"$h\",\"true\",{\"log_tag\":\"a b\"}]\n"
	assert_output_contains "Expected \`log_tag\` to hold 1 to 64 letters"
}

@test "log_tag: lines keep reaching syslog while wardend is killed and restarted" {
	requires rootfs
	wardend_config
	syslog_start
	conf="{\"server\":{\"syslog_socket\":\"$WTMP/log.sock\"}}"
	wardend_start "$conf"
	h=$(w create)
	j=$(w spawn "$h" --log-tag ticker 'for i in $(seq 1 20); do echo "tick $i"; sleep 0.1; done')
	wait_for 10 grep -q 'tick 2$' "$WTMP/syslog"
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" 2>/dev/null || true
	# With no wardend at all the job goes on logging.
	wait_for 10 grep -q 'tick 20$' "$WTMP/syslog"
	unset WARDEND_PID
	wardend_start "$conf"
	run_w link "$h" "$j"
	assert_success
	run_cmd grep -c 'warden.ticker: tick' "$WTMP/syslog"
	assert_output 20
}

# slow_hook NAME: $WTMP/hooks (a copy of the hooks) gets a NAME that creates
# $WTMP/NAME.started, sleeps 2 s, then runs the real one.
slow_hook() {
	[[ -d $WTMP/hooks ]] || cp -a "$WARDEN_SRC/hooks" "$WTMP/hooks"
	mv "$WTMP/hooks/$1" "$WTMP/hooks/$1.real"
	printf '#!/bin/bash\ntouch "%s"\nsleep 2\nexec "${BASH_SOURCE[0]%%/*}/%s.real" "$@"\n' \
		"$WTMP/$1.started" "$1" >"$WTMP/hooks/$1"
	chmod 0755 "$WTMP/hooks/$1"
}

# drain_and_wait: SIGUSR2, then wardend's exit (0), bounded.
drain_and_wait() {
	kill -USR2 "$WARDEND_PID"
	wait_for 60 eval "! kill -0 $WARDEND_PID 2>/dev/null"
	local rc=0
	wait "$WARDEND_PID" || rc=$?
	((rc == 0)) || { wardend_log; _explain "wardend exited with $rc after the drain"; }
	unset WARDEND_PID
}

# log_order FIRST SECOND: both lines are in the log, FIRST before SECOND.
log_order() {
	local a b
	a=$(grep -nF -- "$1" "$WTMP/wardend.log" | head -1 | cut -d: -f1)
	b=$(grep -nF -- "$2" "$WTMP/wardend.log" | head -1 | cut -d: -f1)
	[[ -n $a && -n $b ]] && ((a < b)) && return 0
	wardend_log
	_explain_value "log order" "'$1' (line ${a:-none}) before '$2' (line ${b:-none})" "not so"
}

@test "SIGUSR2 waits for a grace-time destroy (no connection waits for it) before it exits" {
	requires rootfs
	wardend_config
	slow_hook destroy.sh
	wardend_start "{\"server\":{\"hooks_path\":\"$WTMP/hooks\"}}"
	# grace_time 0: the destroy starts as the creating connection closes, and no
	# connection waits for it.
	run_cmd wire send '["create",{"handle":"drain-bg","grace_time":0}]\n'
	assert_output '{"payload":"drain-bg","type":"object"}'
	wait_for 20 test -e "$WTMP/destroy.sh.started"
	local dir
	dir=$(echo "$WTMP"/depot/0afd*)
	assert_dir "$dir"
	drain_and_wait
	assert_grep 'drain: waiting for [0-9]+ background operation' "$WTMP/wardend.log"
	log_order "container drain-bg: destroyed" "drain: 0 snapshots written; exiting"
	refute_exists "$dir"
}

@test "SIGUSR2 waits for a warm pool refill in flight; the next wardend adopts the container it made" {
	requires rootfs
	wardend_config
	slow_hook setup.sh
	local conf="{\"server\":{\"hooks_path\":\"$WTMP/hooks\",\"warm_pool\":1}}"
	wardend_start "$conf"
	wait_for 20 test -e "$WTMP/setup.sh.started"
	drain_and_wait
	log_order "warm pool container" "drain: 0 snapshots written; exiting"
	assert_grep 'warm pool container [0-9a-f]+: ready \(1 of 1\)' "$WTMP/wardend.log"
	# No refill was started after the drain began.
	[[ $(grep -c 'warm pool container .*: ready' "$WTMP/wardend.log") == 1 ]] ||
		_explain_value "refills" 1 "$(grep 'warm pool' "$WTMP/wardend.log")"
	: >"$WTMP/wardend.log"
	wardend_start "$conf"
	assert_grep 'warm pool container [0-9a-f]+: adopted \(1 of 1\)' "$WTMP/wardend.log"
	run_cmd grep -F 'not adopted' "$WTMP/wardend.log"
	assert_failure
}
