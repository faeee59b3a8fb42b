#!/usr/bin/env bats
# Containers through wardend, for real: every lifecycle rule and error string of
# PROTOCOL.md (create, stop, destroy, info, list), grace times, failing hooks, many
# create/destroy cycles, and a restart of wardend after kill -9. Each check that a
# container left nothing behind looks at the kernel and the depot, not at wardend.

# jq programs and backquoted key names are single-quoted on purpose.
# shellcheck disable=SC2016
# WARDEND_BIN comes from helpers.bash (SC2153).
# shellcheck disable=SC2153

load helpers

# This file's daemon: its own instance and /30 pool, so it never meets another suite's.
FILE_CONF='{"server":{"stop_timeout":30},
	"network":{"pool_start_address":"10.253.30.0","pool_size":16},
	"user":{"pool_start_uid":61000,"pool_size":32}}'
# A test's own daemon (own_daemon): another instance and another pool.
OWN_POOL='"network":{"pool_start_address":"10.253.130.0","pool_size":8,"release_delay_ms":0},
	"user":{"pool_start_uid":61100,"pool_size":16}'

setup_file() {
	export WINSTANCE=${WPREFIX}30
	wardend_start "$FILE_CONF"
}

teardown_file() {
	wardend_stop
}

setup() {
	requires root rootfs
	HOLD_PID=
}

teardown() {
	[[ -n ${HOLD_PID:-} ]] && { kill "$HOLD_PID" 2>/dev/null || true; wait "$HOLD_PID" 2>/dev/null || true; }
	HOLD_PID=
	if [[ -n ${FILE_WTMP:-} ]]; then
		local rc=0
		wardend_stop || rc=$?
		export WINSTANCE=${WPREFIX}30 WTMP=$FILE_WTMP WSOCK=$FILE_WSOCK WARDEND_PID=$FILE_PID
		FILE_WTMP=
		return "$rc"
	else
		# Whatever a test created on the file's daemon and did not destroy.
		local h
		for h in $(w list 2>/dev/null); do w destroy "$h" >/dev/null 2>&1 || true; done
	fi
}

# own_daemon_prepare: this test gets its own daemon (instance ${WPREFIX}3b, own temp dir and
# pool); put things in $WTMP, then own_daemon_start [EXTRA_SERVER_KEYS_JSON_FRAGMENT].
own_daemon_prepare() {
	FILE_WTMP=$WTMP FILE_WSOCK=$WSOCK FILE_PID=$WARDEND_PID
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WINSTANCE=${WPREFIX}3b WTMP WSOCK=$WTMP/w.sock
	unset WARDEND_PID
}

own_daemon_start() {
	wardend_start "{\"server\":{${1:-}},$OWN_POOL}"
}

# json FILTER: jq on $output (exit status 1 when the filter yields false or null).
json() { jq -e "$@" <<<"$output"; }

id_of() { # HANDLE -> the container's id (from info)
	w --json info "$1" | jq -r .id
}

# assert_gone ID [DEPOT]: no trace of container ID of this instance is left: depot entry
# (bounded wait: destroy replies before its teardown ran), interfaces (bounded wait: a
# dying netns drops its veth asynchronously), chain, cgroups, mounts, wshd process.
assert_gone() {
	local id=$1 depot=${2:-$WTMP/depot} left
	wait_torn_down "$id" "$depot" || return 1
	wait_for 20 eval "! ip -o link show | grep -q ': $WINSTANCE-$id-'" ||
		{ ip -o link show | grep "$WINSTANCE-$id-" >&2; return 1; }
	if iptables -w -S 2>/dev/null | grep -q -- "warden-$WINSTANCE-$id"; then
		iptables -w -S 2>/dev/null | grep -- "warden-$WINSTANCE-$id" >&2
		return 1
	fi
	refute_cgroups "warden-$WINSTANCE/$id" || return 1
	if grep -q -- "$depot/$id" /proc/self/mounts; then
		grep -- "$depot/$id" /proc/self/mounts >&2
		return 1
	fi
	left=$(our_wshd "$id" "$depot")
	[[ -z $left ]] || { echo "wshd left: $left" >&2; return 1; }
}

# our_wshd ID [DEPOT]: "PID TITLE" of each wshd of this instance's container ID: in its
# cgroup, or rooted in its depot entry. (Other runs on this machine have containers with
# the same ids in other instances.)
our_wshd() {
	local id=$1 depot=${2:-$WTMP/depot} pid rest
	pgrep -af "^wshd: $id" | while read -r pid rest; do
		if grep -qs "warden-$WINSTANCE/$id" "/proc/$pid/cgroup" ||
			[[ $(readlink "/proc/$pid/root" 2>/dev/null) == "$depot/$id"* ]]; then
			echo "$pid $rest"
		fi
	done
	return 0
}

