#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# wardend; host side, host tools. A container's own rules. Until its first net in or
# net out a container has none: the instance's global chains (host-setup.sh) hold
# its default deny. wardend checks the arguments first; this checks them again for
# by-hand use.
#   net.sh in HOST_PORT CONTAINER_PORT
#       DNAT tcp HOST_PORT on every host address (from outside, from the host itself,
#       127.0.0.1 included) to CONTAINER_PORT of the container; nat chain
#       warden-<instance>-<id>, made on first use
#   net.sh out NETWORK PORTS PROTOCOL log|nolog
#       accept traffic from the container to NETWORK (A.B.C.D/M), PORTS (N, N:M or -
#       for any) with PROTOCOL (tcp, udp, icmp, all); with log, new connections are
#       logged first with the prefix "warden-<instance>-<id> "; filter chain
#       warden-<instance>-<id>, made on first use
#   net.sh restore [in HOST_PORT:CONTAINER_PORT | out NETWORK PORTS PROTOCOL log|nolog]...
#       wardend, at start, for a container it adopts with net in/out rules: each rule
#       missing from the kernel (and the chains and jumps, if they went) is added again;
#       those present are left alone, so running it twice changes nothing
#   net.sh teardown
#       removes both chains and their jumps (tolerates their absence)
set -euo pipefail
[[ -n ${DEBUG:-} ]] && set -x
. "${BASH_SOURCE[0]%/*}/lib/common.sh"
: "${id:?}" "${container_path:?}"

port_re='^[0-9]{1,5}$'

net_in() {
	local hport=${1:-} cport=${2:-} batch
	: "${network_container_ip:?}"
	if ! [[ $hport =~ $port_re && $cport =~ $port_re ]] ||
		((hport < 1 || hport > 65535 || cport < 1 || cport > 65535)); then
		usage_error "usage: net.sh in HOST_PORT CONTAINER_PORT"
	fi
	batch="*nat"$'\n'
	if [[ ! -e $w_mark_nat ]]; then
		: >"$w_mark_nat" || die "cannot write $w_mark_nat"
		batch+=":$w_chain - [0:0]"$'\n'"-A $w_chain_prerouting -j $w_chain"$'\n'
	fi
	local to=${network_address:-$network_container_ip}
	batch+="-A $w_chain -p tcp -m tcp --dport $hport -j DNAT --to-destination ${to%/*}:$cport"$'\n'
	batch+="COMMIT"$'\n'
	ipt_batch <<<"$batch" || die "iptables-restore failed adding net in $hport -> $cport"
}

net_out() {
	local net=${1:-} ports=${2:-} proto=${3:-} log=${4:-} match batch
	[[ $net =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ && $ports =~ ^(-|[0-9]{1,5}(:[0-9]{1,5})?)$ &&
		$proto =~ ^(tcp|udp|icmp|all)$ && $log =~ ^(log|nolog)$ ]] ||
		usage_error "usage: net.sh out A.B.C.D/M PORTS|- tcp|udp|icmp|all log|nolog"
	match="-d $net"
	[[ $proto != all ]] && match+=" -p $proto"
	if [[ $ports != - ]]; then
		[[ $proto == tcp || $proto == udp ]] || usage_error "net.sh out: ports need tcp or udp"
		match+=" -m $proto --dport $ports"
	fi
	batch="*filter"$'\n'
	if [[ ! -e $w_mark_filter ]]; then
		: >"$w_mark_filter" || die "cannot write $w_mark_filter"
		# Right after the head rules of host-setup.sh (replies; input: the 127/8 drop).
		batch+=":$w_chain - [0:0]"$'\n'
		batch+="-I $w_chain_forward 2 -i $network_host_iface -j $w_chain"$'\n'
		batch+="-I $w_chain_input 3 -i $network_host_iface -j $w_chain"$'\n'
	fi
	if [[ $log == log ]]; then
		batch+="-A $w_chain $match -m conntrack --ctstate NEW -j LOG --log-prefix \"$w_chain \""$'\n'
	fi
	batch+="-A $w_chain $match -j ACCEPT"$'\n'
	batch+="COMMIT"$'\n'
	ipt_batch <<<"$batch" || die "iptables-restore failed adding net out $net $ports $proto"
}

# out_match NETWORK PORTS PROTOCOL: the match of net_out's rules, in $match.
out_match() {
	match="-d $1"
	[[ $3 != all ]] && match+=" -p $3"
	[[ $2 != - ]] && match+=" -m $3 --dport $2"
	return 0
}

