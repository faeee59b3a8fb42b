#!/bin/sh
# The container's child, after pivot_root: run by wshd as
# `/bin/sh -c "<this file>" child-after-pivot.sh` with the container's own tools
# (POSIX sh, busybox at least), once the old root is unmounted and the capability
# bounding set is the container's: the rootfs's shell never sees the host. Keep it tiny.
set -eu
[ -n "${DEBUG:-}" ] && set -x
case ${1:-} in -h | --help)
	sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
	exit 0
	;;
esac
# A rootfs without /tmp still gets a usable one (in the overlay's upper layer).
[ -d /tmp ] || mkdir -m 1777 /tmp
