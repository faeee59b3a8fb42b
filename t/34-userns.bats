#!/usr/bin/env bats
# server.user_namespaces: root in the container is an unprivileged uid on the host. One
# container for the file, with a read-write bind mount of a host directory; the checks
# look from both sides. Then t/32-escape.bats again with the option on, and the start-up
# refusals of bad subordinate ranges.

# Scripts for the container are single-quoted on purpose.
# shellcheck disable=SC2016

load helpers

POOL=10.253.35
UID0=61500
SUB0=1200000000          # user.subordinate_start_uid
ROOT=$((SUB0 + 65536))  # container 1 of the uid pool (uid UID0 + 1)
ID=0afd2300              # the container on $POOL.0

setup_file() {
	export WINSTANCE=${WPREFIX}34
	[[ $(id -u) == 0 && -x $WARDEN_TEST_ROOTFS/bin/sh ]] || return 0
	# The container's root must be able to walk to its directory: not 0700.
	WTMP=$(mktemp -d /tmp/wt.XXXXXX) && chmod 0755 "$WTMP" && export WTMP
	mkdir -m 0777 "$WTMP/shared"
	mkdir -m 0755 "$WTMP/hostonly"
	echo host >"$WTMP/hostonly/file"
	mkdir -m 0777 "$WTMP/ro"
	wardend_start "$(conf)"
	# A first container takes uid index 0, so the one under test is index 1: the range
	# really is derived from the index.
	w create --handle first --network "$POOL.4" >/dev/null
	w create --handle u --network "$POOL.0" \
		--bind-mount "$WTMP/shared:/shared:rw" --bind-mount "$WTMP/hostonly:/hostonly:rw" \
		--bind-mount "$WTMP/ro:/ro:ro" >/dev/null
}

conf() {
	echo "{\"server\":{\"user_namespaces\":true},
		\"network\":{\"pool_start_address\":\"$POOL.0\",\"pool_size\":4},
		\"user\":{\"pool_start_uid\":$UID0,\"pool_size\":4,
			\"subordinate_start_uid\":$SUB0,\"subordinate_size\":$((4 * 65536))}}"
}

teardown_file() {
	# The restart test started a new wardend: wardend_stop finds that one's pid in
	# $WTMP/wardend.pid when it is not given one.
	unset WARDEND_PID
	wardend_stop
}

setup() {
	requires root rootfs wardend
	CT=$WTMP/depot/$ID
}

prun() { run_w run u "$1" --privileged; }

# host_uid PID: the real uid of host process PID.
host_uid() { awk '/^Uid:/ { print $2 }' "/proc/$1/status"; }

@test "the container's uid_map and gid_map: 0..65535 at its own range of the pool" {
	prun 'cat /proc/self/uid_map /proc/self/gid_map'
	assert_success
	[[ $(tr -s ' ' <<<"$output") == " 0 $ROOT 65536"$'\n'" 0 $ROOT 65536" ]] ||
		_explain "not mapped at $ROOT"
	run_w run first --privileged 'cat /proc/self/uid_map'
	assert_success
	[[ $(tr -s ' ' <<<"$output") == " 0 $SUB0 65536" ]] || _explain "first not at $SUB0"
}

@test "a privileged job is uid 0 inside and the mapped uid on the host" {
	prun 'id -u; id -g'
	assert_success
	assert_output $'0\n0'
	run_w spawn u 'exec sleep 3434' --privileged
	assert_success
	local pid
	wait_for 10 pgrep -f '^sleep 3434$'
	pid=$(pgrep -f '^sleep 3434$')
	assert_equal "$(host_uid "$pid")" "$ROOT" "host uid of the privileged job"
	kill "$pid"
	# wshd too: pid 1 of the container is no host root.
	assert_equal "$(host_uid "$(cat "$CT/run/wshd.pid")")" "$ROOT" "host uid of wshd"
}

@test "the user's job is UID0+1 inside, mapped uid + UID0+1 on the host" {
	run_w spawn u 'exec sleep 3535'
	assert_success
	local pid
	wait_for 10 pgrep -f '^sleep 3535$'
	pid=$(pgrep -f '^sleep 3535$')
	assert_equal "$(host_uid "$pid")" "$((ROOT + UID0 + 1))" "host uid of the user's job"
	kill "$pid"
}

@test "files made in a bind mount belong to the mapped host uids" {
	prun 'echo r >/shared/by-root && mkdir /shared/dir-root'
	assert_success
	run_w run u 'echo u >/shared/by-user'
	assert_success
	assert_equal "$(stat -c %u:%g "$WTMP/shared/by-root")" "$ROOT:$ROOT"
	assert_equal "$(stat -c %u:%g "$WTMP/shared/dir-root")" "$ROOT:$ROOT"
	assert_equal "$(stat -c %u "$WTMP/shared/by-user")" "$((ROOT + UID0 + 1))"
	# Inside, they are root's and vcap's.
	run_w run u 'ls -ln /shared/by-root /shared/by-user | awk "{ print \$3 }"'
	assert_output $'0\n'"$((UID0 + 1))"
}

