#!/usr/bin/env bats
# Each test exports its own hook environment (hk_env); single-quoted scripts expand later.
# shellcheck disable=SC2030,SC2031,SC2154,SC2016
# The lifecycle hooks, run directly (no wardend, no wshd): real cgroups, iptables,
# veths and mounts under instance "th"; cgroup v2 writes checked against a directory.

load hooks-lib
bats_require_minimum_version 1.5.0

setup_file() {
	[[ $(id -u) == 0 ]] || skip "needs root"
	export HK_ROOTFS=$BATS_FILE_TMPDIR/rootfs
	"$HK_SRC/scripts/mkrootfs-busybox" "$HK_ROOTFS" >/dev/null
}

setup() {
	[[ $(id -u) == 0 ]] || skip "needs root"
	TMP=$BATS_TEST_TMPDIR
	export HK_PIDS_FILE=$TMP/pids
	: >"$HK_PIDS_FILE"
	hk_env "$TMP"
	read -r HK_IP_FORWARD </proc/sys/net/ipv4/ip_forward
}

teardown() {
	hk_cleanup "$TMP"
	echo "$HK_IP_FORWARD" >/proc/sys/net/ipv4/ip_forward
	rm -rf --one-file-system "$TMP/depot"
}

requires_cgroup1() {
	[[ -d /sys/fs/cgroup/memory && ! -e /sys/fs/cgroup/cgroup.controllers ]] ||
		skip "needs cgroup v1 controllers under /sys/fs/cgroup"
}

# A plain directory standing in for a cgroup v2 root.
fake_v2() {
	export cgroup_version=2 cgroup_root=$TMP/cg
	mkdir -p "$cgroup_root"
	echo "${1:-cpuset cpu io memory hugetlb pids rdma misc}" >"$cgroup_root/cgroup.controllers"
	: >"$cgroup_root/cgroup.subtree_control"
}

@test "cgroup v2: cg_create enables controllers in both parents and makes the directory" {
	fake_v2
	run hk_lib 'cg_create'
	hk_show
	[ "$status" -eq 0 ]
	[ "$(<"$cgroup_root/cgroup.subtree_control")" = "+cpuset +cpu +memory +pids" ]
	[ "$(<"$cgroup_root/warden-th/cgroup.subtree_control")" = "+cpuset +cpu +memory +pids" ]
	[ -d "$cgroup_root/warden-th/$HK_ID" ]
}

@test "cgroup v2: only controllers the kernel offers are enabled" {
	fake_v2 "cpu io memory pids"
	run hk_lib 'cg_create'
	[ "$status" -eq 0 ]
	[ "$(<"$cgroup_root/cgroup.subtree_control")" = "+cpu +memory +pids" ]
}

@test "cgroup v2: memory, cpu weight, attach, pids, destroy" {
	fake_v2
	d=$cgroup_root/warden-th/$HK_ID
	run hk_lib 'cg_create; cg_set_mem 67108864'
	[ "$status" -eq 0 ]
	[ "$(<"$d/memory.max")" = 67108864 ]
	run hk_lib 'cg_set_mem 0'
	[ "$(<"$d/memory.max")" = max ]
	# runc's mapping: 2 -> 1, 1024 -> 39, 262144 -> 10000; out of range is clamped.
	for pair in 2:1 1024:39 262144:10000 1:1 999999:10000; do
		run hk_lib "cg_set_cpu ${pair%:*}"
		[ "$status" -eq 0 ]
		[ "$(<"$d/cpu.weight")" = "${pair#*:}" ]
	done
	run hk_lib 'cg_attach 12345'
	[ "$status" -eq 0 ]
	[ "$(<"$d/cgroup.procs")" = 12345 ]
	run hk_lib 'cg_pids'
	[ "$output" = 12345 ]
	run hk_lib 'cg_set_mem lots'
	[ "$status" -ne 0 ]
	[[ $output == *"memory limit must be a number"* ]]
	run hk_lib 'cg_destroy'
	[ "$status" -eq 0 ]
	[ ! -e "$d" ]
	run hk_lib 'cg_destroy'
	[ "$status" -eq 0 ]
}

