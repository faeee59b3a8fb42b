#!/usr/bin/env bats
# Jobs as Garden's process API has them (doc/protocol.md, "Spawn options beyond
# PROTOCOL.md" and "Signal, stdin and resize"): signal to a running job's process
# group, stdin for a job (the `stdin` request, or the pipe itself passed over the
# socket), a job on a pty with a window size (the `resize` request, or the master
# passed over the socket), `warden run -i`, `warden run -t`, `warden signal`; all of it
# across a kill -9 of wardend, since wshd holds the pipe and the pty. Real containers.

# Scripts in single quotes are expanded by the container's shell, not here.
# shellcheck disable=SC2016

load helpers

WINSTANCE=${WPREFIX}i
export WINSTANCE
POOLS='"network":{"pool_start_address":"10.253.208.0","pool_size":8},"user":{"pool_start_uid":62400,"pool_size":8},"port":{"pool_start_port":63600,"pool_size":10}'
CONF='{'$POOLS'}'
JOBIO=$WARDEN_SRC/t/lib/jobio.py

setup_file() {
	requires root rootfs wardend
	wardend_start "$CONF"
	mkdir -m 1777 "$WTMP/trig"
	w create --handle io --bind-mount "$WTMP/trig:/trig:rw" >/dev/null
	TRIG=$WTMP/trig
	export TRIG
}

teardown_file() {
	# The kill -9 test starts the daemon again: stop the one the pid file names.
	WARDEND_PID=$(cat "$WTMP/wardend.pid" 2>/dev/null || true)
	export WARDEND_PID
	wardend_stop
}

