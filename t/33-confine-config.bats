#!/usr/bin/env bats
# The config keys of t/32's confinement: server.container_capabilities replaces the
# default bounding set (root's jobs get exactly it), server.seccomp false leaves jobs
# without the filter. One container with both changed; a bad list stops wardend at start.

# Scripts for the container are single-quoted on purpose.
# shellcheck disable=SC2016

load helpers

POOL=10.253.33
UID0=61400

setup_file() {
	export WINSTANCE=${WPREFIX}33
	[[ $(id -u) == 0 && -x $WARDEN_TEST_ROOTFS/bin/sh ]] || return 0
	wardend_start "{\"server\":{\"container_capabilities\":[\"CHOWN\",\"cap_net_admin\"],
		\"seccomp\":false},
		\"network\":{\"pool_start_address\":\"$POOL.0\",\"pool_size\":4},
		\"user\":{\"pool_start_uid\":$UID0,\"pool_size\":4}}"
	w create --handle k --network "$POOL.0" >/dev/null
}

teardown_file() {
	wardend_stop
}

setup() {
	requires root rootfs wardend
}

@test "root's jobs get exactly server.container_capabilities" {
	run_w run k "awk '/^CapBnd:/ { print \$2 }' /proc/self/status" --privileged
	assert_success
	run_cmd capsh --decode="$output"
	assert_output_contains "=cap_chown,cap_net_admin"
	[[ $output == *=cap_chown,cap_net_admin ]] || _explain "more than the two"
	# NET_ADMIN, which the default list lacks, works (on the container's own lo).
	run_w run k 'ip link set lo mtu 1400 && cat /sys/class/net/lo/mtu' --privileged
	assert_success
	assert_output 1400
	# SETUID is not in the list: root cannot become another user.
	run_w run k 'su -s /bin/sh vcap -c true' --privileged
	assert_failure
}

@test "the user's jobs still get none" {
	run_w run k "awk '/^Cap(Prm|Eff|Bnd):/ { print \$2 }' /proc/self/status"
	assert_output $'0000000000000000\n0000000000000000\n0000000000000000'
}

@test "server.seccomp false: no filter, and a user namespace can be made" {
	run_w run k 'grep "^Seccomp:" /proc/1/status /proc/self/status'
	assert_output "/proc/1/status:Seccomp:	0
/proc/self/status:Seccomp:	0"
	[[ $(cat /proc/sys/user/max_user_namespaces) -gt 0 ]] ||
		skip "user namespaces are off on this host"
	run_w run k 'unshare -U true'
	assert_success
}

@test "an unknown capability in the config stops wardend at start, naming it" {
	local dir
	dir=$(mktemp -d /tmp/t33.XXXXXX)
	printf '{"server":{"container_capabilities":["CHOWN","SYS_GOD"],"instance":"%s"}}\n' \
		"${WPREFIX}3x" >"$dir/bad.conf"
	run_cmd "$WARDEND_BIN" --config "$dir/bad.conf"
	rm -rf "$dir"
	assert_failure
	assert_output_contains "server.container_capabilities: [1]: unknown capability 'SYS_GOD'"
}
