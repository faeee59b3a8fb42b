#!/usr/bin/env bats
# What a container cannot see or touch: its namespaces (pid, net, mount, uts, ipc),
# the read-only base rootfs, other containers' files, read-only bind mounts, other
# containers on the network (default deny), and the user it runs as. Three real
# containers made once for the file: a (bind mounts ro and rw), b, and c, whose /30 is
# in network.allow_networks. Traffic stays between this host and these containers.

# Scripts for the container are single-quoted on purpose.
# shellcheck disable=SC2016

load helpers

POOL=10.253.31
UID0=61200

setup_file() {
	export WINSTANCE=${WPREFIX}31
	[[ $(id -u) == 0 && -x $WARDEN_TEST_ROOTFS/bin/sh ]] || return 0
	wardend_start "{\"network\":{\"pool_start_address\":\"$POOL.0\",\"pool_size\":8,
		\"allow_networks\":[\"$POOL.8/30\"]},
		\"user\":{\"pool_start_uid\":$UID0,\"pool_size\":8}}"
	mkdir -p "$WTMP/ro" "$WTMP/rw"
	echo "from the host" >"$WTMP/ro/file"
	w create --handle a --network "$POOL.0" --bind-mount "$WTMP/ro:/ro:ro" \
		--bind-mount "$WTMP/rw:/rw:rw" >/dev/null
	w create --handle b --network "$POOL.4" >/dev/null
	w create --handle c --network "$POOL.8" >/dev/null
}

teardown_file() {
	rm -f "$WARDEN_TEST_ROOTFS/t31-probe"
	wardend_stop
}

setup() {
	requires root rootfs wardend
	IPC_Q=
}

teardown() {
	if [[ -n ${IPC_Q:-} ]]; then
		ipcrm -q "$IPC_Q" 2>/dev/null || true
	fi
}

# json FILTER: jq on $output.
json() { jq -e "$@" <<<"$output"; }

# jrun H SCRIPT: run SCRIPT in H as vcap; prun H SCRIPT: as root in the container.
jrun() { run_w run "$1" "$2"; }
prun() { run_w run "$1" "$2" --privileged; }

@test "the three containers are up" {
	run_w --json list
	assert_success
	json 'sort == ["a","b","c"]'
}

@test "pid: ps inside shows only the container's processes; pid 1 is wshd" {
	jrun a 'ps -o pid,args'
	assert_success
	local pid args n=0
	while read -r pid args; do
		[[ $pid == PID ]] && continue
		n=$((n + 1))
		if [[ $pid == 1 ]]; then
			[[ $args == "wshd: 0afd1f00"* ]] || _explain "pid 1 is not wshd"
		else
			[[ $args == "/bin/sh -c ps -o pid,args" || $args == "ps -o pid,args" ||
				$args == "{ps} /bin/sh -c ps -o pid,args" ]] || _explain "unexpected process: $pid $args"
		fi
	done <<<"$output"
	((n >= 2 && n <= 3)) || _explain "expected 2 or 3 processes"
	# The host's init and this test's shell do not exist in there.
	jrun a "cat /proc/$$/cmdline 2>/dev/null; ls /proc | grep -c '^[0-9]'"
	[[ ${lines[-1]} -le 4 ]] || _explain "too many pids under /proc"
}

@test "every namespace differs from the host's" {
	local ns host
	for ns in pid net mnt uts ipc; do
		host=$(readlink "/proc/self/ns/$ns")
		prun a "readlink /proc/self/ns/$ns"
		assert_success
		[[ $output == "$ns:["*"]" && $output != "$host" ]] || _explain "$ns namespace is the host's ($host)"
	done
}

