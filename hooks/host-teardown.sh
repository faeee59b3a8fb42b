#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# By hand (operators, benchmarks, test clean-up), never by wardend: removes what
# host-setup.sh made for an instance -- the global chains and their jumps, the cgroup
# parent -- once no container of that instance is left. Host side, host tools.
#   instance=w hooks/host-teardown.sh
# Refuses (exit 1) while the instance still has a container (a veth, or a jump to a
# container chain).
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"

# A container without net in/out has no rule of its own: its veth tells it is there.
for f in /proc/sys/net/ipv4/conf/"$instance"-*; do
	[[ -e $f ]] && die "instance $instance still has containers (interface ${f##*/})"
done

listing=$(ipt -S) || die "iptables -S failed"
mapfile -t filter_rules <<<"$listing"
listing=$(ipt -t nat -S) || die "iptables -t nat -S failed"
mapfile -t nat_rules <<<"$listing"

batch="*filter"$'\n'
for r in "${filter_rules[@]}"; do
	case $r in
	"-A $w_chain_forward -i $instance-+ "*) ;;
	"-A $w_chain_forward "*) die "instance $instance still has containers ($r)" ;;
	"-A $w_chain_input -i "*) die "instance $instance still has containers ($r)" ;;
	"-A FORWARD -j $w_chain_forward" | "-A INPUT -i $instance-+ -j $w_chain_input")
		batch+="${r/-A/-D}"$'\n'
		;;
	esac
done
for c in "$w_chain_forward" "$w_chain_default" "$w_chain_input"; do
	for r in "${filter_rules[@]}"; do
		[[ $r == "-N $c" ]] && batch+="-F $c"$'\n'"-X $c"$'\n'
	done
done
batch+="COMMIT"$'\n*nat\n'
for r in "${nat_rules[@]}"; do
	case $r in
	"-A $w_chain_prerouting "*) die "instance $instance still has containers ($r)" ;;
	"-A POSTROUTING -j $w_chain_postrouting" | \
		"-A PREROUTING -m addrtype --dst-type LOCAL -j $w_chain_prerouting" | \
		"-A OUTPUT -m addrtype --dst-type LOCAL -j $w_chain_prerouting")
		batch+="${r/-A/-D}"$'\n'
		;;
	esac
done
for c in "$w_chain_prerouting" "$w_chain_postrouting"; do
	for r in "${nat_rules[@]}"; do
		[[ $r == "-N $c" ]] && batch+="-F $c"$'\n'"-X $c"$'\n'
	done
done
batch+="COMMIT"$'\n'
ipt_batch <<<"$batch" || die "iptables-restore failed removing the chains of instance '$instance'"
cg_destroy_parent
