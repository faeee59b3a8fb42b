#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wardend, on create; host side, host tools. Makes the container directory from the
# skeleton and writes the overlay's upper layer (never the rootfs, never running a tool
# inside it): /etc/hostname, hosts, resolv.conf, passwd, group, the user's home. Also
# etc/config (the whole hook environment), etc/bind_mounts, etc/tmpfs_mounts, etc/sysctls. With disk_size_mb, the
# upper layer lives on a loop-mounted ext4 image of that size (lib/disk.sh). The overlay itself is
# mounted by child-before-pivot.sh inside the container's mount namespace.
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
: "${container_path:?}" "${rootfs_path:?}" "${skeleton_path:?}"
: "${network_host_ip:?}" "${network_container_ip:?}" "${user_uid:?}"
user_name=${user_name:-vcap}
[[ $container_path == /?*/* ]] || die "container_path must be an absolute path below /: '$container_path'"
[[ $user_uid =~ ^[0-9]+$ ]] || die "user_uid must be a number: '$user_uid'"
[[ -d $rootfs_path ]] || die "rootfs $rootfs_path is not a directory"

# Anything at this path is a stale container with our id.
if [[ -e $container_path ]]; then
	"${BASH_SOURCE[0]%/*}/destroy.sh" || die "cannot remove stale $container_path"
fi

# The skeleton holds every directory (overlay/upper/etc, overlay/work, etc, ...). Forks
# dominate the cost of a hook: a skeleton of only directories and plain files is copied
# without a process, by warden's skel_copy builtin or else by bash itself (skel_scan,
# skel_make), anything else by cp -a.
[[ -d ${container_path%/*} ]] || mkdir -p "${container_path%/*}"
# skel_scan: true when $skeleton_path and all below it are directories (mode 0777 or
# less) and regular files (no execute or special bit, no NUL byte) of our uid and gid,
# read with bash's loadable stat; fills skel_d/skel_dm (directories, modes, parents
# first) and skel_f/skel_fm/skel_fc (files, modes, contents) for skel_make, which keeps
# modes, owners and contents as cp -a would, not times or extended attributes.
skel_d=() skel_dm=() skel_f=() skel_fm=() skel_fc=()
skel_scan() {
	local LC_ALL=C p r c o set=() paths=()
	local -A st=()
	for o in globstar dotglob nullglob; do shopt -q "$o" || set+=("$o"); done
	shopt -s globstar dotglob nullglob
	paths=("$skeleton_path" "$skeleton_path"/**/*)
	((${#set[@]} == 0)) || shopt -u "${set[@]}"
	for p in "${paths[@]}"; do
		# git's placeholders of empty directories (a source tree's skeleton; packages
		# ship none): each file made costs a create ~0.1 ms on the depot.
		[[ $p != */.gitkeep ]] || continue
		stat -L -A st -- "$p" 2>/dev/null && [[ -O $p && -G $p ]] || return 1
		r=${p#"$skeleton_path"}
		case ${st[type]} in
		d)
			((8#${st[perms]} <= 8#777)) || return 1
			skel_d+=("$r") skel_dm+=("${st[perms]}")
			;;
		-)
			((!(8#${st[perms]} & 8#7111))) || return 1
			c=''
			IFS= read -r -d '' c <"$p" || :
			((${#c} == st[size])) || return 1
			skel_f+=("$r") skel_fm+=("${st[perms]}") skel_fc+=("$c")
			;;
		*) return 1 ;;
		esac
	done
}
# umask_get: sets w_umask to the umask, read without a process (Linux 4.7 and later).
umask_get() {
	local k v
	while read -r k v; do [[ $k == Umask: ]] && w_umask=$v && return 0; done </proc/self/status
	return 1
}
skel_make() {
	local m i um
	umask_get || return 1
	um=$w_umask
	umask 0
	for i in "${!skel_d[@]}"; do
		mkdir -m "${skel_dm[i]}" "$container_path${skel_d[i]}" || { umask "$um" && return 1; }
	done
	for i in "${!skel_f[@]}"; do
		printf -v m '%o' $((~8#${skel_fm[i]} & 8#777))
		umask "$m"
		printf '%s' "${skel_fc[i]}" >"$container_path${skel_f[i]}" || { umask "$um" && return 1; }
	done
	umask "$um"
}
# On failure only: a full depot is the usual cause, and the client sees only our last line.
full() {
	local avail
	avail=$(stat -f -c %a "${container_path%/*}" 2>/dev/null) || return 0
	[[ $avail != 0 ]] || printf ': No space left on device in %s' "${container_path%/*}"
}
# warden's skel_copy builtin (w_builtins) does scan and copy in one step, in C; status 2:
# a skeleton it does not copy (nothing made), as skel_scan refuses one.
skel='cp -a'
if w_builtins skel_copy; then
	rc=0
	skel_copy -q "$skeleton_path" "$container_path" || rc=$?
	((rc != 0)) || skel=copied
	((rc == 0 || rc == 2)) || die "cannot copy $skeleton_path to $container_path$(full)"
fi
if [[ $skel != copied ]] && enable -f stat stat 2>/dev/null; then
	skel_scan && enable -f mkdir mkdir 2>/dev/null && skel=builtins
	enable -d stat # full() wants stat(1)
fi
if [[ $skel == builtins ]]; then
	skel_make || die "cannot copy $skeleton_path to $container_path$(full)"
elif [[ $skel != copied ]]; then
	# "/.": a skeleton_path that is a symbolic link is copied as the directory it names
	cp -a "$skeleton_path/." "$container_path" || die "cannot copy $skeleton_path to $container_path$(full)"
fi
# A disk size asked for: the overlay's upper and work directories go on a private ext4
# image mounted over the skeleton's (lib/disk.sh).
disk_size_mb=${disk_size_mb:-0}
[[ $disk_size_mb =~ ^[0-9]+$ ]] || die "disk_size_mb must be a number: '$disk_size_mb'"
if ((disk_size_mb > 0)); then
	. "${BASH_SOURCE[0]%/*}/lib/disk.sh"
	disk_create "$disk_size_mb"
fi
upper=$container_path/overlay/upper
# The home directory: with warden's chown builtin (lib/common.sh w_builtins) no process.
home=$upper/home/$user_name
if [[ ! -e $home ]] && w_builtins chown && umask_get; then
	# (install -d's modes: 0755, its parents' too, whatever the umask)
	{ umask 022 && mkdir -p "${home%/*}" && mkdir -m 0755 "$home" && umask "$w_umask" &&
		chown "$user_uid:$user_uid" "$home"; } || die "cannot create the home directory of $user_name"
else
	install -d -o "$user_uid" -g "$user_uid" -m 0755 "$home" ||
		die "cannot create the home directory of $user_name"
fi

# Bind mounts, validated now so child-before-pivot.sh can trust them.
bind_lines=()
if [[ -n ${bind_mounts:-} ]]; then
	while IFS=$'\t' read -r src dst mode extra; do
		[[ -z $src && -z $dst ]] && continue
		[[ $src == /* && $dst == /* && -z $extra && ($mode == ro || $mode == rw) ]] ||
			die "bad bind mount line (want SRC<TAB>DST<TAB>ro|rw, absolute paths): '$src $dst $mode'"
		[[ -e $src ]] || die "bind mount source $src does not exist"
		bind_lines+=("$src"$'\t'"$dst"$'\t'"$mode")
	done <<<"$bind_mounts"
fi
if ((${#bind_lines[@]})); then
	printf '%s\n' "${bind_lines[@]}" >"$container_path/etc/bind_mounts"
else
	: >"$container_path/etc/bind_mounts"
fi

# tmpfs_mounts, sysctls, hostname, read_only_root (wardend checked them; again here, as
# for bind mounts): what child-before-pivot.sh mounts, writes and sets, from etc/.
tmpfs_lines=() sysctl_lines=()
if [[ -n ${tmpfs_mounts:-} ]]; then
	while IFS=$'\t' read -r dst opts extra; do
		[[ -z $dst ]] && continue
		[[ $dst == /?* && /$dst/ != */../* && /$dst/ != */./* && $dst != *//* && -z $extra &&
			$opts =~ ^mode=[0-7]{3,4}(,[a-z]+(=[0-9]+)?)*$ ]] ||
			die "bad tmpfs mount line (want DST<TAB>mode=OCTAL[,size=BYTES][,FLAG...]): '$dst $opts'"
		tmpfs_lines+=("$dst"$'\t'"$opts")
	done <<<"$tmpfs_mounts"
fi
if [[ -n ${sysctls:-} ]]; then
	while IFS=$'\t' read -r key val; do
		[[ -z $key ]] && continue
		[[ $key =~ ^(net\.|kernel\.shm|kernel\.msg|kernel\.sem|fs\.mqueue\.)[A-Za-z0-9_.-]*$ && $key != *..* ]] ||
			die "sysctl $key is not of the container's own namespaces (net.*, kernel.shm*, kernel.msg*, kernel.sem*, fs.mqueue.*)"
		sysctl_lines+=("$key"$'\t'"$val")
	done <<<"$sysctls"
fi
printf '%s' "${tmpfs_lines[@]/%/$'\n'}" >"$container_path/etc/tmpfs_mounts"
printf '%s' "${sysctl_lines[@]/%/$'\n'}" >"$container_path/etc/sysctls"
[[ ${read_only_root:-false} =~ ^(true|false)$ ]] || die "read_only_root must be true or false: '$read_only_root'"
host_name=${hostname:-$id}
[[ ${#host_name} -le 64 && $host_name =~ ^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$ ]] ||
	die "hostname must be labels of letters, digits and '-' joined by '.', at most 64 bytes: '$host_name'"

# The environment of doc/hooks.md, so `set -a; . etc/config` restores it.
for v in instance id handle container_path rootfs_path skeleton_path hooks_path \
	wshd_path builtins_path network_network network_host_ip network_container_ip network_netmask network_address \
	network_host_iface network_container_iface network_pool mtu allow_networks \
	deny_networks allow_host_access dns_servers user_name user_uid cgroup_root \
	cgroup_version iptables stop_timeout bind_mounts disk_size_mb container_capabilities \
	seccomp user_namespaces userns_root_uid hostname tmpfs_mounts read_only_root sysctls; do
	printf '%s=%q\n' "$v" "${!v-}"
done >"$container_path/etc/config"

printf '%s\n' "$host_name" >"$upper/etc/hostname"
address=${network_address:-$network_container_ip}
printf '127.0.0.1 localhost\n%s %s\n' "${address%/*}" "$host_name" >"$upper/etc/hosts"

# resolv.conf: $dns_servers if set; else the host's, with loopback nameservers (a
# local resolver the container cannot reach) replaced by the host side of the veth.
resolv=()
if [[ -n ${dns_servers:-} ]]; then
	for s in $dns_servers; do resolv+=("nameserver $s"); done
else
	host_ns_added=0
	if [[ -r ${host_resolv_conf:=/etc/resolv.conf} ]]; then
		while read -r line; do
			if [[ $line =~ ^nameserver[[:space:]]+127\. ]]; then
				((host_ns_added)) || resolv+=("nameserver $network_host_ip")
				host_ns_added=1
			else
				resolv+=("$line")
			fi
		done <"$host_resolv_conf"
	fi
fi
if ((${#resolv[@]})); then
	printf '%s\n' "${resolv[@]}" >"$upper/etc/resolv.conf"
else
	: >"$upper/etc/resolv.conf"
fi

# passwd and group: the rootfs's, with our user (re)defined.
copy_without_user() { # FILE OUT_FILE NEW_LINE
	local line lines=()
	if [[ -e $1 ]]; then
		while IFS= read -r line || [[ -n $line ]]; do
			[[ $line == "$user_name:"* ]] || lines+=("$line")
		done <"$1"
	fi
	lines+=("$3")
	printf '%s\n' "${lines[@]}" >"$2"
}
copy_without_user "$rootfs_path/etc/passwd" "$upper/etc/passwd" \
	"$user_name:x:$user_uid:$user_uid::/home/$user_name:/bin/sh"
copy_without_user "$rootfs_path/etc/group" "$upper/etc/group" "$user_name:x:$user_uid:"

# server.user_namespaces: the container's root is host uid $userns_root_uid (its user
# $user_uid is that + $user_uid). What wshd and child-before-pivot.sh write as that root
# (jobs/, log/wshd.log, run/wshd.sock, etc/fstab and fstab.tmpfs, dev/, the overlay's upper and work layers)
# and what the container sees as its own (the upper layer) become its; etc/config stays
# the host root's.
if [[ ${user_namespaces:-false} == true ]]; then
	r=${userns_root_uid:?}
	[[ $r =~ ^[0-9]+$ ]] || die "userns_root_uid must be a number: '$r'"
	: >"$container_path/etc/fstab"
	: >"$container_path/etc/fstab.tmpfs"
	# dev/ becomes the container's /dev: an empty file for each node the host's is
	# bound onto (child-before-pivot.sh), and the usual links (not shipped in the
	# skeleton: `make dist` would follow fd -> /proc/self/fd).
	# bash's loadable ln (it has no -n: only for a name not there yet) and warden's chown
	# (w_builtins) where there: no process.
	mkdir -p "$container_path/dev" || die "cannot make $container_path/dev"
	for n in null zero full random urandom tty; do : >"$container_path/dev/$n"; done
	ln=program
	enable -f ln ln 2>/dev/null && ln=builtin
	w_builtins chown || :
	for l in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 \
		stderr:/proc/self/fd/2 ptmx:pts/ptmx; do
		d=$container_path/dev/${l%%:*}
		if [[ $ln == builtin && ! -e $d && ! -L $d ]]; then
			ln -s "${l#*:}" "$d" || die "cannot link dev/${l%%:*}"
		else
			env ln -sfn "${l#*:}" "$d" || die "cannot link dev/${l%%:*}"
		fi
	done
	chown -R "$r:$r" "$container_path/overlay" "$container_path/jobs" "$container_path/log" \
		"$container_path/run" "$container_path/dev" "$container_path/etc/fstab" \
		"$container_path/etc/fstab.tmpfs" ||
		die "cannot give the container's files to uid $r"
	u=$((r + user_uid))
	chown "$u:$u" "$upper/home/$user_name" || die "cannot give the home directory to uid $u"
fi
