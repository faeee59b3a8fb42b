#!/usr/bin/env bats
# Each test exports its own hook environment (hk_env); single-quoted scripts expand later.
# shellcheck disable=SC2030,SC2031,SC2154,SC2016
# The lifecycle hooks, run directly (no wardend, no wshd): real cgroups, iptables,
# veths and mounts under instance $HK_INSTANCE ("th", or the run's WPREFIX then "h");
# cgroup v2 writes checked against a directory. The asserts of helpers.bash explain a
# failure: the command, its status and output, or the expected and actual values.

load helpers
load hooks-lib
bats_require_minimum_version 1.5.0

setup_file() {
	requires root
	export HK_ROOTFS=$BATS_FILE_TMPDIR/rootfs
	"$HK_SRC/scripts/mkrootfs-busybox" "$HK_ROOTFS" >/dev/null
}

setup() {
	requires root
	TMP=$BATS_TEST_TMPDIR
	export HK_PIDS_FILE=$TMP/pids
	: >"$HK_PIDS_FILE"
	hk_env "$TMP"
	read -r HK_IP_FORWARD </proc/sys/net/ipv4/ip_forward
}

teardown() {
	if [[ -n ${T10_CG:-} ]]; then # the real cgroup2 test's, if it failed half-way
		rmdir "$T10_CG/$HK_ID" "$T10_CG" 2>/dev/null || :
	fi
	hk_cleanup "$TMP"
	echo "$HK_IP_FORWARD" >/proc/sys/net/ipv4/ip_forward
	rm -rf --one-file-system "$TMP/depot"
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
	run_cmd hk_lib 'cg_create'
	assert_success
	assert_file "$cgroup_root/cgroup.subtree_control" "+cpuset +cpu +memory +pids"
	assert_file "$cgroup_root/warden-$HK_INSTANCE/cgroup.subtree_control" "+cpuset +cpu +memory +pids"
	assert_dir "$cgroup_root/warden-$HK_INSTANCE/$HK_ID"
	# A plain directory takes no BPF program: wshd says so and cg_create goes on.
	assert_output_contains "is not on a cgroup2 file system: no device filter"
}

# The cgroup2 mount of this machine (/sys/fs/cgroup, or a hybrid's unified tree).
real_v2_root() {
	awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts
}

@test "cgroup v2: on a real cgroup2 tree the device allow-list is a BPF program" {
	local root node d
	root=$(real_v2_root)
	[[ -n $root ]] || skip "no cgroup2 file system mounted"
	# An instance of its own: nothing of $HK_INSTANCE's v1 cgroups is touched.
	export cgroup_version=2 cgroup_root=$root instance=${WPREFIX}hd
	T10_CG=$root/warden-$instance
	node=$TMP/kmsg
	mknod "$node" c 1 11
	# The control: outside the cgroup the node opens.
	run_cmd bash -c 'exec 3<"$1"' _ "$node"
	assert_success
	run_cmd hk_lib 'cg_create && cg_create' # twice: the second replaces the first's program
	assert_success
	d=$T10_CG/$HK_ID
	assert_dir "$d"
	# Inside: null, zero, urandom and ptmx open, any node can be made, kmsg is refused.
	run_cmd bash -c 'echo "$BASHPID" >"$1/cgroup.procs" || exit 99
		head -c 1 /dev/zero >/dev/null && echo zero
		echo x >/dev/null && echo null
		head -c 1 /dev/urandom >/dev/null && echo urandom
		(exec 4<>/dev/ptmx) && echo ptmx
		mknod "$2.b" b 7 0 && echo mknod
		exec 3<"$2"' _ "$d" "$node"
	assert_failure 1
	assert_output "zero
null
urandom
ptmx
mknod
_: line 7: $node: Operation not permitted"
	run_cmd hk_lib 'cg_destroy && cg_destroy_parent'
	assert_success
	[[ ! -e $d && ! -e $T10_CG ]] || _explain "cgroups left"
}

@test "cgroup v2: only controllers the kernel offers are enabled" {
	fake_v2 "cpu io memory pids"
	run_cmd hk_lib 'cg_create'
	assert_success
	assert_file "$cgroup_root/cgroup.subtree_control" "+cpu +memory +pids"
}

@test "cgroup v2: memory, cpu weight, attach, pids, destroy" {
	fake_v2
	d=$cgroup_root/warden-$HK_INSTANCE/$HK_ID
	run_cmd hk_lib 'cg_create; cg_set_mem 67108864'
	assert_success
	assert_file "$d/memory.max" 67108864
	run_cmd hk_lib 'cg_set_mem 0'
	assert_file "$d/memory.max" max
	# runc's mapping: 2 -> 1, 1024 -> 39, 262144 -> 10000; out of range is clamped.
	for pair in 2:1 1024:39 262144:10000 1:1 999999:10000; do
		run_cmd hk_lib "cg_set_cpu ${pair%:*}"
		assert_success
		assert_file "$d/cpu.weight" "${pair#*:}"
	done
	run_cmd hk_lib 'cg_attach 12345'
	assert_success
	assert_file "$d/cgroup.procs" 12345
	run_cmd hk_lib 'cg_pids'
	assert_output 12345
	run_cmd hk_lib 'cg_set_mem lots'
	assert_failure
	assert_output_contains "memory limit must be a number"
	run_cmd hk_lib 'cg_destroy'
	assert_success
	refute_exists "$d"
	run_cmd hk_lib 'cg_destroy'
	assert_success
}

@test "cgroup v2: limit.sh writes memory.max and cpu.weight, refuses unknown limits" {
	fake_v2
	hk_lib 'cg_create'
	run_cmd "$HK_HOOKS/limit.sh" mem 1048576
	assert_success
	run_cmd "$HK_HOOKS/limit.sh" cpu 512
	assert_success
	assert_file "$cgroup_root/warden-$HK_INSTANCE/$HK_ID/memory.max" 1048576
	assert_file "$cgroup_root/warden-$HK_INSTANCE/$HK_ID/cpu.weight" 20
	run_cmd "$HK_HOOKS/limit.sh" frobnicate 1
	assert_failure 2
	assert_line_match -1 '*usage*'
}

@test "cgroup v1: create, devices allow-list, attach a process, limits, kill, destroy" {
	requires cgroup1
	run_cmd hk_lib 'cg_create'
	assert_success
	for c in cpu cpuacct memory devices pids cpuset freezer; do
		assert_dir "/sys/fs/cgroup/$c/warden-$HK_INSTANCE/$HK_ID"
	done
	run_cmd sort "/sys/fs/cgroup/devices/warden-$HK_INSTANCE/$HK_ID/devices.list"
	assert_output "$(printf '%s\n' 'b *:* m' 'c *:* m' 'c 136:* rwm' 'c 1:3 rwm' 'c 1:5 rwm' \
		'c 1:7 rwm' 'c 1:8 rwm' 'c 1:9 rwm' 'c 5:0 rwm' 'c 5:2 rwm' | sort)"
	assert_file "/sys/fs/cgroup/cpuset/warden-$HK_INSTANCE/$HK_ID/cpuset.cpus" "$(</sys/fs/cgroup/cpuset/cpuset.cpus)"

	hk_start sleep 1000
	pid=$HK_LAST_PID
	run_cmd hk_lib "cg_attach $pid"
	assert_success
	assert_grep ":memory:/warden-$HK_INSTANCE/$HK_ID\$" "/proc/$pid/cgroup"
	assert_grep ":devices:/warden-$HK_INSTANCE/$HK_ID\$" "/proc/$pid/cgroup"
	run_cmd hk_lib 'cg_pids'
	assert_output "$pid"

	# Lower, raise, then lower again: memsw must follow in the right order each time.
	for n in 67108864 134217728 33554432; do
		run_cmd hk_lib "cg_set_mem $n"
		assert_success
		assert_file "/sys/fs/cgroup/memory/warden-$HK_INSTANCE/$HK_ID/memory.limit_in_bytes" "$n"
		if [ -e "/sys/fs/cgroup/memory/warden-$HK_INSTANCE/$HK_ID/memory.memsw.limit_in_bytes" ]; then
			assert_file "/sys/fs/cgroup/memory/warden-$HK_INSTANCE/$HK_ID/memory.memsw.limit_in_bytes" "$n"
		fi
	done
	run_cmd hk_lib 'cg_set_cpu 512'
	assert_file "/sys/fs/cgroup/cpu/warden-$HK_INSTANCE/$HK_ID/cpu.shares" 512

	run_cmd hk_lib 'cg_kill_all KILL; cg_wait_empty 10'
	assert_success
	run_cmd hk_lib 'cg_destroy'
	assert_success
	for c in cpu memory devices pids cpuset freezer; do
		refute_exists "/sys/fs/cgroup/$c/warden-$HK_INSTANCE/$HK_ID"
	done
}

