#!/usr/bin/env bats
# A job's output on a full depot (doc/protocol.md "A full depot"): when wshd cannot write
# jobs/N/stdout (ENOSPC) it stops reading the job's pipe, so the job blocks once the pipe
# is full, and writes on once there is room again: no byte is lost, none is out of
# place, and the status comes after them. The depot is a tmpfs of a few MiB, filled by a
# host file and then freed. Real containers.

# Scripts in single quotes are expanded by the container's shell, not here.
# shellcheck disable=SC2016

load helpers

WINSTANCE=${WPREFIX}43
export WINSTANCE
CONF='{"network":{"pool_start_address":"10.253.208.0","pool_size":4},"user":{"pool_start_uid":61600,"pool_size":4},"port":{"pool_start_port":63600,"pool_size":4}}'

setup() {
	requires root rootfs wardend
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WTMP
	mkdir "$WTMP/depot" "$WTMP/data"
	mount -t tmpfs -o size=24m,mode=0755 "wt-$WINSTANCE-depot" "$WTMP/depot"
	wardend_start "${CONF%\}},\"server\":{\"syslog_socket\":\"$WTMP/log.sock\"}}"
}

teardown() {
	if [[ -n ${SINK:-} ]]; then
		kill "$SINK" 2>/dev/null || true
		wait "$SINK" 2>/dev/null || true
	fi
	wardend_stop
}

# fill: a host file takes every free block of the depot.
fill() {
	dd if=/dev/zero of="$WTMP/depot/filler" bs=64k 2>/dev/null && {
		echo "fill: the depot took it all without ENOSPC" >&2
		return 1
	}
	return 0
}

stdout_size() { # JOB
	stat -c %s "$WTMP"/depot/*/jobs/"$1"/stdout
}

@test "full depot: the job's output waits (the job blocks), then every byte lands once there is room" {
	w create --handle full --bind-mount "$WTMP/data:/data:ro" >/dev/null
	VUID=$(w run full 'id -u')
	# 4 MB of numbered lines on stdout and a few lines on stderr, once /data/go exists:
	# more than the job's 1 MiB pipe, so the job must block while nothing is written.
	local job
	job=$(w spawn full 'while [ ! -e /data/go ]; do sleep 0.05; done
		echo err-before >&2; seq 1 560000; echo err-after >&2; echo done')
	fill
	touch "$WTMP/data/go"
	# The job writes, the pipe fills, wshd keeps it unread: the job cannot end. (wshd's
	# log is in the depot too: it cannot say so until there is room.)
	wait_for 20 pgrep -u "$VUID" -x seq
	sleep 1
	local before
	before=$(stdout_size "$job")
	run_cmd w --json info full
	[[ $(jq -c .job_ids <<<"$output") == "[$job]" ]] || _explain "the job ended on a full depot"
	[[ ! -e $(echo "$WTMP"/depot/*/jobs/"$job")/status ]] || _explain "a status on a full depot"
	sleep 1
	[[ $(stdout_size "$job") == "$before" ]] || _explain "stdout grew on a full depot"
	pgrep -u "$VUID" -x seq >/dev/null || _explain "seq ended on a full depot"
	# Room again: the rest of the output goes in, then the status.
	rm "$WTMP/depot/filler"
	run_cmd timeout 60 "$WARDEN_BIN" -s "$WSOCK" link full "$job"
	assert_success
	{
		seq 1 560000
		echo "done"
	} >"$BATS_TEST_TMPDIR/want"
	cmp "$(echo "$WTMP"/depot/*/jobs/"$job")/stdout" "$BATS_TEST_TMPDIR/want" ||
		_explain "stdout differs from what the job wrote"
	assert_file "$(echo "$WTMP"/depot/*/jobs/"$job")/stderr" $'err-before\nerr-after'
	run_w run full 'echo alive'
	assert_output alive
}

@test "full depot: a log_tag job (output read through wshd, not spliced) keeps every byte too" {
	# log_tag makes wshd read the output itself (to split it into syslog lines): the bytes
	# it read and could not write wait in memory.
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    s.recv(65536)' "$WTMP/log.sock" &
	SINK=$!
	wait_for 10 test -S "$WTMP/log.sock"
	w create --handle full2 --bind-mount "$WTMP/data:/data:ro" >/dev/null
	VUID=$(w run full2 'id -u')
	local job
	job=$(wire send "[\"spawn\",\"full2\",\"while [ ! -e /data/go2 ]; do sleep 0.05; done; seq 1 400000\",{\"log_tag\":\"t43\"}]\\n" |
		jq -r .payload)
	[[ $job =~ ^[0-9]+$ ]] || _explain_value "spawn with log_tag" "a job id" "$job"
	fill
	touch "$WTMP/data/go2"
	wait_for 20 pgrep -u "$VUID" -x seq
	sleep 2
	pgrep -u "$VUID" -x seq >/dev/null || _explain "seq ended on a full depot"
	rm "$WTMP/depot/filler"
	run_cmd timeout 60 "$WARDEN_BIN" -s "$WSOCK" link full2 "$job"
	assert_success
	seq 1 400000 >"$BATS_TEST_TMPDIR/want"
	cmp "$(echo "$WTMP"/depot/*/jobs/"$job")/stdout" "$BATS_TEST_TMPDIR/want" ||
		_explain "stdout differs from what the job wrote"
}
