#!/usr/bin/env bats
# server.warm_pool: containers made ahead with default options and handed out by create
# when CONFIG holds only handle, grace_time and properties. A pooled container must be
# indistinguishable from a cold one once handed out (isolation, jobs, info, destroy,
# restart); before that it is in no list and no info. The pool refills, never hands
# out one container twice, is drained on SIGTERM and re-adopted after kill -9.

# jq programs are single-quoted on purpose.
# shellcheck disable=SC2016
# WARDEND_BIN comes from helpers.bash (SC2153).
# shellcheck disable=SC2153

load helpers

POOL=10.253.35
FILE_CONF="{\"server\":{\"warm_pool\":2},
	\"network\":{\"pool_start_address\":\"$POOL.0\",\"pool_size\":16,\"release_delay_ms\":0},
	\"user\":{\"pool_start_uid\":61350,\"pool_size\":16}}"
OWN_CONF_NET="\"network\":{\"pool_start_address\":\"$POOL.128\",\"pool_size\":8,\"release_delay_ms\":0},
	\"user\":{\"pool_start_uid\":61380,\"pool_size\":8}"

setup_file() {
	export WINSTANCE=${WPREFIX}35
	[[ $(id -u) == 0 && -x $WARDEN_TEST_ROOTFS/bin/sh ]] || return 0
	wardend_start "$FILE_CONF"
}

teardown_file() {
	wardend_stop
}

setup() {
	requires root rootfs wardend
}

teardown() {
	local h rc=0
	if [[ -n ${FILE_WTMP:-} ]]; then
		wardend_stop || rc=$?
		export WINSTANCE=${WPREFIX}35 WTMP=$FILE_WTMP WSOCK=$FILE_WSOCK WARDEND_PID=$FILE_PID
		FILE_WTMP=
		return "$rc"
	fi
	for h in $(w list 2>/dev/null); do w destroy "$h" >/dev/null 2>&1 || true; done
}

# own_daemon [SERVER_KEYS]: this test's own daemon (instance ${WPREFIX}3w, own pools),
# stopped by teardown; SERVER_KEYS is a fragment of the server section.
own_daemon_prepare() {
	FILE_WTMP=$WTMP FILE_WSOCK=$WSOCK FILE_PID=$WARDEND_PID
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WINSTANCE=${WPREFIX}3w WTMP WSOCK=$WTMP/w.sock
	unset WARDEND_PID
}
own_daemon_start() {
	wardend_start "{\"server\":{${1:-}},$OWN_CONF_NET}"
}

json() { jq -e "$@" <<<"$output"; }

