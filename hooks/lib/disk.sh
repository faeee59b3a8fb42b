# shellcheck shell=bash
# hook-runner: preload
# Variables not set here come from lib/common.sh or the hook environment.
# shellcheck disable=SC2154
# The container's private writable filesystem, when a size is asked for (disk_size_mb,
# or limits.disk at create): a sparse file <container>/disk.img formatted ext4 and
# loop-mounted on the host at <container>/overlay, so the overlay's upper and work
# directories live on it and a write past its size fails with ENOSPC inside the
# container while nothing outside fills up. The container's mount namespace gets its
# own copy of the mount at clone(); the host's one is what `limit disk` grows and
# what wardend reads the usage of. Host side, host tools.

# Preloaded by the hook runner (lib/common.sh says how): then only disk_init is left.
if [[ -n ${w_preloaded_disk-} ]]; then
	disk_init
	return
fi

# disk_init: the image's and the mount's paths, from the hook's environment.
disk_init() {
	disk_img=$container_path/disk.img
	disk_mnt=$container_path/overlay
	disk_dev=
}

# disk_mounted: is the image mounted on disk_mnt (in this mount namespace)? Sets
# disk_dev to the device it is mounted from (/dev/loopN).
disk_mounted() {
	local dev mp rest
	while read -r dev mp rest; do
		printf -v mp '%b' "$mp"
		[[ $mp == "$disk_mnt" ]] && { disk_dev=$dev; return 0; }
	done </proc/self/mounts
	: "$rest"
	return 1
}

# disk_create MIB: a fresh image of MIB MiB on disk_mnt, holding the skeleton's
# overlay/ (upper/etc and work, as mkfs -d copies them: no mkdir afterwards). No
# reserved blocks: the container's user may fill all of it. Lazy inode table and
# journal initialisation keep mkfs at a few ms whatever the size (the kernel zeroes
# them in the background).
disk_create() {
	local mib=${1:-}
	if [[ ! $mib =~ ^[0-9]+$ ]] || ((mib < 1)); then
		die "disk size must be a positive number of MiB, not '$mib'"
	fi
	rm -f -- "$disk_img"
	mkfs.ext4 -q -F -m 0 -E lazy_itable_init=1,lazy_journal_init=1 -d "$skeleton_path/overlay" \
		"$disk_img" "${mib}M" >/dev/null || die "cannot make a ${mib} MiB ext4 image $disk_img"
	mount -t ext4 -o loop "$disk_img" "$disk_mnt" || die "cannot loop-mount $disk_img on $disk_mnt"
}

# disk_grow BYTES: the image of a running container grows to BYTES (rounded up to a
# MiB) online: the file, the loop device's capacity, then resize2fs. ext4 cannot
# shrink while mounted, so a smaller size is refused (wardend refuses it first, with
# the usage in the message).
disk_grow() {
	local bytes=${1:-} mib cur loopdev rest
	[[ $bytes =~ ^[0-9]+$ ]] || die "disk size must be a number of bytes, not '$bytes'"
	[[ -e $disk_img ]] || die "container $id has no disk image (create it with disk_size_mb or limits.disk)"
	disk_mounted || die "disk image $disk_img is not mounted on $disk_mnt"
	mib=$(((bytes + 1048575) / 1048576))
	cur=$(stat -c %s -- "$disk_img") || die "cannot stat $disk_img"
	((mib * 1048576 >= cur)) || die "cannot shrink the disk of a running container from $cur to $((mib * 1048576)) bytes (ext4 grows online only)"
	((mib * 1048576 == cur)) && return 0
	IFS=: read -r loopdev rest < <(losetup -j "$disk_img") || :
	: "$rest"
	[[ $loopdev == /dev/loop* ]] || die "no loop device backs $disk_img"
	truncate -s "${mib}M" -- "$disk_img" || die "cannot grow $disk_img to $mib MiB"
	losetup -c "$loopdev" || die "cannot refresh the size of $loopdev"
	if ! resize2fs "$loopdev" "${mib}M"; then
		# The filesystem kept its size: so does the file, or the next try would think
		# it done.
		if truncate -s "$cur" -- "$disk_img"; then losetup -c "$loopdev" || :; fi
		die "resize2fs $loopdev to $mib MiB failed (online growth needs CAP_SYS_RESOURCE; resize2fs said why in hooks.log)"
	fi
}

# disk_destroy: unmount the image and free its loop device; tolerates either being
# gone. Runs after every process of the container is dead, so the container's own
# copy of the mount is gone too and a plain umount works, and autoclear (mount -o
# loop) frees the loop device. losetup runs only when something is still attached.
disk_destroy() {
	local loopdev rest backing=
	[[ -e $disk_img ]] || return 0
	if disk_mounted; then
		umount "$disk_mnt" 2>/dev/null || umount -l "$disk_mnt" || die "cannot unmount $disk_mnt"
		if [[ $disk_dev == /dev/loop* && -r /sys/block/${disk_dev#/dev/}/loop/backing_file ]]; then
			read -r backing <"/sys/block/${disk_dev#/dev/}/loop/backing_file" || :
		fi
	fi
	if [[ $backing == "$disk_img" || -z $disk_dev ]]; then
		while IFS=: read -r loopdev rest; do
			[[ $loopdev == /dev/loop* ]] && { losetup -d "$loopdev" 2>/dev/null || :; }
		done < <(losetup -j "$disk_img")
		: "$rest"
	fi
	rm -f -- "$disk_img"
}

if [[ -n ${w_preload-} ]]; then
	w_preloaded_disk=1
	return 0
fi
disk_init
