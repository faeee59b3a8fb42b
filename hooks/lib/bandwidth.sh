# shellcheck shell=bash
# hook-runner: preload
# Variables not set here come from lib/common.sh or the hook environment.
# shellcheck disable=SC2154
# The container's bandwidth, both directions, with tc on the host side of its veth:
# a tbf qdisc as the root of <instance>-<id>-0 shapes traffic into the container; for
# traffic out of it, an ingress qdisc on the same interface redirects every packet to
# an ifb device <instance>-<id>-i whose root tbf shapes it. Rates in bytes/s (tc's
# "bps"), bursts in bytes. Host side, host tools. The veth takes its qdiscs with it
# when it goes; the ifb is removed by bw_clear (destroy.sh).

# Preloaded by the hook runner (lib/common.sh says how): nothing here reads the
# environment, so nothing is left to do.
if [[ -n ${w_preloaded_bandwidth-} ]]; then
	return 0
fi

# bw_set RATE BURST (RATE 0: no limit). One ip and one tc batch; re-running replaces.
bw_set() {
	local rate=${1:-} burst=${2:-}
	[[ $rate =~ ^[0-9]+$ && $burst =~ ^[0-9]+$ ]] || die "bandwidth wants RATE BURST in bytes, not '$rate' '$burst'"
	if ((rate == 0)); then
		bw_clear
		return 0
	fi
	((burst > 0)) || die "bandwidth burst must be positive when the rate is"
	iface_exists "$network_host_iface" || die "interface $network_host_iface does not exist"
	if ! iface_exists "$w_ifb"; then
		ip -batch - <<-EOF || die "cannot create ifb device $w_ifb"
			link add name $w_ifb type ifb
			link set $w_ifb up
		EOF
	fi
	tc -batch - <<-EOF || die "tc failed limiting $network_host_iface to $rate bytes/s, burst $burst"
		qdisc replace dev $network_host_iface root tbf rate ${rate}bps burst $burst latency 25ms
		qdisc replace dev $network_host_iface handle ffff: ingress
		filter del dev $network_host_iface parent ffff:
		filter add dev $network_host_iface parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev $w_ifb
		qdisc replace dev $w_ifb root tbf rate ${rate}bps burst $burst latency 25ms
	EOF
}

# bw_clear: no limit; tolerates everything being gone already. bw_set makes the ifb
# before the qdiscs, so without an ifb there is nothing to clear (and destroy.sh, which
# leaves the veth to the dying namespace, starts no tc for a container never limited).
bw_clear() {
	iface_exists "$w_ifb" || return 0
	if iface_exists "$network_host_iface"; then
		tc qdisc del dev "$network_host_iface" root 2>/dev/null || :
		tc qdisc del dev "$network_host_iface" ingress 2>/dev/null || :
	fi
	if iface_exists "$w_ifb"; then
		ip link del "$w_ifb" 2>/dev/null || ! iface_exists "$w_ifb" || die "cannot delete $w_ifb"
	fi
}

[[ -z ${w_preload-} ]] || w_preloaded_bandwidth=1
