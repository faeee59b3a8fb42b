#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wardend, on destroy and after a failed create; host side. Kills every process of the
# container including wshd, removes its cgroups, chain, veth, ifb, disk image and its
# loop device, mounts and directory.
# Idempotent and safe on a half-built container: every piece may already be gone.
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"
. "${BASH_SOURCE[0]%/*}/lib/disk.sh"
. "${BASH_SOURCE[0]%/*}/lib/bandwidth.sh"
: "${id:?}" "${container_path:?}"
[[ $container_path == /?*/* ]] || die "refusing to destroy container_path '$container_path'"

# Processes: KILL, wait (forking ones may need another round).
for _ in 1 2 3 4 5; do
	cg_kill_all KILL
	cg_wait_empty 2 2>/dev/null && break
done
cg_wait_empty 0 || die "processes of $w_cgroup survived KILL"
cg_destroy

net_chain_teardown
veth_teardown
bw_clear
disk_destroy

# Mounts under the container directory (normally none: the container's own mounts live
# in its mount namespace), deepest first, lazily. /proc/self/mounts escapes spaces etc.
# as octal.
list_mounts() {
	local dev mp rest
	mounts=()
	while read -r dev mp rest; do
		printf -v mp '%b' "$mp"
		[[ $mp == "$container_path" || $mp == "$container_path"/* ]] && mounts+=("$mp")
	done </proc/self/mounts
	: "$dev" "$rest"
}
list_mounts
if ((${#mounts[@]})); then
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		umount -l "${mounts[i]}" 2>/dev/null || :
	done
	list_mounts
	((${#mounts[@]} == 0)) || die "still mounted, not removing $container_path: ${mounts[*]}"
fi

# rm as a loadable builtin where bash-builtins is installed (no process; it never
# follows symlinks). It has no --one-file-system, which the check above makes moot:
# nothing is mounted below the directory now.
if enable -f rm rm 2>/dev/null; then
	rm -rf -- "$container_path" || die "cannot remove $container_path"
else
	rm -rf --one-file-system -- "$container_path" || die "cannot remove $container_path"
fi