@test "stop.sh: TERM to all but wshd, KILL after stop_timeout for those that ignore TERM" {
	requires cgroup1
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
	stop_timeout=1 run_cmd "$HK_HOOKS/stop.sh"
	assert_success
	run_cmd hk_lib 'cg_pids'
	assert_output "$wshd"
	hk_assert_alive "$wshd"
	hk_refute_alive "$plain"
	hk_refute_alive "$stubborn"
	run_cmd "$HK_HOOKS/stop.sh" nonsense
	assert_failure 2
}

@test "setup.sh: container dir and the upper layer, rootfs untouched" {
	before=$(cd "$rootfs_path" && find . -printf '%p %m %u %s %l\n' | sort | md5sum)
	passwd_before=$(<"$rootfs_path/etc/passwd")
	export dns_servers="10.0.0.2 10.0.0.3" allow_networks="10.0.0.0/8 192.168.1.1/32"
	export bind_mounts=$'/etc\t/mnt/hostetc\tro\n/tmp\t/mnt/tmp\trw'
	run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	for d in bin etc jobs log mnt run tmp overlay/upper overlay/work; do
		assert_dir "$container_path/$d"
	done
	u=$container_path/overlay/upper
	assert_file "$u/etc/hostname" "$HK_ID"
	assert_file "$u/etc/hosts" "$(printf '127.0.0.1 localhost\n10.199.0.2 %s' "$HK_ID")"
	assert_file "$u/etc/resolv.conf" "$(printf 'nameserver 10.0.0.2\nnameserver 10.0.0.3')"
	assert_file "$u/etc/passwd" "$passwd_before"$'\nvcap:x:10001:10001::/home/vcap:/bin/sh'
	assert_file "$u/etc/group" "$(<"$rootfs_path/etc/group")"$'\nvcap:x:10001:'
	assert_equal "$(stat -c '%u:%g %a' "$u/home/vcap")" "10001:10001 755" "owner and mode of /home/vcap"
	assert_file "$container_path/etc/bind_mounts" "$bind_mounts"
	# etc/config restores the environment exactly.
	run_cmd env -i bash -c 'set -a; . "$1"; printf "%s|" "$id" "$allow_networks" "$bind_mounts" "$mtu" "$container_path"' \
		_ "$container_path/etc/config"
	assert_output "$HK_ID|$allow_networks|$bind_mounts|1400|$container_path|"
	assert_equal "$(cd "$rootfs_path" && find . -printf '%p %m %u %s %l\n' | sort | md5sum)" \
		"$before" "checksum of the rootfs listing"
}

# stub_tools TOOL...: a directory first in PATH whose TOOLs log "TOOL ARGS" to $TMP/ran
# and run the real program: which of them a hook ran.
stub_tools() {
	local t
	mkdir -p "$TMP/stubs"
	for t in "$@"; do
		printf '#!/bin/sh\necho "%s $*" >>"%s"\nexec /usr/bin/%s "$@"\n' "$t" "$TMP/ran" "$t" >"$TMP/stubs/$t"
		chmod +x "$TMP/stubs/$t"
	done
	: >"$TMP/ran"
	export PATH=$TMP/stubs:$PATH
}

# The container directory as a listing (type, mode, owner, size, path, link), minus
# etc/config (which names builtins_path).
ct_listing() {
	(cd "$container_path" && find . ! -path ./etc/config -printf '%M %u:%g %s %p %l\n' | sort)
}

@test "warden-builtins.so: chown, mknod and hostname without a process, the hooks' subset; anything else a usage error" {
	[[ -e $builtins_path ]] || skip "not built (no bash headers): $builtins_path"
	cd "$TMP"
	run_cmd bash -c 'set -e; enable -f "$builtins_path" chown mknod
		[[ $(type -t chown) == builtin && $(type -t mknod) == builtin ]]
		umask 077
		mknod -m 0666 null c 1 3; mknod fifo p
		mkdir -p d/e; : >d/f; ln -s /etc d/l
		chown -R 4242:4343 d; chown -h 7:8 d/l; chown daemon: fifo; chown :5 null
		stat -c "%n %F %t:%T %a %u:%g" null fifo d d/e d/f d/l /etc
		echo x >null && echo wrote null'
	assert_success
	assert_output "$(printf '%s\n' 'null character special file 1:3 666 0:5' \
		'fifo fifo 0:0 600 1:1' 'd directory 0:0 700 4242:4343' 'd/e directory 0:0 700 4242:4343' \
		'd/f regular empty file 0:0 600 4242:4343' 'd/l symbolic link 0:0 777 7:8' \
		"/etc directory 0:0 $(stat -c '%a %u:%g' /etc)" 'wrote null')"
	for bad in 'chown -x 1 f' 'chown nosuchuser f' 'chown 1' 'mknod -m 9 n c 1 3' \
		'mknod n c 1' 'mknod n x 1 3' 'mknod n p 1 3' 'mknod -m u+rw n p'; do
		run_cmd bash -c 'enable -f "$builtins_path" chown mknod; : >f; '"$bad"
		assert_failure 2
	done
	run_cmd bash -c 'enable -f "$builtins_path" chown; chown 1 no-such-file'
	assert_failure 1
	assert_output_contains "no-such-file: No such file or directory"
	# hostname, in a uts namespace of its own.
	run_cmd unshare -u bash -c 'enable -f "$builtins_path" hostname; hostname t10.example
		hostname; cat /proc/sys/kernel/hostname; hostname -f || echo "rc=$?"'
	assert_output "$(printf '%s\n' t10.example t10.example "hostname: usage: hostname [NAME]" rc=2)"
}

