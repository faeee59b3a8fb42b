#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wardend, on `limit` and for create's `limits`; host side, host tools. One or more
# limits, applied in the order given (wardend has checked every value):
#   limit.sh mem BYTES             memory (0: none); v1 memsw in the order the kernel needs
#   limit.sh cpu SHARES            2..262144 (v1 cpu.shares, v2 cpu.weight)
#   limit.sh cpuset LIST           e.g. 0,2-3
#   limit.sh disk BYTES            grow the container's disk image online (never shrinks)
#   limit.sh bandwidth RATE BURST  bytes/s and bytes, both directions (RATE 0: none)
#   limit.sh mem 67108864 cpu 512  several at once
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"
: "${id:?}" "${container_path:?}"

usage="usage: limit.sh mem BYTES | cpu SHARES | cpuset LIST | disk BYTES | bandwidth RATE BURST [...]"
(($#)) || usage_error "$usage"
while (($#)); do
	case $1 in
	mem | cpu | cpuset | disk)
		(($# >= 2)) || usage_error "limit.sh $1 wants a value"
		case $1 in
		mem) cg_set_mem "$2" ;;
		cpu) cg_set_cpu "$2" ;;
		cpuset) cg_set_cpuset "$2" ;;
		disk)
			# Sourced only when asked for: `limit mem` is the hot path.
			. "${BASH_SOURCE[0]%/*}/lib/disk.sh"
			disk_grow "$2"
			;;
		esac
		shift 2
		;;
	bandwidth)
		(($# >= 3)) || usage_error "limit.sh bandwidth wants RATE BURST"
		. "${BASH_SOURCE[0]%/*}/lib/bandwidth.sh"
		bw_set "$2" "$3"
		shift 3
		;;
	*) usage_error "$usage" ;;
	esac
done
