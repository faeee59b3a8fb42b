#!/usr/bin/env bats
# warden contain, the one-shot executor, against a real wardend: exit status and 128+N,
# stdio byte-exact, the terminal, signals forwarded, the memory limit and CPU list (when
# the server has limits), --network-address as the only interface and two contained
# programs talking over it, `contain` under its own name with the seed's spellings, every
# usage error, and no container left on any exit path, kill -9 of the client included.
# Traffic stays between containers this file makes (198.18.0.0/15 is the benchmarking
# range; it exists only inside them and the host's routes to them).

# Scripts for the container are single-quoted on purpose.
# shellcheck disable=SC2016

load helpers

NET=198.18.77

setup_file() {
	export WINSTANCE=${WPREFIX}61
	[[ $(id -u) == 0 && -x $WARDEN_TEST_ROOTFS/bin/sh ]] || return 0
	wardend_start "{\"network\":{\"pool_start_address\":\"10.253.61.0\",\"pool_size\":16,
		\"release_delay_ms\":50,\"allow_networks\":[\"$NET.0/24\"]},
		\"user\":{\"pool_start_uid\":61700,\"pool_size\":16}}"
}

teardown_file() {
	wardend_stop
}

setup() {
	requires root rootfs wardend
	C=("$WARDEN_BIN" -s "$WSOCK" contain)
	BG_PID=
}

teardown() {
	if [[ -n ${BG_PID:-} ]]; then
		kill -KILL "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
	fi
	local h
	for h in $(w list 2>/dev/null); do w destroy "$h" >/dev/null 2>&1 || true; done
}

# run_c ARGS...: bats run of `warden contain ARGS...`.
run_c() {
	# shellcheck disable=SC2034 # read by the assert helpers
	WLAST_CMD="warden contain $*"
	run "$WARDEN_BIN" -s "$WSOCK" contain "$@"
}

c() { "$WARDEN_BIN" -s "$WSOCK" contain "$@"; }
# In the background it must be the CLI itself (not a subshell around c) that gets our
# signals: use "${C[@]}".
C=()

# No container of this daemon is left (bounded: destroy after a closed connection runs
# in the daemon's own time), and no cgroup of one.
assert_no_container() {
	wait_for 20 eval '[[ -z $(w list) ]]' || { w list >&2; return 1; }
	wait_for 20 eval '! compgen -G "/sys/fs/cgroup/memory/warden-$WINSTANCE/*/" >/dev/null' ||
		{ ls /sys/fs/cgroup/memory/"warden-$WINSTANCE" >&2; return 1; }
	wait_depot_empty
}

# needs_limits: skip while the server answers `limit` with "not supported".
needs_limits() {
	local h out
	h=$(w create) || return 1
	out=$(w limit "$h" mem 2>&1 || true)
	w destroy "$h" >/dev/null
	[[ $out != *"not supported"* ]] || skip "needs limits support (limit answers: $out)"
}

@test "exit status passes through: 0, 42, and 128+N for a signal (143 for a self-TERM)" {
	run_c -- true
	assert_success
	run_c -- sh -c 'exit 42'
	assert_failure 42
	run_c -- sh -c 'kill -TERM $$'
	assert_failure 143
	run_c -- sh -c 'kill -KILL $$'
	assert_failure 137
	assert_no_container
}

@test "stdin, stdout and stderr byte-exact: 1 MiB of random bytes round trip, EOF passed on" {
	head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/in"
	c -- cat <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	[[ ! -s $BATS_TEST_TMPDIR/err ]]
	c -- sh -c 'cat >&2; echo done' <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" \
		2>"$BATS_TEST_TMPDIR/err"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/err"
	[[ $(cat "$BATS_TEST_TMPDIR/out") == "done" ]]
	# The very descriptors: a pipe stays a pipe inside.
	run bash -c "echo hi | '$WARDEN_BIN' -s '$WSOCK' contain -- sh -c 'readlink /proc/self/fd/0; cat'"
	assert_success
	[[ ${lines[0]} == pipe:* && ${lines[1]} == hi ]] || _explain "a pipe on fd 0, then hi"
	assert_no_container
}