# pooled_ids: the ids whose snapshot marks them pooled, sorted.
pooled_ids() {
	local s
	for s in "$WTMP"/depot/*/snapshot.json; do
		[[ -f $s ]] && jq -e '.pooled == true' "$s" >/dev/null && basename "$(dirname "$s")"
	done | sort
	return 0
}
pool_count() { pooled_ids | grep -c . || true; }
# wait_pool N: the pool holds N ready containers (bounded).
wait_pool() {
	wait_for 60 eval "[[ \$(pool_count) == $1 ]]" ||
		{ echo "pool has $(pool_count) ready, not $1: $(pooled_ids | tr '\n' ' ')" >&2; wardend_log; return 1; }
}
id_of() { w --json info "$1" | jq -r .id; }

# assert_gone ID: nothing of container ID is left (depot, veth, chains, cgroups,
# mounts, wshd).
assert_gone() {
	local id=$1 left
	# A pooled container's teardown runs in the background: bounded wait.
	wait_for 20 eval "[[ ! -e $WTMP/depot/$id ]]" || { echo "depot entry $id left" >&2; return 1; }
	wait_for 20 eval "! ip -o link show | grep -q ': $WINSTANCE-$id-'" ||
		{ echo "veth of $id left" >&2; return 1; }
	if iptables -w -S 2>/dev/null | grep -q -- "warden-$WINSTANCE-$id"; then
		echo "chains of $id left" >&2
		return 1
	fi
	refute_cgroups "warden-$WINSTANCE/$id" || return 1
	! grep -q -- "$WTMP/depot/$id" /proc/self/mounts || { echo "mounts of $id left" >&2; return 1; }
	left=$(pgrep -af "^wshd: $id" | while read -r pid rest; do
		grep -qs "warden-$WINSTANCE/$id" "/proc/$pid/cgroup" && echo "$pid $rest"
	done || true)
	[[ -z $left ]] || { echo "wshd of $id left: $left" >&2; return 1; }
}

@test "the pool fills to server.warm_pool; pooled containers are in no list and no info" {
	wait_pool 2
	local id
	run_w list
	assert_success
	assert_output ''
	for id in $(pooled_ids); do
		run_w info "$id"
		assert_failure
		assert_output "warden: unknown handle"
		# Made for real: its wshd runs, its veth and cgroup exist.
		[[ -S $WTMP/depot/$id/run/wshd.sock ]] || _explain "no wshd socket for $id"
		kill -0 "$(cat "$WTMP/depot/$id/run/wshd.pid")" || _explain "wshd of $id is not running"
		ip -o link show "$WINSTANCE-$id-0" >/dev/null || _explain "no veth for $id"
		jq -e '.grace_time == null and .state == "active"' "$WTMP/depot/$id/snapshot.json" >/dev/null
	done
}

@test "create without CONFIG hands out a pooled container (handle = id) and the pool refills" {
	wait_pool 2
	local before h
	before=$(pooled_ids)
	run_w create
	assert_success
	h=$output
	grep -qx "$h" <<<"$before" || _explain "$h was not one of the pool's: $before"
	run_w list
	assert_output "$h"
	run_w --json info "$h"
	json --arg h "$h" '.state == "active" and .handle == $h and .id == $h'
	jq -e 'has("pooled") | not' "$WTMP/depot/$h/snapshot.json" >/dev/null
	wait_pool 2
	! pooled_ids | grep -qx "$h" || _explain "$h is still marked pooled"
	run_w destroy "$h"
	assert_success
	assert_gone "$h"
}

@test "handle, grace_time and properties are served from the pool and show in info and etc/config" {
	wait_pool 2
	local before id
	before=$(pooled_ids)
	run_w create --handle "it's-warm" --grace-time 120 --property a=1 --property b=two
	assert_success
	assert_output "it's-warm"
	run_w --json info "it's-warm"
	json '.handle == "it'\''s-warm" and .grace_time == 120 and .properties == {"a":"1","b":"two"}'
	id=$(jq -r .id <<<"$output")
	grep -qx "$id" <<<"$before" || _explain "$id was not one of the pool's: $before"
	run_w --json list --property b=two
	json '. == ["it'\''s-warm"]'
	# etc/config gives the handle handed out (hooks run by hand source it).
	run_cmd bash -c 'set -a; . "$1"; printf %s "$handle"' _ "$WTMP/depot/$id/etc/config"
	assert_output "it's-warm"
	jq -e '.handle == "it'\''s-warm" and (has("pooled") | not)' "$WTMP/depot/$id/snapshot.json" >/dev/null
	# The handle is now taken, as for a cold create.
	run_w create --handle "it's-warm"
	assert_failure
	assert_output "warden: container with handle: it's-warm already exists."
}

@test "bad CONFIG gets the same error with the pool as without" {
	wait_pool 2
	run wire send '["create",{"grace_time":"abc"}]\n'
	assert_output_contains 'Cannot parse grace time from \"abc\".'
	run wire send '["create",{"handle":""}]\n'
	assert_output_contains 'Expected `handle` to hold a non-empty string of at most 255 bytes.'
	run wire send '["create",{"properties":{"a":1}}]\n'
	assert_output_contains 'Expected `properties` to hold an object of strings.'
	run wire send '["create",{"nope":1}]\n'
	assert_output_contains 'Unknown create option `nope`.'
	wait_pool 2
	run_w list
	assert_output ''
}

@test "create with any other option takes the cold path and leaves the pool alone" {
	wait_pool 2
	local before cfg h
	before=$(pooled_ids)
	for cfg in "{\"network\":\"$POOL.60\"}" "{\"rootfs\":\"$WARDEN_TEST_ROOTFS\"}" \
		"{\"bind_mounts\":[]}" '{"limits":{}}' '{"disk_size_mb":0}' \
		'{"handle":"cold","bind_mounts":[]}' '{"hostname":"h"}' '{"tmpfs_mounts":[]}' \
		'{"read_only_root":false}' '{"sysctls":{}}'; do
		run wire send "[\"create\",$cfg]\\n"
		assert_success
		[[ $(jq -r .type <<<"$output") == object ]] || _explain "create $cfg failed"
		h=$(jq -r .payload <<<"$output")
		! grep -qx "$(id_of "$h")" <<<"$before" || _explain "create $cfg got a pooled container"
		[[ $(pooled_ids) == "$before" ]] || _explain "create $cfg changed the pool"
		w destroy "$h" >/dev/null
	done
	run_cmd grep -c "created from the warm pool" "$WTMP/wardend.log"
	local served=$output
	run_w create --handle counted
	[[ $(grep -c "created from the warm pool" "$WTMP/wardend.log") == $((served + 1)) ]] ||
		_explain "a create without options was not served from the pool"
}

@test "the pool never hands out a container twice, in a row or to concurrent creates" {
	wait_pool 2
	local i pids=() out=$WTMP/conc
	mkdir -p "$out"
	for i in 1 2 3 4; do
		w create >"$out/seq$i"
	done
	for i in 1 2 3 4 5 6; do
		w create >"$out/conc$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	run_cmd bash -c 'cat "$1"/* | sort | uniq -d' _ "$out"
	assert_output ''
	run_cmd bash -c 'cat "$1"/* | grep -c .' _ "$out"
	assert_output 10
	run_w --json list
	json 'length == 10' || _explain "not 10 listed"
	while read -r i; do
		! pooled_ids | grep -qx "$i" || _explain "$i is listed and still pooled"
		run_w run "$i" 'hostname'
		assert_output "$i"
	done < <(cat "$out"/*)
	wait_pool 2
}

@test "a pooled container behaves as a cold one: info, isolation, jobs" {
	wait_pool 2
	w create --handle warm >/dev/null
	w create --handle cold --network "$POOL.40" >/dev/null
	run_w --json info warm
	local wi=$output
	run_w --json info cold
	local ci=$output
	# Equal but for the names; objects of counters (stats, memory_stat, ...) by their keys.
	# Each one's hostname is its own id (create_options: none was given).
	[[ $(jq -r '.create_options.hostname == .id' <<<"$wi$ci" | sort -u) == true ]] ||
		_explain "a hostname is not its container's id"
	local norm='del(.handle,.id,.host_ip,.container_ip,.container_path,.create_options.hostname) | with_entries(
		if (.value | type) == "object" and (.value | length) > 0 and
			([.value[] | type] | all(. == "number")) then .value |= keys else . end)'
	[[ $(jq -cS "$norm" <<<"$wi") == "$(jq -cS "$norm" <<<"$ci")" ]] ||
		_explain "info differs beyond the names: $(diff <(jq -S "$norm" <<<"$wi") <(jq -S "$norm" <<<"$ci"))"
	local id ip ns host
	id=$(jq -r .id <<<"$wi") ip=$(jq -r .container_ip <<<"$wi")
	# Namespaces: none is the host's, none is the other container's.
	for ns in pid net mnt uts ipc; do
		host=$(readlink "/proc/self/ns/$ns")
		run_w run warm "readlink /proc/self/ns/$ns" --privileged
		local wn=$output
		run_w run cold "readlink /proc/self/ns/$ns" --privileged
		[[ $wn == "$ns:["*"]" && $wn != "$host" && $wn != "$output" ]] || _explain "$ns namespace shared"
	done
	run_w run warm 'hostname; id -u; ip -o -4 addr show | grep -v " lo "'
	assert_success
	[[ ${lines[0]} == "$id" ]] || _explain "hostname is not the id"
	[[ ${lines[1]} == "$(jq -r .uid "$WTMP/depot/$id/snapshot.json")" ]] || _explain "uid is not the pool uid"
	assert_output_contains "inet $ip/30"
	run_w run warm 'ps -o args | grep -c "^wshd: "'
	assert_output 1
	# The host reaches it; files of one are invisible to the other.
	local ping=(ping)
	command -v ping >/dev/null || ping=(busybox ping)
	run_cmd "${ping[@]}" -c 1 -W 5 "$ip"
	assert_success
	# Rules: default deny between containers holds both ways, and `net out` opens
	# icmp for the pooled one as for the cold one.
	local cip
	cip=$(jq -r .container_ip <<<"$ci")
	run_w run warm "ping -c 1 -W 2 $cip" --privileged
	assert_failure
	run_w run cold "ping -c 1 -W 2 $ip" --privileged
	assert_failure
	run_w net warm out "$cip" --protocol icmp
	assert_success
	run_w run warm "ping -c 1 -W 2 $cip" --privileged
	assert_success
	run_w net cold out "$ip" --protocol icmp
	assert_success
	run_w run cold "ping -c 1 -W 2 $ip" --privileged
	assert_success
	run_w run warm 'echo secret > /tmp/mine'
	run_w run cold 'cat /tmp/mine'
	assert_failure
	# Limits: set and read back the same way, and the info of both still matches.
	local c
	for c in warm cold; do
		run_w limit "$c" mem 32M
		assert_success
		run wire send "[\"limit\",\"$c\",\"mem\"]\\n"
		assert_output '{"payload":33554432,"type":"object"}'
	done
	[[ $(w --json info warm | jq -cS "$norm") == "$(w --json info cold | jq -cS "$norm")" ]] ||
		_explain "info differs after limit mem"
	# Jobs: spawn, link, exit status, stdout and stderr, stream.
	run_w spawn warm 'echo out; echo err >&2; exit 3'
	assert_success
	local job=$output
	run_w --json link warm "$job"
	assert_failure 3
	assert_output '[3,"out\n","err\n"]'
	run_w run warm 'exit 7'
	assert_failure 7
	run_w destroy warm
	assert_success
	assert_gone "$id"
}

@test "a pooled container whose wshd died while waiting is never handed out" {
	wait_pool 2
	local victim other h
	victim=$(pooled_ids | head -n 1) other=$(pooled_ids | tail -n 1)
	kill -KILL "$(cat "$WTMP/depot/$victim/run/wshd.pid")"
	wait_for 20 eval "jq -e '.state == \"stopped\"' $WTMP/depot/$victim/snapshot.json >/dev/null"
	h=$(w create)
	[[ $h == "$other" ]] || _explain "got $h, not the live $other"
	run_w run "$h" 'echo alive'
	assert_output alive
	assert_gone "$victim"
	wait_pool 2
}

@test "restart after kill -9: pooled containers go back to the pool, handed-out ones are adopted" {
	own_daemon_prepare
	own_daemon_start '"warm_pool":2'
	wait_pool 2
	local pool
	w create --handle a >/dev/null
	wait_pool 2
	pool=$(pooled_ids)
	run_w spawn a 'echo kept'
	local job=$output
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" || true
	own_daemon_start '"warm_pool":2'
	run_w list
	assert_output a
	run_w --json link a "$job"
	assert_output '[0,"kept\n",""]'
	[[ $(pooled_ids) == "$pool" ]] || _explain "pool was $pool, now $(pooled_ids)"
	run_cmd grep -c "warm pool container .*: adopted" "$WTMP/wardend.log"
	assert_output 2
	# They serve creates as before, and the pool refills.
	local h
	h=$(w create --handle b)
	run_w --json info b
	grep -qx "$(jq -r .id <<<"$output")" <<<"$pool" || _explain "b was not from the adopted pool"
	run_w run b 'echo from an adopted one'
	assert_output 'from an adopted one'
	wait_pool 2
	# A restart with a smaller pool tears the extra down.
	pool=$(pooled_ids)
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" || true
	own_daemon_start '"warm_pool":1'
	wait_pool 1
	local gone
	gone=$(comm -23 <(echo "$pool") <(pooled_ids))
	[[ -n $gone ]] || _explain "none was torn down"
	assert_gone "$gone"
	run_cmd bash -c 'w() { "$1" -s "$2" "$3"; }; w "$@" | sort' _ "$WARDEN_BIN" "$WSOCK" list
	assert_output "$(printf 'a\nb')"
}

@test "kill -9 in the middle of a refill: the half-made container is torn down at restart" {
	own_daemon_prepare
	# A slow start.sh, so the kill lands while a refill's hooks run.
	cp -a "$WARDEN_SRC/hooks" "$WTMP/hooks"
	sed -i '2i sleep 1' "$WTMP/hooks/start.sh"
	wardend_start "{\"server\":{\"warm_pool\":1,\"hooks_path\":\"$WTMP/hooks\"},$OWN_CONF_NET}"
	wait_for 30 eval 'compgen -G "$WTMP/depot/*/etc/config" >/dev/null'
	local half
	half=$(compgen -G "$WTMP/depot/*/etc/config" | head -n 1)
	half=${half%/etc/config} half=${half##*/}
	[[ ! -e $WTMP/depot/$half/snapshot.json ]] || _explain "the refill ended before the kill"
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" || true
	wardend_start "{\"server\":{\"warm_pool\":1,\"hooks_path\":\"$WTMP/hooks\"},$OWN_CONF_NET}"
	run_cmd grep -F "container $half: not adopted" "$WTMP/wardend.log"
	assert_success
	wait_pool 1
	local d n=0
	for d in "$WTMP"/depot/*; do
		n=$((n + 1))
		jq -e '.pooled == true' "$d/snapshot.json" >/dev/null || _explain "${d##*/} is not a pooled container"
	done
	((n == 1)) || _explain "depot holds $n containers, not the 1 pooled"
	run_w list
	assert_output ''
}