@test "warden-builtins.so: skel_copy copies a skeleton of directories and plain files as cp -a; anything else status 2, nothing made" {
	[[ -e $builtins_path ]] || skip "not built (no bash headers): $builtins_path"
	local s=$TMP/skel
	mkdir -p "$s/a/b" "$s/e"
	chmod 0750 "$s/a"
	chmod 0711 "$s/e"
	printf 'one\n' >"$s/a/f"
	printf 'x\0y' >"$s/a/b/nul"
	chmod 0640 "$s/a/b/nul"
	: >"$s/e/.gitkeep"
	ln -s skel "$TMP/skel-link"
	cd "$TMP"
	# Through the link, as cp -a SRC/. copies; modes and contents as cp -a's, .gitkeep left out.
	run_cmd bash -c 'enable -f "$builtins_path" skel_copy && skel_copy skel-link out && echo ok'
	assert_output ok
	rm "$s/e/.gitkeep"
	cp -a "$s/." want
	assert_equal "$(cd out && find . -printf '%M %u:%g %s %p\n' | sort)" \
		"$(cd want && find . -printf '%M %u:%g %s %p\n' | sort)" "the copy against cp -a's"
	cmp "$s/a/b/nul" out/a/b/nul
	[[ ! -L out ]] || _explain "out is a link"
	# DST there already: an error (status 1), the copy left as it was.
	run_cmd bash -c 'enable -f "$builtins_path" skel_copy; skel_copy skel out'
	assert_failure 1
	assert_output_contains "out: File exists"
	# What cp -a must copy: status 2 and nothing made (-q: nothing said).
	for odd in link exec fifo setgid-dir; do
		rm -rf "$TMP/odd" "$TMP/odd-out"
		cp -a "$s" "$TMP/odd"
		case $odd in
		link) ln -s /etc "$TMP/odd/a/l" ;;
		exec) printf 'x\n' >"$TMP/odd/a/tool" && chmod 0755 "$TMP/odd/a/tool" ;;
		fifo) mkfifo "$TMP/odd/a/p" ;;
		setgid-dir) chmod 2755 "$TMP/odd/e" ;;
		esac
		run_cmd bash -c 'enable -f "$builtins_path" skel_copy; skel_copy odd odd-out'
		assert_failure 2
		assert_output_contains "run cp -a"
		refute_exists "$TMP/odd-out"
		run_cmd bash -c 'enable -f "$builtins_path" skel_copy; skel_copy -q odd odd-out'
		assert_failure 2
		assert_output ""
	done
	run_cmd bash -c 'enable -f "$builtins_path" skel_copy; skel_copy one'
	assert_failure 2
}

@test "warden-builtins.so: zygote forks children of its parent, each with its own \$\$, \$PPID, group, jobs, traps, \$RANDOM, \$SECONDS" {
	[[ -e $builtins_path ]] || skip "not built (no bash headers): $builtins_path"
	# The zygote has a background job, a trap, an ignored signal and an idle policy, and
	# is 2 s old when it forks; each child prints its state, then runs its input.
	local script='enable -f "$1" zygote || exit 112
		sleep 5 & bg=$!; trap "echo trapped" USR1 EXIT; trap "" USR2; x=zygote-var
		printf R >&0; sleep 2.1
		zygote || exit $(($? - 1))
		read -r cmd
		read -r -a st </proc/$$/stat
		echo "pid $$ $BASHPID ppid $PPID pgid ${st[4]} seconds $SECONDS sub $BASH_SUBSHELL"
		echo "jobs [$(jobs -p)] bang [${!-}] traps [$(trap -p)] x $x random $RANDOM"
		chrt -p $$ | head -1 | sed "s/.*: //"
		eval "$cmd"'
	# (env --default-signal: a signal ignored by whoever ran the tests, e.g. SIGHUP under
	# nohup, would be inherited by the zygote and show in trap -p as a trap of its own.)
	run_cmd env --default-signal chrt -i 0 python3 "$WARDEN_SRC/t/lib/zygote.py" "$builtins_path" "$script" \
		'exit 3' 'kill -KILL $$' '@nofds' 'echo done'
	assert_success
	local driver zygote pid pids=() randoms=()
	driver=$(awk '$1 == "driver" { print $2 }' <<<"$output")
	zygote=$(awk '$1 == "zygote" { print $2 }' <<<"$output")
	mapfile -t pids < <(awk '$1 == "child" { print $3 }' <<<"$output")
	assert_equal "${#pids[@]}" 3
	for pid in "${pids[@]}"; do
		[[ $pid != "$zygote" && $pid != "$driver" ]]
		# its own pid as $$ and $BASHPID, the zygote's parent as parent, its own group
		# $SECONDS from its fork: 0, or 1 across a second's boundary (the zygote's: >= 2)
		assert_equal "$(grep -cE "^pid $pid $pid ppid $driver pgid $pid seconds [01] sub 0\$" <<<"$output")" 1
	done
	# no job, no $!, no trap of the zygote's; its variables
	assert_equal "$(grep -c '^jobs \[\] bang \[\] traps \[\] x zygote-var random ' <<<"$output")" 3
	mapfile -t randoms < <(awk '$1 == "jobs" { print $NF }' <<<"$output" | sort -u)
	assert_equal "${#randoms[@]}" 3
	assert_equal "$(grep -c '^SCHED_OTHER$' <<<"$output")" 3
	# exit status and death by a signal as the driver's waitpid sees them; a message
	# without three descriptors is refused (-EINVAL) and the zygote goes on; at EOF it
	# ends with status 0, running its own EXIT trap.
	assert_equal "$(grep -E '^(exited|signaled|answer|done|trapped|zygote exited)' <<<"$output")" \
		"$(printf '%s\n' 'exited 3' 'signaled 9' 'answer -22' 'done' 'exited 0' trapped 'zygote exited 0')"
	# Not on a socket: an error, status 2.
	run_cmd bash -c 'enable -f "$builtins_path" zygote; zygote </dev/null; echo "rc=$?"'
	assert_output_contains "zygote: receive: Socket operation on non-socket"
	assert_output_contains "rc=2"
}

@test "warden-builtins.so: zygote -c forks a zygote that stays the caller's child across exec; its children run a runner's request themselves" {
	[[ -e $builtins_path ]] || skip "not built (no bash headers): $builtins_path"
	cd "$TMP"
	printf '%s\n' '#!/bin/bash' 'read -r -a st </proc/$$/stat' \
		'echo "hook $0 pid $$ $BASHPID ppid $PPID pgid ${st[4]} opts $- x ${x-unset} K ${K-unset} traps [$(trap -p)]"' \
		'shopt -qo pipefail && echo pipefail || echo no-pipefail' 'set -e' 'false' 'echo not-reached' >hook.sh
	printf '%s\n' '#!/bin/bash' "trap 'echo exit-trap' EXIT" 'exit 4' >exit.sh
	chmod +x hook.sh exit.sh
	# The caller has errexit, pipefail, a trap and a variable of its own; it execs the
	# driver, which is then the zygote's parent and the children's.
	run_cmd env --default-signal bash -c 'enable -f "$builtins_path" zygote; set -euo pipefail; trap "echo caller-trap" EXIT
		x=caller-var; zygote -c zfd; echo "caller $$ pgid $(ps -o pgid= $$)"
		exec python3 "$WARDEN_SRC/t/lib/zygote.py" --fd "$zfd" "$PWD/hook.sh K=v" "$PWD/exit.sh"'
	assert_success
	local caller pgid pid
	read -r _ caller _ pgid <<<"$(grep '^caller ' <<<"$output")"
	assert_output_contains "driver $caller"
	pid=$(awk '$1 == "child" && $2 == 0 { print $3 }' <<<"$output")
	# its own $$, the caller (now the driver) as parent, the caller's process group (an
	# exec'd hook's), a fresh shell's options, the caller's variables, no trap; errexit
	# works in it; an EXIT trap and status of its own
	assert_output_contains "hook $TMP/hook.sh pid $pid $pid ppid $caller pgid $pgid opts hBc x caller-var K v traps []"
	assert_equal "$(grep -E '^(no-pipefail|pipefail|not-reached|exited|exit-trap|caller-trap)' <<<"$output")" \
		"$(printf '%s\n' no-pipefail 'exited 1' exit-trap 'exited 4')"
	run_cmd bash -c 'enable -f "$builtins_path" zygote; zygote -c; echo "rc=$?"; zygote -c 1x; echo "rc=$?"'
	assert_equal "$(grep -c '^rc=2$' <<<"$output")" 2
}