@test "cgroup v2: limit.sh writes memory.max and cpu.weight, refuses unknown limits" {
	fake_v2
	hk_lib 'cg_create'
	run "$HK_HOOKS/limit.sh" mem 1048576
	[ "$status" -eq 0 ]
	run "$HK_HOOKS/limit.sh" cpu 512
	[ "$status" -eq 0 ]
	[ "$(<"$cgroup_root/warden-th/$HK_ID/memory.max")" = 1048576 ]
	[ "$(<"$cgroup_root/warden-th/$HK_ID/cpu.weight")" = 20 ]
	run "$HK_HOOKS/limit.sh" frobnicate 1
	[ "$status" -eq 2 ]
	[[ ${lines[-1]} == *usage* ]]
}

@test "cgroup v1: create, devices allow-list, attach a process, limits, kill, destroy" {
	requires_cgroup1
	run hk_lib 'cg_create'
	hk_show
	[ "$status" -eq 0 ]
	for c in cpu cpuacct memory devices pids cpuset freezer; do
		[ -d "/sys/fs/cgroup/$c/warden-th/$HK_ID" ]
	done
	run sort "/sys/fs/cgroup/devices/warden-th/$HK_ID/devices.list"
	[ "$output" = "$(printf '%s\n' 'b *:* m' 'c *:* m' 'c 136:* rwm' 'c 1:3 rwm' 'c 1:5 rwm' \
		'c 1:7 rwm' 'c 1:8 rwm' 'c 1:9 rwm' 'c 5:0 rwm' 'c 5:2 rwm' | sort)" ]
	[ "$(<"/sys/fs/cgroup/cpuset/warden-th/$HK_ID/cpuset.cpus")" = "$(</sys/fs/cgroup/cpuset/cpuset.cpus)" ]

	hk_start sleep 1000
	pid=$HK_LAST_PID
	run hk_lib "cg_attach $pid"
	[ "$status" -eq 0 ]
	grep -q ":memory:/warden-th/$HK_ID\$" "/proc/$pid/cgroup"
	grep -q ":devices:/warden-th/$HK_ID\$" "/proc/$pid/cgroup"
	run hk_lib 'cg_pids'
	[ "$output" = "$pid" ]

	# Lower, raise, then lower again: memsw must follow in the right order each time.
	for n in 67108864 134217728 33554432; do
		run hk_lib "cg_set_mem $n"
		hk_show
		[ "$status" -eq 0 ]
		[ "$(<"/sys/fs/cgroup/memory/warden-th/$HK_ID/memory.limit_in_bytes")" = "$n" ]
		if [ -e "/sys/fs/cgroup/memory/warden-th/$HK_ID/memory.memsw.limit_in_bytes" ]; then
			[ "$(<"/sys/fs/cgroup/memory/warden-th/$HK_ID/memory.memsw.limit_in_bytes")" = "$n" ]
		fi
	done
	run hk_lib 'cg_set_cpu 512'
	[ "$(<"/sys/fs/cgroup/cpu/warden-th/$HK_ID/cpu.shares")" = 512 ]
	run hk_lib 'cg_stats'
	[[ $output == *"cpu_usage_ns "* ]]
	[[ $output == *"rss "* ]]

	run hk_lib 'cg_kill_all KILL; cg_wait_empty 10'
	hk_show
	[ "$status" -eq 0 ]
	run hk_lib 'cg_destroy'
	[ "$status" -eq 0 ]
	for c in cpu memory devices pids cpuset freezer; do
		[ ! -e "/sys/fs/cgroup/$c/warden-th/$HK_ID" ]
	done
}

