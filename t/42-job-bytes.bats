#!/usr/bin/env bats
# The job path byte for byte: `warden run`, `link` and `stream` write the job's exact
# bytes (every byte value, invalid UTF-8, NULs, on stdout and on stderr) whatever the job
# was spawned with; link and stream take {"output":"base64"|"text"} (stream also
# {"exit_status":true}) and refuse bad options; a 600 MiB `warden run` arrives whole,
# fetched once (the CLI holds a few MiB, not the output). Real containers: the data is a
# host file bind-mounted read-only into the container at /data.

# Scripts in single quotes are expanded by the container's shell, not here.
# shellcheck disable=SC2016

load helpers

WINSTANCE=${WPREFIX}b
export WINSTANCE
POOLS='"network":{"pool_start_address":"10.253.192.0","pool_size":8},"user":{"pool_start_uid":61200,"pool_size":8},"port":{"pool_start_port":63300,"pool_size":10}'
# Room for the 600 MiB job (stdout + stderr together).
CONF='{"server":{"job_output_limit":1073741824},'$POOLS'}'

setup_file() {
	requires root rootfs wardend
	wardend_start "$CONF"
	mkdir "$WTMP/data"
	# bytes: every byte value, then 1 MiB + 1 of random bytes (not a multiple of three,
	# longer than one stream chunk); mib: 1 MiB of random bytes for the big job.
	python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4)' >"$WTMP/data/bytes"
	head -c $((1048576 + 1)) /dev/urandom >>"$WTMP/data/bytes"
	head -c 1048576 /dev/urandom >"$WTMP/data/mib"
	w create --handle b --bind-mount "$WTMP/data:/data:ro" >/dev/null
}

teardown_file() {
	wardend_stop
}

# spawn_id H SCRIPT [OPTS_JSON]: spawn through the raw protocol, print the job id.
spawn_id() {
	local req o=${3:-}
	[[ -n $o ]] || o='{}'
	req=$(jq -cn --arg h "$1" --arg s "$2" --argjson o "$o" '["spawn",$h,$s,$o]')
	printf '%s\n' "$req" | wire send - | jq -e '.payload | numbers'
}

# same FILE...: each FILE holds exactly the bytes of $WTMP/data/bytes.
same() {
	local f
	for f in "$@"; do
		cmp "$WTMP/data/bytes" "$f" || _explain "$f differs from the job's bytes"
	done
}

BOTH='cat /data/bytes; cat /data/bytes >&2'

@test "warden run writes the job's exact bytes to stdout and stderr, exits with its status" {
	run_cmd bash -c "$(printf '%q ' "$WARDEN_BIN") -s '$WSOCK' run b '$BOTH; exit 7' \
		>'$BATS_TEST_TMPDIR/out' 2>'$BATS_TEST_TMPDIR/err'"
	assert_failure 7
	same "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
}

@test "warden run --output base64 also writes the bytes, not their base64" {
	w run --output base64 b 'cat /data/bytes' >"$BATS_TEST_TMPDIR/out"
	same "$BATS_TEST_TMPDIR/out"
}

@test "warden link and warden stream write the exact bytes of a text job and a base64 job" {
	local id opts
	for opts in '{}' '{"output":"base64"}'; do
		id=$(spawn_id b "$BOTH; exit 3" "$opts")
		run_cmd bash -c "'$WARDEN_BIN' -s '$WSOCK' link b $id >'$BATS_TEST_TMPDIR/lo' 2>'$BATS_TEST_TMPDIR/le'"
		assert_failure 3
		run_cmd bash -c "'$WARDEN_BIN' -s '$WSOCK' stream b $id >'$BATS_TEST_TMPDIR/so' 2>'$BATS_TEST_TMPDIR/se'"
		assert_success
		same "$BATS_TEST_TMPDIR"/{lo,le,so,se}
		rm -f "$BATS_TEST_TMPDIR"/{lo,le,so,se}
	done
}

@test "warden --json link and stream still print the server's payloads" {
	local id
	id=$(spawn_id b 'printf "a\377b"')
	run_w --json link b "$id"
	assert_success
	assert_output '[0,"a�b",""]'
	run_w --json stream b "$id"
	assert_success
	assert_output '["stdout","a�b"]
[]'
}

@test "link and stream with {\"output\":\"base64\"}: base64 of the bytes of a text job" {
	local id want
	id=$(spawn_id b 'printf "a\377\000b"; printf "\376" >&2')
	want=$(printf 'a\377\000b' | base64)
	run_cmd wire send "[\"link\",\"b\",$id,{\"output\":\"base64\"}]\n"
	assert_success
	assert_output "{\"payload\":[0,\"$want\",\"/g==\"],\"type\":\"object\"}"
	run_cmd wire send -n 3 "[\"stream\",\"b\",$id,{\"output\":\"base64\"}]\n"
	assert_success
	assert_output_contains "{\"payload\":[\"stdout\",\"$want\"],\"type\":\"object\"}"
	assert_output_contains '{"payload":["stderr","/g=="],"type":"object"}'
	[[ ${lines[2]} == '{"payload":[],"type":"object"}' ]] || _explain "the last line is not []"
}

@test "link with {\"output\":\"text\"} of a base64 job: text, bad bytes replaced" {
	local id
	id=$(spawn_id b 'printf "x\377"' '{"output":"base64"}')
	run_cmd wire send "[\"link\",\"b\",$id,{\"output\":\"text\"}]\n"
	assert_output '{"payload":[0,"x�",""],"type":"object"}'
	run_cmd wire send "[\"link\",\"b\",$id]\n"
	assert_output '{"payload":[0,"eP8=",""],"type":"object"}'
}

