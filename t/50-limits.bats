#!/usr/bin/env bats
# Resource limits through wardend, each enforced for real: memory (with an OOM that
# stops the container, also after a restart), the disk image (ENOSPC at the size
# asked), cpu shares, cpuset, bandwidth (tc on the veth and an ifb; a transfer takes
# as long as the rate says, with a generous bound), limits at create, info's stats,
# the CLI's sizes and every error string. cgroup v2 writes are checked against a
# directory standing in for the cgroup root. Every test destroys what it made; the
# kernel is checked for leftovers (cgroups, interfaces, loop devices).

# jq programs and backquoted key names are single-quoted on purpose.
# shellcheck disable=SC2016

load helpers

# This file's instance, derived from the run's (helpers.bash: WPREFIX).
L_INSTANCE=${WPREFIX}50

FILE_CONF='{"server":{"stop_timeout":5},
	"network":{"pool_start_address":"10.253.50.0","pool_size":16,"release_delay_ms":0},
	"user":{"pool_start_uid":61500,"pool_size":32}}'

# The events an OOM kill leaves: the job dies, wshd does not.
OOM_EVENTS='.events == ["oom"]'

setup_file() {
	export WINSTANCE=$L_INSTANCE
	[[ $(id -u) == 0 ]] || skip "needs root"
	wardend_start "$FILE_CONF"
}

teardown_file() {
	# A test that restarted the daemon set WARDEND_PID in its own subshell only: stop
	# the one running now, whose pid wardend_start keeps in $WTMP/wardend.pid.
	[[ -n ${WTMP:-} && -s $WTMP/wardend.pid ]] && WARDEND_PID=$(<"$WTMP/wardend.pid")
	wardend_stop
}

setup() {
	requires root rootfs
	export WINSTANCE=$L_INSTANCE
	SRV_PID=
}

teardown() {
	[[ -n ${SRV_PID:-} ]] && { kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; }
	local h
	for h in $(w list 2>/dev/null); do w destroy "$h" >/dev/null 2>&1 || true; done
	[[ -n ${V2_ROOT:-} ]] && rm -rf -- "$V2_ROOT"
	V2_ROOT=
}