# mountinfo_under DIR: the mounts below DIR, without ids, device numbers and peer groups.
mountinfo_under() {
	awk -v d="$1/" 'index($5, d) == 1 { $1 = $2 = $3 = ""; print }' /proc/self/mountinfo |
		sed -E 's/ (shared|master):[0-9]+//g'
}

@test "warden-builtins.so: mount_fstab mounts an fstab as mount -a -T does; an option it does not do, nothing and status 2" {
	[[ -e $builtins_path ]] || skip "not built (no bash headers): $builtins_path"
	m=$TMP/m
	mkdir -p "$m/src" "$m/t"
	: >"$m/file"
	: >"$m/t/f"
	# Escaped spaces, flags and data, binds (recursive and read-only: the submount stays
	# writable, as with mount(8)), mount points made, a skipped line.
	cat >"$TMP/fstab" <<-EOF
		tmpfs $m/t/a\040b tmpfs mode=0700,size=1m,noatime,nosuid,X-mount.mkdir=0711 0 0
		$m/src $m/t/bind none rbind,ro,nodev,X-mount.mkdir 0 0
		$m/file $m/t/f none bind,ro 0 0
		tmpfs $m/t/skipped tmpfs noauto,X-mount.mkdir 0 0
		proc $m/t/proc proc nosuid,nodev,noexec,X-mount.mkdir,x-whatever 0 0
	EOF
	outputs=()
	for how in 'mount -a -T "$2"' 'enable -f "$builtins_path" mount_fstab && mount_fstab "$2"'; do
		run_cmd unshare -m -p -f bash -c '. "$3"; mount --make-rprivate / &&
			mount -t tmpfs tmpfs "$1/src" && mkdir "$1/src/sub" && mount -t tmpfs tmpfs "$1/src/sub" &&
			'"$how"' && mountinfo_under "$1/t" && stat -c %a "$1/t/a b"' \
			_ "$m" "$TMP/fstab" <(declare -f mountinfo_under)
		assert_success
		outputs+=("$output")
	done
	assert_equal "${outputs[1]}" "${outputs[0]}" "mountinfo after mount_fstab (vs mount -a -T)"
	run_cmd printf '%s\n' "${outputs[0]}"
	assert_line_match 0 "* / $m/t/a\\\\040b rw,nosuid,noatime - tmpfs tmpfs rw,size=1024k,mode=700"
	assert_line_match 1 "* / $m/t/bind ro,nodev,relatime - tmpfs tmpfs *"
	assert_line_match 2 "* / $m/t/bind/sub rw,relatime - tmpfs tmpfs *"
	assert_line_match 3 "*/file $m/t/f ro,relatime *"
	assert_line_match 4 "* / $m/t/proc rw,nosuid,nodev,noexec,relatime - proc proc rw"
	assert_line 5 700
	# An option mount(8) does itself: nothing mounted, status 2, said unless -q; then
	# w_mount_fstab runs mount(8).
	printf 'tmpfs %s tmpfs nofail,X-mount.mkdir 0 0\n' "$m/t/n" >>"$TMP/fstab"
	run_cmd unshare -m -p -f bash -c 'enable -f "$builtins_path" mount_fstab; mount_fstab "$1"; echo "rc=$?"
		mount_fstab -q "$1"; echo "rc=$?"; grep -c " $2/" /proc/self/mounts' _ "$TMP/fstab" "$m"
	assert_output_contains "mount_fstab: $m/t/n: option nofail: not done here, run mount(8)"
	assert_line -3 rc=2
	assert_line -2 rc=2
	assert_line -1 0
	stub_tools mount
	run_cmd unshare -m -p -f bash -c '. "$1/lib/common.sh"; mount --make-rprivate /
		w_mount_fstab "$2" && grep -c " $3/t/n " /proc/self/mounts' _ "$HK_HOOKS" "$TMP/fstab" "$m"
	assert_success
	assert_line -1 1
	assert_grep "^mount -a -T $TMP/fstab\$" "$TMP/ran"
}

@test "warden-builtins.so: ip_batch sets links, addresses and routes as ip -batch does; a line it does not do, nothing and status 2" {
	[[ -e $builtins_path ]] || skip "not built (no bash headers): $builtins_path"
	# child-before-pivot.sh's two batches, in a network namespace with a veth pair each.
	show='ip -o addr | sed -E "s/^[0-9]+: //; /inet6 fe80/d"; ip -o -d link | sed -E "s/^[0-9]+: //; s/ (link\/ether|addrgenmode|numtxqueues) .*//"
		ip -d route show table all | grep -v fe80'
	printf '%s\n' 'link set lo up' 'addr add 10.199.0.2/30 dev v0' 'link set v0 mtu 1400 up' \
		'route add default via 10.199.0.1' >"$TMP/b1"
	printf '%s\n' 'link set lo up' 'addr add 10.99.0.5/24 dev v0' 'link set v0 mtu 1400 up' \
		'route add 10.199.0.1/32 dev v0 scope link' 'route add default via 10.199.0.1 dev v0' >"$TMP/b2"
	for b in b1 b2; do
		outputs=()
		for how in 'ip -batch - <"$1"' 'enable -f "$builtins_path" ip_batch && ip_batch <"$1"'; do
			run_cmd unshare -n bash -c 'ip link add v0 type veth peer name v1 && ip link set v1 up &&
				'"$how"' && '"$show" _ "$TMP/$b"
			assert_success
			outputs+=("$output")
		done
		assert_equal "${outputs[1]}" "${outputs[0]}" "links, addresses and routes after ip_batch <$b (vs ip -batch)"
	done
	assert_output_contains "unicast default via 10.199.0.1 dev v0 table main proto boot scope global"
	assert_output_contains "unicast 10.199.0.1 dev v0 table main proto boot scope link"
	# parent-after-clone.sh's veth pair, its container end made in another namespace.
	outputs=()
	for how in 'ip -batch -' 'enable -f "$builtins_path" ip_batch && ip_batch'; do
		run_cmd unshare -n bash -c 'unshare -n sleep 60 & ns=$!
			for ((i = 0; i < 100; i++)); do
				[[ $(readlink "/proc/$ns/ns/net") == "$(readlink /proc/self/ns/net)" ]] || break
				sleep 0.02
			done
			printf "%s\n" "link add name h0 mtu 1400 type veth peer name c0 mtu 1400 netns $ns" \
				"addr add 10.199.0.1/30 dev h0" "link set h0 up" | { '"$how"'; } || echo failed
			{ ip -o -d link show h0; ip -o -4 addr show h0; nsenter -t "$ns" -n ip -o -d link show c0; } |
				sed -E "s/^[0-9]+: //; s/link\/ether [0-9a-f:]+ brd [0-9a-f:]+//; s/link-netnsid [0-9]+//"
			kill "$ns"'
		assert_success
		outputs+=("$output")
	done
	assert_equal "${outputs[1]}" "${outputs[0]}" "the veth pair after ip_batch (vs ip -batch)"
	assert_output_contains "c0@if"
	assert_output_contains "inet 10.199.0.1/30"
	# A line ip(8) does itself: nothing done, status 2, said unless -q; w_ip_batch then
	# runs ip -batch.
	printf '%s\n' 'link set lo up' 'link add v2 type veth peer name v3' >"$TMP/b3"
	run_cmd unshare -n bash -c 'enable -f "$builtins_path" ip_batch; ip_batch <"$1"; echo "rc=$?"
		ip_batch -q <"$1"; echo "rc=$?"; ip -o link show up | wc -l' _ "$TMP/b3"
	assert_output_contains "ip_batch: line 2: not done here, run ip(8): link add v2 type veth peer name v3"
	assert_line -3 rc=2
	assert_line -2 rc=2
	assert_line -1 0
	stub_tools ip
	run_cmd unshare -n bash -c '. "$1/lib/common.sh"; w_ip_batch <"$2" && ip -o link show v3 | wc -l' \
		_ "$HK_HOOKS" "$TMP/b3"
	assert_success
	assert_line -1 1
	assert_grep "^ip -batch -\$" "$TMP/ran"
}

