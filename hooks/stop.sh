#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wardend, on stop; host side. TERM to every process of the container's cgroups but
# wshd (run/wshd.pid, a host pid), KILL what is left after stop_timeout seconds.
# `stop.sh kill`: KILL at once.
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"
: "${id:?}" "${container_path:?}"
timeout=${stop_timeout:-10}
[[ $timeout =~ ^[0-9]+$ ]] || die "stop_timeout must be a number of seconds: '$timeout'"

case ${1:-} in
"") sig=TERM ;;
kill) sig=KILL ;;
*) usage_error "usage: stop.sh [kill]" ;;
esac

wshd_pid=
[[ -r $container_path/run/wshd.pid ]] && read -r wshd_pid <"$container_path/run/wshd.pid"
[[ -z $wshd_pid || $wshd_pid =~ ^[0-9]+$ ]] || die "bad pid in $container_path/run/wshd.pid: '$wshd_pid'"
# Without wshd's pid, everything goes (a dead container).
except=${wshd_pid:-none}

cg_kill_all "$sig" "$except"
if [[ $sig == TERM ]] && cg_wait_empty "$timeout" "$except" 2>/dev/null; then
	exit 0
fi
# KILL until only wshd is left; a forking process may need a few rounds.
for round in 1 2 3 4 5; do
	cg_kill_all KILL "$except"
	cg_wait_empty 1 "$except" 2>/dev/null && exit 0
done
cg_wait_empty 0 "$except" || die "processes survived KILL after $round rounds"