# No container directory is left in the depot (dot files are the server's own).
depot_empty() {
	local d
	for d in "$WTMP"/depot/*; do
		[[ -e $d ]] && { echo "depot entry left: $d" >&2; return 1; }
	done
	return 0
}

# json FILTER: jq on $output (exit status 1 when the filter yields false or null).
json() { jq -e "$@" <<<"$output"; }

id_of() { w --json info "$1" | jq -r .id; }

# req JSON: one raw request line; $output is the canonical reply line.
req() { run_cmd wire send "$1\\n"; }

assert_error() { # MESSAGE: the last raw reply is that error
	assert_output "{\"payload\":$(jq -cn --arg m "$1" '$m'),\"type\":\"error\"}"
}

mcg() { echo "/sys/fs/cgroup/memory/warden-$WINSTANCE/$1"; }

# Nothing of container ID is left in the kernel: cgroups, interfaces (bounded: a dying
# netns drops its veth asynchronously), the loop device LOOP if given.
assert_kernel_clean() {
	local id=$1 loop=${2:-} cg
	wait_torn_down "$id" || return 1
	for cg in /sys/fs/cgroup/*/"warden-$WINSTANCE/$id"; do
		[[ ! -e $cg ]] || { echo "cgroup $cg left" >&2; return 1; }
	done
	wait_for 20 eval "! ip -o link show | grep -q ': $WINSTANCE-$id-'" ||
		{ ip -o link show | grep "$WINSTANCE-$id-" >&2; return 1; }
	if [[ -n $loop ]]; then
		wait_for 20 eval "[[ ! -e /sys/block/${loop#/dev/}/loop/backing_file ]]" ||
			{ echo "loop device $loop still attached: $(cat "/sys/block/${loop#/dev/}/loop/backing_file")" >&2; return 1; }
	fi
}

# ---- errors ----

@test "limit: Unknown limit, Invalid limit, argument counts, unknown handle" {
	run_w create --handle e1
	assert_success
	req '["limit","e1","swap"]'
	assert_error "Unknown limit swap"
	req '["limit","e1","swap",1]'
	assert_error "Unknown limit swap"
	req '["limit","e1",7]'
	assert_error "Unknown limit 7"
	for v in -1 1.5 true null '"12a"' '""' '"-5"' '{}' '[1]' 1152921504606846977; do
		req "[\"limit\",\"e1\",\"mem\",$v]"
		assert_error "Invalid limit"
	done
	for v in 0 1 262145 '"x"'; do
		req "[\"limit\",\"e1\",\"cpu\",$v]"
		assert_error "Invalid limit"
	done
	for v in 5 '""' '"a"' '"0-"' '"1-0"' '"0,,1"' '"0,"'; do
		req "[\"limit\",\"e1\",\"cpuset\",$v]"
		assert_error "Invalid limit"
	done
	req '["limit","e1","cpuset","0-4095"]'
	assert_output_contains 'Invalid limit: CPU '
	assert_output_contains 'is not online (online: '
	req '["limit","e1","bandwidth",-1,5]'
	assert_error "Invalid limit"
	req '["limit","e1","bandwidth",1000,0]'
	assert_error "Invalid limit: the burst must be positive when the rate is"
	req '["limit","e1","bandwidth",1000]'
	assert_error "invalid number of arguments"
	req '["limit","e1","mem",1,2]'
	assert_error "invalid number of arguments"
	req '["limit","e1"]'
	assert_error "invalid number of arguments"
	req '["limit","nope","mem",1]'
	assert_error "unknown handle"
	req '["limit","e1","disk",1048576]'
	assert_error "container e1 has no disk image: ask for one at create (disk_size_mb or limits.disk)"
	req '["limit","e1","disk",1000]'
	assert_error "Invalid limit: the disk must be at least 1 MiB (1048576 bytes)"
	# Strings of digits are accepted, as the original's REPL sends them.
	req '["limit","e1","mem","67108864"]'
	assert_output '{"payload":"ok","type":"object"}'
	req '["limit","e1","mem"]'
	assert_output '{"payload":67108864,"type":"object"}'
	# Nothing above took the server down.
	run_w ping
	assert_output pong
}

@test "limit: reads are 0, \"\" and {rate:0,burst:0} until set; reads and writes on a stopped container" {
	requires cgroup1 # reads the v1 files
	run_w create --handle r1
	assert_success
	req '["limit","r1","mem"]'
	assert_output '{"payload":0,"type":"object"}'
	req '["limit","r1","cpu"]'
	assert_output '{"payload":0,"type":"object"}'
	req '["limit","r1","disk"]'
	assert_output '{"payload":0,"type":"object"}'
	req '["limit","r1","cpuset"]'
	assert_output '{"payload":"","type":"object"}'
	req '["limit","r1","bandwidth"]'
	assert_output '{"payload":{"burst":0,"rate":0},"type":"object"}'
	run_w limit r1 mem 32M
	assert_success
	run_w stop r1
	assert_success
	req '["limit","r1","mem"]'
	assert_output '{"payload":33554432,"type":"object"}'
	run_w limit r1 cpu 300
	assert_success
	[ "$(<"/sys/fs/cgroup/cpu/warden-$WINSTANCE/$(id_of r1)/cpu.shares")" = 300 ]
}

@test "create: limits and disk_size_mb errors name the field; nothing is left" {
	req '["create",{"limits":5}]'
	assert_error 'Expected `limits` to hold an object.'
	req '["create",{"limits":{"swap":1}}]'
	assert_error "Unknown limit swap"
	req '["create",{"limits":{"mem":"lots"}}]'
	assert_error '`limits.mem`: Invalid limit'
	req '["create",{"limits":{"cpu":1}}]'
	assert_error '`limits.cpu`: Invalid limit'
	req '["create",{"limits":{"bandwidth":5}}]'
	assert_error 'Expected `limits.bandwidth` to hold {"rate":BYTES_PER_S,"burst":BYTES}.'
	req '["create",{"limits":{"bandwidth":{"rate":1}}}]'
	assert_error 'Expected `limits.bandwidth` to hold {"rate":BYTES_PER_S,"burst":BYTES}.'
	req '["create",{"disk_size_mb":-1}]'
	assert_error 'Expected `disk_size_mb` to hold a non-negative integer.'
	req '["create",{"disk_size_mb":"16"}]'
	assert_error 'Expected `disk_size_mb` to hold a non-negative integer.'
	req '["create",{"disk_size_mb":16,"limits":{"disk":1048576}}]'
	assert_error 'Expected `disk_size_mb` (16 MiB) and `limits.disk` (1048576 bytes) to agree.'
	run_w list
	assert_output ""
	depot_empty
}

@test "create: a limit the kernel refuses fails the create and releases everything" {
	requires cgroup1 # reads the v1 files
	# Far below what wshd already uses, and nothing to reclaim: the kernel says EBUSY.
	req '["create",{"handle":"f1","limits":{"mem":4096}}]'
	assert_output_contains '"type":"error"'
	assert_output_contains 'hook limit.sh exited with status 1: limit.sh: cannot set the memory limit to 4096 bytes'
	run_w list
	assert_output ""
	depot_empty
	[ -z "$(find "/sys/fs/cgroup/memory/warden-$WINSTANCE" -mindepth 1 -type d)" ]
	wait_for 20 eval "! ip -o link show | grep -q ': $WINSTANCE-'"
	# The handle and the /30 are free again.
	run_w create --handle f1
	assert_success
}

# ---- memory ----

@test "mem: raising and lowering in both orders keeps memsw with the limit; 0 removes it" {
	requires cgroup1 # reads the v1 files
	run_w create --handle m1
	assert_success
	local d
	d=$(mcg "$(id_of m1)")
	for n in 64M:67108864 32M:33554432 128M:134217728 16M:16777216 1G:1073741824; do
		run_w limit m1 mem "${n%:*}"
		assert_success
		[ "$(<"$d/memory.limit_in_bytes")" = "${n#*:}" ]
		if [[ -e $d/memory.memsw.limit_in_bytes ]]; then
			[ "$(<"$d/memory.memsw.limit_in_bytes")" = "${n#*:}" ]
		fi
		run_w limit m1 mem
		assert_output "${n#*:}"
	done
	run_w limit m1 mem 0
	assert_success
	[ "$(<"$d/memory.limit_in_bytes")" = "$(</sys/fs/cgroup/memory/memory.limit_in_bytes)" ] ||
		(($(<"$d/memory.limit_in_bytes") > 1 << 60))
	run_w --json info m1
	json '.limits.mem == 0'
}

@test "mem: a job filling /dev/shm past 16 MiB: OOM stops the container with event oom; host and neighbour fine" {
	# A sanitized wshd (the sanitizer runtime and its shadow memory) lives in the same
	# 16 MiB cgroup as the job, so which of them the kernel kills first is chance there;
	# the normal run proves this.
	sanitized && skip "a sanitized wshd competes with the job for the 16 MiB"
	run_w create --handle oom1 --limit-mem 16M
	assert_success
	run_w create --handle calm
	assert_success
	run_w spawn calm 'sleep 600'
	assert_success
	local calm_job=$output
	# The job is the process that runs out of memory (exec), so it is the one killed.
	run_w spawn oom1 'echo filling; exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=64'
	assert_success
	local job=$output
	run_w --json link oom1 "$job"
	# The job ended killed: no exit status, the output it wrote before.
	json '.[0] == null and (.[1] == "filling\n")'
	wait_for 20 eval "w --json info oom1 | jq -e '.state == \"stopped\"' >/dev/null"
	run_w --json info oom1
	json "$OOM_EVENTS"
	json '.job_ids == []'
	# The daemon, the host and the other container are fine.
	run_w ping
	assert_output pong
	run_w --json info calm
	json '.state == "active" and .events == []'
	run_w --json info calm
	json --argjson j "$calm_job" '.job_ids == [$j]'
	run_w run calm 'echo alive'
	assert_output alive
	run_w spawn oom1 'true'
	assert_output_contains "Container state must be one of 'active', current state is 'stopped'"
}

@test "mem: the OOM watch survives kill -9 of wardend; an OOM while it was down is seen at restart" {
	# A sanitized wshd (the sanitizer runtime and its shadow memory) lives in the same
	# 16 MiB cgroup as the job, so which of them the kernel kills first is chance there;
	# the normal run proves this.
	sanitized && skip "a sanitized wshd competes with the job for the 16 MiB"
	run_w create --handle oomr --limit-mem 16M
	assert_success
	run_w create --handle oomd --limit-mem 16M
	assert_success
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" || true
	# While wardend is down, oomd runs out of memory.
	local id
	id=$(jq -r .id "$WTMP"/depot/*/snapshot.json | while read -r i; do
		[[ $(jq -r .handle "$WTMP/depot/$i/snapshot.json") == oomd ]] && echo "$i"; done)
	[[ -n $id ]]
	run_cmd "$WARDEN_BUILD/src/wshd/wsh" --socket "$WTMP/depot/$id/run/wshd.sock" --user vcap -- \
		sh -c 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=64'
	wardend_start "$FILE_CONF"
	wait_for 20 eval "w --json info oomd | jq -e '.state == \"stopped\" and ($OOM_EVENTS)' >/dev/null"
	# And the re-armed watch of the other container still works.
	run_w --json info oomr
	json '.state == "active" and .events == []'
	run_w spawn oomr 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=64'
	assert_success
	wait_for 20 eval "w --json info oomr | jq -e '.state == \"stopped\" and ($OOM_EVENTS)' >/dev/null"
}

# ---- disk ----

@test "disk: writes past disk_size_mb fail with ENOSPC inside; a file written before is intact; usage; loop freed at destroy" {
	run_w create --handle d1 --disk-size-mb 16
	assert_success
	local id loop
	id=$(id_of d1)
	loop=$(losetup -j "$WTMP/depot/$id/disk.img" | cut -d: -f1)
	[[ $loop == /dev/loop* ]]
	# The upper layer is on the image, not on the depot's filesystem.
	[ "$(stat -f -c %T "$WTMP/depot/$id/overlay/upper")" = ext2/ext3 ]
	run_w limit d1 disk
	assert_output 16777216
	run_w run d1 'echo precious > /home/vcap/keep; dd if=/dev/zero of=/home/vcap/big bs=1M count=32'
	assert_failure 1
	assert_output_contains "No space left on device"
	run_w run d1 'cat /home/vcap/keep; ls -l /home/vcap/big'
	assert_success
	assert_output_contains precious
	local size
	size=$(w run d1 'stat -c %s /home/vcap/big')
	((size > 8 * 1048576 && size < 16 * 1048576))
	run_w --json info d1
	json '.disk_stat.bytes_used > 8388608 and .disk_stat.bytes_used <= 16777216'
	json '.disk_stat.inodes_used > 0 and .stats.disk_used_B == .disk_stat.bytes_used'
	json '.limits.disk == 16777216'
	# Shrinking: refused, and below what is used it says so.
	run_w limit d1 disk 4M
	assert_failure 1
	assert_output_contains "cannot shrink the disk to 4194304 bytes"
	assert_output_contains "bytes are in use"
	run_w run d1 'rm /home/vcap/big'
	run_w limit d1 disk 15M
	assert_failure 1
	assert_output_contains "cannot shrink the disk of a running container from 16777216 to 15728640 bytes"
	run_w destroy d1
	assert_success
	assert_kernel_clean "$id" "$loop"
}

@test "disk: limits.disk at create; limit disk grows the image online" {
	run_w create --handle d2 --limit-disk 8M
	assert_success
	local id
	id=$(id_of d2)
	run_w --json info d2
	json '.limits.disk == 8388608'
	[ "$(stat -c %s "$WTMP/depot/$id/disk.img")" = 8388608 ]
	# Online growth needs CAP_SYS_RESOURCE (the ext4 resize ioctl).
	if ! capsh --has-p=cap_sys_resource 2>/dev/null &&
		! (($(grep CapEff /proc/self/status | awk '{print "0x" $2}') & (1 << 24))); then
		run_w limit d2 disk 16M
		assert_failure 1
		assert_output_contains "online growth needs CAP_SYS_RESOURCE"
		# The image kept its size, so a later try is not taken as done.
		[ "$(stat -c %s "$WTMP/depot/$id/disk.img")" = 8388608 ]
		run_w limit d2 disk
		assert_output 8388608
		skip "no CAP_SYS_RESOURCE here: online resize2fs refused (the refusal is checked)"
	fi
	run_w limit d2 disk 16M
	assert_success
	run_w run d2 'dd if=/dev/zero of=/home/vcap/big bs=1M count=12 && echo fits'
	assert_success
	assert_output_contains fits
}

# ---- cpu, cpuset ----

@test "cpu: shares written to cpu.shares; cpuset seen by a job's Cpus_allowed_list" {
	requires cgroup1 # reads the v1 files
	run_w create --handle c1
	assert_success
	local id last
	id=$(id_of c1)
	run_w limit c1 cpu 512
	assert_success
	[ "$(<"/sys/fs/cgroup/cpu/warden-$WINSTANCE/$id/cpu.shares")" = 512 ]
	run_w limit c1 cpu
	assert_output 512
	last=$(($(nproc --all) - 1))
	run_w limit c1 cpuset "$last"
	assert_success
	[ "$(<"/sys/fs/cgroup/cpuset/warden-$WINSTANCE/$id/cpuset.cpus")" = "$last" ]
	run_w run c1 'grep Cpus_allowed_list /proc/self/status'
	assert_output "$(printf 'Cpus_allowed_list:\t%s' "$last")"
	run_w limit c1 cpuset
	assert_output "$last"
	run_w limit c1 cpuset "0-$last"
	assert_success
	run_w run c1 'grep Cpus_allowed_list /proc/self/status'
	[[ $output == *"0-$last" || ($last == 0 && $output == *"	0") ]]
}

@test "cgroup v2 (a directory as the root): memory.max and swap, cpu.weight by runc's mapping, cpuset.cpus" {
	V2_ROOT=$(mktemp -d /tmp/tl-v2.XXXXXX)
	local d=$V2_ROOT/warden-$WINSTANCE/0afe0000
	mkdir -p "$d"
	echo "cpuset cpu memory pids" >"$V2_ROOT/cgroup.controllers"
	: >"$d/memory.swap.max"
	lh() {
		env -i PATH="$PATH" instance="$WINSTANCE" id=0afe0000 container_path="$V2_ROOT/ct" \
			cgroup_root="$V2_ROOT" "$WARDEN_SRC/hooks/limit.sh" "$@"
	}
	run_cmd lh mem 16777216 cpu 1024 cpuset 0
	assert_success
	[ "$(<"$d/memory.max")" = 16777216 ]
	[ "$(<"$d/memory.swap.max")" = 0 ]
	[ "$(<"$d/cpu.weight")" = 39 ]
	[ "$(<"$d/cpuset.cpus")" = 0 ]
	run_cmd lh mem 0 cpu 2
	assert_success
	[ "$(<"$d/memory.max")" = max ]
	[ "$(<"$d/memory.swap.max")" = max ]
	[ "$(<"$d/cpu.weight")" = 1 ]
	run_cmd lh cpu 262144
	[ "$(<"$d/cpu.weight")" = 10000 ]
	run_cmd lh cpuset 'x'
	assert_failure 1
	assert_output_contains "cpuset must be a list like 0,2-3"
	run_cmd lh bandwidth 1
	assert_failure 2
}

# ---- bandwidth ----

# tbf_rate DEV: the rate (bytes/s) of DEV's root tbf qdisc, empty when it has none.
tbf_rate() {
	tc -j qdisc show dev "$1" root 2>/dev/null | jq -r '.[] | select(.kind == "tbf") | .options.rate'
}

@test "bandwidth: tbf on the veth and on the ifb at the rate asked; changed in place; gone after destroy" {
	run_w create --handle b1
	assert_success
	local id host ifb
	id=$(id_of b1)
	host=$WINSTANCE-$id-0 ifb=$WINSTANCE-$id-i
	run_w limit b1 bandwidth 1M 64K
	assert_success
	[ "$(tbf_rate "$host")" = 1048576 ]
	[ "$(tbf_rate "$ifb")" = 1048576 ]
	tc -j qdisc show dev "$host" | jq -e '.[] | select(.kind == "ingress")' >/dev/null
	tc filter show dev "$host" ingress | grep -q "Redirect to device $ifb"
	run_w --json limit b1 bandwidth
	assert_output '{"rate":1048576,"burst":65536}'
	run_w limit b1 bandwidth 2M 128K
	assert_success
	[ "$(tbf_rate "$host")" = 2097152 ]
	[ "$(tc filter show dev "$host" ingress | grep -c Redirect)" = 1 ]
	run_w --json info b1
	json '.bandwidth_stat == {"in_rate":2097152,"in_burst":131072,"out_rate":2097152,"out_burst":131072}'
	run_w limit b1 bandwidth 0 0
	assert_success
	[ -z "$(tbf_rate "$host")" ]
	[[ ! -e /proc/sys/net/ipv4/conf/$ifb ]]
	run_w limit b1 bandwidth 1M 64K
	assert_success
	run_w destroy b1
	assert_success
	assert_kernel_clean "$id"
	[[ ! -e /proc/sys/net/ipv4/conf/$ifb ]]
}

# transfer IP PORT BYTES in|out: seconds to move BYTES from the host to a listener in
# the container (in) or from a server in the container to the host (out).
transfer() {
	python3 - "$@" <<'PY'
import socket, sys, time
ip, port, n, way = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
deadline = time.time() + 20
while True:
    try:
        s = socket.create_connection((ip, port), timeout=5)
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(0.1)
s.settimeout(60)
t0 = time.time()
if way == "in":
    buf = b"x" * 65536
    left = n
    while left > 0:
        left -= s.send(buf[:min(left, len(buf))])
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):  # the container's nc closes once it has read everything
        pass
else:
    got = 0
    while got < n:
        d = s.recv(65536)
        if not d:
            break
        got += len(d)
    assert got >= n, got
print("%.2f" % (time.time() - t0))
PY
}

@test "bandwidth: a transfer at 1 MiB/s takes about as long as the limit says, both directions" {
	run_w create --handle b2
	assert_success
	local ip secs
	ip=$(w --json info b2 | jq -r .container_ip)
	run_w limit b2 bandwidth 1M 64K
	assert_success
	# 4 MiB at 1 MiB/s: about 4 s (seen: 2.8-4.2 s); unlimited it takes milliseconds.
	# The bound is generous both ways: at least 40% of the time the rate gives.
	ok_secs() { python3 -c "import sys; s=float(sys.argv[1]); sys.exit(0 if 1.6 <= s <= 40 else 1)" "$1"; }
	# Into the container: the host sends, a listener in the container reads.
	run_w spawn b2 'nc -l -p 5001 >/dev/null'
	assert_success
	secs=$(transfer "$ip" 5001 $((4 * 1048576)) in)
	echo "# in: $secs s" >&3
	ok_secs "$secs"
	# Out of it: the container serves, the host reads.
	run_w spawn b2 'dd if=/dev/zero bs=1M count=5 2>/dev/null | nc -l -p 5002'
	assert_success
	secs=$(transfer "$ip" 5002 $((4 * 1048576)) out)
	echo "# out: $secs s" >&3
	ok_secs "$secs"
}

# ---- create's limits, info, CLI ----

@test "create --limit-*: every limit in force before the handle is returned" {
	requires cgroup1 # reads the v1 files
	local last
	last=$(($(nproc --all) - 1))
	run_w create --handle all --limit-mem 48M --limit-cpu 256 --limit-cpuset "$last" \
		--limit-bandwidth 512K,32K --limit-disk 8M
	assert_success
	local id
	id=$(id_of all)
	[ "$(<"$(mcg "$id")/memory.limit_in_bytes")" = 50331648 ]
	[ "$(<"/sys/fs/cgroup/cpu/warden-$WINSTANCE/$id/cpu.shares")" = 256 ]
	[ "$(<"/sys/fs/cgroup/cpuset/warden-$WINSTANCE/$id/cpuset.cpus")" = "$last" ]
	[ "$(tbf_rate "$WINSTANCE-$id-0")" = 524288 ]
	[ "$(tbf_rate "$WINSTANCE-$id-i")" = 524288 ]
	[ "$(stat -f -c %T "$WTMP/depot/$id/overlay/upper")" = ext2/ext3 ]
	run_w --json info all
	json '.limits == {"mem":50331648,"cpu":256,"cpuset":"'"$last"'","bandwidth":{"rate":524288,"burst":32768},"disk":8388608}'
}

@test "info: memory_stat, cpu_stat, disk_stat, bandwidth_stat and the flat stats" {
	run_w create --handle i1 --disk-size-mb 8 --limit-bandwidth 1M,64K
	assert_success
	run_w run i1 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'
	run_w --json info i1
	json '.memory_stat | has("rss") and has("cache") and has("total_rss")'
	json '.cpu_stat.usage > 0 and (.cpu_stat.user >= 0) and (.cpu_stat.system >= 0)'
	json '.stats.mem_usage_B > 0 and .stats.cpu_usage_ns == .cpu_stat.usage and has("stats")'
	json '.stats.rss == .memory_stat.rss'
	json '.disk_stat.bytes_used > 0 and .disk_stat.inodes_used > 0'
	json '.bandwidth_stat.in_rate == 1048576 and .bandwidth_stat.out_burst == 65536'
	run_w create --handle i2
	assert_success
	run_w --json info i2
	json 'has("disk_stat") | not'
	json 'has("bandwidth_stat") | not'
}

@test "CLI: sizes for mem, disk and bandwidth; a bad size is a usage error naming it" {
	run_w create --handle cli
	assert_success
	run_w limit cli mem 1G
	assert_success
	run_w limit cli mem
	assert_output 1073741824
	run_w limit cli mem 12XB
	assert_failure 100
	assert_output_contains "mem: '12XB' is not a size"
	run_w limit cli bandwidth 1M
	assert_failure 100
	run_w create --limit-mem lots
	assert_failure 100
	assert_output_contains "--limit-mem wants a size"
	run_w create --limit-bandwidth 1M
	assert_failure 100
	run_w limit cli cpu 1
	assert_failure 1
	assert_output "warden: Invalid limit"
	run_w limit cli frob 1
	assert_failure 1
	assert_output "warden: Unknown limit frob"
	run_w limit cli bandwidth 1M 64K
	assert_success
	run_w limit cli bandwidth
	assert_output "$(printf 'rate: 1048576\nburst: 65536')"
}
