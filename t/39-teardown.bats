#!/usr/bin/env bats
# destroy answers before the teardown (doc/protocol.md, Decisions: "destroy"): once the
# container's processes have the KILL, its jobs ended and its handle is gone; destroy.sh
# and the release of its pool entries follow in the daemon's own time. What a client
# can meet meanwhile: a create naming what a teardown still holds waits for it, others
# go on; a second destroy finds the handle unknown; `events` says `destroyed` only when
# all is gone; SIGTERM and SIGUSR2 wait for teardowns in flight. (A failing teardown:
# t/30; wardend killed -9 mid-teardown, or after a failed one: t/34.) Each test has its
# own daemon, with destroy.sh held where the test needs the teardown to last.

# jq programs are single-quoted on purpose.
# shellcheck disable=SC2016

load helpers

POOLS='"network":{"pool_start_address":"10.253.39.0","pool_size":4,"release_delay_ms":0},
	"user":{"pool_start_uid":62700,"pool_size":8},"port":{"pool_start_port":62900,"pool_size":4}'

setup() {
	requires root rootfs wardend
	export WINSTANCE=${WPREFIX}39
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WTMP WSOCK=$WTMP/w.sock
	BG_PIDS=''
	cp -a "$WARDEN_SRC/hooks" "$WTMP/hooks"
}

teardown() {
	local p
	touch "$WTMP/release-destroy.sh"
	for p in $BG_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	wardend_stop
}

# start [POOLS]: this test's daemon, with the test's copy of the hooks.
start() {
	wardend_start "{\"server\":{\"hooks_path\":\"$WTMP/hooks\"},${1:-$POOLS}}"
}

# bg NAME ARGS...: `warden ARGS` in the background, its output in $WTMP/NAME.out; the
# pid in BG_PID (and BG_PIDS for the clean-up).
bg() {
	local name=$1
	shift
	"$WARDEN_BIN" -s "$WSOCK" "$@" >"$WTMP/$name.out" 2>&1 3>&- &
	BG_PID=$!
	BG_PIDS+=" $BG_PID"
}

# bg_wire NAME DATA: the same with the raw client (t/lib/wire.py send DATA).
bg_wire() {
	wire send "$2" >"$WTMP/$1.out" 2>&1 3>&- &
	BG_PID=$!
	BG_PIDS+=" $BG_PID"
}

id_of() { w --json info "$1" | jq -r .id; }