# assert_instance_clean: nothing of any container of this instance is left.
assert_instance_clean() {
	local left
	wait_depot_empty || return 1
	wait_for 20 eval "! ip -o link show | grep -q ': $WINSTANCE-'" ||
		{ ip -o link show | grep ": $WINSTANCE-" >&2; return 1; }
	left=$(iptables -w -S 2>/dev/null | grep -E -- "-N warden-$WINSTANCE-[0-9a-f]{8}" || true)
	[[ -z $left ]] || { echo "chains left: $left" >&2; return 1; }
	left=$(cgroup_dirs "warden-$WINSTANCE" | while read -r d; do
		find "$d" -mindepth 1 -type d
	done)
	[[ -z $left ]] || { echo "cgroups left: $left" >&2; return 1; }
	left=$(grep -- "$WTMP/" /proc/self/mounts || true)
	[[ -z $left ]] || { echo "mounts left: $left" >&2; return 1; }
	left=$(pgrep -af "^wshd: " | while read -r pid rest; do
		grep -qs "warden-$WINSTANCE/" "/proc/$pid/cgroup" && echo "$pid $rest"
	done || true)
	[[ -z $left ]] || { echo "wshd processes left: $left" >&2; return 1; }
}

# hold_conn REQUEST_JSON: a client connection that sends one request (e.g. an `info` or
# a `create`, which makes it reference the container), prints the reply to
# $WTMP/hold.out and stays open until release_conn closes it. Sets HOLD_PID.
hold_conn() {
	rm -f "$WTMP/hold.in" "$WTMP/hold.out"
	mkfifo "$WTMP/hold.in"
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile("rb").readline().decode().strip(), flush=True)
sys.stdin.read()  # until the test closes the fifo
s.close()
' "$WSOCK" "$1" <"$WTMP/hold.in" >"$WTMP/hold.out" 2>&1 &
	HOLD_PID=$!
	exec {HOLD_FD}>"$WTMP/hold.in"
	wait_for 60 grep -q 'type' "$WTMP/hold.out" || { cat "$WTMP/hold.out" >&2; return 1; }
	grep -q '"object"' "$WTMP/hold.out" || { cat "$WTMP/hold.out" >&2; return 1; }
}

release_conn() {
	exec {HOLD_FD}>&-
	wait "$HOLD_PID" || true
	HOLD_PID=
}

# gone HANDLE: not listed any more. Polls with `list`, which references no container
# (an `info` would restart the grace timer it waits for).
gone() {
	local l
	l=$(w list) || return 1
	! grep -qxF -- "$1" <<<"$l"
}

# ---- create ----

@test "create: the handle is the /30 network as 8 lowercase hex digits" {
	run_w create
	assert_success
	[[ $output =~ ^[0-9a-f]{8}$ ]] || _explain "expected an 8-hex handle"
	local h=$output ip
	run_w --json info "$h"
	assert_success
	json --arg h "$h" '.id == $h and .handle == $h and .state == "active"'
	ip=$(printf '%d.%d.%d.%d' "0x${h:0:2}" "0x${h:2:2}" "0x${h:4:2}" "0x${h:6:2}")
	[[ $ip == 10.253.30.* ]]
	json --arg ip "$ip" '.host_ip == ($ip | sub("\\.(?<n>[0-9]+)$"; ".\((.n | tonumber) + 1)"))'
	json --arg ip "$ip" '.container_ip == ($ip | sub("\\.(?<n>[0-9]+)$"; ".\((.n | tonumber) + 2)"))'
	run_w destroy "$h"
	assert_success
	assert_output ok
}

@test "create: a chosen handle; a duplicate handle is refused" {
	run_w create --handle mine
	assert_success
	assert_output mine
	local id
	id=$(id_of mine)
	[[ $id =~ ^[0-9a-f]{8}$ && $id != mine ]]
	[[ -d $WTMP/depot/$id ]]
	run_w create --handle mine
	assert_failure 1
	assert_output "warden: container with handle: mine already exists."
	run_w list
	assert_output mine
	run_w destroy mine
	assert_success
	assert_gone "$id"
}

@test "create: network inside the pool takes that /30; taken or outside -> could not acquire network" {
	run_w create --network 10.253.30.21
	assert_success
	assert_output 0afd1e14
	run_w --json info 0afd1e14
	json '.host_ip == "10.253.30.21" and .container_ip == "10.253.30.22"'
	run_w create --network 10.253.30.20
	assert_failure 1
	assert_output "warden: could not acquire network"
	run_w create --network 10.253.31.0 # one past the 16 /30s of the pool
	assert_failure 1
	assert_output "warden: could not acquire network"
	run_w create --network 10.1.2.3
	assert_failure 1
	assert_output "warden: could not acquire network"
	run_w create --handle withnet --network 10.253.30.24
	assert_success
	run_w --json info withnet
	json '.id == "0afd1e18" and .container_ip == "10.253.30.26"'
	run_w destroy 0afd1e14
	run_w destroy withnet
	assert_gone 0afd1e14
	assert_gone 0afd1e18
}

@test "create: without a handle, a network whose id another container took as its handle is skipped" {
	own_daemon_prepare
	own_daemon_start
	# The handle names the pool's second /30 (10.253.130.4); the container sits on the first.
	run_w create --network 10.253.130.0 --handle 0afd8204
	assert_success
	local i h handles=()
	for i in 1 2 3 4 5 6; do
		run_w create
		assert_success
		handles+=("$output")
	done
	for h in "${handles[@]}"; do [[ $h != 0afd8204 ]]; done
	# All but the skipped /30 are taken now.
	run_w create
	assert_failure 1
	assert_output "warden: could not acquire network"
	for h in "${handles[@]}" 0afd8204; do
		run_w destroy "$h"
		assert_success
	done
}

