#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wardend, at start; host side, host tools. IP forwarding, the instance's global chains
# (jumps from FORWARD, INPUT and nat POSTROUTING, MASQUERADE for the pool) and the
# instance's cgroup parent. Idempotent: re-running leaves exactly one jump each and
# keeps the per-container jumps in warden-<instance>-forward (containers survive a
# wardend restart).
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
. "${BASH_SOURCE[0]%/*}/lib/cgroup.sh"
: "${network_pool:?}"

printf '1\n' >/proc/sys/net/ipv4/ip_forward || die "cannot enable net.ipv4.ip_forward"

# One listing per table tells which chains and jumps exist.
listing=$(ipt -S) || die "iptables -S failed"
mapfile -t filter_rules <<<"$listing"
listing=$(ipt -t nat -S) || die "iptables -t nat -S failed"
mapfile -t nat_rules <<<"$listing"

# count_rule RULE ARRAY...: how many times RULE is listed.
count_rule() {
	local want=$1 n=0 r
	shift
	for r in "$@"; do [[ $r == "$want" ]] && ((n += 1)); done
	printf -v count '%s' "$n"
}

# jump_lines CHAIN RULE ARRAY...: batch lines leaving exactly one RULE in CHAIN.
jump_lines() {
	local chain=$1 rule=$2 i
	shift 2
	count_rule "-A $chain $rule" "$@"
	if ((count == 0)); then
		batch+="-A $chain $rule"$'\n'
	fi
	for ((i = 1; i < count; i++)); do
		batch+="-D $chain $rule"$'\n'
	done
}

batch="*filter"$'\n'
count_rule "-N $w_chain_forward" "${filter_rules[@]}"
# Declaring a chain flushes it: never redeclare forward (it holds the containers' jumps).
((count)) || batch+=":$w_chain_forward - [0:0]"$'\n'
batch+=":$w_chain_input - [0:0]"$'\n'
batch+="-A $w_chain_input -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"$'\n'
batch+="-A $w_chain_input -p udp --dport 53 -j ACCEPT"$'\n'
batch+="-A $w_chain_input -p tcp --dport 53 -j ACCEPT"$'\n'
if [[ ${allow_host_access:-false} != true ]]; then
	batch+="-A $w_chain_input -j REJECT --reject-with icmp-host-prohibited"$'\n'
fi
jump_lines FORWARD "-j $w_chain_forward" "${filter_rules[@]}"
jump_lines INPUT "-i $instance-+ -j $w_chain_input" "${filter_rules[@]}"
batch+="COMMIT"$'\n*nat\n'
batch+=":$w_chain_postrouting - [0:0]"$'\n'
batch+="-A $w_chain_postrouting -s $network_pool ! -d $network_pool -j MASQUERADE"$'\n'
jump_lines POSTROUTING "-j $w_chain_postrouting" "${nat_rules[@]}"
batch+="COMMIT"$'\n'
ipt_batch <<<"$batch" || die "iptables-restore failed for the instance chains of '$instance'"

cg_create_parent