net_restore() {
	local hport cport nat="" filter="" added=() to=${network_address:-${network_container_ip:-}} match
	local -a m
	: "${network_container_ip:?}" "${network_host_iface:?}"
	while (($#)); do
		case $1 in
		in)
			hport=${2%%:*} cport=${2#*:}
			if ! [[ $hport =~ $port_re && $cport =~ $port_re ]] ||
				((hport < 1 || hport > 65535 || cport < 1 || cport > 65535)); then
				usage_error "usage: net.sh restore [in HOST_PORT:CONTAINER_PORT | out NETWORK PORTS PROTOCOL log|nolog]..."
			fi
			if [[ -z $nat ]]; then
				nat=" "
				ipt -t nat -S "$w_chain" >/dev/null 2>&1 || nat+=":$w_chain - [0:0]"$'\n'
				ipt -t nat -C "$w_chain_prerouting" -j "$w_chain" 2>/dev/null ||
					nat+="-A $w_chain_prerouting -j $w_chain"$'\n'
			fi
			if ! ipt -t nat -C "$w_chain" -p tcp -m tcp --dport "$hport" -j DNAT \
				--to-destination "${to%/*}:$cport" 2>/dev/null; then
				nat+="-A $w_chain -p tcp -m tcp --dport $hport -j DNAT --to-destination ${to%/*}:$cport"$'\n'
				added+=("in $2")
			fi
			shift 2
			;;
		out)
			[[ ${2:-} =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ && ${3:-} =~ ^(-|[0-9]{1,5}(:[0-9]{1,5})?)$ &&
				${4:-} =~ ^(tcp|udp|icmp|all)$ && ${5:-} =~ ^(log|nolog)$ ]] ||
				usage_error "usage: net.sh restore [in HOST_PORT:CONTAINER_PORT | out NETWORK PORTS PROTOCOL log|nolog]..."
			if [[ -z $filter ]]; then
				filter=" "
				ipt -S "$w_chain" >/dev/null 2>&1 || filter+=":$w_chain - [0:0]"$'\n'
				ipt -C "$w_chain_forward" -i "$network_host_iface" -j "$w_chain" 2>/dev/null ||
					filter+="-I $w_chain_forward 2 -i $network_host_iface -j $w_chain"$'\n'
				ipt -C "$w_chain_input" -i "$network_host_iface" -j "$w_chain" 2>/dev/null ||
					filter+="-I $w_chain_input 3 -i $network_host_iface -j $w_chain"$'\n'
			fi
			out_match "$2" "$3" "$4"
			read -ra m <<<"$match"
			if ! ipt -C "$w_chain" "${m[@]}" -j ACCEPT 2>/dev/null; then
				if [[ $5 == log ]]; then
					filter+="-A $w_chain $match -m conntrack --ctstate NEW -j LOG --log-prefix \"$w_chain \""$'\n'
				fi
				filter+="-A $w_chain $match -j ACCEPT"$'\n'
				added+=("out $2 $3 $4 $5")
			fi
			shift 5
			;;
		*) usage_error "usage: net.sh restore [in HOST_PORT:CONTAINER_PORT | out NETWORK PORTS PROTOCOL log|nolog]..." ;;
		esac
	done
	if [[ ${nat# } ]]; then
		: >"$w_mark_nat" || die "cannot write $w_mark_nat"
		ipt_batch <<<"*nat"$'\n'"${nat# }COMMIT"$'\n' || die "iptables-restore failed re-adding net in rules"
	fi
	if [[ ${filter# } ]]; then
		: >"$w_mark_filter" || die "cannot write $w_mark_filter"
		ipt_batch <<<"*filter"$'\n'"${filter# }COMMIT"$'\n' || die "iptables-restore failed re-adding net out rules"
	fi
	if [[ ${nat# }${filter# } ]]; then
		printf 'net.sh: re-applied what the kernel had lost: %s\n' "${added[*]:-a chain or its jump}" >&2
	fi
	return 0
}

case ${1:-} in
in) net_in "${@:2}" ;;
restore) net_restore "${@:2}" ;;
out) net_out "${@:2}" ;;
teardown)
	net_chain_teardown
	rm -f -- "$w_mark_filter" "$w_mark_nat"
	;;
*) usage_error "usage: net.sh in HOST_PORT CONTAINER_PORT | out NETWORK PORTS PROTOCOL log|nolog | restore [in H:C | out N P PR L]... | teardown" ;;
esac
