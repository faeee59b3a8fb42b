#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wshd, before clone(); host side, root namespaces, host tools. The container's cgroups
# (v1 devices allow-list). As the next line lets it, wshd clones the container's init
# while this runs, and waits for it only before parent-after-clone.sh (which puts the
# init into the cgroups): remove the line if something here must come before the clone.
# hook-runner: beside clone
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"
: "${network_host_ip:?}"

cg_create