@test "setup.sh: skeleton and home without cp or install where builtins are; the programs where not, alike" {
	stub_tools cp install
	run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	assert_file "$TMP/ran" ""
	want=$(ct_listing)
	assert_equal "$(stat -c '%u:%g %a' "$container_path/overlay/upper/home/vcap")" "10001:10001 755" "home"
	# No warden builtins: install makes the home, the same way.
	rm -rf "$container_path"
	builtins_path='' run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	assert_file "$TMP/ran" "install -d -o 10001 -g 10001 -m 0755 $container_path/overlay/upper/home/vcap"
	assert_equal "$(ct_listing)" "$want" "the container directory made with install"
	# A skeleton bash cannot copy (a link here; a node, an executable, a NUL byte or
	# another owner too) goes to cp -a, whole.
	cp -a "$HK_SRC/skeleton" "$TMP/skel"
	ln -s /etc "$TMP/skel/link"
	printf 'a\nb\n\n' >"$TMP/skel/etc/text"
	chmod 0700 "$TMP/skel/tmp"
	rm -rf "$container_path"
	: >"$TMP/ran"
	skeleton_path=$TMP/skel run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	assert_file "$TMP/ran" "cp -a $TMP/skel/. $container_path"
	# A skeleton_path that is a symbolic link: cp -a copies the directory it names, so
	# the container's directory is a directory, not a second name of the skeleton.
	local tree skel
	tree=$(ct_listing) skel=$(find "$TMP/skel" | sort)
	rm -rf "$container_path"
	ln -s skel "$TMP/skel-link"
	skeleton_path=$TMP/skel-link run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	[[ -d $container_path && ! -L $container_path ]] || _explain "the container's directory is a link"
	assert_equal "$(ct_listing)" "$tree" "the container directory copied through the link"
	assert_equal "$(find "$TMP/skel" | sort)" "$skel" "the skeleton after the copy"
	rm "$TMP/skel-link"
	# ... and without the link skel_copy copies it: the same tree, modes and contents
	# (it leaves out git's .gitkeep placeholders, which cp -a copies).
	rm "$TMP/skel/link" "$container_path/link"
	cp_listing=$(ct_listing | grep -v '/\.gitkeep $')
	rm -rf "$container_path"
	: >"$TMP/ran"
	skeleton_path=$TMP/skel run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	assert_file "$TMP/ran" ""
	assert_equal "$(ct_listing)" "$cp_listing" "the container directory bash copied"
	cmp "$TMP/skel/etc/text" "$container_path/etc/text"
	# An executable goes to cp -a; a NUL byte, which bash's copy (no warden builtins)
	# cannot hold, to skel_copy where it is there, else to cp -a.
	for odd in exec nul nul-no-builtins; do
		rm -rf "$container_path" "$TMP/skel2"
		cp -a "$HK_SRC/skeleton" "$TMP/skel2"
		case $odd in
		exec) printf 'x\n' >"$TMP/skel2/bin/tool" && chmod 0755 "$TMP/skel2/bin/tool" ;;
		nul*) printf 'a\0b' >"$TMP/skel2/etc/nul" ;;
		esac
		: >"$TMP/ran"
		if [[ $odd == nul-no-builtins ]]; then
			skeleton_path=$TMP/skel2 builtins_path='' run_cmd "$HK_HOOKS/setup.sh"
		else
			skeleton_path=$TMP/skel2 run_cmd "$HK_HOOKS/setup.sh"
		fi
		assert_success
		case $odd in
		nul) assert_file "$TMP/ran" "" ;;
		nul-no-builtins) assert_file "$TMP/ran" "$(printf '%s\n' "cp -a $TMP/skel2/. $container_path" \
			"install -d -o 10001 -g 10001 -m 0755 $container_path/overlay/upper/home/vcap")" ;;
		*) assert_file "$TMP/ran" "cp -a $TMP/skel2/. $container_path" ;;
		esac
		cmp "$TMP/skel2/etc/nul" "$container_path/etc/nul" 2>/dev/null || [[ $odd == exec ]]
	done
}

@test "setup.sh with user namespaces: dev/ links and owners without ln or chown where builtins are; the programs where not, alike" {
	export user_namespaces=true userns_root_uid=300000
	stub_tools ln chown install cp
	run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	assert_file "$TMP/ran" ""
	want=$(ct_listing)
	assert_equal "$(readlink "$container_path/dev/fd") $(readlink "$container_path/dev/ptmx")" \
		"/proc/self/fd pts/ptmx" "dev/ links"
	assert_equal "$(stat -c '%u:%g' "$container_path/overlay/work" "$container_path/dev/fd" \
		"$container_path/overlay/upper/home/vcap" | tr '\n' ' ')" \
		"300000:300000 300000:300000 310001:310001 " "owners"
	rm -rf "$container_path"
	builtins_path='' run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	assert_grep "^chown -R 300000:300000 $container_path/overlay " "$TMP/ran"
	assert_equal "$(ct_listing)" "$want" "the container directory made with chown(1)"
}

@test "setup.sh: loopback nameservers become the host side of the veth; a stale dir is replaced" {
	printf 'search example.org\nnameserver 127.0.0.53\nnameserver 127.0.0.1\noptions edns0\n' >"$TMP/resolv"
	export host_resolv_conf=$TMP/resolv
	mkdir -p "$container_path/stale"
	run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	assert_file "$container_path/overlay/upper/etc/resolv.conf" \
		"$(printf 'search example.org\nnameserver 10.199.0.1\noptions edns0')"
	refute_exists "$container_path/stale"
	# A vcap already in the rootfs is replaced, not doubled.
	export rootfs_path=$TMP/rootfs2
	mkdir -p "$rootfs_path/etc"
	printf 'root:x:0:0::/root:/bin/sh\nvcap:x:1000:1000::/home/vcap:/bin/sh\n' >"$rootfs_path/etc/passwd"
	run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	assert_equal "$(grep -c '^vcap:' "$container_path/overlay/upper/etc/passwd")" 1 "vcap lines"
	assert_grep '^vcap:x:10001:10001::/home/vcap:/bin/sh$' "$container_path/overlay/upper/etc/passwd"
}

@test "setup.sh: a bad bind mount line fails with a clear last line" {
	export bind_mounts=$'/etc\t/x\tmaybe'
	run_cmd "$HK_HOOKS/setup.sh"
	assert_failure 1
	assert_line_match -1 'setup.sh: bad bind mount line*'
}