@test "stop.sh: TERM to all but wshd, KILL after stop_timeout for those that ignore TERM" {
	requires_cgroup1
	hk_lib 'cg_create'
	mkdir -p "$container_path/run"
	hk_start sleep 1000
	wshd=$HK_LAST_PID
	hk_start sleep 1000
	plain=$HK_LAST_PID
	hk_start bash -c 'trap "" TERM; while :; do sleep 0.1; done'
	stubborn=$HK_LAST_PID
	for p in "$wshd" "$plain" "$stubborn"; do hk_lib "cg_attach $p"; done
	echo "$wshd" >"$container_path/run/wshd.pid"
	stop_timeout=1 run "$HK_HOOKS/stop.sh"
	hk_show
	[ "$status" -eq 0 ]
	run hk_lib 'cg_pids'
	[ "$output" = "$wshd" ]
	kill -0 "$wshd"
	! kill -0 "$plain" 2>/dev/null || [ "$(ps -o stat= -p "$plain")" = Z ]
	run "$HK_HOOKS/stop.sh" nonsense
	[ "$status" -eq 2 ]
}

@test "setup.sh: container dir and the upper layer, rootfs untouched" {
	before=$(cd "$rootfs_path" && find . -printf '%p %m %u %s %l\n' | sort | md5sum)
	passwd_before=$(<"$rootfs_path/etc/passwd")
	export dns_servers="10.0.0.2 10.0.0.3" allow_networks="10.0.0.0/8 192.168.1.1/32"
	export bind_mounts=$'/etc\t/mnt/hostetc\tro\n/tmp\t/mnt/tmp\trw'
	run "$HK_HOOKS/setup.sh"
	hk_show
	[ "$status" -eq 0 ]
	for d in bin etc jobs log mnt run tmp overlay/upper overlay/work; do
		[ -d "$container_path/$d" ]
	done
	u=$container_path/overlay/upper
	[ "$(<"$u/etc/hostname")" = "$HK_ID" ]
	[ "$(<"$u/etc/hosts")" = "$(printf '127.0.0.1 localhost\n10.199.0.2 %s' "$HK_ID")" ]
	[ "$(<"$u/etc/resolv.conf")" = "$(printf 'nameserver 10.0.0.2\nnameserver 10.0.0.3')" ]
	[ "$(<"$u/etc/passwd")" = "$passwd_before"$'\nvcap:x:10001:10001::/home/vcap:/bin/sh' ]
	[ "$(<"$u/etc/group")" = "$(<"$rootfs_path/etc/group")"$'\nvcap:x:10001:' ]
	[ "$(stat -c '%u:%g %a' "$u/home/vcap")" = "10001:10001 755" ]
	[ "$(<"$container_path/etc/bind_mounts")" = "$bind_mounts" ]
	# etc/config restores the environment exactly.
	run env -i bash -c 'set -a; . "$1"; printf "%s|" "$id" "$allow_networks" "$bind_mounts" "$mtu" "$container_path"' \
		_ "$container_path/etc/config"
	[ "$output" = "$HK_ID|$allow_networks|$bind_mounts|1400|$container_path|" ]
	[ "$(cd "$rootfs_path" && find . -printf '%p %m %u %s %l\n' | sort | md5sum)" = "$before" ]
}

@test "setup.sh: loopback nameservers become the host side of the veth; a stale dir is replaced" {
	printf 'search example.org\nnameserver 127.0.0.53\nnameserver 127.0.0.1\noptions edns0\n' >"$TMP/resolv"
	export host_resolv_conf=$TMP/resolv
	mkdir -p "$container_path/stale"
	run "$HK_HOOKS/setup.sh"
	hk_show
	[ "$status" -eq 0 ]
	[ "$(<"$container_path/overlay/upper/etc/resolv.conf")" = \
		"$(printf 'search example.org\nnameserver 10.199.0.1\noptions edns0')" ]
	[ ! -e "$container_path/stale" ]
	# A vcap already in the rootfs is replaced, not doubled.
	export rootfs_path=$TMP/rootfs2
	mkdir -p "$rootfs_path/etc"
	printf 'root:x:0:0::/root:/bin/sh\nvcap:x:1000:1000::/home/vcap:/bin/sh\n' >"$rootfs_path/etc/passwd"
	run "$HK_HOOKS/setup.sh"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^vcap:' "$container_path/overlay/upper/etc/passwd")" = 1 ]
	grep -qx 'vcap:x:10001:10001::/home/vcap:/bin/sh' "$container_path/overlay/upper/etc/passwd"
}

