#!/usr/bin/env bats
# The warden CLI and its prompt against a private wardend: output, --json, raw, the REPL
# on stdin, --help, and the exit statuses 0 / 1 / 100 / 101 / 111 of warden(1).

load helpers

teardown() {
	[[ -z ${FAKE_PID:-} ]] || { kill "$FAKE_PID" 2>/dev/null || true; wait "$FAKE_PID" 2>/dev/null || true; }
	FAKE_PID=
}

setup_file() {
	wardend_start
}

teardown_file() {
	wardend_stop
}

@test "warden ping prints pong" {
	run_w ping
	assert_success
	assert_output pong
}

@test "the socket comes from -s, else \$WARDEN_SOCKET" {
	run_cmd env WARDEN_SOCKET="$WSOCK" "$WARDEN_BIN" ping
	assert_success
	assert_output pong
	run_cmd env WARDEN_SOCKET=/nonexistent/w.sock "$WARDEN_BIN" -s "$WSOCK" ping
	assert_success
	assert_output pong
}

@test "echo joins its words" {
	run_w echo hello 'big world'
	assert_success
	assert_output 'hello big world'
}

@test "exit status 1 and the message on stderr for an error reply" {
	run_w info nope
	assert_failure 1
	assert_output 'warden: unknown handle'
	run_w destroy nope
	assert_failure 1
	assert_output 'warden: unknown handle'
}

@test "exit status 100 for usage errors, without needing a server" {
	run_cmd "$WARDEN_BIN" -s /nonexistent/w.sock stop
	assert_failure 100
	assert_output_contains 'usage: warden stop'
	run_cmd "$WARDEN_BIN" -s /nonexistent/w.sock frobnicate
	assert_failure 100
	assert_output_contains 'unknown command "frobnicate"'
	run_cmd "$WARDEN_BIN" --no-such-option
	assert_failure 100
	run_w create --bind-mount nocolon
	assert_failure 100
	run_w spawn onlyhandle
	assert_failure 100
}

@test "exit status 111 when the server cannot be reached; the message names the socket" {
	run_cmd "$WARDEN_BIN" -s "$BATS_TEST_TMPDIR/none.sock" ping
	assert_failure 111
	assert_output_contains "$BATS_TEST_TMPDIR/none.sock"
}

@test "exit status 101 when the server's reply is malformed, showing the reply" {
	local sock=$BATS_TEST_TMPDIR/bad.sock
	# A fake server: one bad reply per connection.
	python3 - "$sock" <<-'PY' &
		import socket, sys
		s = socket.socket(socket.AF_UNIX)
		s.bind(sys.argv[1])
		s.listen(4)
		for reply in (b"not json\n", b'{"type":"weird"}\n', b'{"type":"object","payload":5}\n'):
		    c, _ = s.accept()
		    c.recv(65536)
		    c.sendall(reply)
		    c.close()
	PY
	FAKE_PID=$!
	wait_for 20 test -S "$sock"
	run_cmd "$WARDEN_BIN" -s "$sock" ping
	assert_failure 101
	assert_output_contains "bad reply from $sock"
	run_cmd "$WARDEN_BIN" -s "$sock" ping
	assert_failure 101
	assert_output 'warden: malformed reply: {"type":"weird"}'
	run_cmd "$WARDEN_BIN" -s "$sock" link h 1
	assert_failure 101
	assert_output 'warden: malformed link reply: 5'
}

@test "--json prints the raw payload" {
	run_w --json ping
	assert_success
	assert_output '"pong"'
	run_w --json list
	assert_success
	assert_output '[]'
	run_w --json info nope
	assert_failure 1
}

@test "raw sends a line as-is and prints the payload" {
	run_w raw '["echo","x y"]'
	assert_success
	assert_output '"x y"'
	run_w raw '["nope"]'
	assert_failure 1
	assert_output 'warden: unknown command "nope"'
	run_w raw '[]'
	assert_success
	assert_output ''
}

@test "REPL: commands from stdin on one connection" {
	run_cmd bash -c "printf 'ping\necho hi\necho \"a  b\" c\n\n# comment\ninfo nope\necho last\n' |
		'$WARDEN_BIN' -s '$WSOCK'"
	assert_output "$(printf '%s\n' pong hi 'a  b c' 'warden: unknown handle' last)"
}

@test "REPL: quit ends it; an unterminated quote is a usage error, not the end" {
	run_cmd bash -c "printf 'echo \"open\nping\nquit\necho never\n' | '$WARDEN_BIN' -s '$WSOCK'"
	assert_output_contains 'unterminated quote'
	assert_output_contains pong
	refute_output_contains never
}

@test "REPL: reconnects after the server closed the connection" {
	run_cmd bash -c "printf '%s\n' 'raw nope' ping | '$WARDEN_BIN' -s '$WSOCK'"
	assert_output_contains 'warden: '
	assert_output_contains pong
}

@test "--help, help and COMMAND --help" {
	run_cmd "$WARDEN_BIN" --help
	assert_success
	assert_output_contains 'usage: warden'
	assert_output_contains 'create'
	run_cmd "$WARDEN_BIN" help
	assert_success
	assert_output_contains 'stream'
	run_cmd "$WARDEN_BIN" help run
	assert_success
	assert_output_contains 'usage: warden run HANDLE'
	local c
	for c in ping echo create stop destroy spawn link run stream limit net copy info list raw; do
		run_cmd "$WARDEN_BIN" -s /nonexistent/w.sock "$c" --help
		assert_success
		assert_output_contains "usage: warden $c"
	done
	run_cmd "$WARDEN_BIN" --version
	assert_success
	assert_output_contains 'warden '
}

@test "create, info, list, run and destroy through the CLI" {
	requires root rootfs
	run_w create --handle clitest --property owner=cli --no-grace-time
	assert_success
	assert_output clitest
	run_w list --property owner=cli
	assert_success
	assert_output clitest
	run_w info clitest
	assert_success
	assert_output_contains 'state: active'
	run_w run clitest 'echo out; echo err >&2; exit 3'
	assert_failure 3
	assert_output_contains out
	assert_output_contains err
	run_w --json run clitest 'echo json'
	assert_success
	assert_output '[0,"json\n",""]'
	run_w destroy clitest
	assert_success
	run_w list
	assert_output ''
}
