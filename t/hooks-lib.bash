# shellcheck shell=bash
# Helpers for t/10-hooks.bats (loaded after helpers.bash): run the hooks in hooks/
# directly, without wardend or wshd, under instance $HK_INSTANCE with a private /30.
# Everything made here is removed by hk_cleanup, which tolerates being run twice and
# things being already gone.

HK_SRC=$(cd "${BATS_TEST_DIRNAME:-${BASH_SOURCE[0]%/*}}/.." && pwd)
HK_HOOKS=$HK_SRC/hooks
# "th", or with the run's WINSTANCE (helpers.bash's WPREFIX) e.g. "hbh".
HK_INSTANCE=${WPREFIX:-t}h
HK_ID=7e570001

# Sets the hook environment of doc/hooks.md for container $HK_ID under $1 (a temp dir).
hk_env() {
	local tmp=$1
	export instance=$HK_INSTANCE id=$HK_ID handle=$HK_ID
	export container_path=$tmp/depot/$HK_ID
	export rootfs_path=${HK_ROOTFS:-$tmp/rootfs}
	export skeleton_path=$HK_SRC/skeleton hooks_path=$HK_HOOKS wshd_path=${WARDEN_BUILD:-$HK_SRC/_build}/src/wshd/wshd
	export builtins_path=${WARDEN_BUILD:-$HK_SRC/_build}/src/builtins/warden-builtins.so
	export network_network=10.199.0.0 network_host_ip=10.199.0.1
	export network_container_ip=10.199.0.2 network_netmask=255.255.255.252
	export network_host_iface=$HK_INSTANCE-$HK_ID-0 network_container_iface=$HK_INSTANCE-$HK_ID-1
	export network_pool=10.199.0.0/22 mtu=1400
	export allow_networks="" deny_networks="" allow_host_access=false dns_servers=""
	export user_name=vcap user_uid=10001
	export cgroup_root=/sys/fs/cgroup cgroup_version="" iptables=iptables
	export stop_timeout=10 bind_mounts="" disk_size_mb=0
}

# hk_lib 'shell code': runs code with lib/common.sh and lib/cgroup.sh sourced.
hk_lib() {
	bash -c 'set -euo pipefail; . "$0/lib/common.sh"; . "$0/lib/cgroup.sh"; eval "$1"' \
		"$HK_HOOKS" "$1"
}

# hk_assert_alive PID / hk_refute_alive PID: PID runs; PID is gone (or a zombie: the
# test's shell started it and has not reaped it).
hk_assert_alive() {
	kill -0 "$1" 2>/dev/null && [[ $(ps -o stat= -p "$1") != Z* ]] && return 0
	echo "-- expected process $1 to be running: $(ps -o pid=,stat=,args= -p "$1" || echo gone)" >&2
	return 1
}

hk_refute_alive() {
	kill -0 "$1" 2>/dev/null || return 0
	[[ $(ps -o stat= -p "$1") == Z* ]] && return 0
	echo "-- expected process $1 to be gone: $(ps -o pid=,stat=,args= -p "$1")" >&2
	return 1
}

# The rules iptables lists for chain $1 (table $2, default filter).
hk_chain_rules() {
	iptables -w -t "${2:-filter}" -S "$1" 2>/dev/null
}

hk_count_rule() { # TABLE RULE
	iptables -w -t "$1" -S 2>/dev/null | grep -cxF -- "$2" || :
}

# hk_assert_rule_count N TABLE RULE: RULE is in TABLE exactly N times.
hk_assert_rule_count() {
	local n
	n=$(hk_count_rule "$2" "$3")
	[[ $n == "$1" ]] && return 0
	echo "-- expected $1 of '$3' in table $2, found $n; the table:" >&2
	iptables -w -t "$2" -S >&2
	return 1
}

# Removes every kernel object instance $HK_INSTANCE may have left: pids we started (listed in
# $HK_PIDS_FILE), cgroups, chains and jumps, veth pairs, mounts under $1.
hk_cleanup() {
	local tmp=${1:-} p c d i
	if [[ -n ${HK_PIDS_FILE:-} && -e $HK_PIDS_FILE ]]; then
		while read -r p; do kill -KILL "$p" 2>/dev/null || :; done <"$HK_PIDS_FILE"
		while read -r p; do
			for ((i = 0; i < 100; i++)); do
				kill -0 "$p" 2>/dev/null || break
				sleep 0.05
			done
		done <"$HK_PIDS_FILE"
	fi
	for c in $(cgroup_dirs "warden-$HK_INSTANCE"); do
		for d in "$c"/*/; do
			[[ -d $d ]] || continue
			xargs -r kill -KILL <"$d/cgroup.procs" 2>/dev/null || :
			for ((i = 0; i < 100; i++)); do
				rmdir "$d" 2>/dev/null && break
				sleep 0.05
			done
		done
		rmdir "$c" 2>/dev/null || :
	done
	for i in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$HK_INSTANCE-" || :); do
		ip link del "$i" 2>/dev/null || :
	done
	hk_iptables_cleanup
	if [[ -n $tmp ]]; then
		awk -v t="$tmp" 'index($2, t "/") == 1 {print $2}' /proc/self/mounts | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null || :; done
	fi
}

hk_iptables_cleanup() {
	local t r ch
	for t in filter nat; do
		# Jumps into our chains from the built-in ones.
		iptables -w -t "$t" -S 2>/dev/null | grep -E -- "^-A [A-Z]+ .*-j warden-$HK_INSTANCE-" |
			while read -r r; do
				# shellcheck disable=SC2086 # a rule is words
				iptables -w -t "$t" -D ${r#-A } 2>/dev/null || :
			done
		for ch in $(iptables -w -t "$t" -S 2>/dev/null | awk -v p="warden-$HK_INSTANCE-" '$1 == "-N" && index($2, p) == 1 {print $2}'); do
			iptables -w -t "$t" -F "$ch" 2>/dev/null || :
		done
		for ch in $(iptables -w -t "$t" -S 2>/dev/null | awk -v p="warden-$HK_INSTANCE-" '$1 == "-N" && index($2, p) == 1 {print $2}'); do
			iptables -w -t "$t" -X "$ch" 2>/dev/null || :
		done
	done
}

# Starts `sleep` (or the given command) in the background and records its pid.
hk_start() {
	"$@" </dev/null >/dev/null 2>&1 &
	HK_LAST_PID=$!
	echo "$HK_LAST_PID" >>"$HK_PIDS_FILE"
}