@test "create: a missing rootfs is refused and nothing is left" {
	run_w raw '["create",{"rootfs":"/nonexistent/rootfs"}]'
	assert_failure 1
	assert_output "warden: rootfs /nonexistent/rootfs not found"
	run_w list
	assert_output ''
	assert_instance_clean
}

@test "create: an unknown key or a key of the wrong type is an error naming the key" {
	run_w raw '["create",{"bogus":1}]'
	assert_failure 1
	assert_output_contains '`bogus`'
	local kv key
	for kv in 'handle:1' 'handle:""' 'grace_time:true' 'grace_time:-1' 'disk_size_mb:"x"' \
		'network:5' 'network:"not-an-ip"' 'rootfs:5' 'limits:[]' 'properties:[]' \
		'properties:{"a":1}' 'bind_mounts:{}' 'bind_mounts:[["/tmp"]]'; do
		key=${kv%%:*}
		run_w raw "[\"create\",{\"$key\":${kv#*:}}]"
		assert_failure 1
		[[ $output == "warden: "*"$key"* ]] || _explain "expected an error naming $key"
	done
	run_w raw '["create","notahash"]'
	assert_failure 1
	run_w list
	assert_output ''
	assert_instance_clean
}

@test "create: grace_time as a string that is wholly a non-negative number is taken, as the original's Float()" {
	local g
	# Long enough that no grace timer runs out between the requests (each one's connection
	# closes at once).
	for g in '"30"' '"100.5"' '"1e3"'; do
		run_w raw "[\"create\",{\"handle\":\"gs\",\"grace_time\":$g}]"
		assert_success
		run_w --json info gs
		assert_success
		json --argjson g "${g//\"/}" '.grace_time == $g and .state == "active"'
		run_w destroy gs
		assert_success
	done
	for g in abc '' 30s ' 5x' -1 nan inf 1e99; do
		run_w raw "[\"create\",{\"grace_time\":\"$g\"}]"
		assert_failure 1
		assert_output "warden: Cannot parse grace time from \"$g\"."
	done
	run_w list
	assert_output ''
	assert_instance_clean
}

@test "create: a bind mount mode other than ro or rw is refused, naming the source" {
	local m
	for m in '"RO"' '""' '5' 'null'; do
		run_w raw "[\"create\",{\"bind_mounts\":[[\"/tmp\",\"/x\",{\"mode\":$m}]]}]"
		assert_failure 1
		assert_output 'warden: Invalid mode for bind mount "/tmp". Must be one of "ro", "rw".'
	done
	run_w create --bind-mount /tmp:/x:rx
	assert_failure 100
	run_w list
	assert_output ''
	assert_instance_clean
}

# ---- stop ----

@test "stop: ok, state stopped; a second stop is a no-op; spawn, run, net and copy are refused, limit is not" {
	run_w create --handle st
	assert_success
	run_w spawn st 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.1; done'
	assert_success
	local job=$output path
	# The TERM must find the trap set (a reply to spawn can come before the shell ran).
	path=$(w --json info st | jq -r .container_path)
	wait_for 10 grep -q ready "$path/jobs/$job/stdout"
	run_w stop st
	assert_success
	assert_output ok
	run_w --json info st
	json '.state == "stopped" and .job_ids == []'
	run_w --json link st "$job"
	assert_output_contains got-term
	run_w stop st
	assert_success
	assert_output ok
	run_w --json info st
	json '.state == "stopped"'
	run_w spawn st 'echo hi'
	assert_failure 1
	assert_output "warden: Container state must be one of 'active', current state is 'stopped'"
	run_w run st 'echo hi'
	assert_failure 1
	assert_output "warden: Container state must be one of 'active', current state is 'stopped'"
	# The dispatcher applies the states column to every command, after its arguments.
	run_w raw '["net","st","in"]'
	assert_failure 1
	assert_output "warden: Container state must be one of 'active', current state is 'stopped'"
	run_w raw '["copy","st","in","/a","/b"]'
	assert_failure 1
	assert_output "warden: Container state must be one of 'active', current state is 'stopped'"
	# limit reads run on a stopped container too, as in the original.
	run_w raw '["limit","st","memory"]'
	refute_output_contains "Container state"
	run_w raw '["spawn","st",7]'
	assert_failure 1
	assert_output "warden: Script must be a string"
	run_w raw '["stop","st",{"bogus":true}]'
	assert_failure 1
	assert_output 'warden: Unknown stop option `bogus`.'
	run_w destroy st
	assert_success
}

@test "stop {kill:true}: KILL at once, no TERM" {
	run_w create --handle sk
	run_w spawn sk 'trap "echo got-term" TERM; echo started; while :; do sleep 0.1; done'
	assert_success
	local job=$output
	run_w raw '["stop","sk",{"kill":true}]'
	assert_success
	assert_output '"ok"'
	run_w --json info sk
	json '.state == "stopped"'
	run_w --json link sk "$job"
	json '.[0] == null and .[1] == "started\n"'
	run_w destroy sk
	assert_success
}

