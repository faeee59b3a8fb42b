#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wardend, on `limit`; host side. limit.sh mem BYTES | cpu SHARES
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"
: "${id:?}"

case ${1:-} in
mem) cg_set_mem "${2:-}" ;;
cpu) cg_set_cpu "${2:-}" ;;
cpuset | disk | bandwidth) usage_error "limit.sh $1 is not implemented yet" ;;
*) usage_error "usage: limit.sh mem BYTES | cpu SHARES" ;;
esac
