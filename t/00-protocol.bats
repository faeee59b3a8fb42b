#!/usr/bin/env bats
# The line protocol's transport and framing rules (PROTOCOL.md "Transport and framing"),
# reply shapes, argument checks, and bad input of every kind, against a private wardend.
# No containers are created here.

# Each @test runs in a subshell of its own, so its status is its own (SC2030, SC2031);
# WARDEND_BIN comes from helpers.bash (SC2153).
# shellcheck disable=SC2030,SC2031,SC2153

load helpers

setup_file() {
	wardend_start
}

teardown_file() {
	wardend_stop
}

# This test's own daemon (instance ${WPREFIX}p, own temp dir), beside the file's. Call
# own_daemon_prepare, optionally put things in $WTMP, then wardend_start [EXTRA_JSON].
own_daemon_prepare() {
	FILE_WTMP=$WTMP FILE_WSOCK=$WSOCK FILE_PID=$WARDEND_PID FILE_INSTANCE=$WINSTANCE
	WINSTANCE=${WPREFIX}p
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WINSTANCE WTMP WSOCK=$WTMP/w.sock
	unset WARDEND_PID
}

teardown() {
	if [[ -n ${FILE_WTMP:-} ]]; then
		local rc=0
		wardend_stop || rc=$?
		WINSTANCE=$FILE_INSTANCE
		export WINSTANCE WTMP=$FILE_WTMP WSOCK=$FILE_WSOCK WARDEND_PID=$FILE_PID
		FILE_WTMP=
		return "$rc"
	fi
}

# Every test ends here: whatever it sent, the server still answers.
still_alive() {
	run_w ping
	assert_success
	assert_output pong
}

# ---- socket ----

@test "socket permissions default to 0755" {
	run_cmd stat -c %a "$WSOCK"
	assert_success
	assert_output 755
}

@test "socket permissions follow server.unix_domain_permissions" {
	own_daemon_prepare
	wardend_start '{"server":{"unix_domain_permissions":"0700"}}'
	run_cmd stat -c %a "$WSOCK"
	assert_output 700
	still_alive
}

@test "a stale socket file is replaced at start" {
	own_daemon_prepare
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$WSOCK"
	[[ -S $WSOCK ]]
	wardend_start
	still_alive
}

@test "SIGTERM: wardend exits 0 and the socket is closed" {
	own_daemon_prepare
	wardend_start
	still_alive
	local rc=0
	kill -TERM "$WARDEND_PID"
	wait "$WARDEND_PID" || rc=$?
	[[ $rc == 0 ]] || { echo "wardend exited with status $rc" >&2; wardend_log; false; }
	run_w ping
	assert_failure 111
}

# ---- reply shapes ----

@test "success reply: {type:object, payload}" {
	run_cmd wire send '["ping"]\n'
	assert_success
	assert_output '{"payload":"pong","type":"object"}'
	run_cmd wire send '["echo","é\\u2603 \\"q\\""]\n'
	assert_output '{"payload":"é☃ \"q\"","type":"object"}'
}

@test "error reply: {type:error, payload:message}" {
	run_cmd wire send '["x"]\n'
	assert_success
	assert_output '{"payload":"unknown command \"x\"","type":"error"}'
}

@test "unknown command: the name, or a non-string name as JSON" {
	run_cmd wire send -n 4 '["x"]\n[1]\n[null]\n[["a"]]\n'
	assert_success
	assert_output "$(printf '%s\n' \
		'{"payload":"unknown command \"x\"","type":"error"}' \
		'{"payload":"unknown command 1","type":"error"}' \
		'{"payload":"unknown command null","type":"error"}' \
		'{"payload":"unknown command [\"a\"]","type":"error"}')"
	still_alive
}

# ---- bad input ----