@test "stop {background:true} replies at once; the stop finishes later" {
	local ctl=$WTMP/ctl-bg
	mkdir -p "$ctl"
	run_w create --handle sb --bind-mount "$ctl:/ctl:ro"
	assert_success
	# Ignores TERM (inherited by its children) and ends only when the host says so.
	run_w spawn sb 'trap "" TERM; while [ ! -e /ctl/go ]; do sleep 0.1; done; echo released'
	assert_success
	local job=$output
	run_w raw '["stop","sb",{"background":true}]'
	assert_success
	assert_output '"ok"'
	# stop.sh is still waiting for the job (stop_timeout is 30 s): not stopped yet.
	run_w --json info sb
	json '.state == "active"'
	touch "$ctl/go"
	wait_for 20 eval '[[ $(w --json info sb | jq -r .state) == stopped ]]'
	run_w --json link sb "$job"
	assert_output_contains released
	run_w destroy sb
	assert_success
}

@test "stop: bad options are refused" {
	run_w create --handle so
	run_w raw '["stop","so",{"kill":1}]'
	assert_failure 1
	assert_output_contains '`kill`'
	run_w raw '["stop","so",{"frob":true}]'
	assert_failure 1
	assert_output_contains '`frob`'
	run_w raw '["stop","so",[]]'
	assert_failure 1
	assert_output "warden: Options must be a hash"
	run_w --json info so
	json '.state == "active"'
	run_w destroy so
}

# ---- destroy ----

@test "destroy: active or stopped; afterwards every command says unknown handle" {
	run_w create --handle d1
	run_w create --handle d2
	run_w stop d2
	assert_success
	local id1 id2
	id1=$(id_of d1) id2=$(id_of d2)
	run_w destroy d1
	assert_success
	assert_output ok
	run_w destroy d2
	assert_success
	assert_output ok
	local h c
	for h in d1 d2; do
		for c in destroy info stop; do
			run_w "$c" "$h"
			assert_failure 1
			assert_output "warden: unknown handle"
		done
		run_w run "$h" 'echo hi'
		assert_failure 1
		assert_output "warden: unknown handle"
	done
	assert_gone "$id1"
	assert_gone "$id2"
	run_w list
	assert_output ''
}

# ---- info and list ----

@test "info: every field" {
	run_w create --handle inf --grace-time 300 --property owner=t30 --property color=blue
	assert_success
	local id
	id=$(id_of inf)
	run_w spawn inf 'sleep 1000'
	local job=$output
	run_w --json info inf
	assert_success
	json '.state == "active" and .events == []'
	json --arg p "$WTMP/depot/$id" '.container_path == $p'
	[[ -d $WTMP/depot/$id ]]
	json '.host_ip | test("^10\\.253\\.30\\.[0-9]+$")'
	json '.container_ip | test("^10\\.253\\.30\\.[0-9]+$")'
	json '.limits | type == "object"'
	json '.stats.mem_usage_B | type == "number" and . > 0'
	json '.stats.cpu_usage_ns | type == "number" and . > 0'
	json --argjson j "$job" '.job_ids == [$j]'
	json '.properties == {"owner":"t30","color":"blue"}'
	json '.grace_time == 300'
	run_w destroy inf
	assert_success
}

@test "list: active and stopped containers; filtered by properties" {
	run_w create --handle la --property team=a --property tier=web
	run_w create --handle lb --property team=b --property tier=web
	run_w create --handle lc
	run_w stop lb
	assert_success
	run_w --json list
	assert_success
	json 'sort == ["la","lb","lc"]'
	run_w --json raw '["list",{"properties":{"tier":"web"}}]'
	json 'sort == ["la","lb"]'
	run_w --json raw '["list",{"properties":{"team":"b","tier":"web"}}]'
	json '. == ["lb"]'
	run_w --json raw '["list",{"properties":{"team":"c"}}]'
	json '. == []'
	run_w --json raw '["list",{"properties":{"team":"a","tier":"db"}}]'
	json '. == []'
	run_w raw '["list",{"properties":[]}]'
	assert_failure 1
	assert_output_contains '`properties`'
	run_w --json info la
	json '.properties == {"team":"a","tier":"web"}'
	run_w --json info lc
	json '.properties == {}'
	local h
	for h in la lb lc; do w destroy "$h"; done
	run_w --json list
	json '. == []'
}

# ---- grace time ----

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# listed_at_half HANDLE CLOSED_MS GRACE_S: at half the grace time after CLOSED_MS (taken
# just after the last connection referencing HANDLE closed), HANDLE is still listed.
listed_at_half() {
	local h=$1 closed=$2 grace=$3 ms l
	ms=$((closed + grace * 500 - $(now_ms)))
	((ms <= 0)) || sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	l=$(w list) || return 1
	grep -qxF -- "$h" <<<"$l" && return 0
	echo "$h is gone $(($(now_ms) - closed)) ms after its last connection closed;" \
		"its grace time is $grace s" >&2
	return 1
}

@test "grace time: still there at half the grace time, gone about grace_time after the creating connection closed" {
	local closed
	run_w create --grace-time 4
	closed=$(now_ms)
	assert_success
	local h=$output
	listed_at_half "$h" "$closed" 4
	wait_for 30 gone "$h"
	run_w info "$h"
	assert_output "warden: unknown handle"
	assert_gone "$h"
}

