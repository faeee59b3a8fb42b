#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wardend, at start; host side, host tools. IP forwarding, the instance's global chains
# -- every rule that is the same for all its containers: default deny, allow_networks,
# deny_networks, allow_host_access, MASQUERADE -- with jumps from FORWARD, INPUT and nat
# PREROUTING, OUTPUT and POSTROUTING, the instance's cgroup parent, and the cgroup
# hierarchy remounted with favordynmods (cgroup_favor_dynmods, lib/cgroup.sh). Idempotent:
# re-running leaves exactly one jump each and puts back the jumps to the per-container
# chains that exist (containers survive a wardend restart).
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

# Per-container chains that exist now (containers adopted after a restart): their
# jumps are put back when the instance chains are rebuilt below.
own_chains() { # ARRAY...: the ids of warden-<instance>-<8 hex> chains listed
	local r
	ids=()
	for r in "$@"; do
		[[ $r =~ ^-N\ warden-$instance-([0-9a-f]{8})$ ]] && ids+=("${BASH_REMATCH[1]}")
	done
	: # an empty listing is not a failure
}

# filter. Traffic from a container (in on <instance>-*): replies pass; then the
# container's own chain (net out rules, ACCEPT only; made by net.sh, inserted right
# after these head rules: position 2 of forward, 3 of input); then the instance
# policy. Leaving through the host (forward): deny_networks rejected, allow_networks
# accepted, the rest rejected. To the host itself (input): DNS, and the rest only
# with allow_host_access. A packet for 127/8 from a container is dropped (the host
# veths have route_localnet for net in at 127.0.0.1). The host reaches its containers
# without these chains (its packets are not forwarded). Declaring a chain flushes it:
# the whole layout is rebuilt at once, atomically, in one batch.
own_chains "${filter_rules[@]}"
batch="*filter"$'\n'
batch+=":$w_chain_forward - [0:0]"$'\n'":$w_chain_default - [0:0]"$'\n'":$w_chain_input - [0:0]"$'\n'
batch+="-A $w_chain_forward -i $instance-+ -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"$'\n'
for c in "${ids[@]}"; do
	batch+="-A $w_chain_forward -i $instance-$c-0 -j warden-$instance-$c"$'\n'
done
batch+="-A $w_chain_forward -i $instance-+ -j $w_chain_default"$'\n'
for n in ${deny_networks:-}; do
	batch+="-A $w_chain_default -d $n -j REJECT --reject-with icmp-net-prohibited"$'\n'
done
for n in ${allow_networks:-}; do
	batch+="-A $w_chain_default -d $n -j ACCEPT"$'\n'
done
batch+="-A $w_chain_default -j REJECT --reject-with icmp-net-prohibited"$'\n'
batch+="-A $w_chain_input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"$'\n'
batch+="-A $w_chain_input -d 127.0.0.0/8 -j DROP"$'\n'
for c in "${ids[@]}"; do
	batch+="-A $w_chain_input -i $instance-$c-0 -j warden-$instance-$c"$'\n'
done
batch+="-A $w_chain_input -p udp -m udp --dport 53 -j ACCEPT"$'\n'
batch+="-A $w_chain_input -p tcp -m tcp --dport 53 -j ACCEPT"$'\n'
if [[ ${allow_host_access:-false} == true ]]; then
	batch+="-A $w_chain_input -j ACCEPT"$'\n'
else
	batch+="-A $w_chain_input -j REJECT --reject-with icmp-host-prohibited"$'\n'
fi
jump_lines FORWARD "-j $w_chain_forward" "${filter_rules[@]}"
jump_lines INPUT "-i $instance-+ -j $w_chain_input" "${filter_rules[@]}"
batch+="COMMIT"$'\n'

# nat. net in: every new connection to a host address (from outside: PREROUTING; from
# the host itself: OUTPUT) passes the prerouting chain, which jumps to each container
# chain holding DNATs. Out: MASQUERADE for the pool, and for connections the host
# opened from 127/8 to a container (net in at 127.0.0.1).
own_chains "${nat_rules[@]}"
batch+="*nat"$'\n'
batch+=":$w_chain_prerouting - [0:0]"$'\n'":$w_chain_postrouting - [0:0]"$'\n'
for c in "${ids[@]}"; do
	batch+="-A $w_chain_prerouting -j warden-$instance-$c"$'\n'
done
batch+="-A $w_chain_postrouting -s $network_pool ! -d $network_pool -j MASQUERADE"$'\n'
batch+="-A $w_chain_postrouting -s 127.0.0.0/8 -o $instance-+ -j MASQUERADE"$'\n'
jump_lines PREROUTING "-m addrtype --dst-type LOCAL -j $w_chain_prerouting" "${nat_rules[@]}"
jump_lines OUTPUT "-m addrtype --dst-type LOCAL -j $w_chain_prerouting" "${nat_rules[@]}"
jump_lines POSTROUTING "-j $w_chain_postrouting" "${nat_rules[@]}"
batch+="COMMIT"$'\n'
ipt_batch <<<"$batch" || die "iptables-restore failed for the instance chains of '$instance'"

cg_favor_dynmods
cg_create_parent