@test "the caller's terminal when stdin is a tty; none otherwise" {
	command -v script >/dev/null || skip "needs script(1)"
	# script's own stdin: a pipe that stays silent (at EOF script would type into the pty).
	run bash -c "sleep 2 | script -qec \"'$WARDEN_BIN' -s '$WSOCK' contain -- sh -c 'tty; exit 5'\" /dev/null"
	assert_failure 5
	[[ $output == /dev/pts/* ]] || _explain "a pty inside"
	run_c -- tty </dev/null
	assert_failure 1
	assert_output "not a tty"
	assert_no_container
}

@test "signals sent to warden contain reach the program (USR1, HUP, then a trapped TERM)" {
	"${C[@]}" -- sh -c 'trap "echo got-USR1" USR1; trap "echo got-HUP" HUP
		trap "echo got-TERM; exit 3" TERM; echo ready
		while :; do sleep 0.1; done' >"$BATS_TEST_TMPDIR/out" 2>&1 &
	BG_PID=$!
	wait_for 20 grep -q ready "$BATS_TEST_TMPDIR/out"
	kill -USR1 "$BG_PID"
	wait_for 10 grep -q got-USR1 "$BATS_TEST_TMPDIR/out"
	kill -HUP "$BG_PID"
	wait_for 10 grep -q got-HUP "$BATS_TEST_TMPDIR/out"
	kill -TERM "$BG_PID"
	local rc=0
	wait "$BG_PID" || rc=$?
	BG_PID=
	[[ $rc == 3 ]] || { echo "status $rc" >&2; cat "$BATS_TEST_TMPDIR/out" >&2; false; }
	grep -q got-TERM "$BATS_TEST_TMPDIR/out"
	assert_no_container
}

@test "kill -9 of warden contain: the daemon destroys the container, the program dies with it" {
	# A number of its own: pgrep sees every process on the machine, other runs' too.
	local n=$((1000000 + $$ % 1000 * 1000 + RANDOM % 1000))
	"${C[@]}" -- sh -c "echo \$\$ >/tmp/pid; exec sleep $n" >/dev/null 2>&1 &
	BG_PID=$!
	wait_for 20 eval '[[ -n $(w list) ]]'
	local h
	h=$(w list)
	wait_for 20 eval "w run $h 'test -s /tmp/pid' >/dev/null"
	kill -KILL "$BG_PID"
	wait "$BG_PID" 2>/dev/null || true
	BG_PID=
	assert_no_container
	run pgrep -f "^sleep $n\$"
	[[ -z $output ]] || { ps -o pid,args -p "$output" >&2; false; }
}

@test "--network-address: the only interface besides lo has exactly that address and prefix" {
	run_c --network-address "$NET.10/24" -- /sbin/ip -o -4 addr show
	assert_success
	[[ ${#lines[@]} == 2 ]] || _explain "two interfaces"
	[[ ${lines[0]} == *" lo "*"inet 127.0.0.1/8 "* ]] || _explain "lo first"
	[[ ${lines[1]} == *"inet $NET.10/24 "* ]] || _explain "$NET.10/24 on the other"
	run_c --network-address "$NET.10/24" -- /sbin/ip -o link show
	[[ ${#lines[@]} == 2 ]] || _explain "two links"
	# Without the option: a /30 from the pool.
	run_c -- /sbin/ip -o -4 addr show
	[[ ${lines[1]} == *"inet 10.253.61."*"/30 "* ]] || _explain "a /30 of the pool"
	assert_no_container
}

@test "two contained programs whose addresses share a subnet talk over IP" {
	"${C[@]}" --network-address "$NET.20/24" -- nc -l -p 9000 -e echo from-20 >"$BATS_TEST_TMPDIR/srv" 2>&1 &
	BG_PID=$!
	wait_for 20 eval '[[ -n $(w list) ]]'
	local i out=
	for ((i = 0; i < 50; i++)); do
		out=$(c --network-address "$NET.21/24" -- nc -w 2 "$NET.20" 9000 </dev/null 2>&1) && [[ $out == from-20 ]] && break
		sleep 0.2
	done
	[[ $out == from-20 ]] || { echo "got: $out" >&2; false; }
	wait "$BG_PID"
	BG_PID=
	# And with ping, both ways up the same subnet.
	"${C[@]}" --network-address "$NET.22/24" -- sleep 30 >/dev/null 2>&1 &
	BG_PID=$!
	wait_for 20 eval '[[ -n $(w list) ]]'
	run_c --privileged --network-address "$NET.23/24" -- ping -c 1 -W 2 "$NET.22"
	assert_success
	kill -TERM "$BG_PID"
	wait "$BG_PID" || true
	BG_PID=
	assert_no_container
}

@test "--network-address in use (by a container, by the host, in the pool) is refused; nothing left" {
	"${C[@]}" --network-address "$NET.30/24" -- sleep 30 >/dev/null 2>&1 &
	BG_PID=$!
	wait_for 20 eval '[[ -n $(w list) ]]'
	local h
	h=$(w list)
	run_c --network-address "$NET.30/16" -- true
	assert_failure 1
	assert_output "warden contain: network_address $NET.30 is already in use by container $h"
	run_c --network-address 127.0.0.1/8 -- true
	assert_failure 1
	assert_output "warden contain: network_address 127.0.0.1 is already in use by the host"
	run_c --network-address 10.253.61.6/24 -- true
	assert_failure 1
	assert_output "warden contain: network_address 10.253.61.6 lies in the container pool (use \`network\`)"
	run_c --network-address "$NET.0/24" -- true
	assert_failure 1
	assert_output "warden contain: network_address $NET.0 is the network or broadcast address of /24"
	kill -TERM "$BG_PID"
	wait "$BG_PID" || true
	BG_PID=
	assert_no_container
}

@test "--env, --privileged, --bind, --chroot" {
	mkdir -p "$BATS_TEST_TMPDIR/share"
	echo from-host >"$BATS_TEST_TMPDIR/share/f"
	run_c --env A=b --env C='d e' -- sh -c 'echo "$A|$C|$(id -u)"'
	assert_success
	[[ $output == "b|d e|617"* ]] || _explain "env and an unprivileged uid"
	run_c --privileged -- id -u
	assert_output 0
	run_c --bind "$BATS_TEST_TMPDIR/share:/share:ro" -- sh -c 'cat /share/f; echo x >/share/g'
	assert_failure
	assert_output_contains from-host
	[[ ! -e $BATS_TEST_TMPDIR/share/g ]]
	run_c --bind "$BATS_TEST_TMPDIR/share:/share:rw" --privileged -- sh -c 'echo x >/share/g'
	assert_success
	[[ -e $BATS_TEST_TMPDIR/share/g ]]
	run_c --chroot "$WARDEN_TEST_ROOTFS" -- cat /etc/hostname
	assert_success
	run_c --bind /nonexistent-hg:/x -- true
	assert_failure 1
	assert_output "warden contain: bind mount source /nonexistent-hg not found"
	assert_no_container
}

@test "--memory-limit: a program allocating past it is killed (137); the host is fine" {
	needs_limits
	run_c --memory-limit 16M -- dd if=/dev/zero of=/dev/null bs=64M count=1
	assert_failure 137
	run_c --memory-limit 64MB -- dd if=/dev/zero of=/dev/null bs=8M count=1
	assert_success
	run_w ping
	assert_output pong
	assert_no_container
}

@test "--cpu-core-ids 0: the program may run on CPU 0 only" {
	needs_limits
	run_c --cpu-core-ids 0 -- grep Cpus_allowed_list /proc/self/status
	assert_success
	assert_output $'Cpus_allowed_list:\t0'
	assert_no_container
}

@test "usage errors exit 100 and name the option; no container is made" {
	local t
	while IFS='|' read -r args want; do
		# shellcheck disable=SC2086 # words on purpose
		run "$WARDEN_BIN" -s "$WSOCK" contain $args
		[[ $status == 100 && ${lines[0]} == "warden contain: $want" ]] ||
			{ echo "contain $args: status $status, want 100 and '$want'" >&2; printf '%s\n' "$output" >&2; false; }
	done <<-EOF
		true|"true": options end with -- before PROG
		--memory-limit 64M true|"true": options end with -- before PROG
		|missing -- PROG
		--|no PROG after --
		--memory-limit 12XB -- true|--memory-limit: "12XB" is not a size (bytes, or a number with K, KB, M, MB, G, GB)
		--memory-limit 0 -- true|--memory-limit: "0" is not a size (bytes, or a number with K, KB, M, MB, G, GB)
		--memory-limit -5M -- true|--memory-limit: "-5M" is not a size (bytes, or a number with K, KB, M, MB, G, GB)
		--cpu-core-ids 1000 -- true|--cpu-core-ids: CPU 1000 is not online (online: $(cat /sys/devices/system/cpu/online))
		--cpu-core-ids 1-0 -- true|--cpu-core-ids: "1-0" is not a CPU list like 0,2-3
		--cpu-coreids a -- true|--cpu-core-ids: "a" is not a CPU list like 0,2-3
		--network-address 10.1.2 -- true|--network-address: "10.1.2" is not ADDRESS[/PREFIX]
		--network-address 10.1.2.3/33 -- true|--network-address: "10.1.2.3/33" is not ADDRESS[/PREFIX]
		--bind /a -- true|--bind: "/a" is not SRC:DST[:ro|rw] (absolute paths)
		--bind /a:/b:rx -- true|--bind: "/a:/b:rx" is not SRC:DST[:ro|rw] (absolute paths)
		--env novalue -- true|--env: "novalue" is not K=V
		--chroot /nonexistent-hg -- true|--chroot: /nonexistent-hg is not a directory
	EOF
	run "$WARDEN_BIN" -s "$WSOCK" contain --frobnicate -- true
	assert_failure 100
	assert_output_contains "frobnicate"
	run "$WARDEN_BIN" -s "$WSOCK" contain --memory-limit
	assert_failure 100
	assert_output_contains "memory-limit"
	# Usage errors need no daemon at all.
	run "$WARDEN_BIN" -s /nonexistent/sock contain --memory-limit 1XB -- true
	assert_failure 100
	run "$WARDEN_BIN" -s /nonexistent/sock contain -- true
	assert_failure 111
	assert_output_contains "cannot connect to /nonexistent/sock"
	t=$(w list)
	[[ -z $t ]]
}

@test "contain as its own name (argv[0]) with the seed's spellings; --help" {
	ln -s "$WARDEN_BIN" "$BATS_TEST_TMPDIR/contain"
	export WARDEN_SOCKET=$WSOCK
	run "$BATS_TEST_TMPDIR/contain" chroot "$WARDEN_TEST_ROOTFS" -network-address "$NET.40/24" \
		-- sh -c '/sbin/ip -o -4 addr show | grep -c "$0"; exit 7' "$NET.40/24"
	assert_failure 7
	assert_output 1
	run "$BATS_TEST_TMPDIR/contain" -chroot "$WARDEN_TEST_ROOTFS" -- echo ok
	assert_success
	assert_output ok
	run "$BATS_TEST_TMPDIR/contain" -memory-limit 1XB -- true
	assert_failure 100
	assert_output_contains 'contain: --memory-limit: "1XB" is not a size'
	run "$BATS_TEST_TMPDIR/contain" --help
	assert_success
	assert_output_contains "usage: contain [--chroot|--rootfs DIR]"
	run_c --help
	assert_success
	assert_output_contains "usage: warden contain"
	run_w help contain
	assert_success
	assert_output_contains "usage: warden contain"
	assert_no_container
}

@test "the memory limit and CPU list reach create as limits (or its refusal, exit 1)" {
	run_c --memory-limit 64M --cpu-core-ids 0 -- true
	if [[ $output == *"not supported"* ]]; then
		assert_failure 1
		assert_output "warden contain: limits at create are not supported by this server yet"
	else
		assert_success
	fi
	assert_no_container
}