@test "grace time: kept while a connection references it; the timer restarts when it closes" {
	hold_conn '["create",{"handle":"gr","grace_time":2}]'
	local id closed
	id=$(id_of gr) # another connection references it and closes
	sleep 5        # two and a half grace times with the creating connection still open
	run_w --json info gr
	assert_success
	json '.grace_time == 2 and .state == "active"'
	release_conn
	closed=$(now_ms)
	listed_at_half gr "$closed" 2
	wait_for 30 gone gr
	assert_gone "$id"
}

@test "grace time: null keeps a container; without it the server's default applies" {
	own_daemon_prepare
	own_daemon_start '"container_grace_time":2'
	run_w create --handle keep --no-grace-time
	assert_success
	run_w create --handle dflt
	assert_success
	local id closed
	id=$(w --json info dflt | jq -r .id)
	closed=$(now_ms)
	listed_at_half dflt "$closed" 2
	wait_for 30 gone dflt
	assert_gone "$id"
	sleep 3 # well past the default grace time of 2 s
	run_w --json info keep
	assert_success
	json '.grace_time == null and .state == "active"'
}

# ---- failing hooks ----

# hooks_copy: the real hooks in $WTMP/hooks, to be broken one at a time.
hooks_copy() {
	cp -a "$WARDEN_SRC/hooks" "$WTMP/hooks"
}

# break_hook NAME BODY: NAME runs the real hook, then BODY (bash).
break_hook() {
	mv "$WTMP/hooks/$1" "$WTMP/hooks/$1.real"
	printf '#!/bin/bash\n"${BASH_SOURCE[0]%%/*}/%s.real" "$@"\n%s\n' "$1" "$2" >"$WTMP/hooks/$1"
	chmod 0755 "$WTMP/hooks/$1"
}

# before_hook NAME BODY: NAME runs BODY (bash), then the real hook.
before_hook() {
	mv "$WTMP/hooks/$1" "$WTMP/hooks/$1.real"
	printf '#!/bin/bash\n%s\n"${BASH_SOURCE[0]%%/*}/%s.real" "$@"\n' "$2" "$1" >"$WTMP/hooks/$1"
	chmod 0755 "$WTMP/hooks/$1"
}

fix_hook() {
	mv "$WTMP/hooks/$1.real" "$WTMP/hooks/$1"
}

# wait_mark NAME: (in a hook) wait at most 5 s for run/NAME of the container.
WAIT_MARK='wait_mark() { for ((i = 0; i < 100; i++)); do [[ -e $container_path/run/$1 ]] && return; sleep 0.05; done; return 1; }'

# A failed create leaves nothing, and its /30 can be taken again at once.
assert_failed_create_clean() {
	run_w list
	assert_output ''
	assert_gone 0afd8200
	assert_instance_clean
}

reuse_network() {
	run_w create --network 10.253.130.0
	assert_success
	assert_output 0afd8200
	run_w run 0afd8200 'echo fine'
	assert_success
	assert_output fine
	run_w destroy 0afd8200
	assert_success
	assert_gone 0afd8200
}

@test "failing hook: parent-after-clone.sh exits 2 -> its status and last stderr line; nothing leaks" {
	own_daemon_prepare
	hooks_copy
	break_hook parent-after-clone.sh 'echo "parent-after-clone.sh: some noise" >&2; echo "parent-after-clone.sh: the last words" >&2; exit 2'
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\""
	run_w create --network 10.253.130.0
	assert_failure 1
	assert_output "warden: hook start.sh exited with status 111: wshd: hook parent-after-clone.sh exited with status 2: parent-after-clone.sh: the last words"
	assert_failed_create_clean
	fix_hook parent-after-clone.sh
	reuse_network
}

# wshd runs child-before-pivot.sh and parent-after-clone.sh at once (doc/hooks.md): each
# hook below waits for the other to have begun, so these fail where they run one after
# the other.
@test "failing hook: parent-after-clone.sh fails while child-before-pivot.sh works -> its message; the child is killed, nothing leaks" {
	own_daemon_prepare
	hooks_copy
	before_hook child-before-pivot.sh ': >"$container_path/run/cbp-began"; sleep 31.25'
	before_hook parent-after-clone.sh "$WAIT_MARK"'
wait_mark cbp-began || { echo "parent-after-clone.sh: child-before-pivot.sh has not begun" >&2; exit 3; }
echo "parent-after-clone.sh: failing while the child works" >&2; exit 2'
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\""
	SECONDS=0
	run_w create --network 10.253.130.0
	assert_failure 1
	assert_output "warden: hook start.sh exited with status 111: wshd: hook parent-after-clone.sh exited with status 2: parent-after-clone.sh: failing while the child works"
	((SECONDS < 20)) || _explain "the create waited for child-before-pivot.sh"
	run_cmd pgrep -f '^sleep 31.25$'
	assert_failure 1
	assert_failed_create_clean
	fix_hook parent-after-clone.sh
	fix_hook child-before-pivot.sh
	reuse_network
}

