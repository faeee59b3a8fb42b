# shellcheck shell=bash
# hook-runner: preload
# Variables not set here come from lib/common.sh or the hook environment.
# shellcheck disable=SC2154
# cgroup v1 and v2: making, filling, limiting and removing a container's cgroups (hooks
# never test the version themselves). wardend owns the version (src/wardend/cgroup.c
# looks at cgroup_root once at start-up and passes cgroup_version to every hook) and
# reads the stats; the layout below is the one src/wardend/cgroup.c reads. Detection
# here is only for a hook run by hand without cgroup_version.
# Sourced after lib/common.sh (needs instance, id, cgroup_root, w_cgroup, die).
#
# v1: one directory warden-<instance>/<id> under each controller that exists.
# v2: <cgroup_root>/warden-<instance>/<id>, controllers enabled in the parents'
#     cgroup.subtree_control. cgroup_root may be a plain directory (tests): every
#     function here only reads and writes files, so it works there too.

# Preloaded by the hook runner (lib/common.sh says how): then only cg_init is left to do.
if [[ -n ${w_preloaded_cgroup-} ]]; then
	cg_init
	return
fi

cg_v1_controllers=(cpu cpuacct memory devices pids cpuset freezer)
cg_v2_controllers=(cpuset cpu memory pids)
# v1 devices allow-list: null zero full random urandom tty ptmx pts, plus the mknod
# wildcards the kernel needs to create nodes on tmpfs. On v2 src/wshd/devfilter.c has
# the same list.
cg_v1_devices=("c 1:3 rwm" "c 1:5 rwm" "c 1:7 rwm" "c 1:8 rwm" "c 1:9 rwm"
	"c 5:0 rwm" "c 5:2 rwm" "c 136:* rwm" "c *:* m" "b *:* m")

# cg_init: the version and the container's directories, from the hook's environment.
cg_init() {
	case ${cgroup_version:-} in
	1 | 2) cg_version=$cgroup_version ;;
	"")
		if [[ -e $cgroup_root/cgroup.controllers ]]; then cg_version=2; else cg_version=1; fi
		;;
	*) die "cgroup_version must be 1, 2 or empty, not '$cgroup_version'" ;;
	esac

	# cg_dirs: the container's directories; cg_parents: the instance's directories.
	cg_dirs=()
	cg_parents=()
	if [[ $cg_version == 2 ]]; then
		cg_dirs=("$cgroup_root/$w_cgroup")
		cg_parents=("$cgroup_root/warden-$instance")
	else
		for cg_c in "${cg_v1_controllers[@]}"; do
			[[ -d $cgroup_root/$cg_c ]] || continue
			cg_dirs+=("$cgroup_root/$cg_c/$w_cgroup")
			cg_parents+=("$cgroup_root/$cg_c/warden-$instance")
		done
		unset cg_c
	fi
}

# The container's directory for controller $1.
cg_dir() {
	if [[ $cg_version == 2 ]]; then
		cg_d=$cgroup_root/$w_cgroup
	else
		cg_d=$cgroup_root/$1/$w_cgroup
	fi
}

cg_write() {
	{ printf '%s\n' "$2" >"$1"; } 2>/dev/null || die "cannot write '$2' to $1"
}

# v1 cpuset: a new cpuset has no cpus and no mems; copy them from the parent.
cg_v1_cpuset_copy() {
	local f v
	for f in cpuset.cpus cpuset.mems; do
		v=
		[[ -e $1/$f ]] && read -r v <"$1/$f"
		[[ -n $v ]] && continue
		read -r v <"${1%/*}/$f" || :
		cg_write "$1/$f" "$v"
	done
}

# v2: enable our controllers (those the kernel offers) for the children of $1.
cg_v2_enable() {
	local avail=() want="" c
	if [[ -e $cgroup_root/cgroup.controllers ]]; then
		read -r -a avail <"$cgroup_root/cgroup.controllers" || :
	else
		avail=("${cg_v2_controllers[@]}")
	fi
	for c in "${cg_v2_controllers[@]}"; do
		[[ " ${avail[*]} " == *" $c "* ]] && want+="${want:+ }+$c"
	done
	[[ -n $want ]] && cg_write "$1/cgroup.subtree_control" "$want"
	return 0
}