@test "setup.sh: a bad bind mount line fails with a clear last line" {
	export bind_mounts=$'/etc\t/x\tmaybe'
	run "$HK_HOOKS/setup.sh"
	[ "$status" -eq 1 ]
	[[ ${lines[-1]} == "setup.sh: bad bind mount line"* ]]
}

@test "host-setup.sh: idempotent, exactly one jump each, the instance chains" {
	fake_v2
	run "$HK_HOOKS/host-setup.sh"
	hk_show
	[ "$status" -eq 0 ]
	run "$HK_HOOKS/host-setup.sh"
	hk_show
	[ "$status" -eq 0 ]
	[ "$(</proc/sys/net/ipv4/ip_forward)" = 1 ]
	[ "$(hk_count_rule filter '-A FORWARD -j warden-th-forward')" = 1 ]
	[ "$(hk_count_rule filter '-A INPUT -i th-+ -j warden-th-input')" = 1 ]
	[ "$(hk_count_rule nat '-A POSTROUTING -j warden-th-postrouting')" = 1 ]
	run hk_chain_rules warden-th-input
	[ "$output" = "$(printf '%s\n' '-N warden-th-input' \
		'-A warden-th-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT' \
		'-A warden-th-input -p udp -m udp --dport 53 -j ACCEPT' \
		'-A warden-th-input -p tcp -m tcp --dport 53 -j ACCEPT' \
		'-A warden-th-input -j REJECT --reject-with icmp-host-prohibited')" ]
	run hk_chain_rules warden-th-postrouting nat
	[ "$output" = "$(printf '%s\n' '-N warden-th-postrouting' \
		'-A warden-th-postrouting -s 10.199.0.0/22 ! -d 10.199.0.0/22 -j MASQUERADE')" ]
	[ -d "$cgroup_root/warden-th" ]
	# allow_host_access drops the final REJECT; a container's jump survives a re-run.
	iptables -w -A warden-th-forward -i th-x-0 -j ACCEPT
	allow_host_access=true run "$HK_HOOKS/host-setup.sh"
	[ "$status" -eq 0 ]
	[ "$(hk_chain_rules warden-th-input | grep -c REJECT)" = 0 ]
	[ "$(hk_chain_rules warden-th-forward | grep -c -- '-i th-x-0')" = 1 ]
}

@test "host-teardown.sh: refuses while a container's jump is left, then removes every trace" {
	fake_v2
	"$HK_HOOKS/host-setup.sh"
	iptables -w -A warden-th-forward -i th-x-0 -j ACCEPT
	run "$HK_HOOKS/host-teardown.sh"
	hk_show
	[ "$status" -eq 1 ]
	[[ ${lines[-1]} == *"instance th still has containers"* ]]
	iptables -w -D warden-th-forward -i th-x-0 -j ACCEPT
	run "$HK_HOOKS/host-teardown.sh"
	hk_show
	[ "$status" -eq 0 ]
	[ "$(iptables-save -t filter | grep -c 'warden-th-')" = 0 ]
	[ "$(iptables-save -t nat | grep -c 'warden-th-')" = 0 ]
	[ ! -d "$cgroup_root/warden-th" ]
	# Nothing left to remove is not an error.
	run "$HK_HOOKS/host-teardown.sh"
	[ "$status" -eq 0 ]
}

