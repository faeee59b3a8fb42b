#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wardend; host side, host tools. The container's iptables chain.
#   net.sh setup      chain warden-<instance>-<id>, default deny for traffic leaving the
#                     container except allow_networks; jump from the instance's forward chain
#   net.sh teardown   removes the jump and the chain (tolerates their absence)
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
: "${id:?}"

case ${1:-} in
setup) net_chain_setup ;;
teardown) net_chain_teardown ;;
in | out) usage_error "net.sh $1 is not implemented yet" ;;
*) usage_error "usage: net.sh setup|teardown" ;;
esac
