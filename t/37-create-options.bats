#!/usr/bin/env bats
# create's hostname, tmpfs_mounts, read_only_root and sysctls (doc/protocol.md, Create
# options beyond PROTOCOL.md), for real: each one seen from inside the container (and,
# for sysctls, not from the host), each bad value's error, and nothing left behind.

# Backquoted key names are single-quoted on purpose.
# shellcheck disable=SC2016

load helpers

FILE_CONF='{"network":{"pool_start_address":"10.253.36.0","pool_size":16,"release_delay_ms":0},
	"user":{"pool_start_uid":63600,"pool_size":16}}'

setup_file() {
	export WINSTANCE=${WPREFIX}37
	wardend_start "$FILE_CONF"
}

teardown_file() {
	# The create_options test starts the daemon again: stop the one the pid file names.
	WARDEND_PID=$(cat "$WTMP/wardend.pid" 2>/dev/null || true)
	export WARDEND_PID
	wardend_stop
}

setup() {
	requires root rootfs
	SCRATCH=$(mktemp -d /tmp/wt37.XXXXXX)
}

teardown() {
	local h
	for h in $(w list 2>/dev/null); do w destroy "$h" >/dev/null 2>&1 || true; done
	rm -rf "$SCRATCH"
}

# create_ok CONFIG_JSON: create with CONFIG, the handle in $H.
create_ok() {
	run_w raw "[\"create\",$1]"
	assert_success
	H=$(jq -r . <<<"$output")
}

# refused CONFIG_JSON MESSAGE: create with CONFIG fails with exactly MESSAGE, and
# leaves no container.
refused() {
	run_w raw "[\"create\",$1]"
	assert_failure 1
	assert_output "warden: $2"
	run_w list
	assert_output ''
}

# inside SCRIPT: run SCRIPT as root in the container $H.
inside() { run_w run "$H" "$1" --privileged; }

id_of() { w --json info "$1" | jq -r .id; }

depot_empty() {
	run_cmd find "$WTMP/depot" -mindepth 1 -maxdepth 1 -type d
	assert_output ''
}

# ---- hostname ----

@test "hostname: the container's hostname, /etc/hostname and /etc/hosts; without it, the id" {
	create_ok '{"hostname":"web-1.example.org"}'
	inside 'hostname; cat /etc/hostname; grep -c " web-1.example.org$" /etc/hosts'
	assert_success
	assert_output "$(printf 'web-1.example.org\nweb-1.example.org\n1')"
	run_w create
	assert_success
	local d=$output
	run_w run "$d" hostname --privileged
	assert_output "$d"
}

@test "hostname: a 64-byte name is taken; anything that is not RFC 1123 labels of at most 64 bytes is refused" {
	local l63 msg h
	l63=$(printf 'a%.0s' {1..63})
	create_ok "{\"hostname\":\"$l63\"}"
	inside hostname
	assert_output "$l63"
	msg="Expected \`hostname\` to hold a hostname of at most 64 bytes: labels of letters, digits and '-' (not first or last) joined by '.'."
	for h in '""' '"-a"' '"a-"' '"a..b"' '".a"' '"a."' '"a_b"' '"a b"' '"ä"' "\"${l63}b\"" \
		"\"$l63.a\"" '5' 'null' '["a"]'; do
		run_w raw "[\"create\",{\"hostname\":$h}]"
		assert_failure 1
		assert_output "warden: $msg"
	done
	run_w list
	assert_output "$H"
}

# ---- tmpfs_mounts ----

@test "tmpfs_mounts: each mounted with its size, mode and flags, its mount point made; a bind mount inside one works" {
	echo hello >"$SCRATCH/f"
	create_ok "{\"tmpfs_mounts\":[[\"/scratch\",{\"size\":1048576,\"mode\":\"0700\",\"options\":[\"nosuid\",\"noexec\"]}],[\"/new/run\"]],\"bind_mounts\":[[\"$SCRATCH/f\",\"/new/run/f\",{\"mode\":\"ro\"}]]}"
	inside 'grep " /scratch " /proc/mounts; stat -c %a /scratch; grep " /new/run " /proc/mounts; stat -c %a /new/run; cat /new/run/f'
	assert_success
	[[ ${lines[0]} =~ ^tmpfs\ /scratch\ tmpfs\ rw,nosuid,[a-z,]*noexec,[a-z,]*size=1024k,mode=700 ]] ||
		_explain "/scratch's mount: ${lines[0]}"
	assert_equal "${lines[1]}" 700 "mode of /scratch"
	[[ ${lines[2]} =~ ^tmpfs\ /new/run\ tmpfs\ rw, && ${lines[2]} != *noexec* ]] ||
		_explain "/new/run's mount: ${lines[2]}"
	assert_equal "${lines[3]}" 1777 "mode of /new/run"
	assert_equal "${lines[4]}" hello "the bind mount inside the tmpfs"
	# The size is enforced: 2 MiB do not fit.
	inside 'dd if=/dev/zero of=/scratch/big bs=1024 count=2048 2>&1; echo rc=$?'
	assert_output_contains 'No space left on device'
	assert_output_contains 'rc=1'
	# Only in the container: the rootfs's upper layer has the mount points, empty.
	run_cmd find "$WTMP/depot/$(id_of "$H")/overlay/upper/scratch" -mindepth 1
	assert_output ''
}