@test "net.sh: setup makes the container chain and one jump; teardown leaves nothing" {
	fake_v2
	"$HK_HOOKS/host-setup.sh"
	export allow_networks="10.0.0.0/8 192.168.1.1/32" deny_networks="10.0.0.5/32"
	run "$HK_HOOKS/net.sh" setup
	hk_show
	[ "$status" -eq 0 ]
	run "$HK_HOOKS/net.sh" setup
	[ "$status" -eq 0 ]
	run hk_chain_rules "warden-th-$HK_ID"
	[ "$output" = "$(printf '%s\n' "-N warden-th-$HK_ID" \
		"-A warden-th-$HK_ID -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" \
		"-A warden-th-$HK_ID -d 10.0.0.0/8 -j ACCEPT" \
		"-A warden-th-$HK_ID -d 192.168.1.1/32 -j ACCEPT" \
		"-A warden-th-$HK_ID -d 10.0.0.5/32 -j DROP" \
		"-A warden-th-$HK_ID -j DROP")" ]
	run hk_chain_rules warden-th-forward
	[ "$output" = "$(printf '%s\n' '-N warden-th-forward' \
		"-A warden-th-forward -i th-$HK_ID-0 -j warden-th-$HK_ID")" ]
	run "$HK_HOOKS/net.sh" teardown
	hk_show
	[ "$status" -eq 0 ]
	run hk_chain_rules "warden-th-$HK_ID"
	[ "$status" -ne 0 ]
	[ "$(hk_chain_rules warden-th-forward)" = "-N warden-th-forward" ]
	run "$HK_HOOKS/net.sh" teardown
	[ "$status" -eq 0 ]
	run "$HK_HOOKS/net.sh" sideways
	[ "$status" -eq 2 ]
}