@test "setup.sh: hostname, tmpfs_mounts and sysctls into /etc/hostname, /etc/hosts, etc/tmpfs_mounts, etc/sysctls and etc/config" {
	export hostname=web-1.example tmpfs_mounts=$'/scratch\tmode=0700,size=4096,nosuid\n/run\tmode=1777' \
		sysctls=$'net.ipv4.ip_forward\t1\nkernel.shmmni\t100 200' read_only_root=true
	run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	assert_file "$container_path/overlay/upper/etc/hostname" web-1.example
	assert_grep ' web-1.example$' "$container_path/overlay/upper/etc/hosts"
	assert_file "$container_path/etc/tmpfs_mounts" "$tmpfs_mounts"
	assert_file "$container_path/etc/sysctls" "$sysctls"
	run_cmd env -i bash -c 'set -a; . "$1"; printf "%s|" "$hostname" "$tmpfs_mounts" "$sysctls" "$read_only_root"' \
		_ "$container_path/etc/config"
	assert_output "$hostname|$tmpfs_mounts|$sysctls|true|"
	# Without them, empty files and the id.
	unset hostname tmpfs_mounts sysctls read_only_root
	run_cmd "$HK_HOOKS/setup.sh"
	assert_success
	assert_file "$container_path/overlay/upper/etc/hostname" "$HK_ID"
	assert_file "$container_path/etc/tmpfs_mounts" ''
	assert_file "$container_path/etc/sysctls" ''
}

