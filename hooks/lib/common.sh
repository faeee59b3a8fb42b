# shellcheck shell=bash
# Variables set here are used by the hooks that source this file.
# shellcheck disable=SC2034
# Shared by every bash hook (sourced after `set -euo pipefail`). Host side: uses the
# host's tools. Defines the derived names of doc/hooks.md and small helpers that keep
# the number of forked processes low (create+destroy is the hot path).

# `HOOK --help`: the hook's header comment, and how to run it by hand.
case ${1:-} in
-h | --help)
	sed -n '2,/^[^#]/{/^# shellcheck/d;/^#/s/^# \{0,1\}//p}' "$0"
	printf '\nEnvironment: doc/hooks.md. By hand: set -a; . CONTAINER/etc/config; set +a\n'
	exit 0
	;;
esac

: "${instance:?instance is not set}"
id=${id:-} # hooks about one container check it themselves

iptables=${iptables:-iptables}
cgroup_root=${cgroup_root:-/sys/fs/cgroup}
network_host_iface=${network_host_iface:-$instance-$id-0}
network_container_iface=${network_container_iface:-$instance-$id-1}
mtu=${mtu:-1500}

# mkdir and rmdir as loadable builtins (Debian's bash-builtins) where installed: no
# process per call. Without the package the programs of the same names run instead.
BASH_LOADABLES_PATH=${BASH_LOADABLES_PATH:-/usr/lib/bash:/usr/local/lib/bash}
enable -f mkdir mkdir 2>/dev/null || :
enable -f rmdir rmdir 2>/dev/null || :

# Derived names (doc/hooks.md).
w_chain=warden-$instance-$id
w_chain_forward=warden-$instance-forward
w_chain_input=warden-$instance-input
w_chain_postrouting=warden-$instance-postrouting
w_cgroup=warden-$instance/$id

# The last stderr line is what wardend reports: make it say what failed.
die() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

warn() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
}

usage_error() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 2
}

ipt() {
	"$iptables" -w "$@"
}

# Reads one iptables-restore batch on stdin and applies it atomically, keeping rules
# that are not named in it.
ipt_batch() {
	"$iptables-restore" --noflush -w
}

# /proc/net/dev lists the interfaces of the reader's network namespace; /sys/class/net
# those of the namespace that mounted /sys, which need not be ours. No process.
iface_exists() {
	local l devs=()
	mapfile -t -s 2 devs </proc/net/dev
	for l in "${devs[@]}"; do
		l=${l%%:*}
		[[ ${l##* } == "$1" ]] && return 0
	done
	return 1
}

# Sleep without forking: a read with a timeout on a descriptor that never has data.
# A new pty master has none and costs no process (a master never becomes a
# controlling terminal); a pipe from a subshell is the fallback.
w_sleep_fd=
w_sleep() {
	if [[ -z $w_sleep_fd ]]; then
		exec {w_sleep_fd}<>/dev/ptmx 2>/dev/null || exec {w_sleep_fd}<> <(:)
	fi
	read -r -t "$1" -u "$w_sleep_fd" _ || :
}

# Sets w_now to microseconds since the epoch, without forking.
w_now=0
w_now_us() {
	w_now=$((10#${EPOCHREALTIME/./}))
}

# The container's filter chain: traffic leaving the container through its host-side
# veth. Established/related back in, allow_networks out, deny_networks dropped,
# everything else dropped. The host reaches its containers without this chain
# (that traffic is not forwarded). One restore batch; re-running rebuilds the chain.
net_chain_setup() {
	local n jump_missing=1 batch
	if ipt -C "$w_chain_forward" -i "$network_host_iface" -j "$w_chain" 2>/dev/null; then
		jump_missing=0
	fi
	batch="*filter"$'\n'":$w_chain - [0:0]"$'\n'
	batch+="-A $w_chain -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"$'\n'
	for n in ${allow_networks:-}; do
		batch+="-A $w_chain -d $n -j ACCEPT"$'\n'
	done
	for n in ${deny_networks:-}; do
		batch+="-A $w_chain -d $n -j DROP"$'\n'
	done
	batch+="-A $w_chain -j DROP"$'\n'
	if ((jump_missing)); then
		batch+="-A $w_chain_forward -i $network_host_iface -j $w_chain"$'\n'
	fi
	batch+="COMMIT"$'\n'
	ipt_batch <<<"$batch" || die "iptables-restore failed for chain $w_chain"
}

# Removes the jump and the chain; tolerates either being gone. The common case (both
# present) costs one process; anything else falls back to one call per step.
net_chain_teardown() {
	local i
	if ipt_batch 2>/dev/null <<-EOF; then
		*filter
		-D $w_chain_forward -i $network_host_iface -j $w_chain
		-F $w_chain
		-X $w_chain
		COMMIT
	EOF
		return 0
	fi
	for ((i = 0; i < 16; i++)); do
		ipt -D "$w_chain_forward" -i "$network_host_iface" -j "$w_chain" 2>/dev/null || break
	done
	if ipt -F "$w_chain" 2>/dev/null; then
		ipt -X "$w_chain" || die "cannot delete chain $w_chain"
	fi
}

# veth pair with the MTU, the container's end made straight inside the network
# namespace of PID (moving it there later costs the kernel as much again); the host
# side gets its /30 address and goes up. A stale pair of the same name goes first.
veth_setup() {
	: "${network_host_ip:?}" "${1:?veth_setup: pid}"
	if iface_exists "$network_host_iface"; then
		ip link del "$network_host_iface" || die "cannot delete stale $network_host_iface"
	fi
	ip -batch - <<-EOF || die "cannot create veth pair $network_host_iface/$network_container_iface"
		link add name $network_host_iface mtu $mtu type veth peer name $network_container_iface mtu $mtu netns $1
		addr add $network_host_ip/30 dev $network_host_iface
		link set $network_host_iface up
	EOF
}

veth_teardown() {
	if iface_exists "$network_host_iface"; then
		# Deleting one end deletes both; it may vanish on its own meanwhile.
		ip link del "$network_host_iface" 2>/dev/null || ! iface_exists "$network_host_iface" ||
			die "cannot delete $network_host_iface"
	fi
}