@test "every hook answers --help with its header comment, needing no environment" {
	local f first
	for f in "$HK_HOOKS"/*.sh; do
		run env -i PATH="$PATH" "$f" --help
		[ "$status" -eq 0 ] || { echo "$f --help: status $status: $output"; return 1; }
		# The first line of the help is the second line of the file, without "# ".
		first=$(sed -n '2,/^[^#]/{/^# shellcheck/d;/^#/{s/^# //p;q}}' "$f")
		[[ -n $first && ${lines[0]} == "$first" ]] ||
			{ echo "$f --help: first line '${lines[0]}', want '$first'"; return 1; }
		[[ $output != *"is not set"* ]] || { echo "$f --help wanted its environment"; return 1; }
	done
}

@test "destroy.sh: a container that does not exist" {
	run "$HK_HOOKS/destroy.sh"
	hk_show
	[ "$status" -eq 0 ]
	[ ! -e "$container_path" ]
}

@test "destroy.sh: a half-built container (dir, cgroups with a process, veth, chain, a mount)" {
	requires_cgroup1
	export cgroup_root=/sys/fs/cgroup
	"$HK_HOOKS/setup.sh"
	"$HK_HOOKS/host-setup.sh"
	run "$HK_HOOKS/parent-before-clone.sh"
	hk_show
	[ "$status" -eq 0 ]
	# Stands in for the container's init (it stays in the host's network namespace,
	# so both ends of the pair are visible here).
	hk_start sleep 1000
	PID=$HK_LAST_PID run "$HK_HOOKS/parent-after-clone.sh"
	hk_show
	[ "$status" -eq 0 ]
	[ -e "/sys/class/net/th-$HK_ID-0" ]
	[ -e "/sys/class/net/th-$HK_ID-1" ]
	[ "$(<"/sys/class/net/th-$HK_ID-0/mtu")" = 1400 ]
	ip -o addr show dev "th-$HK_ID-0" | grep -q 'inet 10.199.0.1/30'
	grep -qx "$HK_LAST_PID" "/sys/fs/cgroup/memory/warden-th/$HK_ID/cgroup.procs"
	"$HK_HOOKS/net.sh" setup
	mount -t tmpfs tmpfs "$container_path/mnt"
	run "$HK_HOOKS/destroy.sh"
	hk_show
	[ "$status" -eq 0 ]
	[ ! -e "$container_path" ]
	[ ! -e "/sys/class/net/th-$HK_ID-0" ]
	[ ! -e "/sys/fs/cgroup/memory/warden-th/$HK_ID" ]
	! kill -0 "$HK_LAST_PID" 2>/dev/null || [ "$(ps -o stat= -p "$HK_LAST_PID")" = Z ]
	run ! hk_chain_rules "warden-th-$HK_ID"
	run ! grep -q " $container_path" /proc/self/mounts
	run "$HK_HOOKS/destroy.sh"
	[ "$status" -eq 0 ]
}

@test "child-before-pivot.sh: overlay, /proc, /dev, bind mounts, hostname and network in new namespaces" {
	requires_cgroup1
	export bind_mounts=$'/etc\t/mnt/hostetc\tro'
	"$HK_HOOKS/setup.sh"
	"$HK_HOOKS/parent-before-clone.sh"
	mkfifo "$TMP/go"
	# Stands in for wshd's child: new namespaces, waits until its veth end is moved in.
	hk_start unshare -m -u -i -n -p -f bash -c '
		read -r _ <"$1/go"
		"$2/child-before-pivot.sh" >"$1/hook.out" 2>&1 || { echo "hook failed" >>"$1/hook.out"; exit 1; }
		m=$container_path/mnt
		{
			chroot "$m" /bin/sh -c "hostname; cat /etc/hostname; ls /dev | tr \"\n\" \" \"; echo; cat /proc/1/cmdline >/dev/null && echo proc ok; echo x 2>/dev/null >/mnt/hostetc/x || echo ro ok; echo hi >/dev/null && echo null ok"
			ip -o -4 addr show dev "$network_container_iface" | awk "{print \$4}"
			ip route show default
		} >"$1/result" 2>&1
		echo done >>"$1/result"' _ "$TMP" "$HK_HOOKS"
	pid=$HK_LAST_PID
	# unshare -f: the namespaced child is its only child.
	for ((i = 0; i < 100; i++)); do
		child=
		read -r child _ <"/proc/$pid/task/$pid/children" || :
		[ -n "$child" ] && break
		sleep 0.05
	done
	[ -n "$child" ]
	PID=$child run "$HK_HOOKS/parent-after-clone.sh"
	hk_show
	[ "$status" -eq 0 ]
	echo go >"$TMP/go"
	wait "$pid" || { cat "$TMP/hook.out" >&2; false; }
	cat "$TMP/result" >&2
	run cat "$TMP/result"
	[ "${lines[0]}" = "$HK_ID" ]
	[ "${lines[1]}" = "$HK_ID" ]
	[ "${lines[2]}" = "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero " ]
	[ "${lines[3]}" = "proc ok" ]
	[ "${lines[4]}" = "ro ok" ]
	[ "${lines[5]}" = "null ok" ]
	[ "${lines[6]}" = "10.199.0.2/30" ]
	[[ ${lines[7]} == "default via 10.199.0.1 dev th-$HK_ID-1"* ]]
	[ "${lines[8]}" = "done" ]
	# Nothing leaked into the host's mount namespace.
	run ! grep -q " $container_path/mnt" /proc/self/mounts
	[ ! -e "$rootfs_path/mnt/hostetc" ]
}

@test "mkrootfs-busybox: a tree where chroot runs /bin/sh; refuses a foreign non-empty dir" {
	run chroot "$HK_ROOTFS" /bin/sh -c 'echo ok'
	[ "$output" = ok ]
	mkdir -p "$TMP/foreign"
	touch "$TMP/foreign/precious"
	run "$HK_SRC/scripts/mkrootfs-busybox" "$TMP/foreign"
	[ "$status" -eq 1 ]
	[[ ${lines[-1]} == *"refusing"* ]]
	[ -e "$TMP/foreign/precious" ]
	run "$HK_SRC/scripts/mkrootfs-busybox" "$HK_ROOTFS"
	[ "$status" -eq 0 ]
	run "$HK_SRC/scripts/mkrootfs-busybox" --help
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == usage:* ]]
}