@test "tmpfs_mounts: every bad value is refused with an error naming the entry" {
	local shape='Expected `tmpfs_mounts[0]` to be [DST, {"size":BYTES,"mode":"1777","options":["nosuid",...]}].'
	local path='Expected `tmpfs_mounts[0]` to hold an absolute path other than / without tabs, newlines, "." or "..".'
	refused '{"tmpfs_mounts":{}}' 'Expected `tmpfs_mounts` to hold an array.'
	refused '{"tmpfs_mounts":["/x"]}' "$shape"
	refused '{"tmpfs_mounts":[[]]}' "$shape"
	refused '{"tmpfs_mounts":[[5]]}' "$shape"
	refused '{"tmpfs_mounts":[["/x",{},1]]}' "$shape"
	refused '{"tmpfs_mounts":[["/x","size"]]}' "$shape"
	local p
	for p in '"x"' '"/"' '"/a/../b"' '"/a/./b"' '"/a//b"' '"/a/"' '"/a\tb"' '"/a\nb"'; do
		refused "{\"tmpfs_mounts\":[[$p]]}" "$path"
	done
	refused '{"tmpfs_mounts":[["/x",{"sise":1}]]}' 'Unknown key `sise` in `tmpfs_mounts[0]` (size, mode, options).'
	for p in 0 -1 '"1m"' 1.5; do
		refused "{\"tmpfs_mounts\":[[\"/x\",{\"size\":$p}]]}" 'Expected `tmpfs_mounts[0].size` to hold a positive integer (bytes).'
	done
	for p in '"17777"' '"99"' '"rwx"' '1777' '""'; do
		refused "{\"tmpfs_mounts\":[[\"/x\",{\"mode\":$p}]]}" 'Expected `tmpfs_mounts[0].mode` to hold an octal mode string such as "1777".'
	done
	refused '{"tmpfs_mounts":[["/x",{"options":"ro"}]]}' 'Expected `tmpfs_mounts[0].options` to hold an array of strings.'
	refused '{"tmpfs_mounts":[["/x",{"options":["nosuid","suid"]}]]}' \
		'Unknown option "suid" in `tmpfs_mounts[0].options` (nosuid, nodev, noexec, ro, noatime, relatime, strictatime).'
	refused '{"tmpfs_mounts":[["/x",{"options":["size=1"]}]]}' \
		'Unknown option "size=1" in `tmpfs_mounts[0].options` (nosuid, nodev, noexec, ro, noatime, relatime, strictatime).'
	depot_empty
}

@test "a tmpfs or bind mount point is resolved in the rootfs as the container resolves it: its symbolic links never lead to the host's files" {
	cp -a "$WARDEN_TEST_ROOTFS" "$SCRATCH/rootfs"
	mkdir "$SCRATCH/target" "$SCRATCH/src"
	echo s >"$SCRATCH/src/f"
	# Absolute links (to the host's paths, were they followed on the host), a dangling
	# one, one with more ".." than the rootfs is deep, and a loop.
	ln -s "$SCRATCH/target" "$SCRATCH/rootfs/escape"
	ln -s "$SCRATCH/target/dangling" "$SCRATCH/rootfs/job.sh"
	ln -s ../../.. "$SCRATCH/rootfs/up"
	ln -s loop2 "$SCRATCH/rootfs/loop1"
	ln -s loop1 "$SCRATCH/rootfs/loop2"
	create_ok "{\"rootfs\":\"$SCRATCH/rootfs\",\"tmpfs_mounts\":[[\"/escape/t\"]],\"bind_mounts\":[[\"$SCRATCH/src\",\"/escape/d\"],[\"$SCRATCH/src/f\",\"/job.sh\"],[\"$SCRATCH/src\",\"/up/x\"]]}"
	inside "grep -c ' $SCRATCH/target/t tmpfs' /proc/mounts; cat /escape/d/f /job.sh /x/f"
	assert_output "$(printf '1\ns\ns\ns')"
	# Nothing was made, or mounted, on the host's side of those links.
	run_cmd find "$SCRATCH/target" "$SCRATCH/src" -mindepth 1
	assert_output "$SCRATCH/src/f"
	w destroy "$H" >/dev/null
	run_w raw "[\"create\",{\"rootfs\":\"$SCRATCH/rootfs\",\"bind_mounts\":[[\"$SCRATCH/src\",\"/loop1/x\"]]}]"
	assert_failure 1
	assert_output_contains "child-before-pivot.sh: mount point /loop1/x: too many levels of symbolic links"
	run_w list
	assert_output ''
	depot_empty
	# A relative link that stays inside is followed, as the container will see it.
	ln -s ../home "$SCRATCH/rootfs/var/h"
	create_ok "{\"rootfs\":\"$SCRATCH/rootfs\",\"bind_mounts\":[[\"$SCRATCH/src\",\"/var/h/in\"]],\"tmpfs_mounts\":[[\"/var/h/t\"]]}"
	inside 'cat /home/in/f; grep -c " /home/t tmpfs" /proc/mounts'
	assert_output "$(printf 's\n1')"
}