@test "failing hook: child-before-pivot.sh fails while parent-after-clone.sh works -> its message; nothing leaks" {
	own_daemon_prepare
	hooks_copy
	before_hook child-before-pivot.sh ': >"$container_path/run/cbp-failed"
echo "child-before-pivot.sh: some noise" >&2; echo "child-before-pivot.sh: the last words" >&2; exit 2'
	# The real hook then puts the veth into the child's namespace: the child must still be there.
	before_hook parent-after-clone.sh "$WAIT_MARK"'
wait_mark cbp-failed || { echo "parent-after-clone.sh: child-before-pivot.sh has not run" >&2; exit 3; }
sleep 0.2'
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\""
	run_w create --network 10.253.130.0
	assert_failure 1
	assert_output "warden: hook start.sh exited with status 111: wshd: hook child-before-pivot.sh exited with status 2: child-before-pivot.sh: the last words"
	assert_failed_create_clean
	fix_hook parent-after-clone.sh
	fix_hook child-before-pivot.sh
	reuse_network
}

@test "parent-after-clone.sh slower than child-before-pivot.sh: the child waits for its end of the veth" {
	own_daemon_prepare
	hooks_copy
	before_hook child-before-pivot.sh ': >"$container_path/run/cbp-began"'
	before_hook parent-after-clone.sh "$WAIT_MARK"'
wait_mark cbp-began || { echo "parent-after-clone.sh: child-before-pivot.sh has not begun" >&2; exit 3; }
sleep 0.5'
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\""
	run_w create --network 10.253.130.0
	assert_success
	run_w run 0afd8200 'ip -o -4 addr show dev '"$WINSTANCE"'-0afd8200-1; ip route show default'
	assert_output_contains "inet 10.253.130.2/30"
	assert_output_contains "default via 10.253.130.1 dev $WINSTANCE-0afd8200-1"
	run_w destroy 0afd8200
	assert_gone 0afd8200
	fix_hook parent-after-clone.sh
	fix_hook child-before-pivot.sh
}

@test "a rootfs without /tmp: child-before-pivot.sh makes one (1777) in the upper layer; a link there is left alone" {
	own_daemon_prepare
	cp -a "$WARDEN_TEST_ROOTFS" "$WTMP/rootfs"
	rmdir "$WTMP/rootfs/tmp"
	own_daemon_start "\"container_rootfs_path\":\"$WTMP/rootfs\""
	run_w create --network 10.253.130.0
	assert_success
	run_w run 0afd8200 'stat -c "%a %F" /tmp; echo x >/tmp/x && echo written'
	assert_output "$(printf '1777 directory\nwritten')"
	[[ ! -e $WTMP/rootfs/tmp ]] || _explain "made in the rootfs"
	run_w destroy 0afd8200
	assert_gone 0afd8200
	# A link (to where the host has a directory, the container not) stays a link.
	ln -s /var/lib "$WTMP/rootfs/tmp"
	run_w create --network 10.253.130.0
	assert_success
	run_w run 0afd8200 'readlink /tmp'
	assert_output /var/lib
	run_w destroy 0afd8200
	assert_gone 0afd8200
}

@test "failing hook: net.sh exits 2 on net out -> its status and last stderr line; the container goes on" {
	own_daemon_prepare
	hooks_copy
	break_hook net.sh 'echo "net.sh: some noise" >&2; echo "net.sh: the last words" >&2; exit 2'
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\""
	run_w create --network 10.253.130.0
	assert_success
	run_w net 0afd8200 out 10.0.0.0/8
	assert_failure 1
	assert_output "warden: hook net.sh exited with status 2: net.sh: the last words"
	run_w net 0afd8200 in 80
	assert_output "warden: hook net.sh exited with status 2: net.sh: the last words"
	run_w run 0afd8200 'echo fine'
	assert_output fine
	fix_hook net.sh
	run_w --json net 0afd8200 in 80
	assert_success
	run_w destroy 0afd8200
	assert_gone 0afd8200
}

@test "failing hook: start.sh killed by signal 9 after wshd started; nothing leaks" {
	own_daemon_prepare
	hooks_copy
	break_hook start.sh 'kill -KILL $$'
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\""
	run_w create --network 10.253.130.0
	assert_failure 1
	assert_output "warden: hook start.sh killed by signal 9"
	assert_failed_create_clean
	fix_hook start.sh
	reuse_network
}

@test "failing hook: setup.sh past server.hook_timeout -> timed out; nothing leaks" {
	own_daemon_prepare
	hooks_copy
	break_hook setup.sh 'sleep 60'
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\",\"hook_timeout\":1"
	run_w create --network 10.253.130.0
	assert_failure 1
	assert_output "warden: hook setup.sh timed out after 1 s"
	assert_failed_create_clean
	# The killed hook's process group went with it.
	run_cmd pgrep -f "$WTMP/hooks/setup.sh"
	assert_failure 1
	fix_hook setup.sh
	reuse_network
}

@test "failing hook: host-setup.sh past server.hook_timeout fails start-up at once, saying so" {
	own_daemon_prepare
	hooks_copy
	break_hook host-setup.sh 'sleep 60'
	wardend_config "{\"server\":{\"hooks_path\":\"$WTMP/hooks\",\"hook_timeout\":1},$OWN_POOL}"
	# Without the deadline wardend would wait the whole 60 s and timeout(1) would say 124.
	run_cmd timeout 20 "$WARDEND_BIN" --config "$WTMP/warden.conf"
	assert_failure 111
	assert_output "wardend: start-up failed: hook host-setup.sh timed out after 1 s"
	run_cmd grep -c "start-up failed: hook host-setup.sh timed out after 1 s" "$WTMP/wardend.log"
	assert_output 1
	# The killed hook's process group went with it, and nothing listens.
	run_cmd pgrep -f "$WTMP/hooks/host-setup.sh"
	assert_failure 1
	[[ ! -e $WSOCK ]] || _explain "socket $WSOCK left"
}