@test "stop drains the pool (also with a refill in flight); handed-out containers keep running" {
	own_daemon_prepare
	own_daemon_start '"warm_pool":3'
	wait_pool 3
	local pool aid pid=$WARDEND_PID id d
	pool=$(pooled_ids)
	w create --handle a >/dev/null
	aid=$(id_of a)
	# The refill of the one just handed out is under way or about to be.
	kill -TERM "$pid"
	wait_for 60 eval "! kill -0 $pid 2>/dev/null" || _explain "wardend did not exit after TERM"
	wait "$pid"
	[[ $(pool_count) == 0 ]] || _explain "still pooled: $(pooled_ids)"
	for d in "$WTMP"/depot/*; do
		[[ ${d##*/} == "$aid" ]] || _explain "depot still holds ${d##*/}"
	done
	for id in $pool; do
		[[ $id == "$aid" ]] || assert_gone "$id"
	done
	run_cmd grep -F "warm pool: drained" "$WTMP/wardend.log"
	assert_success
	kill -0 "$(cat "$WTMP/depot/$aid/run/wshd.pid")" || _explain "a's wshd did not survive the stop"
	# Back up without a pool: a is adopted, nothing is made.
	own_daemon_start
	run_w list
	assert_output a
	run_w destroy a
	assert_gone "$aid"
	[[ -z $(ls "$WTMP/depot") ]] || _explain "depot not empty: $(ls "$WTMP/depot")"
}

@test "server.warm_pool is validated: a negative, non-integer or too large value is refused" {
	own_daemon_prepare
	local v
	for v in -1 '"2"' 1.5 8 100; do
		wardend_config "{\"server\":{\"warm_pool\":$v},$OWN_CONF_NET}"
		run_cmd "$WARDEND_BIN" --config "$WTMP/warden.conf"
		assert_failure 111
		assert_output_contains "server.warm_pool"
	done
	wardend_config "{\"server\":{\"warm_pool\":-1},$OWN_CONF_NET}"
	run_cmd "$WARDEND_BIN" --config "$WTMP/warden.conf"
	assert_output_contains "config key server.warm_pool: -1 is out of range 0..1048576"
	wardend_config "{\"server\":{\"warm_pool\":8},$OWN_CONF_NET}"
	run_cmd "$WARDEND_BIN" --config "$WTMP/warden.conf"
	assert_output_contains "config key server.warm_pool: 8 leaves no room for a cold create (network.pool_size 8, user.pool_size 8; it must be smaller than both)"
}