@test "root in the container cannot write the host root's files, even bound read-write" {
	prun 'echo x >/hostonly/file'
	assert_failure
	assert_output_contains "denied"
	prun 'touch /hostonly/new'
	assert_failure
	prun 'chown 0 /hostonly/file'
	assert_failure
	assert_file "$WTMP/hostonly/file" host
	refute_exists "$WTMP/hostonly/new"
	# They are nobody's inside: uid 0 of the host is not mapped.
	prun 'stat -c %u /hostonly/file'
	assert_output 65534
}

@test "the rootfs looks root's inside, stays root's on the host; writes go to the upper layer as the mapped uid" {
	prun 'stat -c %u:%g /bin/busybox /etc; touch /bin/new-by-root; rm /bin/ls; echo ok'
	assert_success
	assert_output $'0:0\n0:0\nok'
	assert_equal "$(stat -c %u:%g "$WARDEN_TEST_ROOTFS/bin/busybox")" "0:0" "the rootfs on the host"
	assert_exists "$WARDEN_TEST_ROOTFS/bin/ls"
	refute_exists "$WARDEN_TEST_ROOTFS/bin/new-by-root"
	assert_equal "$(stat -c %u "$CT/overlay/upper/bin/new-by-root")" "$ROOT"
	# The copied-up directory keeps the shifted owner of what it came from.
	assert_equal "$(stat -c %u "$CT/overlay/upper/bin")" "$ROOT"
	prun 'ls /bin/ls'
	assert_failure
}

@test "the device nodes work; the user's home and /etc are its and root's" {
	prun 'echo x >/dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c'
	assert_success
	assert_output $'4\n4'
	run_w run u 'cd && touch f && stat -c %u . /etc/passwd /etc/hostname'
	assert_success
	assert_output "$((UID0 + 1))"$'\n0\n0'
	run_w run u 'hostname'
	assert_output "$ID"
}

@test "wshd's host side is the container root's: jobs, log, socket; etc/config stays root's" {
	assert_equal "$(stat -c %u "$CT/run/wshd.sock")" "$ROOT"
	assert_equal "$(stat -c %u "$CT/log/wshd.log")" "$ROOT"
	assert_equal "$(stat -c %u "$CT/etc/config")" 0
	run_w run u 'echo out; echo err >&2'
	assert_success
	local d
	d=$(find "$CT/jobs" -mindepth 1 -maxdepth 1 -type d | head -n 1)
	[[ -n $d ]] || _explain "no job directory"
	assert_equal "$(stat -c %u "$d")" "$ROOT"
}

@test "a read-only bind mount stays read-only to root; the network is up" {
	prun 'touch /ro/x'
	assert_failure
	assert_output_contains "Read-only file system"
	refute_exists "$WTMP/ro/x"
	# The container's end of the veth is up and addressed: the host reaches it (the
	# other way, to the host itself, the instance's input chain refuses).
	local ping=(ping)
	command -v ping >/dev/null || ping=(busybox ping)
	run_cmd "${ping[@]}" -c 1 -W 5 "$POOL.2"
	assert_success
	prun 'ip -o -4 addr show | grep -c "inet '"$POOL.2"'/30"'
	assert_output 1
}

@test "hostname, tmpfs_mounts, read_only_root and sysctls, applied by the container's root in its user namespace" {
	run_w raw "[\"create\",{\"handle\":\"opts\",\"network\":\"$POOL.8\",\"hostname\":\"userns-host\",\"read_only_root\":true,\"tmpfs_mounts\":[[\"/scratch\",{\"size\":65536,\"mode\":\"0700\"}]],\"sysctls\":{\"net.ipv4.tcp_keepalive_time\":\"4322\",\"kernel.shmmni\":\"1237\"},\"bind_mounts\":[[\"$WTMP/shared\",\"/shared\"]]}]"
	assert_success
	local rc=0
	run_w run opts --privileged 'hostname; grep -c " /scratch tmpfs rw,.*size=64k,mode=700" /proc/mounts; touch /x 2>&1; cat /proc/sys/net/ipv4/tcp_keepalive_time /proc/sys/kernel/shmmni; echo s >/shared/from-opts && echo wrote'
	w destroy opts >/dev/null || rc=$?
	rm -f "$WTMP/shared/from-opts"
	assert_success
	assert_line 0 userns-host
	assert_line 1 1
	assert_line_match 2 '*Read-only file system'
	assert_line 3 4322
	assert_line 4 1237
	assert_line 5 wrote
	assert_equal "$rc" 0 "destroy's status"
}