# host-setup.sh as wardend runs it, recording cgroup_favor_dynmods and seeing a made-up
# cgroup2 mount under the real cgroup_root that does not exist: the real mount(8) fails.
# The real hook is sourced, so that its warnings carry the name host-setup.sh.
favor_hooks() {
	hooks_copy
	mv "$WTMP/hooks/host-setup.sh" "$WTMP/hooks/host-setup.sh.real"
	printf '%s\n' '#!/bin/bash' "echo \"\$cgroup_favor_dynmods\" >>$WTMP/favor" \
		"export cg_mountinfo=$WTMP/mountinfo" \
		'. "${BASH_SOURCE[0]%/*}/host-setup.sh.real"' >"$WTMP/hooks/host-setup.sh"
	chmod 0755 "$WTMP/hooks/host-setup.sh"
	echo "99 31 0:99 / /sys/fs/cgroup/warden-$WINSTANCE-nosuchmount rw - cgroup2 cgroup2 rw" >"$WTMP/mountinfo"
}

@test "server.cgroup_favor_dynmods reaches host-setup.sh; a failed remount is a warning in the log, not fatal" {
	own_daemon_prepare
	favor_hooks
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\""
	assert_file "$WTMP/favor" true
	assert_grep "warn: hook host-setup.sh: cannot remount /sys/fs/cgroup/warden-$WINSTANCE-nosuchmount with favordynmods" "$WTMP/wardend.log"
	# Only the hook's own lines: not iptables' notes on its stderr.
	run_cmd grep -c "hook host-setup.sh:" "$WTMP/wardend.log"
	assert_output 1
	run_w create
	assert_success
	run_w destroy "$output"
	assert_success
	kill -TERM "$WARDEND_PID"
	wait "$WARDEND_PID" || true
	: >"$WTMP/wardend.log"
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\",\"cgroup_favor_dynmods\":false"
	assert_file "$WTMP/favor" "$(printf 'true\nfalse')"
	run_cmd grep -c favordynmods "$WTMP/wardend.log"
	assert_output 0
}

@test "failing hook: restore's destroy.sh past server.hook_timeout is killed; start-up goes on" {
	own_daemon_prepare
	hooks_copy
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\",\"hook_timeout\":1"
	run_w create --network 10.253.130.0
	assert_success
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" || true
	kill -KILL "$(cat "$WTMP/depot/0afd8200/run/wshd.pid")"
	break_hook destroy.sh 'sleep 60'
	# wardend_start waits 30 s for a pong: without the deadline restore would block 60 s.
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\",\"hook_timeout\":1"
	run_cmd grep -c "container 0afd8200: hook destroy.sh timed out after 1 s" "$WTMP/wardend.log"
	assert_output 1
	run_cmd pgrep -f "$WTMP/hooks/destroy.sh"
	assert_failure 1
	# A restart with a working destroy.sh finishes the teardown.
	fix_hook destroy.sh
	kill -TERM "$WARDEND_PID"
	wait "$WARDEND_PID" || true
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\",\"hook_timeout\":1"
	assert_gone 0afd8200
}

@test "destroy: a failing teardown is logged and sent as an event; the handle is gone, its /30 stays taken" {
	own_daemon_prepare
	hooks_copy
	break_hook destroy.sh 'echo "destroy.sh: the disk is on fire" >&2; exit 3'
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\""
	run_w create --network 10.253.130.0
	assert_success
	w --json events >"$WTMP/events" 2>&1 &
	local ev=$!
	wait_for 10 grep -q '"event": *"listening"' "$WTMP/events"
	# destroy answers before destroy.sh runs: its failure can only be logged.
	run_w destroy 0afd8200
	assert_success
	assert_output ok
	wait_for 20 grep -qF "container 0afd8200 (id 0afd8200): teardown failed: hook destroy.sh exited with status 3: destroy.sh: the disk is on fire" "$WTMP/wardend.log"
	wait_for 10 grep -q '"event": *"destroy failed", *"handle": *"0afd8200"' "$WTMP/events"
	kill "$ev"
	wait "$ev" || true
	run_cmd grep -c '"destroyed"' "$WTMP/events"
	assert_output 0
	run_w list
	assert_output ''
	run_w info 0afd8200
	assert_output "warden: unknown handle"
	# What it holds is not handed out again until wardend's next start.
	run_w create --network 10.253.130.0
	assert_failure 1
	assert_output "warden: could not acquire network"
	fix_hook destroy.sh
	kill -TERM "$WARDEND_PID"
	wait "$WARDEND_PID" || true
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\""
	assert_gone 0afd8200
	reuse_network
}

