#!/usr/bin/env bats
# Jobs (PROTOCOL.md "Jobs", spawn/link/run/stream, OPTS): ids, linking and streaming from
# any connection, durability on disk and across a kill -9 of wardend, the job's user,
# environment, limits and cgroup, the output limit and output encodings, and the CLI.
# Real containers. One container "j" is shared by the file; tests that stop, destroy or
# restart things make their own. Jobs wait for trigger files in a host directory that is
# bind-mounted at /trig, so no test depends on timing.

# Scripts in single quotes are expanded by the container's shell, not here.
# shellcheck disable=SC2016

load helpers

# Instance and pools of this file, apart from the other suites' (they may run at once).
WINSTANCE=${WPREFIX}j
export WINSTANCE
POOLS='"network":{"pool_start_address":"10.253.128.0","pool_size":32},"user":{"pool_start_uid":61000,"pool_size":64},"port":{"pool_start_port":63000,"pool_size":100}'
CONF='{"server":{"job_output_limit":4096,"container_rlimits":{"nofile":321}},'$POOLS'}'

setup_file() {
	requires root rootfs wardend
	wardend_start "$CONF"
	mkdir -m 1777 "$WTMP/trig"
	w create --handle j --bind-mount "$WTMP/trig:/trig:rw" >/dev/null
	TRIG=$WTMP/trig
	export TRIG
}

teardown_file() {
	wardend_stop
}

# own_daemon [EXTRA_SERVER_KEYS]: a test's own daemon (instance ${WPREFIX}k, own temp dir and
# pools), beside the file's.
own_daemon() {
	FILE_WTMP=$WTMP FILE_WSOCK=$WSOCK FILE_PID=$WARDEND_PID FILE_TRIG=$TRIG
	WINSTANCE=${WPREFIX}k
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WINSTANCE WTMP WSOCK=$WTMP/w.sock
	unset WARDEND_PID
	# $1: extra server keys, e.g. '"hook_timeout":1'.
	OWN_CONF='{"server":{"container_rlimits":{}'${1:+,$1}'},"network":{"pool_start_address":"10.253.160.0","pool_size":8},"user":{"pool_start_uid":61100,"pool_size":8},"port":{"pool_start_port":63200,"pool_size":10}}'
	wardend_start "$OWN_CONF" || return 1
	mkdir -m 1777 "$WTMP/trig"
	TRIG=$WTMP/trig
}