# dead PID: the process has exited (gone, or a zombie nobody reaped yet).
dead() {
	[[ ! -e /proc/$1 ]] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# cgroup_empty ID: no process is left in container ID's cgroups (they may still exist).
cgroup_empty() {
	local d
	for d in $(cgroup_dirs "warden-$WINSTANCE/$1"); do
		[[ -z $(cat "$d/cgroup.procs" 2>/dev/null) ]] || return 1
	done
}

# assert_gone ID: nothing of container ID is left: depot entry (bounded wait for the
# teardown), cgroups, veth (bounded: the kernel drops it with the namespace), chains.
assert_gone() {
	wait_torn_down "$1" || return 1
	refute_cgroups "warden-$WINSTANCE/$1" || return 1
	wait_for 20 eval "! ip -o link show | grep -q ': $WINSTANCE-$1-'" ||
		{ ip -o link show | grep "$WINSTANCE-$1-" >&2; return 1; }
	! iptables -w -S 2>/dev/null | grep -q -- "warden-$WINSTANCE-$1" ||
		{ echo "chains of $1 left" >&2; return 1; }
}

# hold_every NAME: every run of hook NAME makes $WTMP/held-NAME-PID and waits, bounded, for
# $WTMP/release-NAME before it runs the real hook. held NAME: how many runs were held.
hold_every() {
	mv "$WTMP/hooks/$1" "$WTMP/hooks/$1.real"
	cat >"$WTMP/hooks/$1" <<-EOF
		#!/bin/bash
		touch "$WTMP/held-$1-\$BASHPID"
		for ((i = 0; i < 600; i++)); do [[ -e "$WTMP/release-$1" ]] && break; sleep 0.1; done
		exec "\${BASH_SOURCE[0]%/*}/$1.real" "\$@"
	EOF
	chmod 0755 "$WTMP/hooks/$1"
}
held() { compgen -G "$WTMP/held-$1-*" | wc -l; }

# line_of TEXT: the number of the last line of wardend's log holding TEXT (0: none).
line_of() {
	local n
	n=$(grep -nF -- "$1" "$WTMP/wardend.log" | tail -n 1 | cut -d: -f1)
	echo "${n:-0}"
}

@test "destroy answers before destroy.sh: processes killed, handle unknown, snapshot says destroying; then nothing is left" {
	hold_hook destroy.sh
	start
	run_w create --handle a
	assert_success
	local id wshd job
	id=$(id_of a)
	wshd=$(cat "$WTMP/depot/$id/run/wshd.pid")
	run_w spawn a 'sleep 100'
	assert_success
	job=$output
	bg events --json events
	wait_for 10 grep -q '"event":"listening"' "$WTMP/events.out"
	run_cmd timeout 20 "$WARDEN_BIN" -s "$WSOCK" destroy a
	assert_success
	assert_output ok
	wait_for 20 test -e "$WTMP/held-destroy.sh"
	# destroy.sh waits, yet every process is gone: wardend sent the KILL itself.
	wait_for 5 dead "$wshd"
	wait_for 5 cgroup_empty "$id"
	[[ -d $WTMP/depot/$id ]] || _explain "the depot entry went before destroy.sh ran"
	run_cmd jq -r .state "$WTMP/depot/$id/snapshot.json"
	assert_output destroying
	run_w list
	assert_output ''
	run_w info a
	assert_output "warden: unknown handle"
	run_w link a "$job"
	assert_output "warden: unknown handle"
	# A second destroy: as after a finished one.
	run_w destroy a
	assert_failure 1
	assert_output "warden: unknown handle"
	# The job ended as killed; `destroyed` waits for the teardown.
	wait_for 10 eval "grep -F '\"event\":\"job exited\",\"handle\":\"a\"' '$WTMP/events.out' | grep -qF '\"job_id\":$job,\"exit_status\":null'"
	sleep 0.3
	run_cmd grep -c '"event":"destroyed"' "$WTMP/events.out"
	assert_output 0
	touch "$WTMP/release-destroy.sh"
	wait_for 20 grep -q '"event":"destroyed","handle":"a"' "$WTMP/events.out"
	assert_gone "$id"
	(($(line_of "container a: destroyed") > 0)) || _explain "no 'destroyed' in the log"
}

@test "a create naming the handle, the /30 or the network_address a teardown holds waits for it, then succeeds; others go on" {
	hold_every destroy.sh
	start
	run_w create --handle a --network 10.253.39.0
	assert_success
	run_cmd wire send '["create",{"handle":"n","network_address":"192.168.39.17/24"}]\n'
	assert_output '{"payload":"n","type":"object"}'
	run_w destroy a
	assert_output ok
	run_w destroy n
	assert_output ok
	wait_for 20 eval '(($(held destroy.sh) == 2))'
	bg same-handle create --handle a
	local p1=$BG_PID
	bg same-net create --handle b --network 10.253.39.0
	local p2=$BG_PID
	bg_wire same-addr '["create",{"handle":"n2","network_address":"192.168.39.17/24"}]\n'
	local p3=$BG_PID
	# A create that names nothing held is answered while the teardowns wait.
	run_cmd timeout 20 "$WARDEN_BIN" -s "$WSOCK" create --handle c
	assert_success
	assert_output c
	[[ $(id_of c) != 0afd2700 ]] || _explain "c got the /30 a teardown holds"
	sleep 0.5
	kill -0 "$p1" && kill -0 "$p2" && kill -0 "$p3" ||
		_explain "a create did not wait: $(cat "$WTMP"/same-*.out)"
	run_w list
	refute_output_contains b
	touch "$WTMP/release-destroy.sh"
	wait "$p1"
	wait "$p2"
	wait "$p3"
	assert_file "$WTMP/same-handle.out" a
	assert_file "$WTMP/same-net.out" b
	assert_file "$WTMP/same-addr.out" '{"payload":"n2","type":"object"}'
	run_w --json info b
	assert_equal "$(jq -r .id <<<"$output")" 0afd2700 "b's id"
	# Each create ran after the teardown it waited for.
	local gone_a gone_n
	gone_a=$(line_of "container a: destroyed") gone_n=$(line_of "container n: destroyed")
	((gone_a > 0 && gone_n > 0)) || _explain "the teardowns did not finish"
	(($(line_of "container a: created") > gone_a && $(line_of "container b: created") > gone_a)) ||
		_explain "a create of a or b went before the teardown of a"
	(($(line_of "container n2: created") > gone_n)) || _explain "n2 went before the teardown of n"
	run_w run a 'echo new a'
	assert_output 'new a'
}

@test "a /30 a waiting create names is not handed to a create that names none, even one that waits longer" {
	start '"network":{"pool_start_address":"10.253.39.0","pool_size":3,"release_delay_ms":0},
		"user":{"pool_start_uid":62700,"pool_size":8},"port":{"pool_start_port":62900,"pool_size":4}'
	local h
	for h in a c e; do
		run_w create --handle $h
		assert_success
	done
	assert_equal "$(id_of a)" 0afd2700 "a's id"
	# e's /30, the pool's last, is free again, so the pool's next search starts at a's.
	run_w destroy e
	assert_output ok
	wait_torn_down 0afd2708
	hold_every destroy.sh
	run_w destroy a
	assert_output ok
	wait_for 20 eval '(($(held destroy.sh) == 1))'
	bg any create --handle a
	local p1=$BG_PID
	wait_for 10 grep -q "create of a: waits (a teardown holds its handle or network)" "$WTMP/wardend.log"
	bg named create --handle b --network 10.253.39.0
	local p2=$BG_PID
	wait_for 10 grep -q "create of b: waits (a teardown holds its handle or network)" "$WTMP/wardend.log"
	touch "$WTMP/release-destroy.sh"
	wait "$p1" || true
	wait "$p2" || true
	assert_file "$WTMP/any.out" a
	assert_file "$WTMP/named.out" b
	assert_equal "$(id_of b)" 0afd2700 "b's id"
	assert_equal "$(id_of a)" 0afd2708 "a's id"
}

@test "a full pool: create right after destroy waits for the teardown and the release delay, then gets the /30" {
	start '"network":{"pool_start_address":"10.253.39.0","pool_size":1,"release_delay_ms":300},
		"user":{"pool_start_uid":62700,"pool_size":8},"port":{"pool_start_port":62900,"pool_size":4}'
	local h
	for _ in 1 2 3; do
		run_w create
		assert_success
		h=$output
		assert_equal "$h" 0afd2700 "the pool's only /30"
		run_w destroy "$h"
		assert_output ok
	done
	# Nothing held and nothing in a delay: a full pool still fails at once.
	run_w create --handle full
	assert_success
	run_cmd timeout 5 "$WARDEN_BIN" -s "$WSOCK" create
	assert_failure 1
	assert_output "warden: could not acquire network"
}

@test "creates waiting for one teardown go on in the order they came; the pool's last /30 goes to the first" {
	hold_every destroy.sh
	start '"network":{"pool_start_address":"10.253.39.0","pool_size":1,"release_delay_ms":0},
		"user":{"pool_start_uid":62700,"pool_size":8},"port":{"pool_start_port":62900,"pool_size":4}'
	run_w create --handle x
	assert_success
	run_w destroy x
	assert_output ok
	wait_for 20 eval '(($(held destroy.sh) == 1))'
	bg first create --handle first
	local p1=$BG_PID
	wait_for 10 grep -q "create of first: waits (no network is free until a teardown ends)" "$WTMP/wardend.log"
	bg second create --handle second
	local p2=$BG_PID
	wait_for 10 grep -q "create of second: waits (no network is free until a teardown ends)" "$WTMP/wardend.log"
	touch "$WTMP/release-destroy.sh"
	wait "$p1" || true
	wait "$p2" || true
	assert_file "$WTMP/first.out" first
	assert_file "$WTMP/second.out" "warden: could not acquire network"
	run_w list
	assert_output first
}

# signal_mid_teardown SIGNAL LOG_PATTERN: destroy a container whose destroy.sh is held,
# send wardend SIGNAL, check it waits (LOG_PATTERN logged, still alive), release the
# hook and wait for wardend's exit (status 0); sets id to the container's id.
signal_mid_teardown() {
	hold_hook destroy.sh
	start
	run_w create --handle a
	assert_success
	id=$(id_of a)
	run_w destroy a
	assert_output ok
	wait_for 20 test -e "$WTMP/held-destroy.sh"
	kill "-$1" "$WARDEND_PID"
	wait_for 10 grep -qE "$2" "$WTMP/wardend.log"
	sleep 0.3
	kill -0 "$WARDEND_PID" || _explain "wardend left with the teardown unfinished"
	touch "$WTMP/release-destroy.sh"
	local rc=0
	wait "$WARDEND_PID" || rc=$?
	assert_equal "$rc" 0 "wardend's exit status"
	unset WARDEND_PID
}

@test "SIGTERM waits for a teardown in flight; it finishes and nothing is left for the next start" {
	local id
	signal_mid_teardown TERM "stop: waiting for 1 teardown\\(s\\)"
	(($(line_of "container a: destroyed") > 0)) || _explain "the teardown did not finish"
	assert_gone "$id"
	start
	run_cmd grep -c "not adopted" "$WTMP/wardend.log"
	assert_output 0
}

@test "SIGUSR2 (drain) waits for a teardown in flight before it exits" {
	local id
	signal_mid_teardown USR2 "drain: waiting for [0-9]+ background operation"
	(($(line_of "container a: destroyed") < $(line_of "drain: 0 snapshots written; exiting"))) ||
		_explain "drain exited before the teardown ended"
	assert_gone "$id"
}

@test "a client that goes away while its create waits for a teardown: the create still ends, wardend serves on" {
	# A request in flight when its client goes is carried out (a client may send and
	# shut its side, as a pipe into a socket does): a waiting create too, once the
	# teardown ends; its reply goes nowhere.
	hold_hook destroy.sh
	start
	run_w create --handle a
	assert_success
	run_w destroy a
	assert_output ok
	wait_for 20 test -e "$WTMP/held-destroy.sh"
	bg gone create --handle a
	local p=$BG_PID
	sleep 0.5
	kill -0 "$p" || _explain "the create did not wait: $(cat "$WTMP/gone.out")"
	kill "$p"
	wait "$p" || :
	touch "$WTMP/release-destroy.sh"
	wait_for 20 eval '(($(line_of "container a: destroyed") > 0))'
	wait_for 20 eval '(($(line_of "container a: created") > $(line_of "container a: destroyed")))'
	kill -0 "$WARDEND_PID" || _explain "wardend died"
	run_w run a 'echo still a'
	assert_output "still a"
	run_w destroy a
	assert_output ok
}
