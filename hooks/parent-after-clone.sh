#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wshd's parent, after clone(), with PID = host pid of the container's init; host side.
# Puts PID into the cgroups and the container's veth end into its network namespace.
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"
: "${PID:?}"

cg_attach "$PID"
ip link set "$network_container_iface" netns "$PID" ||
	die "cannot move $network_container_iface into the namespace of $PID"