teardown() {
	local p
	for p in ${BG_PIDS:-}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	BG_PIDS=
	[[ -n ${TRIG:-} && -d ${TRIG:-} ]] && rm -f "$TRIG"/* 2>/dev/null
	return 0
}

# in_bg CMD...: a background client of this test, ended by teardown; its pid in LAST_BG.
in_bg() {
	"$@" 3>&- &
	BG_PIDS="${BG_PIDS:-} $!"
	LAST_BG=$!
}

# req JQ_EXPR [ARGS...]: one raw request built by jq -n, its whole reply (canonical).
req() {
	local expr=$1
	shift
	jq -cn "$@" "$expr" | wire send -
}

# payload JQ_EXPR [ARGS...]: the reply's payload (fails on an error reply).
payload() {
	req "$@" | jq -ce 'if .type == "object" then .payload else error(.payload.message) end'
}

spawn_id() {
	local o=${2:-}
	[[ -n $o ]] || o='{}'
	payload '["spawn","io",$s,$o]' --arg s "$1" --argjson o "$o"
}

link_json() { payload '["link","io",$j]' --argjson j "$1"; }

# stdin_req JOB DATA [OPTS]
stdin_req() {
	local o=${3:-}
	[[ -n $o ]] || o='{}'
	req '["stdin","io",$j,$d,$o]' --argjson j "$1" --arg d "$2" --argjson o "$o"
}

# error_of REPLY: the message of an error reply, or fail.
error_of() { jq -er 'select(.type == "error") | .payload' <<<"$1"; }

ct_path() { w --json info io | jq -r .container_path; }

@test "signal TERM to a sleeping job: it dies of TERM, link says so, the CLI's signal works" {
	local id p
	id=$(spawn_id 'echo up; sleep 1000')
	p=$(ct_path)
	wait_for 30 grep -q up "$p/jobs/$id/stdout"
	run_cmd req '["signal","io",$j,"TERM"]' --argjson j "$id"
	assert_output '{"payload":{},"type":"object"}'
	run_cmd link_json "$id"
	assert_output '[null,"up\n",""]'
	run_cmd jq -c . "$p/jobs/$id/status"
	assert_output '{"exit":null,"signal":15}'
	# the CLI, with SIG and a name without SIG
	id=$(spawn_id 'echo up; sleep 1000')
	wait_for 30 grep -q up "$p/jobs/$id/stdout"
	run_w signal io "$id" SIGKILL
	assert_success
	run_cmd link_json "$id"
	assert_output '[null,"up\n",""]'
	run_cmd jq -c . "$p/jobs/$id/status"
	assert_output '{"exit":null,"signal":9}'
	# a trap sees exactly the signal sent (USR1), to the whole process group
	id=$(spawn_id 'trap "echo got usr1; exit 3" USR1; echo up; while :; do sleep 0.05; done')
	wait_for 30 grep -q up "$p/jobs/$id/stdout"
	run_w signal io "$id" usr1
	assert_success
	# (the shell may also say on stderr that its sleep died of USR1)
	run_cmd jq -c '.[0:2]' <<<"$(link_json "$id")"
	assert_output '[3,"up\ngot usr1\n"]'
}

@test "signal, stdin and resize refuse what they cannot do, and the daemon goes on" {
	local id r
	r=$(req '["signal","io",99999,"TERM"]')
	run_cmd error_of "$r"
	assert_output "no such job"
	id=$(spawn_id 'sleep 1000')
	r=$(req '["signal","io",$j,"BOGUS"]' --argjson j "$id")
	run_cmd error_of "$r"
	assert_output_contains 'Unknown signal `BOGUS`'
	r=$(req '["signal","io",$j,0]' --argjson j "$id")
	run_cmd error_of "$r"
	assert_output_contains 'Unknown signal `0`'
	r=$(req '["signal","io",$j]' --argjson j "$id")
	run_cmd error_of "$r"
	assert_output "invalid number of arguments"
	r=$(req '["signal","nohandle",$j,"TERM"]' --argjson j "$id")
	run_cmd error_of "$r"
	assert_output "unknown handle"
	# a job spawned without stdin or tty
	r=$(stdin_req "$id" 'x')
	run_cmd error_of "$r"
	assert_output_contains "has no stdin"
	r=$(req '["resize","io",$j,10,20]' --argjson j "$id")
	run_cmd error_of "$r"
	assert_output_contains "is not on a tty"
	r=$(req '["resize","io",$j,0,20]' --argjson j "$id")
	run_cmd error_of "$r"
	assert_output_contains "Expected rows to be an integer from 1 to 65535."
	r=$(stdin_req "$id" '!!!' '{"base64":true}')
	run_cmd error_of "$r"
	assert_output_contains "Data is not base64"
	r=$(stdin_req "$id" 'x' '{"close":true}')
	run_cmd error_of "$r"
	assert_output_contains 'Unknown stdin option `close`.'
	# spawn options
	r=$(req '["spawn","io","true",{"tty":{"rows":0,"cols":80}}]')
	run_cmd error_of "$r"
	assert_output_contains 'Expected `tty` to hold {"rows":N,"cols":N}'
	r=$(req '["spawn","io","true",{"tty":true}]')
	run_cmd error_of "$r"
	assert_output_contains 'Expected `tty` to hold {"rows":N,"cols":N}'
	r=$(req '["spawn","io","true",{"stdin":"yes"}]')
	run_cmd error_of "$r"
	assert_output 'Expected `stdin` to hold a boolean.'
	r=$(req '["spawn","io","true",{"pass_fds":true}]')
	run_cmd error_of "$r"
	assert_output_contains '`pass_fds` needs `stdin` or `tty`'
	r=$(req '["run","io","true",{"stdin":true,"pass_fds":true}]')
	run_cmd error_of "$r"
	assert_output_contains '`pass_fds` is for spawn'
	# an ended job
	run_w signal io "$id" KILL
	assert_success
	link_json "$id" >/dev/null
	r=$(req '["signal","io",$j,"TERM"]' --argjson j "$id")
	run_cmd error_of "$r"
	assert_output "job $id has already exited"
	run_w signal io "$id" TERM
	assert_failure 1
	assert_output_contains "has already exited"
	run_w signal io "$id"
	assert_failure 100
	run_w ping
	assert_output pong
}

@test "wshd itself: job_signal, job_stdin, job_resize with bad fields get errors, wshd serves on" {
	local id
	id=$(spawn_id 'sleep 1000' '{"stdin":true}')
	run_cmd python3 - "$(ct_path)/run/wshd.sock" "$id" <<'PY'
import json, socket, sys
job = int(sys.argv[2])
for m in [{"op": "job_signal", "job": "x", "signal": 15},
          {"op": "job_signal", "job": job, "signal": 999},
          {"op": "job_signal", "job": 999999, "signal": 15},
          {"op": "job_stdin", "job": job, "data": "%%%"},
          {"op": "job_stdin", "job": job, "data": 5},
          {"op": "job_stdin", "job": job, "eof": "yes"},
          {"op": "job_resize", "job": job, "rows": 10, "cols": 10},
          {"op": "job_resize", "job": job, "rows": 0, "cols": 10},
          {"op": "job_signal", "job": job, "signal": 9},
          {"op": "ping"}]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.send(json.dumps(m).encode())
    r = json.loads(s.recv(65536))
    print(r.get("error", "ok" if r.get("ok") else r))
    s.close()
PY
	assert_output "job: must be an integer between 1 and 2147483647
signal: must be an integer between 1 and 64
job 999999 is not running
data: not base64
data: must be a base64 string
eof: must be a boolean
job $id is not on a tty
rows, cols: must be integers between 1 and 65535
ok
ok"
	run_cmd link_json "$id"
	assert_output '[null,"",""]'
}

@test "stdin: text and base64 bytes reach cat exactly, eof ends it" {
	local id bytes
	id=$(spawn_id 'cat; echo "cat ended $?" >&2' '{"stdin":true}')
	run_cmd stdin_req "$id" $'hello\nworld '
	assert_output '{"payload":{},"type":"object"}'
	bytes=$(python3 -c 'import base64, sys; sys.stdout.write(base64.b64encode(bytes(range(256))).decode())')
	run_cmd stdin_req "$id" "$bytes" '{"base64":true}'
	assert_output '{"payload":{},"type":"object"}'
	run_cmd stdin_req "$id" "" '{"eof":true}'
	assert_output '{"payload":{},"type":"object"}'
	payload '["link","io",$j,{"output":"base64"}]' --argjson j "$id" >"$BATS_TEST_TMPDIR/l"
	run_cmd jq -c '[.[0], .[2]]' "$BATS_TEST_TMPDIR/l"
	assert_output '[0,"Y2F0IGVuZGVkIDAK"]'
	jq -r '.[1]' "$BATS_TEST_TMPDIR/l" | base64 -d >"$BATS_TEST_TMPDIR/out"
	{
		printf 'hello\nworld '
		python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)))'
	} >"$BATS_TEST_TMPDIR/want"
	run_cmd cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
	assert_success
	# after eof
	r=$(stdin_req "$id" 'late')
	run_cmd error_of "$r"
	assert_output_contains "already exited"
}

@test "stdin waits for a job that reads slowly (flow control), more than a pipe holds" {
	local id
	head -c $((3 * 1048576)) /dev/urandom >"$WTMP/trig/big"
	# the job reads nothing until told to
	id=$(spawn_id 'while [ ! -e /trig/go ]; do sleep 0.05; done; cat >/trig/got' '{"stdin":true}')
	cat >"$BATS_TEST_TMPDIR/feed.py" <<'PY'
import base64, json, socket, sys
data = open(sys.argv[1], "rb").read()
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[2])
f = s.makefile("rb")
for off in range(0, len(data), 1 << 19):  # a line of base64 stays under max_request_bytes
    req = ["stdin", "io", int(sys.argv[3]), base64.b64encode(data[off:off + (1 << 19)]).decode(), {"base64": True}]
    s.sendall(json.dumps(req).encode() + b"\n")
    print(f.readline().decode().strip(), flush=True)
s.sendall(json.dumps(["stdin", "io", int(sys.argv[3]), "", {"eof": True}]).encode() + b"\n")
print(f.readline().decode().strip(), flush=True)
PY
	in_bg python3 "$BATS_TEST_TMPDIR/feed.py" "$WTMP/trig/big" "$WSOCK" "$id" >"$BATS_TEST_TMPDIR/replies"
	local feeder=$LAST_BG
	sleep 1
	# not all of 3 MiB fits in the pipe: the writer is still waiting
	[[ $(wc -l <"$BATS_TEST_TMPDIR/replies") -lt 7 ]] || _explain "every write was answered before the job read"
	touch "$TRIG/go"
	wait "$feeder"
	run_cmd cat "$BATS_TEST_TMPDIR/replies"
	assert_output "$(printf '{"type":"object","payload":{}}\n%.0s' 1 2 3 4 5 6 7)"
	run_cmd link_json "$id"
	assert_output '[0,"",""]'
	run_cmd cmp "$WTMP/trig/big" "$WTMP/trig/got"
	assert_success
}

@test "warden run -i: binary stdin reaches the job byte for byte, exit status passed through" {
	{
		python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 3)'
		head -c 300000 /dev/urandom
	} >"$BATS_TEST_TMPDIR/in"
	run_cmd bash -c "$(printf '%q ' "$WARDEN_BIN") -s '$WSOCK' run -i io 'cat; exit 5' \
		<'$BATS_TEST_TMPDIR/in' >'$BATS_TEST_TMPDIR/out'"
	assert_failure 5
	run_cmd cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	assert_success
	# empty stdin: EOF at once
	run_cmd bash -c "$(printf '%q ' "$WARDEN_BIN") -s '$WSOCK' run --stdin io 'wc -c' </dev/null"
	assert_success
	assert_output 0
	# SCRIPT - and --stdin exclude each other
	run_w run -i io -
	assert_failure 100
}

@test "warden stdin and resize: our stdin byte for byte in pieces, --data, --eof, a tty's size, errors" {
	local id p
	{
		python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4)'
		head -c 700000 /dev/urandom # more than one 256 KiB piece
	} >"$BATS_TEST_TMPDIR/in"
	id=$(spawn_id 'cat >/trig/got; echo "cat ended $?"' '{"stdin":true}')
	run_cmd bash -c "$(printf '%q ' "$WARDEN_BIN") -s '$WSOCK' stdin io $id <'$BATS_TEST_TMPDIR/in'"
	assert_success
	assert_output ''
	run_w stdin io "$id" --data $'tail\n' --eof
	assert_success
	run_cmd link_json "$id"
	assert_output '[0,"cat ended 0\n",""]'
	printf 'tail\n' >>"$BATS_TEST_TMPDIR/in"
	run_cmd cmp "$BATS_TEST_TMPDIR/in" "$TRIG/got"
	assert_success
	# --eof alone on an empty stdin: the job's EOF, nothing else
	id=$(spawn_id 'wc -c' '{"stdin":true}')
	run_cmd bash -c "$(printf '%q ' "$WARDEN_BIN") -s '$WSOCK' stdin --eof io $id </dev/null"
	assert_success
	run_cmd link_json "$id"
	assert_output '[0,"0\n",""]'
	# errors: the server's words, exit status 1; usage 100
	run_w stdin io "$id" --data x
	assert_failure 1
	assert_output_contains "already exited"
	run_w stdin io
	assert_failure 100
	# resize on a tty job; then on a job without one
	id=$(spawn_id 'read x; stty size' '{"tty":{"rows":24,"cols":80}}')
	run_w resize io "$id" 50 132
	assert_success
	assert_output ''
	run_w stdin io "$id" --data $'go\n'
	run_cmd link_json "$id"
	assert_output '[0,"go\r\n50 132\r\n",""]'
	id=$(spawn_id 'sleep 30')
	run_w resize io "$id" 50 132
	assert_failure 1
	assert_output_contains "is not on a tty"
	run_w resize io "$id" 0 132
	assert_failure 1
	run_w signal io "$id" KILL
	run_w resize io "$id" 50
	assert_failure 100
}

@test "a tty job: a terminal on stdin, stty size as asked, resize changes it" {
	local id p
	id=$(spawn_id '[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty; stty size; echo "TERM=$TERM"; read x; stty size; echo "read:$x"' '{"tty":{"rows":33,"cols":111}}')
	p=$(ct_path)
	wait_for 30 grep -q TERM= "$p/jobs/$id/stdout"
	run_cmd req '["resize","io",$j,44,122]' --argjson j "$id"
	assert_output '{"payload":{},"type":"object"}'
	run_cmd stdin_req "$id" $'hi\n'
	assert_output '{"payload":{},"type":"object"}'
	run_cmd link_json "$id"
	# the pty turns \n into \r\n, and echoes what was typed
	assert_output '[0,"all-tty\r\n33 111\r\nTERM=xterm\r\nhi\r\n44 122\r\nread:hi\r\n",""]'
	# eof on a tty is the terminal's EOF character (^D): at a line's start, cat ends
	id=$(spawn_id 'cat; echo done' '{"tty":{"rows":24,"cols":80}}')
	run_cmd stdin_req "$id" $'abc\n' '{"eof":true}'
	assert_output '{"payload":{},"type":"object"}'
	run_cmd link_json "$id"
	assert_output '[0,"abc\r\nabc\r\ndone\r\n",""]'
}

@test "pass_fds: the stdin pipe and the pty master come with spawn's reply" {
	local line id kind p r
	head -c 200000 /dev/urandom >"$BATS_TEST_TMPDIR/in"
	line=$(python3 "$JOBIO" passfd "$WSOCK" '["spawn","io","cat",{"stdin":true,"pass_fds":true}]' \
		--data "$BATS_TEST_TMPDIR/in")
	read -r id kind <<<"$line"
	[[ $kind == fifo ]] || _explain "passed: $kind"
	payload '["link","io",$j,{"output":"base64"}]' --argjson j "$id" | jq -r '.[1]' |
		base64 -d >"$BATS_TEST_TMPDIR/out"
	run_cmd cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	assert_success
	# the stdin request cannot feed a job whose pipe the client holds
	in_bg python3 "$JOBIO" passfd "$WSOCK" '["spawn","io","cat",{"stdin":true,"pass_fds":true}]' \
		--keep 30 >"$BATS_TEST_TMPDIR/held"
	p=$LAST_BG
	wait_for 30 test -s "$BATS_TEST_TMPDIR/held"
	read -r id kind <"$BATS_TEST_TMPDIR/held"
	r=$(stdin_req "$id" 'x')
	run_cmd error_of "$r"
	assert_output "job $id's stdin was passed to the client that spawned it"
	kill "$p"
	wait "$p" || true
	# the client's end is gone: the job's EOF
	run_cmd link_json "$id"
	assert_output '[0,"",""]'
	# the pty: TIOCSWINSZ on the passed master is the job's window size
	printf 'typed\n' >"$BATS_TEST_TMPDIR/typed"
	line=$(python3 "$JOBIO" passfd "$WSOCK" \
		'["spawn","io","read x; stty size; echo \"got:$x\"",{"tty":{"rows":5,"cols":6},"pass_fds":true}]' \
		--winsize 50 60 --data "$BATS_TEST_TMPDIR/typed")
	read -r id kind <<<"$line"
	[[ $kind == tty ]] || _explain "passed: $kind"
	run_cmd link_json "$id"
	assert_output '[0,"typed\r\n50 60\r\ngot:typed\r\n",""]'
}

@test "warden run -t through a pty: raw terminal, window size, exact bytes, restored after" {
	local cmd
	cmd="stty -g >'$BATS_TEST_TMPDIR/before'; $(printf '%q ' "$WARDEN_BIN") -s '$WSOCK' run -t io 'stty size; echo ready; read x; printf \"<%s>\\\\001\\\\377\" \"\$x\"; exit 4'; echo \"rc=\$?\"; stty -g >'$BATS_TEST_TMPDIR/after'"
	run_cmd python3 "$JOBIO" pty 27 91 ready 'abc\r' -- bash -c "$cmd"
	assert_success
	assert_output_contains $'27 91\r\nready\r\n'
	assert_output_contains $'abc\r\n<abc>\001\377rc=4'
	run_cmd cmp "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	assert_success
	# killed while raw: the terminal comes back all the same. A killer in the
	# background waits for the raw terminal, then TERMs the CLI by its pid.
	cat >"$BATS_TEST_TMPDIR/killed.sh" <<EOF
d=$BATS_TEST_TMPDIR
stty -g >\$d/before
(i=0; until [ -s \$d/pid ] && stty -a -F /dev/tty | grep -q -- -icanon; do
   i=\$((i + 1)); [ \$i -lt 600 ] || exit; sleep 0.05; done
 kill -TERM \$(cat \$d/pid)) &
bash -c 'echo \$\$ >$BATS_TEST_TMPDIR/pid; exec "\$@"' - "$WARDEN_BIN" -s "$WSOCK" run -t io 'echo ready; sleep 1000'
echo "rc=\$?"
stty -g >\$d/after
EOF
	cmd="bash $BATS_TEST_TMPDIR/killed.sh"
	run_cmd python3 "$JOBIO" pty 24 80 never '' -- bash -c "$cmd"
	assert_success
	assert_output_contains "rc=143"
	run_cmd cmp "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	assert_success
}

@test "kill -9 of wardend: a stdin job and a tty job keep their input, fed after the restart" {
	local a b p
	a=$(spawn_id 'cat' '{"stdin":true}')
	b=$(spawn_id 'read x; echo "got:$x"; stty size' '{"tty":{"rows":10,"cols":20}}')
	run_cmd stdin_req "$a" 'before '
	assert_output '{"payload":{},"type":"object"}'
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" 2>/dev/null || true
	wardend_start "$CONF"
	run_cmd stdin_req "$a" 'after' '{"eof":true}'
	assert_output '{"payload":{},"type":"object"}'
	run_cmd link_json "$a"
	assert_output '[0,"before after",""]'
	run_cmd req '["resize","io",$j,11,21]' --argjson j "$b"
	assert_output '{"payload":{},"type":"object"}'
	run_cmd stdin_req "$b" $'x\n'
	assert_output '{"payload":{},"type":"object"}'
	run_cmd link_json "$b"
	assert_output '[0,"x\r\ngot:x\r\n11 21\r\n",""]'
}