# ---- read_only_root ----

@test "read_only_root: / is read-only (EROFS); bind mounts, tmpfs mounts, /dev and /dev/shm stay writable; new bind mount points are made" {
	mkdir "$SCRATCH/data"
	echo '#!/bin/sh' >"$SCRATCH/job.sh"
	create_ok "{\"read_only_root\":true,\"tmpfs_mounts\":[[\"/tmp\"]],\"bind_mounts\":[[\"$SCRATCH/data\",\"/data\",{\"mode\":\"rw\"}],[\"$SCRATCH/job.sh\",\"/var/spool/slurm/job1/script\",{\"mode\":\"ro\"}]]}"
	inside 'touch /x 2>&1; echo rc=$?; mkdir /etc/y 2>&1; echo rc=$?'
	assert_output_contains 'Read-only file system'
	refute_output_contains 'rc=0'
	inside 'grep " / " /proc/mounts'
	[[ $output =~ ^overlay\ /\ overlay\ ro, ]] || _explain "the root's mount: $output"
	inside 'echo d >/data/written && echo t >/tmp/t && cat /tmp/t && echo x >/dev/null && echo s >/dev/shm/s && cat /dev/shm/s && head -c 1 /proc/self/status && cat /var/spool/slurm/job1/script'
	assert_success
	assert_output "$(printf 't\ns\nN#!/bin/sh')"
	assert_file "$SCRATCH/data/written" d
	# Unprivileged jobs run too (their home is read-only like the rest), and keep their
	# output (wshd's jobs directory is the host's).
	run_w run "$H" 'id -un; touch ~/f 2>&1 || echo refused'
	assert_output_contains vcap
	assert_output_contains 'Read-only file system'
	# copy in cannot write to a read-only root either.
	run_w copy "$H" in "$SCRATCH/job.sh" /etc/job.sh
	assert_failure 1
	assert_output_contains 'Read-only file system'
}

@test "read_only_root: without a tmpfs, /tmp is read-only too; false is the default; a non-boolean is refused" {
	create_ok '{"read_only_root":true}'
	inside 'touch /tmp/x 2>&1; echo rc=$?'
	assert_output_contains 'Read-only file system'
	create_ok '{"read_only_root":false}'
	inside 'touch /x && echo ok'
	assert_output ok
	w destroy "$H" >/dev/null
	local v
	for v in '"true"' 1 null '{}'; do
		run_w raw "[\"create\",{\"read_only_root\":$v}]"
		assert_failure 1
		assert_output 'warden: Expected `read_only_root` to hold a boolean.'
	done
}

# ---- sysctls ----

