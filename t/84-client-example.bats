#!/usr/bin/env bats
# doc/examples/client.py, the one-file Python client of doc/protocol.md, run against a
# real wardend: what it prints, and that it leaves no container behind.

load helpers

setup_file() {
	export WINSTANCE=${WPREFIX:-t}84
}

teardown() {
	wardend_stop
}

@test "doc/examples/client.py: create, run, stream, destroy against a real wardend" {
	requires root rootfs
	wardend_start
	run_cmd python3 "$WARDEN_SRC/doc/examples/client.py" "$WSOCK"
	assert_success
	local id
	id=$(awk '$1 == "created:" { print $2 }' <<<"$output")
	[[ $id =~ ^[0-9a-f]{8}$ ]] || _explain "no handle in the output"
	assert_output "$(printf '%s\n' 'ping: pong' "created: $id" 'run: exit status 3' \
		"hello from $id" 'stream:' 'line 1' 'line 2' 'line 3' \
		'info: state active' 'destroy: ok')"
	run_w list
	assert_output ""
}

@test "doc/examples/client.py: no server is exit 111 with the reason; a refusal is exit 1" {
	requires root
	wardend_config
	run_cmd python3 "$WARDEN_SRC/doc/examples/client.py" "$WTMP/none.sock"
	assert_failure 111
	assert_output_contains "connect to $WTMP/none.sock: No such file or directory"
	# A network pool of one /30, already taken: create is refused; the server's message,
	# exit 1.
	requires rootfs
	wardend_start '{"network":{"pool_start_address":"10.253.84.0","pool_size":1}}'
	run_w create --handle taker
	assert_success
	run_cmd python3 "$WARDEN_SRC/doc/examples/client.py" "$WSOCK"
	assert_failure 1
	assert_output_contains "client.py: wardend: could not acquire network"
}