@test "setup.sh: a bad tmpfs line, a host sysctl, a bad hostname or read_only_root fail with a clear last line" {
	local bad
	while IFS='|' read -r var val msg; do
		bad=${val//\\t/$'\t'}
		run_cmd env "$var=$bad" "$HK_HOOKS/setup.sh"
		assert_failure 1
		assert_line_match -1 "setup.sh: $msg*"
	done <<-'EOF'
		tmpfs_mounts|x\tmode=1777|bad tmpfs mount line
		tmpfs_mounts|/a/../b\tmode=1777|bad tmpfs mount line
		tmpfs_mounts|/a\tmode=1777,size=1;reboot|bad tmpfs mount line
		tmpfs_mounts|/a\tsize=1|bad tmpfs mount line
		sysctls|kernel.hostname\tx|sysctl kernel.hostname is not of the container's own namespaces
		sysctls|net..x\t1|sysctl net..x is not of the container's own namespaces
		hostname|a_b|hostname must be labels
		read_only_root|yes|read_only_root must be true or false
	EOF
}

@test "host-setup.sh: idempotent, exactly one jump each, the instance chains" {
	fake_v2
	run_cmd "$HK_HOOKS/host-setup.sh"
	assert_success
	run_cmd "$HK_HOOKS/host-setup.sh"
	assert_success
	assert_file /proc/sys/net/ipv4/ip_forward 1
	hk_assert_rule_count 1 filter "-A FORWARD -j warden-$HK_INSTANCE-forward"
	hk_assert_rule_count 1 filter "-A INPUT -i $HK_INSTANCE-+ -j warden-$HK_INSTANCE-input"
	hk_assert_rule_count 1 nat "-A POSTROUTING -j warden-$HK_INSTANCE-postrouting"
	hk_assert_rule_count 1 nat "-A PREROUTING -m addrtype --dst-type LOCAL -j warden-$HK_INSTANCE-prerouting"
	hk_assert_rule_count 1 nat "-A OUTPUT -m addrtype --dst-type LOCAL -j warden-$HK_INSTANCE-prerouting"
	local c=warden-$HK_INSTANCE
	run_cmd hk_chain_rules "$c-input"
	assert_output "$(printf '%s\n' "-N $c-input" \
		"-A $c-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" \
		"-A $c-input -d 127.0.0.0/8 -j DROP" \
		"-A $c-input -p udp -m udp --dport 53 -j ACCEPT" \
		"-A $c-input -p tcp -m tcp --dport 53 -j ACCEPT" \
		"-A $c-input -j REJECT --reject-with icmp-host-prohibited")"
	run_cmd hk_chain_rules "$c-forward"
	assert_output "$(printf '%s\n' "-N $c-forward" \
		"-A $c-forward -i $HK_INSTANCE-+ -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" \
		"-A $c-forward -i $HK_INSTANCE-+ -j $c-default")"
	run_cmd hk_chain_rules "$c-default"
	assert_output "$(printf '%s\n' "-N $c-default" \
		"-A $c-default -j REJECT --reject-with icmp-net-prohibited")"
	run_cmd hk_chain_rules "$c-postrouting" nat
	assert_output "$(printf '%s\n' "-N $c-postrouting" \
		"-A $c-postrouting -s 10.199.0.0/22 ! -d 10.199.0.0/22 -j MASQUERADE" \
		"-A $c-postrouting -s 127.0.0.0/8 -o $HK_INSTANCE-+ -j MASQUERADE")"
	assert_dir "$cgroup_root/warden-$HK_INSTANCE"
	# deny_networks before allow_networks; allow_host_access drops the final REJECT; a
	# container's chains get their jumps back on a re-run (a restart adopts containers),
	# right after the head rules.
	mkdir -p "$container_path/run"
	"$HK_HOOKS/net.sh" out 10.9.0.0/16 - all nolog
	"$HK_HOOKS/net.sh" in 62000 80
	allow_host_access=true allow_networks="10.0.0.0/8 192.168.1.1/32" deny_networks=10.0.0.5/32 \
		run_cmd "$HK_HOOKS/host-setup.sh"
	assert_success
	run_cmd hk_chain_rules "$c-input"
	refute_output_contains REJECT
	run_cmd hk_chain_rules "$c-default"
	assert_output "$(printf '%s\n' "-N $c-default" \
		"-A $c-default -d 10.0.0.5/32 -j REJECT --reject-with icmp-net-prohibited" \
		"-A $c-default -d 10.0.0.0/8 -j ACCEPT" \
		"-A $c-default -d 192.168.1.1/32 -j ACCEPT" \
		"-A $c-default -j REJECT --reject-with icmp-net-prohibited")"
	hk_assert_rule_count 1 filter "-A $c-forward -i $HK_INSTANCE-$HK_ID-0 -j $c-$HK_ID"
	hk_assert_rule_count 1 filter "-A $c-input -i $HK_INSTANCE-$HK_ID-0 -j $c-$HK_ID"
	hk_assert_rule_count 1 nat "-A $c-prerouting -j $c-$HK_ID"
	run_cmd hk_chain_rules "$c-forward"
	assert_line_match 2 "-A $c-forward -i $HK_INSTANCE-$HK_ID-0 -j $c-$HK_ID"
	"$HK_HOOKS/net.sh" teardown
}

# cg_favor_dynmods against a made-up mountinfo and features file, with a mount(8) that
# records its arguments (and fails when T10_MOUNT_FAIL is set): nothing real is remounted.
favor_env() {
	local bin=$TMP/bin cg=$TMP/cg
	mkdir -p "$bin" "$cg"
	printf '%s\n' '#!/bin/bash' 'printf "%s\n" "$*" >>"$T10_MOUNT_LOG"' '[[ -z ${T10_MOUNT_FAIL:-} ]]' >"$bin/mount"
	chmod 0755 "$bin/mount"
	export PATH=$bin:$PATH T10_MOUNT_LOG=$TMP/mount.log cgroup_root=$cg
	export cg_mountinfo=$TMP/mountinfo cg_features=$TMP/features
	printf '%s\n' "30 23 0:28 / $cg rw,relatime - tmpfs tmpfs rw,mode=755" \
		"31 30 0:29 / $cg/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu" \
		"41 30 0:38 / $cg/unified rw,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot" \
		"50 23 0:40 / /elsewhere rw - cgroup2 cgroup2 rw" >"$cg_mountinfo"
	printf '%s\n' nsdelegate favordynmods memory_localevents >"$cg_features"
}

@test "host-setup.sh: cg_favor_dynmods remounts the cgroup2 tree keeping its options; a refusal is a warning" {
	favor_env
	run_cmd hk_lib cg_favor_dynmods
	assert_success
	assert_output ""
	# A hybrid host: the unified tree, not the v1 controller nor a cgroup2 mount elsewhere.
	assert_file "$T10_MOUNT_LOG" "-o remount,nsdelegate,memory_recursiveprot,favordynmods $cgroup_root/unified"
	rm "$T10_MOUNT_LOG"
	T10_MOUNT_FAIL=1 run_cmd hk_lib cg_favor_dynmods
	assert_success
	assert_output_contains "cannot remount $cgroup_root/unified with favordynmods (server.cgroup_favor_dynmods)"
	assert_file "$T10_MOUNT_LOG" "-o remount,nsdelegate,memory_recursiveprot,favordynmods $cgroup_root/unified"
	rm "$T10_MOUNT_LOG"
	# Off: nothing.
	cgroup_favor_dynmods=false run_cmd hk_lib cg_favor_dynmods
	assert_success
	assert_output ""
	[[ ! -e $T10_MOUNT_LOG ]] || _explain "mount ran with cgroup_favor_dynmods=false"
	# A kernel without the option: a warning, no mount.
	echo nsdelegate >"$cg_features"
	run_cmd hk_lib cg_favor_dynmods
	assert_success
	assert_output_contains "this kernel has no cgroup favordynmods"
	[[ ! -e $T10_MOUNT_LOG ]] || _explain "mount ran on a kernel without favordynmods"
	echo favordynmods >"$cg_features"
	# Already on: nothing.
	sed -i 's/memory_recursiveprot$/memory_recursiveprot,favordynmods/' "$cg_mountinfo"
	run_cmd hk_lib cg_favor_dynmods
	assert_success
	assert_output ""
	[[ ! -e $T10_MOUNT_LOG ]] || _explain "mount ran with favordynmods already on"
	# A pure v1 host: a v1 hierarchy is tried (and refused by real kernels).
	sed -i '/cgroup2/d' "$cg_mountinfo"
	run_cmd hk_lib cg_favor_dynmods
	assert_success
	assert_file "$T10_MOUNT_LOG" "-o remount,cpu,favordynmods $cgroup_root/cpu"
	rm "$T10_MOUNT_LOG"
	# A plain directory for cgroup_root (tests): nothing.
	cgroup_root=$TMP/plain run_cmd hk_lib cg_favor_dynmods
	assert_success
	assert_output ""
	[[ ! -e $T10_MOUNT_LOG ]] || _explain "mount ran for a plain directory"
}

@test "lib/common.sh w_sleep: sleeps without a process, and what the hook says after it still reaches stderr" {
	run_cmd hk_lib 'w_now_us; a=$w_now; w_sleep 0.2; w_now_us; echo "slept $(((w_now - a) / 100000))" >&2; die "the reason"'
	assert_failure 1
	assert_line_match 0 "slept [2-9]"
	assert_line_match 1 "*: the reason"
}

@test "host-teardown.sh: refuses while a container's jump is left, then removes every trace" {
	fake_v2
	"$HK_HOOKS/host-setup.sh"
	iptables -w -A "warden-$HK_INSTANCE-forward" -i "$HK_INSTANCE-x-0" -j ACCEPT
	run_cmd "$HK_HOOKS/host-teardown.sh"
	assert_failure 1
	assert_line_match -1 "*instance $HK_INSTANCE still has containers*"
	iptables -w -D "warden-$HK_INSTANCE-forward" -i "$HK_INSTANCE-x-0" -j ACCEPT
	# A container without rules of its own: its veth.
	ip link add "$HK_INSTANCE-x-0" type veth peer name "$HK_INSTANCE-x-1"
	teardown_wait=1 run_cmd "$HK_HOOKS/host-teardown.sh"
	assert_failure 1
	assert_line_match -1 "*instance $HK_INSTANCE still has containers (interface $HK_INSTANCE-x-0)*"
	# A veth that goes away while it waits (as a dying namespace's does) is no container.
	{ sleep 0.5 && ip link del "$HK_INSTANCE-x-0"; } &
	local del=$!
	teardown_wait=5 run_cmd "$HK_HOOKS/host-teardown.sh"
	wait "$del"
	assert_success
	run_cmd iptables-save -t filter
	refute_output_contains "warden-$HK_INSTANCE-"
	run_cmd iptables-save -t nat
	refute_output_contains "warden-$HK_INSTANCE-"
	refute_exists "$cgroup_root/warden-$HK_INSTANCE"
	# Nothing left to remove is not an error.
	run_cmd "$HK_HOOKS/host-teardown.sh"
	assert_success
}

@test "net.sh: in and out make the container's chains and jumps on first use; teardown leaves nothing" {
	fake_v2
	local c=warden-$HK_INSTANCE bad
	mkdir -p "$container_path/run"
	"$HK_HOOKS/host-setup.sh"
	run_cmd "$HK_HOOKS/net.sh" out 10.0.0.0/8 80:90 tcp log
	assert_success
	run_cmd "$HK_HOOKS/net.sh" out 10.1.2.3/32 - icmp nolog
	assert_success
	run_cmd hk_chain_rules "$c-$HK_ID"
	assert_output "$(printf '%s\n' "-N $c-$HK_ID" \
		"-A $c-$HK_ID -d 10.0.0.0/8 -p tcp -m tcp --dport 80:90 -m conntrack --ctstate NEW -j LOG --log-prefix \"$c-$HK_ID \"" \
		"-A $c-$HK_ID -d 10.0.0.0/8 -p tcp -m tcp --dport 80:90 -j ACCEPT" \
		"-A $c-$HK_ID -d 10.1.2.3/32 -p icmp -j ACCEPT")"
	hk_assert_rule_count 1 filter "-A $c-forward -i $HK_INSTANCE-$HK_ID-0 -j $c-$HK_ID"
	hk_assert_rule_count 1 filter "-A $c-input -i $HK_INSTANCE-$HK_ID-0 -j $c-$HK_ID"
	run_cmd "$HK_HOOKS/net.sh" in 62000 8080
	assert_success
	run_cmd "$HK_HOOKS/net.sh" in 62001 8081
	assert_success
	run_cmd hk_chain_rules "$c-$HK_ID" nat
	assert_output "$(printf '%s\n' "-N $c-$HK_ID" \
		"-A $c-$HK_ID -p tcp -m tcp --dport 62000 -j DNAT --to-destination 10.199.0.2:8080" \
		"-A $c-$HK_ID -p tcp -m tcp --dport 62001 -j DNAT --to-destination 10.199.0.2:8081")"
	hk_assert_rule_count 1 nat "-A $c-prerouting -j $c-$HK_ID"
	run_cmd "$HK_HOOKS/net.sh" teardown
	assert_success
	run_cmd hk_chain_rules "$c-$HK_ID"
	assert_failure
	run_cmd hk_chain_rules "$c-$HK_ID" nat
	assert_failure
	run_cmd iptables-save
	refute_output_contains "$c-$HK_ID"
	run_cmd "$HK_HOOKS/net.sh" teardown
	assert_success
	for bad in "in 0 80" "in 80" "in 1 x" "out 10.0.0.0 - tcp log" "out 10.0.0.0/8 80 icmp log" \
		"out 10.0.0.0/8 - tcp maybe" sideways; do
		# shellcheck disable=SC2086 # words on purpose
		run_cmd "$HK_HOOKS/net.sh" $bad
		assert_failure 2
	done
	run_cmd iptables-save
	refute_output_contains "$c-$HK_ID"
}