@test "net: only lo and the container's veth end, with its /30 and a default route via the host" {
	jrun a 'ip -o link show'
	assert_success
	local names
	names=$(awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' <<<"$output" | sort | tr '\n' ' ')
	[[ $names == "$(printf '%s\n' lo "$WINSTANCE-0afd1f00-1" | sort | tr '\n' ' ')" ]] ||
		_explain "interfaces: $names"
	jrun a "ip -o -4 addr show dev $WINSTANCE-0afd1f00-1"
	assert_output_contains "inet $POOL.2/30"
	jrun a 'ip route show default'
	assert_output_contains "default via $POOL.1 dev $WINSTANCE-0afd1f00-1"
	# The host side has the host ip; the container end is not in the host's namespace.
	run_cmd ip -o -4 addr show dev "$WINSTANCE-0afd1f00-0"
	assert_output_contains "inet $POOL.1/30"
	run_cmd ip link show "$WINSTANCE-0afd1f00-1"
	assert_failure
}

@test "mount: a mount made inside is invisible on the host; the overlay is not in the host's mounts" {
	# Jobs may not mount (t/32): the host mounts in the container's namespace (its / there).
	local pid
	pid=$(cat "$WTMP/depot/0afd1f00/run/wshd.pid")
	jrun a 'mkdir -p /tmp/m'
	assert_success
	run_cmd nsenter -t "$pid" -m mount -t tmpfs t31tmpfs /tmp/m
	assert_success
	jrun a 'grep t31tmpfs /proc/mounts'
	assert_success
	assert_output_contains /tmp/m
	run_cmd grep -e t31tmpfs -e "$WTMP/" /proc/self/mounts
	assert_failure 1
	run_cmd nsenter -t "$pid" -m umount /tmp/m
	assert_success
}

@test "uts: the hostname is the id; the host's is unchanged" {
	jrun a hostname
	assert_success
	assert_output 0afd1f00
	jrun b hostname
	assert_output 0afd1f04
	[[ $(hostname) != 0afd1f0? ]]
}

@test "ipc: a host message queue is not visible inside" {
	command -v ipcmk >/dev/null || skip "no ipcmk on the host"
	IPC_Q=$(ipcmk -Q | awk '{ print $NF }')
	[[ $IPC_Q =~ ^[0-9]+$ ]]
	grep -qw "$IPC_Q" /proc/sysvipc/msg # the check below can fail
	jrun a "awk 'NR > 1 { print \$2 }' /proc/sysvipc/msg"
	assert_success
	assert_output ''
}

@test "the base rootfs is untouched by writes in a container" {
	prun a 'echo probe >/t31-probe && echo more >>/etc/.mkrootfs-busybox && cat /t31-probe'
	assert_success
	assert_output probe
	[[ ! -e $WARDEN_TEST_ROOTFS/t31-probe ]]
	[[ ! -s $WARDEN_TEST_ROOTFS/etc/.mkrootfs-busybox ]]
	jrun b 'cat /t31-probe'
	assert_failure
}

@test "two containers cannot see each other's files" {
	prun a 'echo secret-a >/tmp/secret && cat /tmp/secret'
	assert_success
	assert_output secret-a
	prun b 'cat /tmp/secret'
	assert_failure
	prun b "ls $WTMP/depot"
	assert_failure
	prun b 'ls /ro /rw'
	assert_failure
}

@test "bind mounts: ro cannot be written; rw writes are visible on the host" {
	jrun a 'cat /ro/file'
	assert_success
	assert_output "from the host"
	prun a 'echo x >/ro/new'
	assert_failure
	[[ ! -e $WTMP/ro/new ]]
	prun a 'echo "from a" >/rw/out'
	assert_success
	[[ $(cat "$WTMP/rw/out") == "from a" ]]
}

@test "bind mounts: without a mode ([SRC,DST], [SRC,DST,{}], the CLI's SRC:DST) they are read-write" {
	local d=$WTMP/rwdefault h
	mkdir -p "$d"
	local bm="[[\"$d\",\"/m2\"],[\"$d\",\"/m3\",{}]]"
	run_w raw "[\"create\",{\"handle\":\"d\",\"network\":\"$POOL.12\",\"bind_mounts\":$bm}]"
	assert_success
	run_w create --handle e --network "$POOL.16" --bind-mount "$d:/cli"
	assert_success
	for h in d:/m2 d:/m3 e:/cli; do
		prun "${h%%:*}" "echo ${h#*:} >${h#*:}/from-${h%%:*}${h#*:/}"
		assert_success
	done
	run_w destroy d
	assert_success
	run_w destroy e
	assert_success
	[[ $(cat "$d/from-dm2" "$d/from-dm3" "$d/from-ecli") == $'/m2\n/m3\n/cli' ]] ||
		_explain "expected the writes on the host"
}

@test "network: the host reaches its container; default deny blocks container to container unless allowed" {
	local ping=(ping)
	command -v ping >/dev/null || ping=(busybox ping)
	run_cmd "${ping[@]}" -c 1 -W 5 "$POOL.2"
	assert_success
	# a -> c is allowed (network.allow_networks), so forwarding itself works...
	prun a "ping -c 1 -W 5 $POOL.10"
	assert_success
	# ...and a -> b is refused by the instance's default chain (a has no chain of its own).
	prun a "ping -c 1 -W 2 $POOL.6"
	assert_failure
	run_cmd iptables -w -S "warden-$WINSTANCE-default"
	assert_output_contains '-j REJECT'
	run_cmd iptables -w -S "warden-$WINSTANCE-0afd1f00"
	assert_failure
}

@test "user: jobs run as vcap with the container's pool uid; privileged as root" {
	jrun a 'id -un; id -u; id -g; echo $HOME; pwd'
	assert_success
	[[ ${lines[0]} == vcap ]] || _explain "not vcap"
	local uid=${lines[1]}
	((uid >= UID0 && uid < UID0 + 8)) || _explain "uid $uid outside the pool"
	[[ ${lines[2]} == "$uid" && ${lines[3]} == /home/vcap && ${lines[4]} == /home/vcap ]] ||
		_explain "gid, HOME or cwd wrong"
	jrun b 'id -u'
	[[ $output != "$uid" ]] || _explain "a and b share uid $uid"
	prun a 'id -u'
	assert_output 0
}
