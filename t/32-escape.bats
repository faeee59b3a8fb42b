#!/usr/bin/env bats
# Root in a container is not root on the host: each way out is tried for real, as root
# in the container (--privileged) and as its user, and must be refused. One container
# for the file, with a root and a user job left running so there are more processes to
# walk. The daemon runs with the default server.container_capabilities and seccomp on;
# t/33-confine-config.bats changes both. Nothing here writes a host value: sysctls get
# their own value back, sysrq-trigger is opened and never written.

# Scripts for the container are single-quoted on purpose.
# shellcheck disable=SC2016

load helpers

POOL=10.253.32
UID0=61300
ID=0afd2000 # the container on $POOL.0
# T32_USERNS=1 (t/34-userns.bats runs this file so): a pool and container of its own.
if [[ -n ${T32_USERNS:-} ]]; then POOL=10.253.34 ID=0afd2200; fi

# The default list of doc/security.md, as capsh --decode names them.
DEFAULT_CAPS=cap_audit_write,cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_mknod,cap_net_bind_service,cap_net_raw,cap_setfcap,cap_setgid,cap_setpcap,cap_setuid,cap_sys_chroot

setup_file() {
	export WINSTANCE=${WPREFIX}32
	[[ $(id -u) == 0 && -x $WARDEN_TEST_ROOTFS/bin/sh ]] || return 0
	# T32_USERNS=1 (t/34-userns.bats): the same walks with server.user_namespaces on.
	local userns=false
	if [[ -n ${T32_USERNS:-} ]]; then
		userns=true
		WTMP=$(mktemp -d /tmp/wt.XXXXXX) && chmod 0755 "$WTMP" && export WTMP
	fi
	wardend_start "{\"server\":{\"user_namespaces\":$userns},
		\"network\":{\"pool_start_address\":\"$POOL.0\",\"pool_size\":4},
		\"user\":{\"pool_start_uid\":$UID0,\"pool_size\":4}}"
	w create --handle e --network "$POOL.0" >/dev/null
	w spawn e 'sleep 600' --privileged >/dev/null
	w spawn e 'cd /tmp && sleep 600' >/dev/null
	# Host files the walks look for: in the container's directory (beside jobs/, which
	# wshd writes) and in the test's temp dir.
	echo marker >"$WTMP/depot/$ID/t32-marker"
	echo marker >"$WTMP/t32-marker"
	# walk.sh REL [PID...]: for every fd, cwd and root link of every process in /proc
	# (or of PID...), try LINK/REL, LINK/../REL, LINK/../../REL, ... (24 levels): any hit
	# is a way from that link to the host file at /REL. Prints each hit as ESCAPE and
	# the number of links walked. POSIX sh: runs with busybox inside and bash outside.
	cat >"$WTMP/walk.sh" <<'SH'
rel=$1; shift
[ $# -gt 0 ] || set -- /proc/[0-9]*
n=0
for p in "$@"; do
	p=/proc/${p#/proc/}
	for l in "$p"/fd/* "$p"/cwd "$p"/root; do
		[ -L "$l" ] || continue
		n=$((n + 1)); up=; i=0
		while [ $i -le 24 ]; do
			[ -e "$l/$up$rel" ] && echo "ESCAPE $l/$up$rel"
			up=../$up; i=$((i + 1))
		done
	done
done
echo "walked $n links"
SH
}

teardown_file() {
	wardend_stop
}

setup() {
	requires root rootfs wardend
	CT=$WTMP/depot/$ID
}

json() { jq -e "$@" <<<"$output"; }
jrun() { run_w run e "$1"; }
prun() { run_w run e "$1" --privileged; }

# walk_in_container [--privileged]: the walk for both markers, every process inside.
walk_in_container() {
	local rel script
	script=$(cat "$WTMP/walk.sh")
	for rel in "${WTMP#/}/t32-marker" "${CT#/}/t32-marker"; do
		run_w run e "set -- $rel; $script" "$@"
		assert_success
		refute_output_contains ESCAPE
		# wshd, the two sleeps, the shell: at least their cwd and root, and fds.
		if ! [[ $output =~ walked\ ([0-9]+)\ links ]] || ((BASH_REMATCH[1] < 8)); then
			_explain "the walk saw too few links"
		fi
	done
}

@test "the container is up with its two jobs" {
	jrun 'ps -o pid,user,args'
	assert_success
	assert_output_contains "sleep 600"
}

@test "the walk finds a host file through a directory descriptor (the check can fail)" {
	# A host process with the container's directory open: the same walk must see it.
	run_cmd bash -c 'exec 7<"$1"; sh "$2" "$3" "$BASHPID"' _ "$CT/jobs" "$WTMP/walk.sh" \
		"${CT#/}/t32-marker"
	assert_success
	assert_output_contains "ESCAPE /proc/"
}

@test "no fd, cwd or root of any process inside leads to a host file: as root" {
	walk_in_container --privileged
}

@test "no fd, cwd or root of any process inside leads to a host file: as the user" {
	walk_in_container
}

@test "wshd's own descriptors, walked from the host (root there sees them), lead nowhere" {
	local pid
	pid=$(cat "$CT/run/wshd.pid")
	run_cmd sh "$WTMP/walk.sh" "${CT#/}/t32-marker" "$pid"
	assert_success
	refute_output_contains ESCAPE
	# jobs/ is open, as a detached mount: its '..' is itself, the container's
	# directory is not there.
	local jobs
	jobs=$(ls -a "$CT/jobs")
	run_cmd bash -c 'for l in /proc/'"$pid"'/fd/*; do [[ ! -d $l/. ]] || ls -a "$l/../.."; done'
	assert_success
	assert_output_contains "$jobs" # jobs/ itself
	refute_output_contains t32-marker
	refute_output_contains overlay
}

@test "wshd is not dumpable: /proc/1/environ, fd, mem, root refused to root inside" {
	local f
	# (The numbers in /proc/1/fd can be listed; no link can be read or followed.)
	for f in 'cat /proc/1/environ' 'stat -L /proc/1/fd/0' \
		'head -c 1 /proc/1/fd/1' 'head -c 1 /proc/1/mem' 'ls /proc/1/root/' \
		'stat -L /proc/1/cwd'; do
		prun "$f"
		assert_failure
		assert_output_contains "denied"
	done
	# Every descriptor wshd holds (which numbers are open varies with what it has made
	# ahead): none can be followed, the directories among them included; one that closes
	# meanwhile (wshd serves this very job) counts as gone. With user namespaces not even
	# the numbers can be listed.
	prun 'set -- /proc/1/fd/*
	if [ "$1" = "/proc/1/fd/*" ]; then ls /proc/1/fd; exit; fi
	n=0 d=0 g=0
	for f; do
		n=$((n + 1)) r=$(ls "$f/" 2>&1)
		case $r in *denied*) d=$((d + 1)) ;; *"No such file"*) g=$((g + 1)) ;; esac
	done
	echo "$d of $n refused, $g gone"'
	if [[ $output =~ ^([0-9]+)\ of\ ([0-9]+)\ refused,\ ([0-9]+)\ gone$ ]]; then
		((BASH_REMATCH[1] >= 3)) || _explain "too few descriptors refused"
		assert_equal "$((BASH_REMATCH[1] + BASH_REMATCH[3]))" "${BASH_REMATCH[2]}" "descriptors refused or gone"
	else
		assert_failure
		assert_output_contains "denied"
	fi
	# ...while the jobs themselves are ordinary (exec resets it): a job reads its own.
	prun 'ls /proc/self/fd/ >/dev/null && head -c 4 /proc/self/environ'
	assert_success
}

@test "host sysctls are read-only, even to root; writing the value back fails" {
	local f before
	for f in kernel/core_pattern vm/panic_on_oom kernel/modprobe kernel/sysrq kernel/panic; do
		[[ -e /proc/sys/$f ]] || continue
		before=$(cat "/proc/sys/$f")
		prun "v=\$(cat /proc/sys/$f) && printf '%s\n' \"\$v\" >/proc/sys/$f"
		assert_failure
		assert_output_contains "Read-only file system"
		[[ $(cat "/proc/sys/$f") == "$before" ]] || _explain "host $f changed"
	done
}

@test "the container's own network sysctls stay writable for root, and stay its own" {
	local host
	host=$(cat /proc/sys/net/ipv4/tcp_keepalive_intvl)
	prun "echo $((host + 7)) >/proc/sys/net/ipv4/tcp_keepalive_intvl &&
		cat /proc/sys/net/ipv4/tcp_keepalive_intvl"
	if [[ -n ${T32_USERNS:-} ]]; then
		# In a user namespace the kernel lets the container's root write them only with
		# NET_ADMIN, which the default bounding set lacks (doc/security.md).
		assert_failure
		assert_output_contains "Permission denied"
	else
		assert_success
		assert_output "$((host + 7))"
	fi
	[[ $(cat /proc/sys/net/ipv4/tcp_keepalive_intvl) == "$host" ]]
	# The user still cannot (mode 0644, root's).
	jrun 'echo 9 >/proc/sys/net/ipv4/tcp_keepalive_intvl'
	assert_failure
}

@test "sysrq-trigger cannot be opened for writing" {
	[[ -e /proc/sysrq-trigger ]] || skip "this kernel has no /proc/sysrq-trigger"
	prun 'exec 3>>/proc/sysrq-trigger'
	assert_failure
	assert_output_contains "Read-only file system"
}

@test "kcore, keys, timer_list and the other masked files read empty; acpi, firmware are empty" {
	local p n=0
	for p in /proc/kcore /proc/keys /proc/timer_list /proc/timer_stats /proc/latency_stats \
		/proc/sched_debug; do
		[[ -f $p ]] || continue
		n=$((n + 1))
		prun "wc -c <$p"
		assert_success
		assert_output 0
	done
	for p in /proc/acpi /proc/asound /proc/scsi /sys/firmware; do
		[[ -d $p ]] || continue
		n=$((n + 1))
		prun "ls -A $p | wc -l"
		assert_success
		assert_output 0
	done
	((n > 0)) || skip "this kernel has none of the masked paths"
	# /proc/bus, /proc/irq, /proc/fs: read-only.
	prun 'for d in /proc/bus /proc/irq /proc/fs; do [ -e $d ] || continue;
		grep -q " $d proc ro," /proc/mounts || echo "$d writable"; done'
	assert_success
	assert_output ""
}

@test "mount, umount and pivot_root are refused to root" {
	prun 'mkdir -p /tmp/m && mount -t tmpfs x /tmp/m'
	assert_failure
	prun 'mount --bind / /tmp/m'
	assert_failure
	prun 'umount /proc/sys'
	assert_failure
	prun 'mount -o remount,rw /proc/sys'
	assert_failure
	prun 'grep -c " /tmp/m " /proc/mounts'
	assert_output 0
}

@test "module load, swapon and user namespaces are refused (seccomp and capabilities)" {
	prun 'insmod /bin/busybox'
	assert_failure
	assert_output_contains "not permitted"
	prun 'swapon /dev/null'
	assert_failure
	assert_output_contains "not permitted"
	# A user namespace needs no capability: only the filter refuses it (t/33: it works).
	jrun 'unshare -U true'
	assert_failure
	assert_output_contains "not permitted"
	prun 'unshare -U true'
	assert_failure
}

# decoded HEX: the names capsh gives the mask, sorted, comma-separated.
decoded() { capsh --decode="$1" | sed 's/^[^=]*=//' | tr , '\n' | sort | paste -sd, -; }

@test "root's capabilities: the default bounding set, nothing inheritable or ambient" {
	local f
	for f in CapBnd CapPrm CapEff; do
		prun "awk '/^$f:/ { print \$2 }' /proc/self/status"
		assert_success
		[[ $(decoded "$output") == "$DEFAULT_CAPS" ]] ||
			_explain "$f is $(decoded "$output"), not the default set"
	done
	prun "awk '/^Cap(Inh|Amb):/ { print \$2 }' /proc/self/status"
	assert_output $'0000000000000000\n0000000000000000'
}

@test "the user's capabilities: none, not even in the bounding set; no_new_privs" {
	jrun "awk '/^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):/ { print \$1, \$2 }' /proc/self/status"
	assert_success
	assert_output "CapInh: 0000000000000000
CapPrm: 0000000000000000
CapEff: 0000000000000000
CapBnd: 0000000000000000
CapAmb: 0000000000000000
NoNewPrivs: 1"
}

@test "Seccomp: 2 in every job: run and spawn, root and user" {
	prun 'grep "^Seccomp:" /proc/self/status'
	assert_output "Seccomp:	2"
	jrun 'grep "^Seccomp:" /proc/self/status'
	assert_output "Seccomp:	2"
	run_w spawn e 'grep "^Seccomp:" /proc/self/status'
	assert_success
	run_w link e "$output"
	assert_success
	assert_output_contains "Seccomp:	2"
}

@test "the filter is wshd's, inherited: one in every job, in pid 1 too; a spawned job is refused as a run one" {
	# wshd loads it once (doc/security.md): a job that loaded its own on top would show 2.
	prun 'grep -E "^Seccomp(_filters)?:" /proc/1/status /proc/self/status'
	assert_success
	assert_output "/proc/1/status:Seccomp:	2
/proc/1/status:Seccomp_filters:	1
/proc/self/status:Seccomp:	2
/proc/self/status:Seccomp_filters:	1"
	jrun 'grep "^Seccomp_filters:" /proc/self/status'
	assert_output "Seccomp_filters:	1"
	# Only the filter refuses a user namespace (t/33: it works without): EPERM, in a
	# spawned job of root's and of the user's.
	local who
	for who in --privileged ""; do
		# shellcheck disable=SC2086 # $who: no word or one
		run_w spawn e 'unshare -U true; echo "rc $?"' $who
		assert_success
		run_w link e "$output"
		assert_success
		assert_output_contains "Operation not permitted"
		assert_output_contains "rc 1"
	done
}

@test "a node of the host's disk can be made but not read (devices allow-list)" {
	local dev
	dev=$(awk 'NR > 2 && $4 !~ /^(loop|ram)/ { print $1, $2; exit }' /proc/partitions)
	[[ -n $dev ]] || skip "no block device in /proc/partitions"
	prun "mknod /tmp/hostdisk b $dev && head -c 512 /tmp/hostdisk | wc -c"
	assert_output_contains "not permitted"
	prun 'rm -f /tmp/hostdisk'
	assert_success
}