@test "not JSON: error with the parser's message, then the connection is closed" {
	run_cmd wire send --close 'nope\n["ping"]\n'
	assert_success
	[[ ${#lines[@]} == 1 ]] || _explain "expected exactly one reply"
	assert_output_contains '"type":"error"'
	refute_output_contains '"payload":""'
	refute_output_contains 'invalid request'
	# The ping after the bad line was never answered.
	run_cmd wire send -n 2 -t 5 'nope\n["ping"]\n'
	assert_failure 3
	still_alive
}

@test "JSON that is not an array: invalid request, the connection stays open" {
	run_cmd wire send -n 5 '{"a":1}\n"ping"\n42\nnull\n["ping"]\n'
	assert_success
	assert_output "$(printf '%s\n' \
		'{"payload":"invalid request","type":"error"}' \
		'{"payload":"invalid request","type":"error"}' \
		'{"payload":"invalid request","type":"error"}' \
		'{"payload":"invalid request","type":"error"}' \
		'{"payload":"pong","type":"object"}')"
}

@test "[] gets no reply; the next request on that connection does" {
	run_cmd wire send -n 1 '[]\n[ ]\n["ping"]\n'
	assert_success
	assert_output '{"payload":"pong","type":"object"}'
}

@test "a line over max_request_bytes: request too large, then close" {
	own_daemon_prepare
	wardend_start '{"server":{"max_request_bytes":256}}'
	# Just under the limit is fine.
	run_cmd wire send "py:b'[\"echo\",\"' + b'a'*200 + b'\"]\n'"
	assert_success
	assert_output_contains '"type":"object"'
	run_cmd wire send --close "py:b'[\"echo\",\"' + b'a'*300 + b'\"]\n[\"ping\"]\n'"
	assert_success
	assert_output '{"payload":"request too large","type":"error"}'
	# Without a newline at all: the server must not wait for one.
	run_cmd wire send --close "py:b'[\"echo\",\"' + b'a'*4096"
	assert_success
	assert_output '{"payload":"request too large","type":"error"}'
	still_alive
}

@test "a 2 MiB line against the default 1 MiB limit: request too large, then close" {
	run_cmd wire send --close "py:b'[\"echo\",\"' + b'a'*(2<<20) + b'\"]\n'"
	assert_success
	assert_output '{"payload":"request too large","type":"error"}'
	# Half a MiB is well within the default.
	run_cmd wire send "py:b'[\"echo\",\"' + b'b'*(512<<10) + b'\"]\n'"
	assert_success
	assert_output_contains '"type":"object"'
	still_alive
}

@test "binary garbage: an error reply, the connection closed, the server fine" {
	run_cmd wire send --close "py:bytes(range(256))*64 + b'\n'"
	assert_success
	assert_output_contains '"type":"error"'
	still_alive
}

@test "NUL bytes: raw NUL is rejected, an escaped NUL round-trips" {
	run_cmd wire send --close '["echo","a\0b"]\n'
	assert_success
	assert_output_contains '"type":"error"'
	run_cmd wire send '["echo","a\\u0000b"]\n'
	assert_success
	assert_output '{"payload":"a\u0000b","type":"object"}'
	still_alive
}

@test "invalid UTF-8 inside a JSON string: the reply is still valid UTF-8 JSON" {
	# wire exits 4 if any reply is not valid UTF-8 JSON.
	run_cmd wire send -t 10 '["echo","\xff\xfe\xc3"]\n'
	assert_success
	still_alive
}

@test "deeply nested JSON (100000 '['): an error, not a crash" {
	run_cmd wire send --close "py:b'['*100000 + b'\n'"
	assert_success
	assert_output_contains '"type":"error"'
	run_cmd wire send -t 10 "py:b'['*100000 + b']'*100000 + b'\n'"
	assert_success
	assert_output_contains '"type":"error"'
	still_alive
}

@test "a line split across many writes is one request" {
	run_cmd wire send -g 0.05 '["e' 'ch' 'o","sp' 'lit"' ']' '\n'
	assert_success
	assert_output '{"payload":"split","type":"object"}'
}

# ---- ordering and concurrency ----

@test "pipelining: many requests in one write are answered in order" {
	local req="" want="" i
	for i in $(seq 1 100); do
		req+="[\"echo\",\"m$i\"]\\n"
		want+="{\"payload\":\"m$i\",\"type\":\"object\"}"$'\n'
	done
	run_cmd wire send -n 100 "$req"
	assert_success
	assert_output "${want%$'\n'}"
}

@test "200 connections at once are all answered" {
	run_cmd wire conns 200
	assert_success
	still_alive
}

@test "a client that sends half a line and stalls blocks nobody" {
	run_cmd wire stall
	assert_success
	still_alive
}

@test "a client that never reads its replies blocks nobody and is dropped" {
	run_cmd wire flood 120
	assert_success
	still_alive
}

@test "out of descriptors: wardend pauses accepting instead of spinning, then serves the queue" {
	own_daemon_prepare
	wardend_start
	run_cmd prlimit --pid "$WARDEND_PID" --nofile=40:40
	assert_success
	run_cmd wire starve 80 "$WARDEND_PID"
	assert_success
	grep -q 'accept: Too many open files; not accepting for 100 ms' "$WTMP/wardend.log" ||
		_explain "no log line about the pause"
	still_alive
}

# ---- argument checks: count first, then the handle ----

@test "invalid number of arguments for every command" {
	local reqs=(
		'["echo"]' '["echo","a","b"]'
		'["stop"]' '["stop","h",{},1]'
		'["destroy"]' '["destroy","h","x"]'
		'["spawn"]' '["spawn","h"]' '["spawn","h","s",{},1]'
		'["link"]' '["link","h"]' '["link","h",1,{},2]'
		'["run"]' '["run","h"]' '["run","h","s",{},1]'
		'["stream"]' '["stream","h"]' '["stream","h",1,{},2]'
		'["limit"]' '["limit","h"]'
		'["net"]' '["net","h"]'
		'["copy"]' '["copy","h"]' '["copy","h","in"]' '["copy","h","in","a"]'
		'["info"]' '["info","h","x"]'
	)
	local r send="" want=""
	for r in "${reqs[@]}"; do
		send+="$r\\n"
		want+='{"payload":"invalid number of arguments","type":"error"}'$'\n'
	done
	run_cmd wire send -n "${#reqs[@]}" "$send"
	assert_success
	assert_output "${want%$'\n'}"
	still_alive
}

@test "unknown handle for every command that takes one (checked before the values)" {
	local reqs=(
		'["stop","nope"]' '["stop","nope",{"kill":true}]' '["destroy","nope"]'
		'["spawn","nope","true"]' '["spawn","nope","true",{}]' '["spawn","nope","true",7]'
		'["link","nope",1]' '["run","nope","true"]' '["stream","nope",1]'
		'["limit","nope","mem"]' '["limit","nope","mem",1048576]' '["limit","nope","bogus"]'
		'["net","nope","in"]' '["net","nope","out","10.0.0.1"]' '["net","nope","sideways"]'
		'["copy","nope","in","/a","/b"]' '["copy","nope","sideways","/a","/b"]'
		'["info","nope"]'
	)
	local r send="" want=""
	for r in "${reqs[@]}"; do
		send+="$r\\n"
		want+='{"payload":"unknown handle","type":"error"}'$'\n'
	done
	run_cmd wire send -n "${#reqs[@]}" "$send"
	assert_success
	assert_output "${want%$'\n'}"
	still_alive
}

@test "list and ping on an empty server" {
	run_cmd wire send -n 2 '["list"]\n["list",{"properties":{"a":"b"}}]\n'
	assert_success
	assert_output "$(printf '%s\n' '{"payload":[],"type":"object"}' '{"payload":[],"type":"object"}')"
}

# ---- config and command line ----

# conf_with EXTRA_JSON: a config file like the tests' own, with EXTRA merged in.
conf_with() {
	local d
	d=$(mktemp -d "$BATS_TEST_TMPDIR/conf.XXXXXX")
	(WTMP=$d wardend_config "$1") && echo "$d/warden.conf"
}

# refuses_config JSON NAME: wardend exits (does not keep running) with a message naming NAME.
refuses_config() {
	local conf
	conf=$(conf_with "$1")
	run_cmd timeout 30 "$WARDEND_BIN" --config "$conf"
	assert_failure
	[[ $status != 124 ]] || _explain "wardend kept running"
	assert_output_contains "$2"
}

@test "config: an unknown key stops wardend with a message naming it" {
	requires wardend
	refuses_config '{"server":{"bogus_key":1}}' bogus_key
	refuses_config '{"nonsense":{}}' nonsense
}

@test "config: a key of the wrong type stops wardend with a message naming it" {
	requires wardend
	refuses_config '{"server":{"max_request_bytes":"big"}}' max_request_bytes
	refuses_config '{"network":{"pool_size":true}}' pool_size
}

@test "config: a user pool overlapping a host user stops wardend, naming the user" {
	requires wardend
	refuses_config '{"user":{"pool_start_uid":1,"pool_size":8}}' "overlaps host user daemon (uid 1)"
	refuses_config '{"user":{"pool_start_uid":65530,"pool_size":8}}' "(uid 65534)"
}

@test "SIGHUP reopens the log file (logrotate) and keeps the server up" {
	own_daemon_prepare
	wardend_start
	mv "$WTMP/wardend.log" "$WTMP/wardend.log.1"
	kill -HUP "$WARDEND_PID"
	wait_for 10 grep -q 'SIGHUP: log file reopened' "$WTMP/wardend.log"
	still_alive
	# A log file that cannot be reopened: the old descriptor goes on, the server too.
	mv "$WTMP/wardend.log" "$WTMP/wardend.log.2"
	mkdir "$WTMP/wardend.log"
	kill -HUP "$WARDEND_PID"
	wait_for 10 grep -q "SIGHUP: cannot reopen $WTMP/wardend.log" "$WTMP/wardend.log.2"
	still_alive
	rmdir "$WTMP/wardend.log"
}

@test "wardend --help and --version exit 0" {
	requires wardend
	run_cmd "$WARDEND_BIN" --help
	assert_success
	assert_output_contains --config
	run_cmd "$WARDEND_BIN" --version
	assert_success
	assert_output_contains wardend
}
