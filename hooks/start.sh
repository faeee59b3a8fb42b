#!/bin/bash
# wardend, on create; host side. Becomes wshd, which runs the clone-stage hooks, turns
# into the container's pid 1 and returns here once it serves run/wshd.sock.
#
# wardend runs it beside setup.sh, as the next line says it may (remove it, and start.sh
# runs after setup.sh): nothing here reads the container's directory, and wshd waits for
# setup.sh's end ($setup_done, a pipe: --after) before it clones the container's init.
# hook-runner: beside setup.sh
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
	sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
	exit 0
fi
: "${id:?}" "${container_path:?}" "${hooks_path:?}" "${wshd_path:?}"
# The container's capability bounding set and its jobs' seccomp filter: wshd's defaults
# (doc/security.md) unless the config says otherwise.
confine=()
[[ -z ${setup_done:-} ]] || confine+=(--after "$setup_done")
[[ -n ${container_capabilities+set} ]] && confine+=(--caps "$container_capabilities")
[[ ${seccomp:-true} == false ]] && confine+=(--no-seccomp)
# server.user_namespaces: root in the container is host uid $userns_root_uid; the rootfs
# is shifted for it with an idmapped mount (child-before-pivot.sh's overlay/lower).
if [[ ${user_namespaces:-false} == true ]]; then
	: "${userns_root_uid:?}" "${rootfs_path:?}"
	confine+=(--userns "$userns_root_uid" --idmap-lower "$rootfs_path")
fi
# Forked by wardend's zygote (its builtin is loaded: doc/hooks.md, "The zygote"), this
# shell has the libraries read: a fork of it, left as wshd's child, forks wshd's
# parent-before-clone.sh and parent-after-clone.sh, so no bash starts for them.
if enable zygote 2>/dev/null; then
	zygote -c zygote_fd
	[[ -z $zygote_fd ]] || confine+=(--zygote "$zygote_fd")
fi
exec "$wshd_path" --run "$container_path/run" --hooks "$hooks_path" \
	--root "$container_path/mnt" --title "wshd: $id" "${confine[@]}"