# The instance's parent cgroups (host-setup.sh, and before every container).
cg_create_parent() {
	local p new=()
	if [[ $cg_version == 2 ]]; then
		p=${cg_parents[0]}
		mkdir -p "$p" || die "cannot create cgroup $p"
		cg_v2_enable "$cgroup_root"
		cg_v2_enable "$p"
		return 0
	fi
	for p in "${cg_parents[@]}"; do
		[[ -d $p ]] || new+=("$p")
	done
	((${#new[@]})) || return 0
	# One mkdir for all controllers: forks dominate the cost of a hook.
	mkdir -p "${new[@]}" || die "cannot create cgroups ${new[*]}"
	for p in "${new[@]}"; do
		case $p in
		"$cgroup_root"/memory/*)
			# Always 1 on recent kernels; must be set before children exist on old ones.
			[[ -e $p/memory.use_hierarchy ]] && { printf '1\n' >"$p/memory.use_hierarchy"; } 2>/dev/null
			;;
		"$cgroup_root"/cpuset/*) cg_v1_cpuset_copy "$p" ;;
		esac
	done
	return 0
}

# cg_favor_dynmods (host-setup.sh): when cgroup_favor_dynmods is true (the default),
# remount the cgroup hierarchy of cgroup_root with favordynmods (Linux 6.0 and later),
# keeping its other options. Moving a process into a cgroup (cg_attach) then no longer
# waits for an RCU grace period (5-20 ms of a create here); forks and exits host-wide
# get slightly dearer. The kernel's flag covers every hierarchy, so the cgroup2 tree is
# used where there is one (a v2 root, a hybrid host's unified tree); on a pure v1 host a
# v1 hierarchy is tried, which kernels refuse (no flag changes at a v1 remount): the
# kernel command line's cgroup_favordynmods=1 does it there. Nothing when cgroup_root
# is on no cgroup file system (a plain directory in tests); a failure is a warning on
# stderr, never fatal. cg_mountinfo and cg_features name the kernel's files (tests).
cg_favor_dynmods() {
	local info=${cg_mountinfo:-/proc/self/mountinfo} features=${cg_features:-/sys/kernel/cgroup/features}
	local root=${cgroup_root%/} line mp fstype opts v2mp="" v2opts="" v1mp="" v1opts="" f have=""
	[[ ${cgroup_favor_dynmods:-true} == true ]] || return 0
	# mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER
	while read -r line; do
		read -r _ _ _ _ mp _ <<<"$line"
		read -r fstype _ opts <<<"${line#* - }"
		[[ $fstype == cgroup2 || $fstype == cgroup ]] || continue
		# at cgroup_root, above it or below it (a hybrid host's controllers)
		[[ $mp == "$root" || $root == "$mp"/* || $mp == "$root"/* ]] || continue
		if [[ $fstype == cgroup2 && -z $v2mp ]]; then
			v2mp=$mp v2opts=$opts
		elif [[ $fstype == cgroup && -z $v1mp ]]; then
			v1mp=$mp v1opts=$opts
		fi
	done <"$info"
	if [[ -n $v2mp ]]; then
		mp=$v2mp opts=$v2opts
	elif [[ -n $v1mp ]]; then
		mp=$v1mp opts=$v1opts
	else
		return 0
	fi
	[[ ,$opts, == *,favordynmods,* ]] && return 0
	if [[ -r $features ]]; then
		while read -r f; do [[ $f == favordynmods ]] && have=1; done <"$features"
	fi
	if [[ -z $have ]]; then
		warn "this kernel has no cgroup favordynmods: moving a process into a cgroup waits for an RCU grace period"
		return 0
	fi
	# The super options are all the kernel keeps: a remount without one (nsdelegate,
	# memory_recursiveprot, ...) would turn it off.
	opts=${opts#rw} opts=${opts#ro} opts=${opts#,}
	mount -o "remount${opts:+,$opts},favordynmods" "$mp" 2>/dev/null ||
		warn "cannot remount $mp with favordynmods (server.cgroup_favor_dynmods): moving a process into a cgroup waits for an RCU grace period"
	return 0
}

# v2 has no devices.allow: the same list as a BPF program, attached by wshd (C, the
# bpf() system call). A cgroup_root that is a plain directory (tests) gets a note.
cg_create() {
	local d r
	cg_create_parent
	mkdir -p "${cg_dirs[@]}" || die "cannot create cgroups ${cg_dirs[*]}"
	if [[ $cg_version == 2 ]]; then
		"${wshd_path:?}" --device-filter "${cg_dirs[0]}" ||
			die "cannot attach the device filter to ${cg_dirs[0]}"
	fi
	for d in "${cg_dirs[@]}"; do
		case $d in
		"$cgroup_root"/cpuset/*) cg_v1_cpuset_copy "$d" ;;
		"$cgroup_root"/devices/*)
			cg_write "$d/devices.deny" a
			for r in "${cg_v1_devices[@]}"; do
				cg_write "$d/devices.allow" "$r"
			done
			;;
		esac
	done
}

cg_attach() {
	local d
	[[ ${1:-} =~ ^[0-9]+$ ]] || die "cg_attach: bad pid '${1:-}'"
	for d in "${cg_dirs[@]}"; do
		cg_write "$d/cgroup.procs" "$1"
	done
}

# Sets cg_pid_list to every pid in the container's cgroups (all controllers, so a
# half-attached container is seen whole), minus the pid in $1 if given.
cg_read_pids() {
	local d p lines=()
	local -A seen=()
	cg_pid_list=()
	for d in "${cg_dirs[@]}"; do
		[[ -e $d/cgroup.procs ]] || continue
		mapfile -t lines <"$d/cgroup.procs" 2>/dev/null || continue
		for p in "${lines[@]}"; do
			[[ -n $p && $p != "${1:-}" && -z ${seen[$p]:-} ]] || continue
			seen[$p]=1
			cg_pid_list+=("$p")
		done
	done
}

cg_pids() {
	cg_read_pids
	((${#cg_pid_list[@]} == 0)) || printf '%s\n' "${cg_pid_list[@]}"
}

# cg_kill_all SIG [EXCEPT_PID]: one signal to every process of the container.
cg_kill_all() {
	local sig=${1:?cg_kill_all: signal}
	if [[ $sig == KILL && -z ${2:-} && $cg_version == 2 && -e ${cg_dirs[0]}/cgroup.kill ]]; then
		cg_write "${cg_dirs[0]}/cgroup.kill" 1
		return 0
	fi
	cg_read_pids "${2:-}"
	((${#cg_pid_list[@]} == 0)) && return 0
	# Some may have exited since the read: that is what we want anyway.
	kill -s "$sig" "${cg_pid_list[@]}" 2>/dev/null || :
}

# cg_wait_empty SECONDS [EXCEPT_PID]: poll (1, 2, 5, 10, 20, then every 50 ms) until no process but
# EXCEPT_PID is left; on timeout say which are left and return 1.
cg_wait_empty() {
	local limit=$((${1:?cg_wait_empty: seconds} * 1000000)) start delay=0.001
	w_now_us
	start=$w_now
	while :; do
		cg_read_pids "${2:-}"
		((${#cg_pid_list[@]} == 0)) && return 0
		w_now_us
		if ((w_now - start >= limit)); then
			warn "cgroup $w_cgroup: still running after $1 s: ${cg_pid_list[*]}"
			return 1
		fi
		w_sleep "$delay"
		case $delay in 0.001) delay=0.002 ;; 0.002) delay=0.005 ;; 0.005) delay=0.01 ;; 0.01) delay=0.02 ;; *) delay=0.05 ;; esac
	done
}

# rmdir works on a real cgroup directory even with its control files; a plain
# directory (tests) needs its files removed.
cg_rmdir() {
	rmdir "$1" 2>/dev/null && return 0
	[[ -d $1 ]] || return 0
	case $(stat -f -c %T "$1") in
	cgroup*)
		cg_read_pids
		die "cannot remove cgroup $1 (processes left: ${cg_pid_list[*]:-none})"
		;;
	*) rm -rf -- "$1" ;;
	esac
}

cg_destroy() {
	local d left=()
	for d in "${cg_dirs[@]}"; do
		[[ -d $d ]] && left+=("$d")
	done
	((${#left[@]})) || return 0
	# One rmdir for all controllers; on failure, one by one to say which and why.
	rmdir "${left[@]}" 2>/dev/null && return 0 # absolute paths: no -- (the builtin has none)
	for d in "${left[@]}"; do
		cg_rmdir "$d"
	done
	return 0
}

# Removes the instance's parents if no container is left in them (tests, uninstall).
cg_destroy_parent() {
	local p
	for p in "${cg_parents[@]}"; do
		[[ -d $p ]] && { rmdir "$p" 2>/dev/null || [[ $(stat -f -c %T "$p") == cgroup* ]] || rm -rf -- "$p"; }
	done
	return 0
}

# cg_set_mem BYTES (0 = unlimited). v1 keeps memory.limit_in_bytes <=
# memory.memsw.limit_in_bytes at every step: raise memsw first, lower it last; memsw
# only where the kernel accounts swap. v2: memory.max, and no swap (memory.swap.max 0)
# as memsw = limit gives on v1.
cg_set_mem() {
	local n=${1:-} cur
	[[ $n =~ ^[0-9]+$ ]] || die "memory limit must be a number of bytes, not '$n'"
	cg_dir memory
	if [[ $cg_version == 2 ]]; then
		if ((n == 0)); then
			cg_mem_write "$cg_d/memory.max" max
			[[ -e $cg_d/memory.swap.max ]] && cg_write "$cg_d/memory.swap.max" max
		else
			cg_mem_write "$cg_d/memory.max" "$n"
			[[ -e $cg_d/memory.swap.max ]] && cg_write "$cg_d/memory.swap.max" 0
		fi
		return 0
	fi
	((n == 0)) && n=-1
	if [[ ! -e $cg_d/memory.memsw.limit_in_bytes ]]; then
		cg_mem_write "$cg_d/memory.limit_in_bytes" "$n"
		return 0
	fi
	read -r cur <"$cg_d/memory.memsw.limit_in_bytes"
	if ((n == -1 || n >= cur)); then
		cg_write "$cg_d/memory.memsw.limit_in_bytes" "$n"
		cg_mem_write "$cg_d/memory.limit_in_bytes" "$n"
	else
		cg_mem_write "$cg_d/memory.limit_in_bytes" "$n"
		cg_write "$cg_d/memory.memsw.limit_in_bytes" "$n"
	fi
}

# A memory limit the kernel refuses is most often one below what the container uses
# and cannot reclaim (EBUSY): say so.
cg_mem_write() {
	local used=
	{ printf '%s\n' "$2" >"$1"; } 2>/dev/null && return 0
	if [[ $cg_version == 2 ]]; then
		[[ -e $cg_d/memory.current ]] && read -r used <"$cg_d/memory.current"
	else
		[[ -e $cg_d/memory.usage_in_bytes ]] && read -r used <"$cg_d/memory.usage_in_bytes"
	fi
	die "cannot set the memory limit to $2 bytes in $1${used:+: the container uses $used bytes that cannot be reclaimed}"
}

# cg_set_cpu SHARES (2..262144, clamped). v2 maps shares to cpu.weight 1..10000 as runc does:
# weight = 1 + (shares - 2) * 9999 / 262142, so the default 1024 shares become 39.
cg_set_cpu() {
	local s=${1:-}
	[[ $s =~ ^[0-9]+$ ]] || die "cpu shares must be a number, not '$s'"
	((s < 2)) && s=2 # wardend refuses these; clamped for callers by hand
	((s > 262144)) && s=262144
	cg_dir cpu
	if [[ $cg_version == 2 ]]; then
		cg_write "$cg_d/cpu.weight" "$((1 + ((s - 2) * 9999) / 262142))"
	else
		cg_write "$cg_d/cpu.shares" "$s"
	fi
}

# cg_set_cpuset LIST ("0,2-3"): the CPUs the container may run on. v1 also needs
# cpuset.mems, which cg_create filled from the parent; it is filled again here in case
# the container was made by an older hook. The kernel checks LIST against the parent.
cg_set_cpuset() {
	local l=${1:-}
	[[ $l =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || die "cpuset must be a list like 0,2-3, not '$l'"
	cg_dir cpuset
	if [[ $cg_version == 1 ]]; then
		cg_v1_cpuset_copy "$cg_d"
	fi
	cg_write "$cg_d/cpuset.cpus" "$l"
}

if [[ -n ${w_preload-} ]]; then
	w_preloaded_cgroup=1
	return 0
fi
cg_init
