#!/usr/bin/env bats
# Containers through wardend, for real: every lifecycle rule and error string of
# PROTOCOL.md (create, stop, destroy, info, list), grace times, failing hooks, many
# create/destroy cycles, and a restart of wardend after kill -9. Each check that a
# container left nothing behind looks at the kernel and the depot, not at wardend.

load helpers

# This file's daemon: its own instance and /30 pool, so it never meets another suite's.
FILE_CONF='{"server":{"stop_timeout":30},
	"network":{"pool_start_address":"10.253.30.0","pool_size":16},
	"user":{"pool_start_uid":61000,"pool_size":32}}'
# A test's own daemon (own_daemon): another instance and another pool.
OWN_POOL='"network":{"pool_start_address":"10.253.130.0","pool_size":8,"release_delay_ms":0},
	"user":{"pool_start_uid":61100,"pool_size":16}'

setup_file() {
	export WINSTANCE=t30
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
		wardend_stop
		export WINSTANCE=t30 WTMP=$FILE_WTMP WSOCK=$FILE_WSOCK WARDEND_PID=$FILE_PID
		FILE_WTMP=
	else
		# Whatever a test created on the file's daemon and did not destroy.
		local h
		for h in $(w list 2>/dev/null); do w destroy "$h" >/dev/null 2>&1 || true; done
	fi
}

# own_daemon_prepare: this test gets its own daemon (instance t3b, own temp dir and
# pool); put things in $WTMP, then own_daemon_start [EXTRA_SERVER_KEYS_JSON_FRAGMENT].
own_daemon_prepare() {
	FILE_WTMP=$WTMP FILE_WSOCK=$WSOCK FILE_PID=$WARDEND_PID
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WINSTANCE=t3b WTMP WSOCK=$WTMP/w.sock
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

# assert_gone ID [DEPOT]: no trace of container ID of this instance is left: depot entry,
# interfaces (bounded wait: a dying netns drops its veth asynchronously), chain, cgroups,
# mounts, wshd process.
assert_gone() {
	local id=$1 depot=${2:-$WTMP/depot} cg
	[[ ! -e $depot/$id ]] || { echo "depot entry $depot/$id left" >&2; ls -la "$depot/$id" >&2; return 1; }
	wait_for 20 eval "! ip -o link show | grep -q ': $WINSTANCE-$id-'" ||
		{ ip -o link show | grep "$WINSTANCE-$id-" >&2; return 1; }
	if iptables -w -S | grep -q -- "warden-$WINSTANCE-$id"; then
		iptables -w -S | grep -- "warden-$WINSTANCE-$id" >&2
		return 1
	fi
	for cg in /sys/fs/cgroup/*/"warden-$WINSTANCE/$id"; do
		[[ ! -e $cg ]] || { echo "cgroup $cg left" >&2; return 1; }
	done
	if grep -q -- "$depot/$id" /proc/self/mounts; then
		grep -- "$depot/$id" /proc/self/mounts >&2
		return 1
	fi
	if pgrep -f "^wshd: $id" >/dev/null; then
		pgrep -af "^wshd: $id" >&2
		return 1
	fi
}

# assert_instance_clean: nothing of any container of this instance is left.
assert_instance_clean() {
	local left
	left=$(ls -A "$WTMP/depot")
	[[ -z $left ]] || { echo "depot not empty: $left" >&2; return 1; }
	wait_for 20 eval "! ip -o link show | grep -q ': $WINSTANCE-'" ||
		{ ip -o link show | grep ": $WINSTANCE-" >&2; return 1; }
	left=$(iptables -w -S | grep -E -- "-N warden-$WINSTANCE-[0-9a-f]{8}" || true)
	[[ -z $left ]] || { echo "chains left: $left" >&2; return 1; }
	left=$(find /sys/fs/cgroup/*/"warden-$WINSTANCE" -mindepth 1 -type d 2>/dev/null || true)
	[[ -z $left ]] || { echo "cgroups left: $left" >&2; return 1; }
	left=$(grep -- "$WTMP/" /proc/self/mounts || true)
	[[ -z $left ]] || { echo "mounts left: $left" >&2; return 1; }
	left=$(pgrep -af "^wshd: " | while read -r pid rest; do
		grep -qs "warden-$WINSTANCE/" "/proc/$pid/cgroup" && echo "$pid $rest"
	done || true)
	[[ -z $left ]] || { echo "wshd processes left: $left" >&2; return 1; }
}

# hold_conn HANDLE: a client connection that references HANDLE (one `info`) and stays
# open until release_conn closes it. Sets HOLD_PID.
hold_conn() {
	rm -f "$WTMP/hold.in" "$WTMP/hold.out"
	mkfifo "$WTMP/hold.in"
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(("[\"info\",\"%s\"]\n" % sys.argv[2]).encode())
f = s.makefile("rb")
print(f.readline().decode().strip(), flush=True)
sys.stdin.read()  # until the test closes the fifo
s.close()
' "$WSOCK" "$1" <"$WTMP/hold.in" >"$WTMP/hold.out" 2>&1 &
	HOLD_PID=$!
	exec {HOLD_FD}>"$WTMP/hold.in"
	wait_for 20 grep -q 'object' "$WTMP/hold.out" || { cat "$WTMP/hold.out" >&2; return 1; }
}

release_conn() {
	exec {HOLD_FD}>&-
	wait "$HOLD_PID" || true
	HOLD_PID=
}

gone() { ! w info "$1" >/dev/null 2>&1 && [[ $(w info "$1" 2>&1) == "warden: unknown handle" ]]; }

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
	for kv in 'handle:1' 'handle:""' 'grace_time:"x"' 'grace_time:-1' 'disk_size_mb:"x"' \
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

# ---- stop ----

@test "stop: ok, state stopped; a second stop is a no-op; spawn and run are refused" {
	run_w create --handle st
	assert_success
	run_w spawn st 'trap "echo got-term; exit 7" TERM; while :; do sleep 0.1; done'
	assert_success
	local job=$output
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