@test "sysctls: the container's net and ipc sysctls are set inside, the host's are untouched" {
	local keep shm range
	keep=$(cat /proc/sys/net/ipv4/tcp_keepalive_time)
	shm=$(cat /proc/sys/kernel/shmmni)
	range=$(cat /proc/sys/net/ipv4/ip_local_port_range)
	create_ok '{"sysctls":{"net.ipv4.tcp_keepalive_time":"1234","kernel.shmmni":"1235","net.ipv4.ip_local_port_range":"20000 30000","fs.mqueue.msg_max":"17"}}'
	inside 'cat /proc/sys/net/ipv4/tcp_keepalive_time /proc/sys/kernel/shmmni /proc/sys/fs/mqueue/msg_max; cat /proc/sys/net/ipv4/ip_local_port_range'
	assert_success
	assert_output "$(printf '1234\n1235\n17\n20000\t30000')"
	assert_file /proc/sys/net/ipv4/tcp_keepalive_time "$keep"
	assert_file /proc/sys/kernel/shmmni "$shm"
	assert_file /proc/sys/net/ipv4/ip_local_port_range "$range"
	# /proc/sys stays read-only in the container (its network sysctls excepted).
	inside 'echo 1236 >/proc/sys/kernel/shmmni 2>&1; cat /proc/sys/kernel/shmmni'
	assert_output_contains 'Read-only file system'
	assert_output_contains 1235
}

@test "sysctls: the host's are refused naming the key; bad names and values are refused; one the kernel lacks fails the create" {
	local k
	for k in kernel.hostname vm.swappiness fs.file-max kernel.domainname; do
		refused "{\"sysctls\":{\"$k\":\"1\"}}" \
			"sysctl $k is not of the container's own namespaces (net.*, kernel.shm*, kernel.msg*, kernel.sem*, fs.mqueue.*)"
	done
	for k in '' 'net..x' '.net.x' 'net.x.' 'net/ipv4/x' 'net.a b'; do
		refused "{\"sysctls\":{\"$k\":\"1\"}}" "Invalid sysctl name \"$k\" in \`sysctls\`."
	done
	for k in 1 null '"a\nb"' '"a\tb"' '["1"]'; do
		refused "{\"sysctls\":{\"net.ipv4.ip_forward\":$k}}" \
			'Expected `sysctls.net.ipv4.ip_forward` to hold a string of at most 4096 bytes without tabs or newlines.'
	done
	refused '{"sysctls":[]}' 'Expected `sysctls` to hold an object of strings.'
	run_w raw '["create",{"sysctls":{"net.ipv4.no_such_sysctl":"1"}}]'
	assert_failure 1
	assert_output_contains "sysctl net.ipv4.no_such_sysctl: no such sysctl in the container's namespaces"
	run_w raw '["create",{"sysctls":{"net.ipv4.ip_forward":"7x"}}]'
	assert_failure 1
	assert_output_contains "cannot set sysctl net.ipv4.ip_forward to '7x'"
	run_w list
	assert_output ''
	depot_empty
}

@test "all four are in the hook environment as etc/config records it" {
	create_ok '{"hostname":"h1","tmpfs_mounts":[["/t",{"size":4096}]],"read_only_root":true,"sysctls":{"net.ipv4.ip_forward":"1"}}'
	local cfg
	cfg=$WTMP/depot/$(id_of "$H")/etc/config
	run_cmd env -i bash -c 'set -a; . "$1"; printf "%s|" "$hostname" "$tmpfs_mounts" "$read_only_root" "$sysctls"' _ "$cfg"
	assert_output "h1|/t"$'\t'"mode=1777,size=4096"$'\n'"|true|net.ipv4.ip_forward"$'\t'"1"$'\n'"|"
}

@test "info's create_options: what create was given, in create's own shapes; a restart keeps it" {
	local want
	want=$(jq -cn --arg s "$SCRATCH" '{bind_mounts: [[$s, "/b", {mode: "ro"}]],
		tmpfs_mounts: [["/t", {mode: "0700", size: 8192, options: ["nosuid", "noexec"]}]],
		sysctls: {"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536"}, hostname: "h2",
		read_only_root: true, network_address: null}')
	create_ok "$(jq -c 'del(.network_address)' <<<"$want")"
	run_cmd bash -c "$(printf '%q ' "$WARDEN_BIN") -s '$WSOCK' --json info $H | jq -cS .create_options"
	assert_output "$(jq -cS . <<<"$want")"
	# the defaults: no lists, the id as hostname
	run_w create
	local d=$output
	run_cmd bash -c "$(printf '%q ' "$WARDEN_BIN") -s '$WSOCK' --json info $d | jq -c .create_options"
	assert_output "{\"bind_mounts\":[],\"tmpfs_mounts\":[],\"sysctls\":{},\"hostname\":\"$(id_of "$d")\",\"read_only_root\":false,\"network_address\":null}"
	w destroy "$d" >/dev/null
	# kept across a restart (snapshot.json)
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" 2>/dev/null || true
	wardend_start "$FILE_CONF"
	run_cmd bash -c "$(printf '%q ' "$WARDEN_BIN") -s '$WSOCK' --json info $H | jq -cS .create_options"
	assert_output "$(jq -cS . <<<"$want")"
}