@test "destroy while create is still running (state born): both finish, nothing leaks" {
	own_daemon_prepare
	hooks_copy
	mv "$WTMP/hooks/start.sh" "$WTMP/hooks/start.sh.real"
	# start.sh waits (bounded) until the test releases it.
	cat >"$WTMP/hooks/start.sh" <<-EOF
		#!/bin/bash
		for ((i = 0; i < 300; i++)); do [[ -e $WTMP/release ]] && break; sleep 0.1; done
		exec "\${BASH_SOURCE[0]%/*}/start.sh.real" "\$@"
	EOF
	chmod 0755 "$WTMP/hooks/start.sh"
	own_daemon_start "\"hooks_path\":\"$WTMP/hooks\""
	w create --handle born --network 10.253.130.0 >"$WTMP/create.out" 2>&1 &
	local create_pid=$!
	wait_for 30 eval '[[ $(w --json info born 2>/dev/null | jq -r .state) == born ]]'
	run_w list
	assert_output '' # list shows active and stopped containers only
	w destroy born >"$WTMP/destroy.out" 2>&1 &
	local destroy_pid=$!
	touch "$WTMP/release"
	local rc=0
	wait "$destroy_pid" || rc=$?
	wait "$create_pid" || true
	[[ $rc == 0 && $(cat "$WTMP/destroy.out") == ok ]] ||
		{ echo "destroy: $rc $(cat "$WTMP/destroy.out"); create: $(cat "$WTMP/create.out")" >&2; false; }
	run_w info born
	assert_output "warden: unknown handle"
	assert_failed_create_clean
}

# ---- many cycles ----

@test "a live container is where the leak checks look: its cgroups, its wshd" {
	local h id
	h=$(w create)
	id=$(id_of "$h")
	run_cmd cgroup_dirs "warden-$WINSTANCE/$id"
	[[ -n $output ]] || _explain "no cgroup directory of warden-$WINSTANCE/$id found"
	[[ $output == *"$(cgroup_path memory "warden-$WINSTANCE/$id")"* ]] ||
		_explain "cgroup_path memory is not among them"
	run_cmd our_wshd "$id"
	[[ $output == *"wshd: $id"* ]] || _explain "its wshd is not found"
	run_cmd refute_cgroups "warden-$WINSTANCE/$id"
	assert_failure
	w destroy "$h"
	assert_gone "$id"
}

@test "50 create/destroy cycles leave no interface, chain, cgroup, mount, process or depot entry" {
	local i h
	for ((i = 0; i < 50; i++)); do
		h=$(w create) || { echo "create $i failed" >&2; false; }
		w destroy "$h" >/dev/null || { echo "destroy $h ($i) failed" >&2; false; }
	done
	run_w list
	assert_output ''
	assert_instance_clean
}

# ---- restart ----

@test "restart after kill -9: containers and jobs adopted; one whose wshd died is torn down" {
	own_daemon_prepare
	local ctl=$WTMP/ctl
	mkdir -p "$ctl"
	own_daemon_start
	run_w create --handle live --bind-mount "$ctl:/ctl:ro"
	assert_success
	run_w create --handle dead
	assert_success
	local dead_id live_id wpid job
	dead_id=$(id_of dead) live_id=$(id_of live)
	run_w spawn live 'echo before; while [ ! -e /ctl/go ]; do sleep 0.1; done; echo after; echo err >&2; exit 5'
	assert_success
	job=$output
	wait_for 20 grep -q before "$WTMP/depot/$live_id/jobs/$job/stdout"

	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" || true
	# While wardend is down: the job finishes, the other container's wshd dies.
	touch "$ctl/go"
	wpid=$(cat "$WTMP/depot/$dead_id/run/wshd.pid")
	[[ $wpid =~ ^[0-9]+$ ]]
	kill -KILL "$wpid"
	wait_for 20 eval "! grep -qs '^State:.*[RSD]' /proc/$wpid/status"

	own_daemon_start
	run_w list
	assert_success
	assert_output live
	run_w info dead
	assert_output "warden: unknown handle"
	assert_gone "$dead_id"
	run_w --json link live "$job"
	assert_failure 5
	assert_output '[5,"before\nafter\n","err\n"]'
	run_w --json info live
	json '.state == "active"'
	run_w run live 'echo still here'
	assert_output 'still here'
}

@test "restart: a container whose snapshot.json fails a check is torn down, and the log says which check" {
	own_daemon_prepare
	own_daemon_start
	run_w create --handle nouid
	assert_success
	run_w create --handle nostate
	assert_success
	local a b
	a=$(id_of nouid) b=$(id_of nostate)
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" || true
	jq -c '.uid = "x"' "$WTMP/depot/$a/snapshot.json" >"$WTMP/s" && mv "$WTMP/s" "$WTMP/depot/$a/snapshot.json"
	jq -c 'del(.state)' "$WTMP/depot/$b/snapshot.json" >"$WTMP/s" && mv "$WTMP/s" "$WTMP/depot/$b/snapshot.json"
	own_daemon_start
	run_w list
	assert_output ''
	run_cmd grep -F "container $a: not adopted (snapshot.json: \`uid\` is not an integer); tearing it down" "$WTMP/wardend.log"
	assert_success
	run_cmd grep -F "container $b: not adopted (snapshot.json: no \`state\`); tearing it down" "$WTMP/wardend.log"
	assert_success
	assert_gone "$a"
	assert_gone "$b"
}
