#!/usr/bin/env bats
# doc/protocol.md kept in step with the code: every `wire` example block of the page is
# extracted (t/lib/protodoc.py) and sent to a real wardend, one per configuration the
# blocks name (env=NAME), with real containers; each reply must match the page.

load helpers

PROTODOC=$WARDEN_SRC/t/lib/protodoc.py
DOC=$WARDEN_SRC/doc/protocol.md

setup_file() {
	export WINSTANCE=${WPREFIX:-t}85
}

teardown() {
	wardend_stop
}

# The configuration of each env=NAME the page's intro names.
env_config() {
	case $1 in
	main) echo '{}' ;;
	tight) echo '{"user":{"pool_size":1},"port":{"pool_size":1},"server":{"max_request_bytes":64,"syslog_socket":"/nonexistent/log"}}' ;;
	*) return 1 ;;
	esac
}

# run_examples ENV: send ENV's examples to a fresh wardend; fails on any mismatch.
run_examples() {
	local cfg
	cfg=$(env_config "$1") || _explain "doc/protocol.md uses env=$1, which this suite does not know"
	wardend_start "$cfg"
	run_cmd python3 "$PROTODOC" "$DOC" run "$WSOCK" "$1"
	[[ $status == 0 ]] || { wardend_log; _explain "doc/protocol.md examples (env=$1) differ from the server's replies"; }
}

@test "doc/protocol.md: the extractor finds every example block" {
	run_cmd python3 "$PROTODOC" "$DOC" envs
	assert_success
	assert_output "$(printf '%s\n' main tight)"
	# A floor, so that a broken extractor cannot pass with (nearly) nothing: raise it when
	# examples are added.
	local n
	n=$(python3 "$PROTODOC" "$DOC" count main)
	((n >= 88)) || _explain_value "examples for env=main" ">= 88" "$n"
	n=$(python3 "$PROTODOC" "$DOC" count tight)
	((n >= 6)) || _explain_value "examples for env=tight" ">= 6" "$n"
}

@test "doc/protocol.md: the extractor refuses a malformed block instead of skipping it" {
	local f=$BATS_TEST_TMPDIR/bad.md
	printf '%s\n' 'prose' '```wire' '> ["ping"]' 'pong' '```' >"$f"
	run_cmd python3 "$PROTODOC" "$f" count
	assert_failure 2
	assert_output_contains "not a request, reply or comment"
	printf '%s\n' '```wire' '> ["ping"]' '```' >"$f"
	run_cmd python3 "$PROTODOC" "$f" count
	assert_failure 2
	assert_output_contains "a request without a reply"
}

@test "doc/protocol.md: every example (env=main) gets the reply the page shows" {
	requires root rootfs
	run_examples main
	assert_output_contains "examples: $(python3 "$PROTODOC" "$DOC" count main)"
}

@test "doc/protocol.md: every example (env=tight) gets the reply the page shows" {
	requires root rootfs
	run_examples tight
	assert_output_contains "examples: $(python3 "$PROTODOC" "$DOC" count tight)"
}

@test "doc/protocol.md: a reply that differs from the page fails the check" {
	requires root
	local f=$BATS_TEST_TMPDIR/wrong.md
	printf '%s\n' '```wire' '> ["ping"]' '< {"type":"object","payload":"pong"}' \
		'> ["list",1]' '< {"type":"error","payload":"Options must be a map"}' '```' >"$f"
	wardend_start
	run_cmd python3 "$PROTODOC" "$f" run "$WSOCK" main
	assert_failure 1
	assert_output_contains 'got:      {"type":"error","payload":"Options must be a hash"}'
	assert_output_contains "examples: 2"
}
