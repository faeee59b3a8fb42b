# shellcheck shell=bash
# hook-runner: preload
# Variables set here are used by the hooks that source this file.
# shellcheck disable=SC2034
# Shared by every bash hook (sourced after `set -euo pipefail`). Host side: uses the
# host's tools. Defines the derived names of doc/hooks.md and small helpers that keep
# the number of forked processes low (create+destroy is the hot path).
#
# wardend and wshd start each bash hook in a runner that has sourced this file ahead of
# need (line 2 asks for it; doc/hooks.md, "How hooks run"): only the functions were
# defined then. The hook's own `. lib/common.sh` then sets what comes from its
# environment (w_common_init) and returns here, without parsing the rest again.
if [[ -n ${w_preloaded_common-} ]]; then
	w_common_init "$@"
	return
fi

# w_common_init [HOOK ARGS]: `HOOK --help`, and the names from the hook's environment.
w_common_init() {
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

	# Derived names (doc/hooks.md).
	w_chain=warden-$instance-$id
	w_chain_forward=warden-$instance-forward
	w_chain_default=warden-$instance-default
	w_chain_input=warden-$instance-input
	w_chain_prerouting=warden-$instance-prerouting
	w_chain_postrouting=warden-$instance-postrouting
	w_cgroup=warden-$instance/$id
	w_ifb=$instance-$id-i # bandwidth: shapes what the container sends (lib/bandwidth.sh)

	# Markers of a container's own chains (net_chain_teardown, below).
	w_mark_filter=${container_path:-}/run/chain-filter
	w_mark_nat=${container_path:-}/run/chain-nat
	w_mark_masq=${container_path:-}/run/chain-masq

	w_sleep_fd=
	w_now=0
}

# mkdir and rmdir as loadable builtins (Debian's bash-builtins) where installed: no
# process per call. Without the package the programs of the same names run instead.
# Loaded now in a runner or zygote (its hooks inherit them); in a hook bash starts cold
# (child-before-pivot.sh, in the container's namespaces) at the first call, as most of
# those runs make none and a load costs ~0.1-0.4 ms.
BASH_LOADABLES_PATH=${BASH_LOADABLES_PATH:-/usr/lib/bash:/usr/local/lib/bash}
if [[ -n ${w_preload-} ]]; then
	enable -f mkdir mkdir 2>/dev/null || :
	enable -f rmdir rmdir 2>/dev/null || :
else
	mkdir() {
		unset -f mkdir
		enable -f mkdir mkdir 2>/dev/null || :
		mkdir "$@"
	}
	rmdir() {
		unset -f rmdir
		enable -f rmdir rmdir 2>/dev/null || :
		rmdir "$@"
	}