@test "kill -9 of wardend: the container is adopted with its mapping, its job's output kept" {
	local job pid
	run_w spawn u 'echo before; while [ ! -e /shared/go ]; do sleep 0.1; done; echo after' \
		--privileged
	assert_success
	job=$output
	wait_for 20 grep -q before "$CT/jobs/$job/stdout"
	pid=$(cat "$WTMP/wardend.pid")
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	touch "$WTMP/shared/go"
	wardend_start "$(conf)"
	run_w list
	assert_success
	assert_output_contains u
	run_w --json link u "$job"
	assert_success
	assert_output '[0,"before\nafter\n",""]'
	prun 'cat /proc/self/uid_map; id -u'
	assert_success
	[[ $(tr -s ' ' <<<"$output") == " 0 $ROOT 65536"$'\n0' ]] || _explain "mapping changed"
	# A new container after the restart still gets a range of its own.
	run_w create --handle after --network "$POOL.8"
	assert_success
	run_w run after --privileged 'cat /proc/self/uid_map'
	[[ $(tr -s ' ' <<<"$output") == " 0 $((SUB0 + 2 * 65536)) 65536" ]] || _explain "not index 2"
	run_w destroy after
	assert_success
}

@test "a user namespace inside is still refused (seccomp), and mknod too" {
	prun 'unshare -U true'
	assert_failure
	prun 'mknod /tmp/n c 1 3'
	assert_failure
	assert_output_contains "not permitted"
}

@test "t/32-escape.bats passes with user namespaces on" {
	# Its own instance (2 characters of this run's prefix + "32") and pool 10.253.34.
	run_cmd env T32_USERNS=1 WPREFIX="${WPREFIX:0:1}u" bats --tap "$WARDEN_SRC/t/32-escape.bats"
	[[ $status == 0 ]] || _explain "t/32 with user namespaces failed"
	refute_output_contains "not ok"
}

@test "wshd: --userns takes a host uid, --idmap-lower needs --userns" {
	local wshd=$WARDEN_BUILD/src/wshd/wshd
	run_cmd "$wshd" --run /nonexistent/run --hooks /nonexistent --root /nonexistent --userns abc
	assert_failure 100
	assert_output_contains "--userns: 'abc' is not a host uid"
	run_cmd "$wshd" --run /nonexistent/run --hooks /nonexistent --root /nonexistent --userns 0
	assert_failure 100
	run_cmd "$wshd" --run /nonexistent/run --hooks /nonexistent --root /nonexistent \
		--userns 4294967295
	assert_failure 100
	run_cmd "$wshd" --run /nonexistent/run --hooks /nonexistent --root /nonexistent --idmap-lower /
	assert_failure 100
	assert_output_contains "--idmap-lower needs --userns"
}

# bad_config JSON: wardend with it fails at start; its output is in $output.
bad_config() {
	local dir
	dir=$(mktemp -d /tmp/t34.XXXXXX)
	python3 -c 'import json, sys; c = json.loads(sys.argv[1]); c.setdefault("server", {}).update(
		{"instance": sys.argv[2], "unix_domain_path": sys.argv[3] + "/s", "container_depot_path":
		sys.argv[3] + "/depot", "user_namespaces": True}); print(json.dumps(c))' \
		"$1" "${WPREFIX}3y" "$dir" >"$dir/bad.conf"
	chmod 0755 "$dir"
	run_cmd timeout 20 "$WARDEND_BIN" --config "$dir/bad.conf"
	rm -rf "$dir"
	assert_failure
}

@test "a subordinate range overlapping the uid pool stops wardend at start" {
	bad_config '{"user":{"pool_start_uid":60000,"pool_size":4,"subordinate_start_uid":1,"subordinate_size":262144}}'
	assert_output_contains "user.subordinate_start_uid: 1..262144 overlaps the uid pool 60000..60003"
}

@test "a subordinate range overlapping a host user stops wardend at start" {
	local nobody
	nobody=$(id -u nobody)
	bad_config "{\"user\":{\"pool_start_uid\":60000,\"pool_size\":4,
		\"subordinate_start_uid\":$((nobody - 10)),\"subordinate_size\":262144}}"
	assert_output_contains "overlaps host user nobody"
}

@test "too small a subordinate pool, or a uid pool outside the mapped uids, is refused" {
	bad_config '{"user":{"pool_start_uid":60000,"pool_size":4,"subordinate_size":131072}}'
	assert_output_contains "user.subordinate_size: 131072 uids hold 2 containers of 65536, fewer than user.pool_size (4)"
	bad_config '{"user":{"pool_start_uid":65535,"pool_size":4}}'
	assert_output_contains "the uid pool must lie inside the container's mapped uids 0..65535"
	bad_config '{"user":{"subordinate_size":100000}}'
	assert_output_contains "user.subordinate_size: must be a multiple of 65536"
}

@test "a depot others cannot search stops wardend at start, naming the directory" {
	local dir
	dir=$(mktemp -d /tmp/t34.XXXXXX) # 0700
	printf '{"server":{"instance":"%s","unix_domain_path":"%s/s","container_depot_path":"%s/depot","user_namespaces":true}}\n' \
		"${WPREFIX}3y" "$dir" "$dir" >"$dir/bad.conf"
	run_cmd timeout 20 "$WARDEND_BIN" --config "$dir/bad.conf"
	rm -rf "$dir"
	assert_failure
	assert_output_contains "server.user_namespaces: $dir (mode 0700) must be searchable by others"
}
