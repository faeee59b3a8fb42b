#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wshd, before clone(); host side, root namespaces, host tools. The container's cgroups
# (v1 devices allow-list).
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"
: "${network_host_ip:?}"

cg_create
