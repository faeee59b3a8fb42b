#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The cloned child, before pivot_root; runs in the container's new mount, uts, ipc, pid
# and net namespaces with the host's tools. Mounts the overlay on mnt and what goes in
# it (/proc, /sys, a minimal /dev, the bind mounts), sets the hostname and the network.
# Everything is mounted in this namespace only (/ is made rprivate first), so it all
# vanishes with the container. wshd does pivot_root and unmounts the old root itself.
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
: "${id:?}" "${container_path:?}" "${rootfs_path:?}"
: "${network_host_ip:?}" "${network_container_ip:?}"

mnt=$container_path/mnt
mount --make-rprivate / || die "cannot make / rprivate"
mount -t overlay overlay \
	-o "lowerdir=$rootfs_path,upperdir=$container_path/overlay/upper,workdir=$container_path/overlay/work" \
	"$mnt" || die "cannot mount the overlay on $mnt"

mkdir -p "$mnt/proc" "$mnt/sys" "$mnt/dev"
mount -t proc -o nosuid,nodev,noexec proc "$mnt/proc" || die "cannot mount proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$mnt/sys" || die "cannot mount sysfs"

dev=$mnt/dev
mount -t tmpfs -o nosuid,noexec,mode=0755,size=64k tmpfs "$dev" || die "cannot mount tmpfs on $dev"
mkdir "$dev/pts" "$dev/shm"
for n in null zero full random urandom tty; do
	: >"$dev/$n"
	mount --bind "/dev/$n" "$dev/$n" || die "cannot bind /dev/$n"
done
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$dev/pts" ||
	die "cannot mount devpts"
mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$dev/shm" || die "cannot mount $dev/shm"
ln -s pts/ptmx "$dev/ptmx"
ln -s /proc/self/fd "$dev/fd"
ln -s /proc/self/fd/0 "$dev/stdin"
ln -s /proc/self/fd/1 "$dev/stdout"
ln -s /proc/self/fd/2 "$dev/stderr"

# Bind mounts, in order (setup.sh validated the lines).
if [[ -s $container_path/etc/bind_mounts ]]; then
	while IFS=$'\t' read -r src dst mode; do
		[[ -e $src ]] || die "bind mount source $src does not exist"
		target=$mnt$dst
		if [[ -d $src ]]; then
			mkdir -p "$target"
		elif [[ ! -e $target ]]; then
			mkdir -p "${target%/*}"
			: >"$target"
		fi
		mount --bind "$src" "$target" || die "cannot bind $src on $dst"
		if [[ $mode == ro ]]; then
			mount -o remount,bind,ro "$target" || die "cannot make $dst read-only"
		fi
	done <"$container_path/etc/bind_mounts"
fi

hostname "$id" || die "cannot set the hostname"
ip -batch - <<-EOF || die "cannot configure $network_container_iface"
	link set lo up
	addr add $network_container_ip/30 dev $network_container_iface
	link set $network_container_iface mtu $mtu up
	route add default via $network_host_ip
EOF