teardown() {
	local rc=0 p
	if [[ -n ${FILE_WTMP:-} ]]; then
		wardend_stop || rc=$?
		WINSTANCE=${WPREFIX}j
		export WINSTANCE WTMP=$FILE_WTMP WSOCK=$FILE_WSOCK WARDEND_PID=$FILE_PID
		TRIG=$FILE_TRIG FILE_WTMP=
	fi
	# Release whatever a test left waiting in the shared container.
	[[ -n ${TRIG:-} && -d ${TRIG:-} ]] && rm -f "$TRIG"/* 2>/dev/null
	# Background clients this test started.
	for p in ${BG_PIDS:-}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	BG_PIDS=
	return "$rc"
}

# wait_status PID: wait for a background client; its exit status into $status.
wait_status() {
	status=0
	wait "$1" || status=$?
	# shellcheck disable=SC2034 # read by the assert helpers
	WLAST_CMD="wait $1"
	output=
}

bg() {
	"$@" 3>&- &
	BG_PIDS="${BG_PIDS:-} $!"
	LAST_BG=$!
}

# kill -9 the daemon and start it again on the same config file.
wardend_kill9_restart() {
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" 2>/dev/null || true
	wardend_start "$OWN_CONF"
}

# A shell snippet that waits (in the container) for /trig/NAME.
await() { echo "while [ ! -e /trig/$1 ]; do sleep 0.05; done"; }
# Jobs poll for the trigger files with sleep; rm them so the next test starts clean.
trigger() { touch "$TRIG/$1"; }

# spawn_id H SCRIPT [OPTS_JSON]: spawn through the raw protocol, print the job id.
spawn_id() {
	local req
	local o=${3:-}
	[[ -n $o ]] || o='{}'
	req=$(jq -cn --arg h "$1" --arg s "$2" --argjson o "$o" '["spawn",$h,$s,$o]')
	printf '%s\n' "$req" | wire send - | jq -e '.payload | numbers'
}

# link_json H J: the link reply's payload, compact JSON.
link_json() {
	local req
	req=$(jq -cn --arg h "$1" --argjson j "$2" '["link",$h,$j]')
	printf '%s\n' "$req" | wire send - | jq -c '.payload'
}

# run_json H SCRIPT [OPTS_JSON]: the run reply's payload.
run_json() {
	local req
	local o=${3:-}
	[[ -n $o ]] || o='{}'
	req=$(jq -cn --arg h "$1" --arg s "$2" --argjson o "$o" '["run",$h,$s,$o]')
	printf '%s\n' "$req" | wire send - | jq -c '.payload'
}

ct_path() { w --json info "${1:-j}" | jq -r .container_path; }

# stream_check FILE: FILE holds the raw reply lines of one stream. Checks that every line
# is {"type":"object","payload":[KIND,CHUNK]} and the last one payload []; prints
# {"stdout":..., "stderr":...} joined.
stream_check() {
	python3 - "$1" <<'PY'
import json, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
assert lines[-1] == b"", "stream does not end with a newline"
lines = lines[:-1]
out = {"stdout": "", "stderr": ""}
assert lines, "no stream lines"
for i, l in enumerate(lines):
    o = json.loads(l.decode("utf-8"))
    assert o.get("type") == "object", "line %d: %r" % (i, o)
    p = o["payload"]
    if i == len(lines) - 1:
        assert p == [], "last line is not []: %r" % (o,)
    else:
        assert isinstance(p, list) and len(p) == 2 and p[0] in out, "line %d: %r" % (i, o)
        assert p[1] != "", "line %d: empty chunk" % i
        out[p[0]] += p[1]
print(json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
PY
}

# stream_to H J FILE: a raw stream client in the background, all reply lines to FILE;
# it ends after the stream's last line.
STREAM_CLIENT='
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf, done = b"", False
with open(sys.argv[3], "wb", buffering=0) as f:
    while not done:
        d = s.recv(65536)
        if not d:
            break
        f.write(d)
        buf += d
        while b"\n" in buf:
            line, _, buf = buf.partition(b"\n")
            if json.loads(line).get("payload") == []:
                done = True
'
# link_sent H J FILE: a raw link in the background; FILE.sent appears once the request is
# written, FILE gets the reply line; exit 3 when the server closes the connection first
# (or resets it: killed before it read the request).
LINK_CLIENT='
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
open(sys.argv[3] + ".sent", "w").close()
buf = b""
while b"\n" not in buf:
    try:
        d = s.recv(65536)
    except ConnectionResetError:
        d = b""  # wardend died before reading the request: gone all the same
    if not d:
        sys.exit(3)
    buf += d
line = json.loads(buf.partition(b"\n")[0])
open(sys.argv[3], "w").write(json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n")
'
link_sent() {
	local req
	req=$(jq -cn --arg h "$1" --argjson j "$2" '["link",$h,$j]')
	bg timeout 120 python3 -c "$LINK_CLIENT" "$WSOCK" "$req" "$3"
	wait_for 30 test -e "$3.sent"
}

# stream_all H J FILE: the same in the foreground (bounded): the whole stream into FILE.
stream_all() {
	local req
	req=$(jq -cn --arg h "$1" --argjson j "$2" '["stream",$h,$j]')
	timeout 60 python3 -c "$STREAM_CLIENT" "$WSOCK" "$req" "$3"
}

stream_to() {
	local req
	req=$(jq -cn --arg h "$1" --argjson j "$2" '["stream",$h,$j]')
	: >"$3"
	bg python3 -c "$STREAM_CLIENT" "$WSOCK" "$req" "$3"
}

# ---- spawn and ids ----

@test "spawn returns an integer id; ids increase and are never reused" {
	local a b c
	a=$(spawn_id j 'true')
	b=$(spawn_id j 'true')
	c=$(spawn_id j 'exit 0')
	[[ $a -ge 1 && $b -gt $a && $c -gt $b ]] || _explain "ids $a $b $c"
	run_cmd wire send '["spawn","j","true",[]]\n'
	assert_output '{"payload":"Options must be a hash","type":"error"}'
}

@test "spawn: a bad script or option is refused with a message naming it" {
	local req want
	while IFS='|' read -r req want; do
		run_cmd wire send "$req\n"
		assert_output "{\"payload\":\"$want\",\"type\":\"error\"}"
	done <<-'EOF'
		["spawn","j",1]|Script must be a string
		["spawn","j","true",{"bogus":1}]|Unknown spawn option `bogus`.
		["spawn","j","true",{"privileged":"yes"}]|Expected `privileged` to hold a boolean.
		["spawn","j","true",{"discard_output":1}]|Expected `discard_output` to hold a boolean.
		["spawn","j","true",{"env":["A=1"]}]|Expected `env` to hold an object of strings.
		["spawn","j","true",{"env":{"A":1}}]|Expected `env` to hold an object of strings.
		["spawn","j","true",{"env":{"A=B":"1"}}]|Expected `env` to hold an object of strings.
		["spawn","j","true",{"rlimits":{"nofile":-1}}]|Invalid `rlimits`: rlimits.nofile: expected a non-negative integer
		["spawn","j","true",{"rlimits":{"bogus":1}}]|Invalid `rlimits`: rlimits: unknown rlimit 'bogus'
		["spawn","j","true",{"output":"hex"}]|Expected `output` to be \"base64\" or \"text\".
		["run","j",["true"]]|Script must be a string
	EOF
	# None of them started a job; the container still runs one.
	run_w run j 'echo still fine'
	assert_success
	assert_output "still fine"
}

@test "spawn: a wshd that does not answer gives an error after hook_timeout, and blocks nobody" {
	own_daemon '"hook_timeout":2'
	local h pid
	h=$(w create) || _explain "create failed"
	pid=$(<"$(w --json info "$h" | jq -r .container_path)/run/wshd.pid")
	kill -STOP "$pid"
	w spawn "$h" 'echo never' >"$WTMP/spawn.out" 2>&1 &
	local sp=$!
	# Another connection is answered while that spawn waits.
	run_w ping
	assert_output pong
	[[ ! -s $WTMP/spawn.out ]] || _explain "the spawn ended before ping was answered"
	wait "$sp" && status=0 || status=$?
	kill -CONT "$pid"
	output=$(<"$WTMP/spawn.out")
	assert_failure 1
	assert_output "warden: could not spawn job: wshd did not answer within 2 s"
	# Once it runs again, so do jobs.
	run_w run "$h" 'echo back'
	assert_success
	assert_output back
}

@test "link: [exit_status, stdout, stderr]; from any connection, any number of times" {
	local id
	id=$(spawn_id j 'echo out; echo err >&2; exit 3')
	run_cmd link_json j "$id"
	assert_output '[3,"out\n","err\n"]'
	# Twice pipelined on one connection, then on another connection, and by string id.
	run_cmd wire send -n 2 "[\"link\",\"j\",$id]\n[\"link\",\"j\",$id]\n"
	assert_success
	assert_output "$(printf '%s\n' '{"payload":[3,"out\n","err\n"],"type":"object"}' \
		'{"payload":[3,"out\n","err\n"],"type":"object"}')"
	run_cmd wire send "[\"link\",\"j\",\"$id\"]\n"
	assert_output '{"payload":[3,"out\n","err\n"],"type":"object"}'
}

@test "unknown job: no such job (link and stream); unknown handle first" {
	run_cmd wire send -n 4 '["link","j",999999]\n["stream","j",999999]\n["link","j","nope"]\n["link","nohandle",1]\n'
	assert_success
	assert_output "$(printf '%s\n' '{"payload":"no such job","type":"error"}' \
		'{"payload":"no such job","type":"error"}' \
		'{"payload":"no such job","type":"error"}' \
		'{"payload":"unknown handle","type":"error"}')"
}

@test "run = spawn + link; the id of a run is a job id too" {
	run_cmd run_json j 'echo $((6*7)); exit 5'
	assert_output '[5,"42\n",""]'
}

@test "a pending link blocks only its own connection" {
	local id out=$BATS_TEST_TMPDIR/link
	id=$(spawn_id j "echo started; $(await go1); echo done")
	bg wire send -n 2 "[\"link\",\"j\",$id]\n[\"ping\"]\n"
	local linker=$LAST_BG
	# Other connections are served at once, also a second link waiting meanwhile.
	bg wire send -t 60 "[\"link\",\"j\",$id]\n" >"$out"
	run_cmd wire send -t 5 '["ping"]\n'
	assert_output '{"payload":"pong","type":"object"}'
	run_cmd wire send -t 5 "[\"link\",\"j\",$(spawn_id j 'echo other')]\n"
	assert_output '{"payload":[0,"other\n",""],"type":"object"}'
	kill -0 "$linker" || _explain "the link ended before the job did"
	trigger go1
	wait_status "$linker"
	assert_success
	wait_for 30 test -s "$out"
	run_cmd cat "$out"
	assert_output '{"payload":[0,"started\ndone\n",""],"type":"object"}'
}

@test "link and ping pipelined: replies in request order" {
	local id
	id=$(spawn_id j "$(await go2); echo late")
	# The job ends only once wardend has read both lines (wire's --when-read), so the link
	# is pending when the ping behind it is read, and the ping must wait for it.
	run_cmd wire send -n 2 --when-read "$TRIG/go2" "[\"link\",\"j\",$id]\n[\"ping\"]\n"
	assert_success
	assert_output "$(printf '%s\n' '{"payload":[0,"late\n",""],"type":"object"}' \
		'{"payload":"pong","type":"object"}')"
}

# ---- stream ----

@test "stream replays from the first byte, follows live, several streamers each get all" {
	local id p
	id=$(spawn_id j "echo one; echo e1 >&2; $(await go3); echo two; echo e2 >&2")
	p=$(ct_path j)
	wait_for 30 grep -q one "$p/jobs/$id/stdout"
	wait_for 30 grep -q e1 "$p/jobs/$id/stderr"
	stream_to j "$id" "$BATS_TEST_TMPDIR/s1"
	local s1=$LAST_BG
	stream_to j "$id" "$BATS_TEST_TMPDIR/s2"
	local s2=$LAST_BG
	# The bytes written before the streams began arrive while the job still runs.
	wait_for 30 grep -q 'one' "$BATS_TEST_TMPDIR/s1"
	wait_for 30 grep -q 'e1' "$BATS_TEST_TMPDIR/s2"
	run_cmd grep -c 'payload":\[\]' "$BATS_TEST_TMPDIR/s1"
	assert_output 0
	[[ ! -e $p/jobs/$id/status ]]
	trigger go3
	wait "$s1"
	wait "$s2"
	for f in s1 s2; do
		run_cmd stream_check "$BATS_TEST_TMPDIR/$f"
		assert_success
		assert_output '{"stderr":"e1\ne2\n","stdout":"one\ntwo\n"}'
	done
	# A stream of an ended job replays everything and ends.
	stream_all j "$id" "$BATS_TEST_TMPDIR/s3"
	run_cmd stream_check "$BATS_TEST_TMPDIR/s3"
	assert_output '{"stderr":"e1\ne2\n","stdout":"one\ntwo\n"}'
}

@test "stream of a job with no output: just the last line" {
	local id
	id=$(spawn_id j 'exit 0')
	run_cmd wire send "[\"stream\",\"j\",$id]\n"
	assert_output '{"payload":[],"type":"object"}'
}

@test "stream does not split a UTF-8 character that arrives in two writes" {
	local id
	id=$(spawn_id j "printf 'x\\342\\230'; $(await go4); printf '\\203y'")
	stream_to j "$id" "$BATS_TEST_TMPDIR/s"
	local s=$LAST_BG
	wait_for 30 grep -q '"x"' "$BATS_TEST_TMPDIR/s"
	trigger go4
	wait "$s"
	run_cmd stream_check "$BATS_TEST_TMPDIR/s"
	assert_output '{"stderr":"","stdout":"x☃y"}'
}

# ---- stop and destroy ----

@test "a job killed by stop links as [null, output so far, output so far]" {
	w create --handle jstop >/dev/null
	local id out=$BATS_TEST_TMPDIR/l
	id=$(spawn_id jstop 'echo before; echo err >&2; sleep 1000; echo after')
	wait_for 30 grep -q before "$(ct_path jstop)/jobs/$id/stdout"
	wait_for 30 grep -q err "$(ct_path jstop)/jobs/$id/stderr"
	link_sent jstop "$id" "$out"
	local l=$LAST_BG
	run_cmd wire send -t 60 '["stop","jstop"]\n'
	assert_output '{"payload":"ok","type":"object"}'
	wait_status "$l"
	assert_success
	run_cmd cat "$out"
	assert_output '{"payload":[null,"before\n","err\n"],"type":"object"}'
	# Linked again after the stop: the same.
	run_cmd link_json jstop "$id"
	assert_output '[null,"before\n","err\n"]'
	w destroy jstop
}

@test "a job killed by destroy links as [null, output so far, output so far]" {
	w create --handle jdestroy >/dev/null
	local id out=$BATS_TEST_TMPDIR/l
	id=$(spawn_id jdestroy 'echo before; echo err >&2; sleep 1000')
	wait_for 30 grep -q err "$(ct_path jdestroy)/jobs/$id/stderr"
	wait_for 30 grep -q before "$(ct_path jdestroy)/jobs/$id/stdout"
	link_sent jdestroy "$id" "$out"
	local l=$LAST_BG
	run_cmd wire send -t 60 '["destroy","jdestroy"]\n'
	assert_output '{"payload":"ok","type":"object"}'
	wait_status "$l"
	assert_success
	run_cmd cat "$out"
	assert_output '{"payload":[null,"before\n","err\n"],"type":"object"}'
}

@test "wshd killed: jobs link as killed, the container is stopped with an event, destroy works" {
	w create --handle jwshd >/dev/null
	local id out=$BATS_TEST_TMPDIR/l p
	p=$(ct_path jwshd)
	id=$(spawn_id jwshd 'echo before; sleep 1000; echo after')
	wait_for 30 grep -q before "$p/jobs/$id/stdout"
	link_sent jwshd "$id" "$out"
	local l=$LAST_BG
	kill -KILL "$(cat "$p/run/wshd.pid")"
	wait_status "$l"
	assert_success
	run_cmd cat "$out"
	assert_output '{"payload":[null,"before\n",""],"type":"object"}'
	run_cmd w --json info jwshd
	assert_success
	[[ $(jq -r .state <<<"$output") == stopped ]] || _explain "state is not stopped"
	[[ $(jq -c .events <<<"$output") == '["wshd exited"]' ]] || _explain "no wshd exited event"
	run_w run jwshd 'echo hi'
	assert_failure
	assert_output_contains "current state is 'stopped'"
	w destroy jwshd
	run_w list
	refute_output_contains jwshd
	run_w ping
	assert_output pong
}

# ---- durability ----

@test "output and status are on disk in <container_path>/jobs/<n>/ as they happen" {
	local id p
	id=$(spawn_id j "echo part1; echo warn >&2; $(await go5); echo part2; exit 9")
	p=$(ct_path j)
	wait_for 30 grep -q part1 "$p/jobs/$id/stdout"
	wait_for 30 grep -q warn "$p/jobs/$id/stderr"
	[[ ! -e $p/jobs/$id/status ]] || _explain "status exists while the job runs"
	run_cmd w --json info j
	assert_output_contains "$id"
	[[ $(w --json info j | jq ".job_ids | index($id)") != null ]]
	trigger go5
	wait_for 30 test -e "$p/jobs/$id/status"
	run_cmd cat "$p/jobs/$id/stdout"
	assert_output "$(printf 'part1\npart2')"
	run_cmd jq -e '.exit == 9' "$p/jobs/$id/status"
	assert_success
	[[ $(w --json info j | jq ".job_ids | index($id)") == null ]]
}

@test "a client disconnecting mid-link or mid-stream loses nothing" {
	local id
	id=$(spawn_id j "echo a; $(await go6); echo b; exit 4")
	# Give up waiting (the client closes) while the job still runs.
	run_cmd wire send -t 1 "[\"link\",\"j\",$id]\n"
	assert_failure 1
	run_cmd wire send -n 1 "[\"stream\",\"j\",$id]\n"
	assert_success
	assert_output '{"payload":["stdout","a\n"],"type":"object"}'
	run_cmd wire send -n 1 '["ping"]\n'
	assert_output '{"payload":"pong","type":"object"}'
	trigger go6
	run_cmd link_json j "$id"
	assert_output '[4,"a\nb\n",""]'
	stream_all j "$id" "$BATS_TEST_TMPDIR/s"
	run_cmd stream_check "$BATS_TEST_TMPDIR/s"
	assert_output '{"stderr":"","stdout":"a\nb\n"}'
}

@test "a job spawned on one connection links on another after the first disconnected" {
	local id
	id=$(wire send "[\"spawn\",\"j\",\"$(await go7); echo later\"]\n" | jq .payload)
	trigger go7
	run_cmd link_json j "$id"
	assert_output '[0,"later\n",""]'
}

@test "kill -9 of wardend while jobs run loses no output and no exit status; ids go on" {
	own_daemon
	w create --handle k --bind-mount "$TRIG:/trig:rw" >/dev/null
	local a b c p
	run_cmd spawn_id k true
	assert_output 1 # a fresh depot counts from 1
	# a writes a line every few ms until told to stop, keeping a copy of what it wrote.
	a=$(spawn_id k 'i=0; until [ -e /trig/stopa ]; do echo "line $i"; echo "line $i" >>/trig/copy; i=$((i+1)); [ $((i % 50)) = 0 ] && sleep 0.01; done; echo end >&2; exit 7')
	b=$(spawn_id k "echo b-start; $(await gob); echo b-done; exit 3")
	p=$(ct_path k)
	wait_for 30 grep -q 'line 200' "$p/jobs/$a/stdout"
	wait_for 30 grep -q b-start "$p/jobs/$b/stdout"
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" 2>/dev/null || true
	# While wardend is down both jobs end; wshd records them.
	touch "$TRIG/stopa" "$TRIG/gob"
	wait_for 30 test -e "$p/jobs/$a/status"
	wait_for 30 test -e "$p/jobs/$b/status"
	wardend_start "$OWN_CONF"
	run_cmd link_json k "$b"
	assert_output '[3,"b-start\nb-done\n",""]'
	link_json k "$a" >"$BATS_TEST_TMPDIR/a"
	run_cmd jq -r '.[0], .[2]' "$BATS_TEST_TMPDIR/a"
	assert_output "$(printf '7\nend\n')"
	jq -j '.[1]' "$BATS_TEST_TMPDIR/a" >"$BATS_TEST_TMPDIR/a.out"
	run_cmd cmp "$BATS_TEST_TMPDIR/a.out" "$TRIG/copy"
	assert_success
	# A new spawn gets a larger id than any before the restart.
	c=$(spawn_id k 'true')
	[[ $c -gt $b && $c -gt $a ]] || _explain "id $c after $a and $b"
}

@test "kill -9 of wardend mid-link: a job still running is linked after the restart" {
	own_daemon
	w create --handle k2 --bind-mount "$TRIG:/trig:rw" >/dev/null
	local a out=$BATS_TEST_TMPDIR/l ids=()
	a=$(spawn_id k2 "echo x; $(await goa); echo y")
	link_sent k2 "$a" "$out"
	local l=$LAST_BG
	wardend_kill9_restart
	wait_status "$l"
	assert_failure 3 # the server went away mid-link
	trigger goa
	run_cmd link_json k2 "$a"
	assert_output '[0,"x\ny\n",""]'
	# Ids go on across several restarts and containers.
	ids+=("$a")
	wardend_kill9_restart
	ids+=("$(spawn_id k2 true)")
	w destroy k2
	w create --handle k3 >/dev/null
	ids+=("$(spawn_id k3 true)")
	wardend_kill9_restart
	ids+=("$(spawn_id k3 true)")
	[[ ${ids[0]} -lt ${ids[1]} && ${ids[1]} -lt ${ids[2]} && ${ids[2]} -lt ${ids[3]} ]] ||
		_explain "ids ${ids[*]}"
}

# ---- the job's process ----

@test "jobs run /bin/sh -c SCRIPT as vcap with the pool uid, or as root when privileged" {
	run_cmd run_json j 'id -un; id -u; echo $0; cat /proc/$$/cmdline | tr "\0" " "'
	[[ $(jq -r '.[1]' <<<"$output") =~ ^vcap$'\n'(610[0-5][0-9]|6106[0-3])$'\n'/bin/sh$'\n'/bin/sh\ -c\ id ]] ||
		_explain "not vcap in the pool's uids"
	run_cmd run_json j 'id -un; id -u' '{"privileged":true}'
	assert_output '[0,"root\n0\n",""]'
}

@test "environment: HOME USER PATH LANG, OPTS env; working directory is home" {
	run_cmd run_json j 'echo "$HOME|$USER|$LANG|$FOO|$BAR"; pwd; echo ":$PATH:"' \
		'{"env":{"FOO":"foo bar","BAR":"é"}}'
	[[ $(jq -r '.[1]' <<<"$output") == "/home/vcap|vcap|"?*"|foo bar|é"$'\n'/home/vcap$'\n'*:/bin:* ]] ||
		_explain "environment"
	run_cmd run_json j 'echo "$HOME|$USER"; pwd' '{"privileged":true}'
	assert_output '[0,"/root|root\n/root\n",""]'
}

@test "rlimits from OPTS, defaults from server.container_rlimits" {
	run_cmd run_json j 'ulimit -n' '{"rlimits":{"nofile":123}}'
	assert_output '[0,"123\n",""]'
	run_cmd run_json j 'ulimit -n'
	assert_output '[0,"321\n",""]'
	run_cmd run_json j 'ulimit -n' '{"rlimits":{"core":0}}'
	assert_output '[0,"321\n",""]'
}

@test "no descriptor of wshd or wardend leaks into a job" {
	run_cmd run_json j 'ls /proc/self/fd | tr "\n" " "'
	assert_output '[0,"0 1 2 3 ",""]'
	run_cmd run_json j 'ls /proc/self/fd | tr "\n" " "' '{"privileged":true}'
	assert_output '[0,"0 1 2 3 ",""]'
}

@test "no_new_privs: on for unprivileged jobs, off for privileged" {
	run_cmd run_json j 'grep NoNewPrivs /proc/self/status'
	assert_output '[0,"NoNewPrivs:\t1\n",""]'
	run_cmd run_json j 'grep NoNewPrivs /proc/self/status' '{"privileged":true}'
	assert_output '[0,"NoNewPrivs:\t0\n",""]'
}

@test "jobs live in the container's cgroup" {
	local id cid mark="jobmark$$x$RANDOM" pid uid
	cid=$(w --json info j | jq -r .id)
	id=$(spawn_id j "echo \$(id -u); $(await go8); : $mark")
	wait_for 30 test -s "$(ct_path j)/jobs/$id/stdout"
	uid=$(cat "$(ct_path j)/jobs/$id/stdout")
	pid=$(pgrep -u "$uid" -f "$mark")
	[[ -n $pid && $pid != *$'\n'* ]] || _explain "no single host pid for the job ($pid)"
	run_cmd grep -qx "$pid" "$(cgroup_path memory "warden-$WINSTANCE/$cid")/cgroup.procs"
	assert_success
	run_cmd grep -c "warden-$WINSTANCE/$cid\$" "/proc/$pid/cgroup"
	[[ $output -ge 1 ]] || _explain "not in the container's cgroups"
	trigger go8
	run_cmd link_json j "$id"
	assert_output "[0,\"$uid\\n\",\"\"]"
}

# ---- output ----

@test "job_output_limit: the job is killed, link gives null and exactly the output up to it" {
	local id
	id=$(spawn_id j "echo start >&2; $(await go10); yes abcdefg; echo never")
	wait_for 30 grep -q start "$(ct_path j)/jobs/$id/stderr"
	trigger go10
	link_json j "$id" >"$BATS_TEST_TMPDIR/l"
	run_cmd jq -r '.[0], .[2]' "$BATS_TEST_TMPDIR/l"
	assert_output "$(printf 'null\nstart\n')"
	# stdout + stderr together are exactly the limit: 4096 - 6 bytes of yes.
	run_cmd jq -j '.[1]' "$BATS_TEST_TMPDIR/l"
	[[ $output == "$(yes abcdefg | head -c 4090)" ]] || _explain "not the first 4090 bytes"
	run_cmd w --json info j
	assert_output_contains 'command exceeded maximum output'
	# The stream of it ends too.
	stream_all j "$id" "$BATS_TEST_TMPDIR/s"
	run_cmd stream_check "$BATS_TEST_TMPDIR/s"
	assert_output "$(jq -c '{stderr: .[2], stdout: .[1]}' "$BATS_TEST_TMPDIR/l")"
}

@test "discard_output: link gives empty strings" {
	run_cmd run_json j 'echo out; echo err >&2; exit 4' '{"discard_output":true}'
	assert_output '[4,"",""]'
}

@test "output base64: exact bytes, in link and stream" {
	local id
	run_cmd run_json j "printf '\\377\\000ab\\n'; printf '\\200' >&2" '{"output":"base64"}'
	assert_output "[0,\"$(printf '\377\000ab\n' | base64)\",\"$(printf '\200' | base64)\"]"
	id=$(spawn_id j "printf '\\377\\000\\376'" '{"output":"base64"}')
	run_cmd wire send -n 2 "[\"stream\",\"j\",$id]\n"
	assert_output "$(printf '%s\n' "{\"payload\":[\"stdout\",\"$(printf '\377\000\376' | base64)\"],\"type\":\"object\"}" \
		'{"payload":[],"type":"object"}')"
}

@test "invalid UTF-8 becomes U+FFFD; every reply line is valid JSON" {
	local id
	id=$(spawn_id j "printf 'a\\377b\\300\\000c\\342\\230\\203'; printf '\\355\\240\\200' >&2")
	run_cmd wire send --raw -n 1 "[\"link\",\"j\",$id]\n"
	assert_success
	run_cmd python3 -c 'import json, sys; print(json.dumps(json.loads(sys.stdin.buffer.read().decode("utf-8"))["payload"]))' <<<"$output"
	assert_success
	assert_output '[0, "a\ufffdb\ufffd\u0000c\u2603", "\ufffd\ufffd\ufffd"]'
	stream_all j "$id" "$BATS_TEST_TMPDIR/s"
	run_cmd stream_check "$BATS_TEST_TMPDIR/s"
	assert_success
}

# ---- CLI ----

@test "CLI: spawn prints the id, link prints the output and exits with the status" {
	local id
	run_w spawn j 'echo out; echo err >&2; exit 6'
	assert_success
	[[ $output =~ ^[0-9]+$ ]] || _explain "not an id"
	id=$output
	run_cmd bash -c '"$0" -s "$1" link j "$2" 2>/dev/null' "$WARDEN_BIN" "$WSOCK" "$id"
	assert_failure 6
	assert_output out
	run_cmd bash -c '"$0" -s "$1" link j "$2" 2>&1 >/dev/null' "$WARDEN_BIN" "$WSOCK" "$id"
	assert_output err
	run_w run j 'exit 0'
	assert_success
	run_w run j 'exit 42'
	assert_failure 42
	run_w link j 999999
	assert_failure 1
	assert_output_contains 'no such job'
}

@test "CLI: run and stream print output live, before the job ends" {
	local out=$BATS_TEST_TMPDIR/run id r s
	bg "$WARDEN_BIN" -s "$WSOCK" run j "echo first; $(await go9); echo second; exit 3" >"$out"
	r=$LAST_BG
	wait_for 30 grep -q first "$out"
	kill -0 "$r" || _explain "warden run ended before the job"
	id=$(w --json info j | jq '.job_ids | max')
	bg "$WARDEN_BIN" -s "$WSOCK" stream j "$id" >"$out.s"
	s=$LAST_BG
	wait_for 30 grep -q first "$out.s"
	kill -0 "$s" || _explain "warden stream ended before the job"
	trigger go9
	wait_status "$r"
	assert_failure 3
	run_cmd cat "$out"
	assert_output "$(printf 'first\nsecond')"
	wait_status "$s"
	assert_success
	run_cmd cat "$out.s"
	assert_output "$(printf 'first\nsecond')"
}
