#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# By hand (operators, benchmarks, test clean-up), never by wardend: removes what
# host-setup.sh made for an instance -- the global chains and their jumps, the cgroup
# parent -- once no container of that instance is left. Host side, host tools.
#   instance=w hooks/host-teardown.sh
# Refuses (exit 1) while warden-<instance>-forward still holds a container's jump.
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"

listing=$(ipt -S) || die "iptables -S failed"
mapfile -t filter_rules <<<"$listing"
listing=$(ipt -t nat -S) || die "iptables -t nat -S failed"
mapfile -t nat_rules <<<"$listing"

batch="*filter"$'\n'
for r in "${filter_rules[@]}"; do
	case $r in
	"-A $w_chain_forward "*) die "instance $instance still has containers ($r)" ;;
	"-A FORWARD -j $w_chain_forward" | "-A INPUT -i $instance-+ -j $w_chain_input")
		batch+="${r/-A/-D}"$'\n'
		;;
	esac
done
for c in "$w_chain_forward" "$w_chain_input"; do
	for r in "${filter_rules[@]}"; do
		[[ $r == "-N $c" ]] && batch+="-F $c"$'\n'"-X $c"$'\n'
	done
done
batch+="COMMIT"$'\n*nat\n'
for r in "${nat_rules[@]}"; do
	[[ $r == "-A POSTROUTING -j $w_chain_postrouting" ]] && batch+="${r/-A/-D}"$'\n'
done
for r in "${nat_rules[@]}"; do
	[[ $r == "-N $w_chain_postrouting" ]] && batch+="-F $w_chain_postrouting"$'\n'"-X $w_chain_postrouting"$'\n'
done
batch+="COMMIT"$'\n'
ipt_batch <<<"$batch" || die "iptables-restore failed removing the chains of instance '$instance'"
cg_destroy_parent
