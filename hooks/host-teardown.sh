#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# By hand (operators, benchmarks, test clean-up), never by wardend: removes what
# host-setup.sh made for an instance -- the global chains and their jumps, the cgroup
# parent -- once no container of that instance is left. Host side, host tools.
#   instance=w hooks/host-teardown.sh
# Refuses (exit 1) while the instance still has a container (a veth, or a jump to a
# container chain). A veth left to a dying network namespace by destroy.sh is waited
# for, up to $teardown_wait seconds (default 10).
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"

# A container without net in/out has no rule of its own: its veth tells it is there.
# destroy.sh leaves a pair whose other end is in the container's dying network namespace
# to the kernel, which removes it on its own time after the reply: wait up to 10 s for
# that before calling the instance busy.
teardown_wait=${teardown_wait:-10}
[[ $teardown_wait =~ ^[0-9]+$ ]] || die "teardown_wait must be a whole number of seconds: '$teardown_wait'"
veths() {
	local f
	veth=
	for f in /proc/sys/net/ipv4/conf/"$instance"-*; do
		[[ -e $f ]] && veth=${f##*/} && return 0
	done
	return 1
}
for ((i = 0; i < teardown_wait * 10; i++)); do
	veths || break
	w_sleep 0.1
done
veths && die "instance $instance still has containers (interface $veth)"

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