@test "every hook answers --help with its header comment, needing no environment" {
	local f first
	for f in "$HK_HOOKS"/*.sh; do
		# child-after-pivot.sh ships as comments only, which wshd does not run at all
		# (t/20): its header is all it has.
		if [[ ${f##*/} == child-after-pivot.sh ]]; then
			run_cmd grep -Ev '^[[:space:]]*(#|$)' "$f"
			assert_failure 1
			continue
		fi
		run_cmd env -i PATH="$PATH" "$f" --help
		assert_success
		# The first line of the help is the second line of the file, without "# ".
		first=$(sed -n '2,/^[^#]/{/^# shellcheck/d;/^#/{s/^# //p;q}}' "$f")
		[[ -n $first ]] || _explain "$f: no header comment"
		assert_line 0 "$first"
		refute_output_contains "is not set"
	done
}

@test "destroy.sh: a container that does not exist" {
	run_cmd "$HK_HOOKS/destroy.sh"
	assert_success
	refute_exists "$container_path"
}

@test "destroy.sh: a half-built container (dir, cgroups with a process, veth, chain, a mount)" {
	requires cgroup1
	export cgroup_root=/sys/fs/cgroup
	"$HK_HOOKS/setup.sh"
	"$HK_HOOKS/host-setup.sh"
	run_cmd "$HK_HOOKS/parent-before-clone.sh"
	assert_success
	# Stands in for the container's init (it stays in the host's network namespace,
	# so both ends of the pair are visible here).
	hk_start sleep 1000
	PID=$HK_LAST_PID run_cmd "$HK_HOOKS/parent-after-clone.sh"
	assert_success
	# ip, not /sys/class/net: sysfs shows the namespace that mounted it, not ours.
	run_cmd ip -o link show dev "$HK_INSTANCE-$HK_ID-1"
	assert_success
	run_cmd ip -o link show dev "$HK_INSTANCE-$HK_ID-0"
	assert_output_contains " mtu 1400 "
	run_cmd ip -o addr show dev "$HK_INSTANCE-$HK_ID-0"
	assert_output_contains 'inet 10.199.0.1/30'
	assert_grep "^$HK_LAST_PID\$" "/sys/fs/cgroup/memory/warden-$HK_INSTANCE/$HK_ID/cgroup.procs"
	"$HK_HOOKS/net.sh" out 10.0.0.0/8 - all nolog
	"$HK_HOOKS/net.sh" in 62000 80
	run_cmd hk_chain_rules "warden-$HK_INSTANCE-$HK_ID" nat
	assert_success
	mount -t tmpfs tmpfs "$container_path/mnt"
	run_cmd "$HK_HOOKS/destroy.sh"
	assert_success
	refute_exists "$container_path"
	run_cmd ip -o link show dev "$HK_INSTANCE-$HK_ID-0"
	assert_failure
	refute_exists "/sys/fs/cgroup/memory/warden-$HK_INSTANCE/$HK_ID"
	hk_refute_alive "$HK_LAST_PID"
	run_cmd hk_chain_rules "warden-$HK_INSTANCE-$HK_ID"
	assert_failure
	run_cmd hk_chain_rules "warden-$HK_INSTANCE-$HK_ID" nat
	assert_failure
	run_cmd grep " $container_path" /proc/self/mounts
	assert_failure 1
	run_cmd "$HK_HOOKS/destroy.sh"
	assert_success
}

@test "child-before-pivot.sh: overlay, /proc, /dev, bind mounts, hostname and network in new namespaces" {
	child_before_pivot
	# The device nodes made by warden's mknod builtin, not copied by cp; the fstab
	# mounted by its mount_fstab, not mount(8) (which binds bind_mounts' /etc).
	# The veth pair and the container's network set by its ip_batch, not ip(8) (the
	# test's own ip calls come after).
	if [[ -e $builtins_path ]]; then
		run_cmd grep -v '^ip -o -4 addr show\|^ip route show default' "$TMP/ran"
		assert_output "$(printf 'mount --bind /etc %s\nmount -o remount,bind,ro %s' \
			"$container_path/mnt/mnt/hostetc" "$container_path/mnt/mnt/hostetc")"
	fi
}

@test "child-before-pivot.sh: without warden's builtins cp copies the host's device nodes, alike" {
	builtins_path='' child_before_pivot
	assert_grep "^mount -a -T $container_path/etc/fstab\$" "$TMP/ran"
	assert_equal "$(grep -c '^ip -batch -$' "$TMP/ran")" 2 "ip -batch runs (the veth's and the container's)"
	assert_grep "^cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty $container_path/mnt/dev/\$" "$TMP/ran"
}

# The test of child-before-pivot.sh, run with and without warden's builtins.
child_before_pivot() {
	requires cgroup1
	stub_tools cp mount ip
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
			cd "$m/dev" && stat -c "%n %F %t:%T %a" null zero full random urandom tty | tr "\n" " "
			echo
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
	[[ -n $child ]] || { echo "-- the namespaced child of $pid did not appear" >&2; false; }
	PID=$child run_cmd "$HK_HOOKS/parent-after-clone.sh"
	assert_success
	echo go >"$TMP/go"
	wait "$pid" || { cat "$TMP/hook.out" >&2; false; }
	cat "$TMP/result" >&2
	run_cmd cat "$TMP/result"
	assert_line 0 "$HK_ID"
	assert_line 1 "$HK_ID"
	assert_line 2 "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero "
	assert_line 3 "proc ok"
	assert_line 4 "ro ok"
	assert_line 5 "null ok"
	assert_line 6 "10.199.0.2/30"
	assert_line_match 7 "default via 10.199.0.1 dev $HK_INSTANCE-$HK_ID-1*"
	assert_line 8 "$(printf '%s character special file %s 666 ' null 1:3 zero 1:5 full 1:7 \
		random 1:8 urandom 1:9 tty 5:0)"
	assert_line 9 "done"
	# Nothing leaked into the host's mount namespace.
	run_cmd grep " $container_path/mnt" /proc/self/mounts
	assert_failure 1
	refute_exists "$rootfs_path/mnt/hostetc"
}

@test "mkrootfs-busybox: a tree where chroot runs /bin/sh; refuses a foreign non-empty dir" {
	run_cmd chroot "$HK_ROOTFS" /bin/sh -c 'echo ok'
	assert_output ok
	mkdir -p "$TMP/foreign"
	touch "$TMP/foreign/precious"
	run_cmd "$HK_SRC/scripts/mkrootfs-busybox" "$TMP/foreign"
	assert_failure 1
	assert_line_match -1 '*refusing*'
	assert_exists "$TMP/foreign/precious"
	run_cmd "$HK_SRC/scripts/mkrootfs-busybox" "$HK_ROOTFS"
	assert_success
	run_cmd "$HK_SRC/scripts/mkrootfs-busybox" --help
	assert_success
	assert_line_match 0 'usage:*'
}

@test "lib/common.sh iface_exists: this namespace's interfaces by one lookup, the same answer as /proc/net/dev" {
	local dev=${HK_INSTANCE}ifx other
	ip link del "$dev" 2>/dev/null || true
	run_cmd hk_lib "iface_exists lo && ! iface_exists $dev && ! iface_exists all && ! iface_exists default && ! iface_exists ../lo && echo fine"
	assert_output fine
	ip link add name "$dev" type veth peer name "${dev}p"
	run_cmd hk_lib "iface_exists $dev && echo there"
	ip link del "$dev"
	assert_output there
	run_cmd hk_lib "iface_exists $dev || echo gone"
	assert_output gone
	# another namespace's interface is not ours
	unshare --net sleep 30 &
	other=$!
	wait_for 5 eval "[[ \$(readlink /proc/$other/ns/net) != \$(readlink /proc/self/ns/net) ]]"
	nsenter -t "$other" -n ip link add name "$dev" type veth peer name "${dev}p"
	run_cmd hk_lib "iface_exists $dev || echo not-here"
	kill "$other"
	wait "$other" 2>/dev/null || true
	assert_output not-here
}