fi

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
# those of the namespace that mounted /sys, which need not be ours. No process. With
# IPv4, /proc/sys/net/ipv4/conf has a directory per interface of the reader's namespace
# too: one lookup, where reading /proc/net/dev costs a line per interface (2.5 ms of bash
# with 250 containers' veths on the host).
iface_exists() {
	if [[ $1 != */* && $1 != . && $1 != .. && $1 != all && $1 != default &&
		-d /proc/sys/net/ipv4/conf/lo ]]; then
		[[ -d /proc/sys/net/ipv4/conf/$1 ]]
		return
	fi
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
w_sleep() {
	if [[ -z $w_sleep_fd ]]; then
		# (The group keeps 2>/dev/null to this exec: on a bare exec it would stay for
		# the rest of the hook and swallow its error messages.)
		{ exec {w_sleep_fd}<>/dev/ptmx; } 2>/dev/null || exec {w_sleep_fd}<> <(:)
	fi
	read -r -t "$1" -u "$w_sleep_fd" _ || :
}

# Sets w_now to microseconds since the epoch, without forking.
w_now_us() {
	w_now=$((10#${EPOCHREALTIME/./}))
}

# A container's own chains, made by net.sh on its first net out (filter) or net in
# (nat); a marker file in run/ says each exists, written before the chain is, so
# teardown costs no process for a container that never had one. In filter, the chain
# is jumped to from the forward and input chains (right after their fixed head rules,
# see host-setup.sh) for traffic from the container's veth; in nat, from the
# prerouting chain for every new connection to a host address. The marker files are
# w_mark_filter, w_mark_nat and w_mark_masq (w_common_init).

# Removes the container's chains and their jumps; tolerates any of them being gone.
# The common case costs one process (none without chains); anything else falls back to
# one call per step.
net_chain_teardown() {
	local batch="" i t
	[[ -e $w_mark_filter ]] && batch+="*filter
-D $w_chain_forward -i $network_host_iface -j $w_chain
-D $w_chain_input -i $network_host_iface -j $w_chain
-F $w_chain
-X $w_chain
COMMIT
"
	local nat="" masq=""
	[[ -e $w_mark_nat ]] && nat+="-D $w_chain_prerouting -j $w_chain
-F $w_chain
-X $w_chain
"
	if [[ -e $w_mark_masq ]]; then
		read -r masq <"$w_mark_masq" || :
		[[ -n $masq ]] && nat+="-D $w_chain_postrouting -s $masq/32 ! -o $instance-+ -j MASQUERADE
"
	fi
	[[ -n $nat ]] && batch+="*nat
${nat}COMMIT
"
	[[ -n $batch ]] || return 0
	ipt_batch <<<"$batch" 2>/dev/null && return 0
	for ((i = 0; i < 16; i++)); do
		ipt -D "$w_chain_forward" -i "$network_host_iface" -j "$w_chain" 2>/dev/null || break
	done
	for ((i = 0; i < 16; i++)); do
		ipt -D "$w_chain_input" -i "$network_host_iface" -j "$w_chain" 2>/dev/null || break
	done
	for ((i = 0; i < 16; i++)); do
		ipt -t nat -D "$w_chain_prerouting" -j "$w_chain" 2>/dev/null || break
	done
	if [[ -n $masq ]]; then
		for ((i = 0; i < 16; i++)); do
			ipt -t nat -D "$w_chain_postrouting" -s "$masq/32" ! -o "$instance-+" -j MASQUERADE \
				2>/dev/null || break
		done
	fi
	for t in filter nat; do
		if ipt -t "$t" -F "$w_chain" 2>/dev/null; then
			ipt -t "$t" -X "$w_chain" || die "cannot delete chain $w_chain in table $t"
		fi
	done
}

# veth pair with the MTU, the container's end made straight inside the network
# namespace of PID (moving it there later costs the kernel as much again); the host
# side gets its /30 address and goes up. A stale pair of the same name goes first. One
# ip -batch, or warden's ip_batch builtin (w_ip_batch, below): no process.
veth_setup() {
	: "${network_host_ip:?}" "${1:?veth_setup: pid}"
	if iface_exists "$network_host_iface"; then
		ip link del "$network_host_iface" || die "cannot delete stale $network_host_iface"
	fi
	w_ip_batch <<-EOF || die "cannot create veth pair $network_host_iface/$network_container_iface"
		link add name $network_host_iface mtu $mtu type veth peer name $network_container_iface mtu $mtu netns $1
		addr add $network_host_ip/30 dev $network_host_iface
		link set $network_host_iface up
	EOF
	# net in at 127.0.0.1: the DNAT'd packet leaves with source 127.0.0.1, which the
	# kernel routes out of this interface only with route_localnet (host-setup.sh's
	# input chain drops what a container sends to 127/8 in turn). A write, no process.
	printf '1\n' >"/proc/sys/net/ipv4/conf/$network_host_iface/route_localnet" ||
		die "cannot set route_localnet on $network_host_iface"
	[[ -z ${network_address:-} ]] || address_setup
}

# create's network_address (warden contain --network-address): the container's end has
# ADDRESS/PREFIX instead of its /30 address (child-before-pivot.sh). Host side: a /32
# route to it through the veth and proxy ARP, so containers whose addresses share a
# subnet reach each other through the host (the same filter rules as every container
# apply: the host forwards); MASQUERADE for it out of the host's other interfaces
# (recorded in run/chain-masq for teardown). The route goes with the veth.
address_setup() {
	local a=${network_address%/*}
	ip route replace "$a/32" dev "$network_host_iface" ||
		die "cannot route $a to $network_host_iface"
	printf '1\n' >"/proc/sys/net/ipv4/conf/$network_host_iface/proxy_arp" ||
		die "cannot set proxy_arp on $network_host_iface"
	printf '%s\n' "$a" >"$w_mark_masq" || die "cannot write $w_mark_masq"
	ipt_batch <<-EOF || die "iptables-restore failed adding MASQUERADE for $a"
		*nat
		-A $w_chain_postrouting -s $a/32 ! -o $instance-+ -j MASQUERADE
		COMMIT
	EOF
}

# With the container's end in another network namespace (the container's, which dies
# with its last process: destroy.sh calls this after killing them all) the kernel takes
# the pair down by itself, asynchronously: a synchronous delete costs 2-15 ms of RCU
# waits on the reply path. A pair still there when its /30 is handed out again is
# deleted by veth_setup. Both ends here (a half-built container, a test): deleted now.
veth_teardown() {
	iface_exists "$network_container_iface" || return 0
	if iface_exists "$network_host_iface"; then
		# Deleting one end deletes both; it may vanish on its own meanwhile.
		ip link del "$network_host_iface" 2>/dev/null || ! iface_exists "$network_host_iface" ||
			die "cannot delete $network_host_iface"
	fi
}

# w_builtins NAME...: loads warden's loadable builtins NAME... (chown, mknod,
# mount_fstab, hostname, ip_batch, skel_copy: src/builtins/builtins.c) from server.builtins_path,
# so that they run without a process; false when that file is not there (the caller
# then runs the programs).
w_builtins() {
	[[ -n ${builtins_path:-} ]] && enable -f "$builtins_path" "$@" 2>/dev/null
}

# w_mount_fstab FSTAB: mount -a -T FSTAB, by warden's mount_fstab builtin (w_builtins)
# where it is there and does every option of FSTAB (else it mounts nothing and says so
# with status 2), by mount(8) otherwise.
w_mount_fstab() {
	local rc=0
	if w_builtins mount_fstab; then
		mount_fstab -q "$1" || rc=$?
		((rc != 2)) && return "$rc"
	fi
	mount -a -T "$1"
}

# w_ip_batch: ip -batch - of stdin, by warden's ip_batch builtin (w_builtins) where it is
# there and does every line (link set, addr add, route add; else it does nothing and
# says so with status 2), by ip(8) otherwise.
w_ip_batch() {
	local rc=0 batch=''
	if w_builtins ip_batch; then
		IFS= read -r -d '' batch || :
		ip_batch -q <<<"$batch" || rc=$?
		((rc != 2)) && return "$rc"
		ip -batch - <<<"$batch"
		return
	fi
	ip -batch -
}

if [[ -n ${w_preload-} ]]; then
	w_preloaded_common=1
	return 0
fi
w_common_init "$@"