@test "stream with {\"exit_status\":true}: [\"exit_status\", N] just before the last line" {
	local id
	id=$(spawn_id b 'echo hi; exit 5')
	run_cmd wire send -n 3 "[\"stream\",\"b\",$id,{\"exit_status\":true}]\n"
	assert_success
	assert_output '{"payload":["stdout","hi\n"],"type":"object"}
{"payload":["exit_status",5],"type":"object"}
{"payload":[],"type":"object"}'
	# A job killed by a signal has no exit status: null.
	id=$(spawn_id b 'kill -9 $$')
	run_cmd wire send -n 2 "[\"stream\",\"b\",$id,{\"exit_status\":true}]\n"
	assert_success
	assert_output '{"payload":["exit_status",null],"type":"object"}
{"payload":[],"type":"object"}'
}

@test "link and stream refuse bad options with a precise error; the connection stays" {
	local id
	id=$(spawn_id b 'true')
	run_cmd wire send -n 7 "[\"link\",\"b\",$id,1]\n[\"link\",\"b\",$id,{\"nope\":1}]\n[\"link\",\"b\",$id,{\"output\":\"hex\"}]\n[\"stream\",\"b\",$id,{\"output\":7}]\n[\"stream\",\"b\",$id,{\"exit_status\":1}]\n[\"link\",\"b\",$id,{\"exit_status\":true}]\n[\"ping\"]\n"
	assert_success
	[[ ${lines[0]} == '{"payload":"Options must be a hash","type":"error"}' ]] || _explain "line 0"
	[[ ${lines[1]} == '{"payload":"Unknown link option `nope`.","type":"error"}' ]] || _explain "line 1"
	[[ ${lines[2]} == '{"payload":"Expected `output` to be \"base64\" or \"text\".","type":"error"}' ]] ||
		_explain "line 2"
	[[ ${lines[3]} == "${lines[2]}" ]] || _explain "line 3"
	[[ ${lines[4]} == '{"payload":"Expected `exit_status` to hold a boolean.","type":"error"}' ]] ||
		_explain "line 4"
	[[ ${lines[5]} == '{"payload":"Unknown link option `exit_status`.","type":"error"}' ]] ||
		_explain "line 5"
	[[ ${lines[6]} == '{"payload":"pong","type":"object"}' ]] || _explain "line 6"
	# An unknown job is still "no such job", before the options are looked at.
	run_cmd wire send '["link","b",999999,1]\n'
	assert_output '{"payload":"no such job","type":"error"}'
}

@test "a 600 MiB warden run arrives whole, and the CLI never holds the output" {
	local want got rss
	want=$(for _ in $(seq 600); do cat "$WTMP/data/mib"; done | sha256sum | cut -d' ' -f1)
	# GNU time's %M: the CLI's peak resident set in KiB, on stderr's last line.
	run_cmd bash -c "/usr/bin/time -f %M '$WARDEN_BIN' -s '$WSOCK' run b \
		'i=0; while [ \$i -lt 600 ]; do cat /data/mib; i=\$((i+1)); done; exit 4' \
		2>'$BATS_TEST_TMPDIR/err' | sha256sum | cut -d' ' -f1; exit \${PIPESTATUS[0]}"
	assert_failure 4
	got=$output
	[[ $got == "$want" ]] || _explain "sha256 $got, want $want"
	rss=$(tail -n 1 "$BATS_TEST_TMPDIR/err")
	((rss < 65536)) || _explain "warden run peaked at $rss KiB: it held the output"
}

@test "a 600 MiB job through warden link and warden stream" {
	local want id
	want=$(for _ in $(seq 600); do cat "$WTMP/data/mib"; done | sha256sum | cut -d' ' -f1)
	id=$(spawn_id b 'i=0; while [ $i -lt 600 ]; do cat /data/mib; i=$((i+1)); done')
	run_cmd bash -c "'$WARDEN_BIN' -s '$WSOCK' link b $id | sha256sum | cut -d' ' -f1; exit \${PIPESTATUS[0]}"
	assert_success
	[[ $output == "$want" ]] || _explain "link: sha256 $output, want $want"
	run_cmd bash -c "'$WARDEN_BIN' -s '$WSOCK' stream b $id | sha256sum | cut -d' ' -f1; exit \${PIPESTATUS[0]}"
	assert_success
	[[ $output == "$want" ]] || _explain "stream: sha256 $output, want $want"
}

@test "a link reply bigger than the socket holds, read slowly but steadily, is never dropped as stalled" {
	# 9 MB of output: the reply line is more than the kernel holds for the client (a 4 MiB
	# send buffer, doubled), so wardend keeps the rest; the client reads 32 KiB every
	# 0.5 s for 15 s (longer than the 10 s stall limit), then the rest at full speed.
	local job
	job=$(w spawn b 'head -c 9000000 /dev/zero | tr "\0" a')
	w link b "$job" >/dev/null
	run_cmd python3 - "$WSOCK" "$job" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'["link","b",%d]\n' % int(sys.argv[2]))
buf, t0 = b"", time.monotonic()
s.settimeout(30)
while time.monotonic() - t0 < 15:
    d = s.recv(32768)
    if not d:
        sys.exit("dropped after %d bytes, %.1f s" % (len(buf), time.monotonic() - t0))
    buf += d
    time.sleep(0.5)
while not buf.endswith(b"\n"):
    d = s.recv(1 << 20)
    if not d:
        sys.exit("dropped after %d bytes, %.1f s" % (len(buf), time.monotonic() - t0))
    buf += d
r = json.loads(buf)
print(r["type"], r["payload"][0], len(r["payload"][1]), set(r["payload"][1]))
PY
	assert_success
	assert_output "object 0 9000000 {'a'}"
	refute_output_contains dropped
	run_cmd grep -F 'dropping client' "$WTMP/wardend.log"
	assert_failure
}
