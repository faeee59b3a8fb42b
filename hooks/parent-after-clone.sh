#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wshd's parent, after clone(), with PID = host pid of the container's init; host side.
# Puts PID into the cgroups and makes the veth pair, the container's end inside the
# network namespace of PID.
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"
: "${PID:?}"

cg_attach "$PID"
veth_setup "$PID"
