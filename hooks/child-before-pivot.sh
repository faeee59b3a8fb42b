#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The cloned child, before pivot_root; runs in the container's new mount, uts, ipc, pid
# and net namespaces with the host's tools, at the same time as parent-after-clone.sh
# (with user namespaces: after it). Mounts the overlay on mnt and what goes in it (/proc,
# /sys, a minimal /dev, the tmpfs and bind mounts), writes the sysctls, sets the
# hostname, the root read-only when asked, and the network once our end of the veth is
# there.
# Everything is mounted in this namespace only (wshd made / rprivate before running
# this hook), so it all vanishes with the container. wshd does pivot_root and
# unmounts the old root itself.
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
: "${id:?}" "${container_path:?}" "${rootfs_path:?}"
: "${network_host_ip:?}" "${network_container_ip:?}"

mnt=$container_path/mnt
dev=$mnt/dev

# One fstab for the fixed mounts (a process costs more than the mounts themselves),
# mounted by warden's mount_fstab builtin, no process, or one mount(8) (lib/common.sh
# w_mount_fstab): the overlay, /proc, /sys read-only, a small tmpfs /dev with devpts
# and shm, the read-only and masked parts of /proc and /sys.
# fstab_path VAR PATH: PATH with blanks escaped for fstab, into VAR (no subshell).
fstab_path() {
	local p=${2// /\\040}
	printf -v "$1" '%s' "${p//$'\t'/\\011}"
}
lower='' upper='' work='' m='' ovl_opts=''
userns=${user_namespaces:-false}
if [[ $userns == true ]]; then
	# We are root of the container's user namespace, an unprivileged host uid: wshd put
	# the rootfs, idmapped for it, on overlay/lower; the overlay is ours, so its own
	# xattrs are user.overlay.* (userxattr).
	fstab_path lower "$container_path/overlay/lower"
	ovl_opts=,userxattr
else
	fstab_path lower "$rootfs_path"
fi
fstab_path upper "$container_path/overlay/upper"
fstab_path work "$container_path/overlay/work"
fstab_path m "$mnt"
nodes=(null zero full random urandom tty)
dev_lines=("tmpfs $m/dev tmpfs nosuid,noexec,mode=0755,size=64k,X-mount.mkdir 0 0")
if [[ $userns == true ]]; then
	# mknod is refused in a user namespace: /dev is the container directory's dev/
	# (setup.sh left the skeleton's links and an empty file per node there), the host's
	# nodes bound onto those files.
	cdev=''
	fstab_path cdev "$container_path/dev"
	dev_lines=("$cdev $m/dev none bind,nosuid,noexec,X-mount.mkdir 0 0")
	for n in "${nodes[@]}"; do dev_lines+=("/dev/$n $m/dev/$n none bind 0 0"); done
fi
printf '%s\n' \
	"overlay $m overlay lowerdir=$lower,upperdir=$upper,workdir=$work$ovl_opts 0 0" \
	"proc $m/proc proc nosuid,nodev,noexec,X-mount.mkdir 0 0" \
	"sysfs $m/sys sysfs ro,nosuid,nodev,noexec,X-mount.mkdir 0 0" \
	"${dev_lines[@]}" \
	"devpts $m/dev/pts devpts newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec,X-mount.mkdir 0 0" \
	"shm $m/dev/shm tmpfs nosuid,nodev,mode=1777,X-mount.mkdir 0 0" \
	>"$container_path/etc/fstab"
# What of /proc and /sys is the host's (runc's defaults): read-only, or masked (a file
# under the host's /dev/null, a directory under an empty read-only tmpfs). Only what this
# kernel has: a missing one would fail the mount. The container's own network sysctls
# (/proc/sys/net, per network namespace) stay writable: bound first, they come along
# as a writable submount when /proc/sys is bound read-only over itself.
[[ -e /proc/sys/net ]] &&
	printf '%s\n' "$m/proc/sys/net $m/proc/sys/net none bind 0 0" >>"$container_path/etc/fstab"
for p in sys sysrq-trigger irq bus fs; do
	[[ -e /proc/$p ]] || continue
	printf '%s\n' "$m/proc/$p $m/proc/$p none rbind,ro,nosuid,nodev,noexec 0 0"
done >>"$container_path/etc/fstab"
for p in /proc/kcore /proc/keys /proc/timer_list /proc/timer_stats /proc/latency_stats \
	/proc/sched_debug /proc/acpi /proc/asound /proc/scsi /sys/firmware \
	/sys/devices/virtual/powercap; do
	if [[ -d $p ]]; then
		printf '%s\n' "tmpfs $m$p tmpfs ro,nosuid,nodev,noexec,size=4k,nr_inodes=1 0 0"
	elif [[ -e $p ]]; then
		printf '%s\n' "/dev/null $m$p none bind,ro 0 0"
	fi
done >>"$container_path/etc/fstab"
w_mount_fstab "$container_path/etc/fstab" || die "cannot mount the container's filesystems (etc/fstab)"
# Device nodes (null zero full random urandom tty), then the usual symlinks. They are
# made here rather than shipped in the skeleton: `make dist` (tar -h) would follow fd ->
# /proc/self/fd into an endless tree. With warden's mknod builtin (lib/common.sh
# w_builtins) the nodes cost no process: the numbers of the devices cgroup's list
# (lib/cgroup.sh), mode 0666, root's; else they are copied from the host's. bash's
# loadable ln (Debian bash-builtins; absolute path, never a search of ".") saves five
# processes. With a user namespace they are already there (setup.sh made them in dev/).
if [[ $userns != true ]]; then
	if w_builtins mknod; then
		for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
			mm=${n#*:}
			mknod -m 0666 "$dev/${n%%:*}" c "${mm%:*}" "${mm#*:}" || die "cannot make $dev/${n%%:*}"
		done
	else
		cp -a "${nodes[@]/#//dev/}" "$dev/" || die "cannot populate $dev"
	fi
	enable -f /usr/lib/bash/ln ln 2>/dev/null || true
	for l in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 \
		stderr:/proc/self/fd/2 ptmx:pts/ptmx; do
		ln -s "${l#*:}" "$dev/${l%%:*}" || die "cannot link $dev/${l%%:*}"
	done
fi

# The mount points of the tmpfs and bind mounts (setup.sh validated the lines), each
# resolved in the rootfs as the container will resolve it (runc's securejoin): every
# symbolic link of the rootfs followed, an absolute target from the container's root,
# ".." never above it, so no mount point is ever a file or directory of the host's;
# what does not exist yet is kept as it is (it is made below). No process: lstat by
# bash's loadable stat (Debian bash-builtins), else readlink(1) per link.
# in_root PATH: into w_in, $mnt and PATH resolved so; dies past 40 links, or at a link
# it cannot read.
in_root() {
	local todo=$1 out='' c t n=0
	local -A st=()
	while [[ -n $todo ]]; do
		c=${todo%%/*}
		if [[ $todo == */* ]]; then todo=${todo#*/}; else todo=''; fi
		case $c in
		'' | .) continue ;;
		..)
			out=${out%/*}
			continue
			;;
		esac
		if [[ ! -L $mnt$out/$c ]]; then
			out=$out/$c
			continue
		fi
		((++n <= 40)) || die "mount point $1: too many levels of symbolic links"
		if ((w_lstat)) && stat -L -A st -- "$mnt$out/$c" 2>/dev/null; then
			t=${st[link]}
		elif ((w_lstat)) || ! t=$(readlink -- "$mnt$out/$c"); then
			die "mount point $1: cannot read the symbolic link $out/$c of the rootfs"
		fi
		[[ $t != /* ]] || out=''
		todo=$t${todo:+/$todo}
	done
	w_in=$mnt$out
}
tdst=() topts=() bsrc=() bdst=() bmode=()
if [[ -s $container_path/etc/tmpfs_mounts ]]; then
	while IFS=$'\t' read -r d o; do tdst+=("$d") topts+=("$o"); done <"$container_path/etc/tmpfs_mounts"
fi
if [[ -s $container_path/etc/bind_mounts ]]; then
	while IFS=$'\t' read -r s d o; do bsrc+=("$s") bdst+=("$d") bmode+=("$o"); done <"$container_path/etc/bind_mounts"
fi
w_lstat=0
((${#tdst[@]} + ${#bdst[@]} == 0)) || ! enable -f stat stat 2>/dev/null || w_lstat=1

# tmpfs_mounts, before the bind mounts (so one can go inside a tmpfs), as one fstab;
# X-mount.mkdir makes each mount point on the overlay.
if ((${#tdst[@]})); then
	tp=''
	for i in "${!tdst[@]}"; do
		in_root "${tdst[i]}"
		fstab_path tp "$w_in"
		printf '%s\n' "tmpfs $tp tmpfs ${topts[i]},X-mount.mkdir 0 0"
	done >"$container_path/etc/fstab.tmpfs"
	w_mount_fstab "$container_path/etc/fstab.tmpfs" || die "cannot mount the tmpfs mounts (etc/fstab.tmpfs)"
fi

# Bind mounts, in order, each mount point resolved once those before it are there and
# made on the overlay if the rootfs lacks it.
for i in "${!bdst[@]}"; do
	src=${bsrc[i]} dst=${bdst[i]}
	in_root "$dst"
	target=$w_in
	[[ -e $src ]] || die "bind mount source $src does not exist"
	if [[ -d $src ]]; then
		mkdir -p "$target"
	elif [[ ! -e $target ]]; then
		mkdir -p "${target%/*}"
		: >"$target"
	fi
	mount --bind "$src" "$target" || die "cannot bind $src on $dst"
	if [[ ${bmode[i]} == ro ]]; then
		mount -o remount,bind,ro "$target" || die "cannot make $dst read-only"
	fi
done
((w_lstat == 0)) || enable -d stat

# sysctls of the container's own namespaces (setup.sh checked the names), through the
# host's /proc: /proc/sys/net and the ipc sysctls there are those of the writer's
# namespaces, ours. The container's /proc/sys stays read-only.
if [[ -s $container_path/etc/sysctls ]]; then
	while IFS=$'\t' read -r key val; do
		f=/proc/sys/${key//.//}
		[[ -f $f ]] || die "sysctl $key: no such sysctl in the container's namespaces"
		printf '%s\n' "$val" 2>/dev/null >"$f" || die "cannot set sysctl $key to '$val'"
	done <"$container_path/etc/sysctls"
fi

host_name=${hostname:-$id}
if [[ $userns == true ]]; then
	# /proc/sys/kernel/hostname is writable only by the host's root: sethostname(2), by
	# warden's hostname builtin (w_builtins) where there, else hostname(1).
	w_builtins hostname || :
	command hostname "$host_name" || die "cannot set the hostname"
else
	printf '%s' "$host_name" >/proc/sys/kernel/hostname || die "cannot set the hostname"
fi

# A rootfs without /tmp still gets one, in the overlay's upper layer (read-only with
# read_only_root). Whatever is there, even a symbolic link, is left alone: it is not
# followed, as it would lead into the host's tree before pivot_root. chmod(1), as bash's
# loadable mkdir drops the sticky bit of -m.
if [[ ! -e $mnt/tmp && ! -L $mnt/tmp ]]; then
	{ mkdir "$mnt/tmp" && chmod 1777 "$mnt/tmp"; } || die "cannot make /tmp"
fi

# read_only_root: the overlay read-only once everything is mounted on it and every mount
# point made; what is mounted on it (/dev, /proc, the bind and tmpfs mounts) stays as
# it is.
if [[ ${read_only_root:-false} == true ]]; then
	mount -o remount,bind,ro "$mnt" || die "cannot make the container's root read-only"
fi

# Our end of the veth: wshd runs this hook while parent-after-clone.sh makes it in our
# network namespace (doc/hooks.md); it is there long before we get here, else wait for
# it, without a process, at most 10 s.
if ! iface_exists "$network_container_iface"; then
	w_now_us
	deadline=$((w_now + 10000000))
	until iface_exists "$network_container_iface"; do
		w_now_us
		((w_now < deadline)) ||
			die "no $network_container_iface after 10 s (parent-after-clone.sh makes it)"
		w_sleep 0.001
	done
fi
# The network with one ip -batch, or warden's ip_batch builtin, no process (lib/common.sh
# w_ip_batch).
if [[ -n ${network_address:-} ]]; then
	# The given address and prefix only; the host side is reached on the link (its
	# /30 address is not in our subnet) and is the gateway. Peers of the subnet are
	# answered by the host's proxy ARP (lib/common.sh address_setup).
	w_ip_batch <<-EOF || die "cannot configure $network_container_iface with $network_address"
		link set lo up
		addr add $network_address dev $network_container_iface
		link set $network_container_iface mtu $mtu up
		route add $network_host_ip/32 dev $network_container_iface scope link
		route add default via $network_host_ip dev $network_container_iface
	EOF
else
	w_ip_batch <<-EOF || die "cannot configure $network_container_iface"
		link set lo up
		addr add $network_container_ip/30 dev $network_container_iface
		link set $network_container_iface mtu $mtu up
		route add default via $network_host_ip
	EOF
fi
