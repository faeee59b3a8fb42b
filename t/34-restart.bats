#!/usr/bin/env bats
# wardend killed (-9 or TERM) at the moments that matter: idle, during a job, during a
# stream, in the middle of a create, in the middle of a destroy, and with its depot's
# filesystem full. After each restart: the containers create answered for are there,
# job results are byte-complete, and nothing of a container that is gone is left in the
# kernel. Each test has its own daemon, instance and depot.

# jq programs are single-quoted on purpose.
# shellcheck disable=SC2016

load helpers

POOLS='"network":{"pool_start_address":"10.253.224.0","pool_size":8,"release_delay_ms":0},
	"user":{"pool_start_uid":62200,"pool_size":16},"port":{"pool_start_port":62600,"pool_size":8}'

setup() {
	requires root rootfs wardend
	export WINSTANCE=${WPREFIX}34
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WTMP WSOCK=$WTMP/w.sock
	mkdir -m 1777 "$WTMP/trig"
	TRIG=$WTMP/trig BG_PIDS='' LOOPDEV=''
	SERVER_KEYS=
}

teardown() {
	local p rc=0
	for p in $BG_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	# A daemon killed by the test and not restarted: one more start adopts (or tears
	# down) what it left, so wardend_stop can destroy it.
	if [[ -n ${WARDEND_PID:-} ]] && ! kill -0 "$WARDEND_PID" 2>/dev/null; then
		start >/dev/null 2>&1 || true
	fi
	wardend_stop || rc=$?
	if [[ -n $LOOPDEV ]]; then
		umount "$DEPOT_MNT" 2>/dev/null || umount -l "$DEPOT_MNT" 2>/dev/null || true
		losetup -d "$LOOPDEV" 2>/dev/null || true
		rm -rf "$DEPOT_MNT" "$DEPOT_IMG"
	fi
	return "$rc"
}

# start [EXTRA_SERVER_KEYS]: this test's daemon (again), with $SERVER_KEYS.
start() {
	local keys=${1:-$SERVER_KEYS}
	wardend_start "{\"server\":{$keys},$POOLS}"
}

kill9() {
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" 2>/dev/null || true
}

bg() {
	"$@" 3>&- &
	BG_PIDS="$BG_PIDS $!"
	LAST_BG=$!
}

id_of() { w --json info "$1" | jq -r .id; }

# json FILTER: jq on $output (exit status 1 when the filter yields false or null).
json() { jq -e "$@" <<<"$output"; }

# hooks_copy: the real hooks in $WTMP/hooks (hold_hook: t/helpers.bash).
hooks_copy() { cp -a "$WARDEN_SRC/hooks" "$WTMP/hooks"; }

# hold_hook_after NAME: like hold_hook, but the first run holds after the real hook
# has done its work (and keeps its exit status).
hold_hook_after() {
	mv "$WTMP/hooks/$1" "$WTMP/hooks/$1.real"
	cat >"$WTMP/hooks/$1" <<-EOF
		#!/bin/bash
		"\${BASH_SOURCE[0]%/*}/$1.real" "\$@" || exit
		if [[ ! -e "$WTMP/held-$1" ]]; then
			touch "$WTMP/held-$1"
			for ((i = 0; i < 600; i++)); do [[ -e "$WTMP/release-$1" ]] && break; sleep 0.1; done
		fi
	EOF
	chmod 0755 "$WTMP/hooks/$1"
}

# assert_gone ID: no depot entry, interface, chain, cgroup, mount or wshd of container ID
# of this instance is left (waiting, bounded, for the teardown a destroy started).
assert_gone() {
	local id=$1 depot=${2:-$WTMP/depot} left
	wait_torn_down "$id" "$depot" || return 1
	wait_for 20 eval "! ip -o link show | grep -q ': $WINSTANCE-$id-'" ||
		{ ip -o link show | grep "$WINSTANCE-$id-" >&2; return 1; }
	left=$(iptables -w -S 2>/dev/null | grep -- "warden-$WINSTANCE-$id" || true)
	[[ -z $left ]] || { echo "chain left: $left" >&2; return 1; }
	refute_cgroups "warden-$WINSTANCE/$id" || return 1
	left=$(grep -- "$depot/$id" /proc/self/mounts || true)
	[[ -z $left ]] || { echo "mounts left: $left" >&2; return 1; }
	left=$(pgrep -af "^wshd: $id" | while read -r pid rest; do
		grep -qs "warden-$WINSTANCE/$id" "/proc/$pid/cgroup" && echo "$pid $rest"
	done || true)
	[[ -z $left ]] || { echo "wshd left: $left" >&2; return 1; }
}

# stream_b64 HANDLE JOB OUT ERR: stream the job's exact bytes ({"output":"base64"}) into
# OUT and ERR as they come; exit 0 at the end line, 3 when the server closes first.
stream_b64() {
	python3 - "$WSOCK" "$@" <<-'PY'
		import base64, json, socket, sys
		sock, h, j, out, err = sys.argv[1:6]
		s = socket.socket(socket.AF_UNIX)
		s.connect(sock)
		s.sendall((json.dumps(["stream", h, int(j), {"output": "base64"}]) + "\n").encode())
		files = {"stdout": open(out, "wb", buffering=0), "stderr": open(err, "wb", buffering=0)}
		for line in s.makefile("rb"):
		    r = json.loads(line)
		    if r["type"] != "object":
		        sys.exit("error: " + r["payload"])
		    if r["payload"] == []:
		        sys.exit(0)
		    files[r["payload"][0]].write(base64.b64decode(r["payload"][1]))
		sys.exit(3)
	PY
}

# no_hook_left NAME: no process of hook NAME of this test is running.
no_hook_left() {
	run_cmd pgrep -f "$WTMP/hooks/$1"
	assert_failure 1
}

@test "kill -9 while idle: active and stopped containers adopted with state, properties, grace time" {
	start
	run_w raw '["create",{"handle":"a","properties":{"k":"v"},"grace_time":300}]'
	assert_success
	run_w create --handle s
	assert_success
	run_w stop s
	assert_success
	kill9
	start
	run_w list
	assert_output "$(printf 'a\ns')"
	run_w --json info a
	json '.state == "active" and .properties.k == "v" and .grace_time == 300'
	run_w --json info s
	json '.state == "stopped"'
	run_w run a 'echo alive'
	assert_output alive
	# Adopted networks are taken: a new container gets another id.
	local b
	b=$(w create)
	[[ $b != "$(id_of a)" && $b != "$(id_of s)" ]] || _explain "id $b reused"
}

@test "kill -9, then a wshd too slow for one ping (stopped 3 s) is asked again and adopted, not torn down" {
	start
	run_w create --handle slow
	assert_success
	local wpid
	wpid=$(cat "$WTMP/depot/$(id_of slow)/run/wshd.pid")
	kill9
	kill -STOP "$wpid"
	bg bash -c "sleep 3; kill -CONT $wpid"
	start
	run_w list
	assert_output slow
	assert_grep "wshd does not answer a ping.*asking again" "$WTMP/wardend.log"
	run_w run slow 'echo awake'
	assert_output awake
}

@test "SIGTERM: wardend exits 0; every container and job keeps running and is adopted after" {
	start
	run_w create --handle t --bind-mount "$TRIG:/trig:rw"
	assert_success
	local id wpid job p rc=0
	id=$(id_of t) p=$WTMP/depot/$id
	wpid=$(cat "$p/run/wshd.pid")
	job=$(w spawn t 'i=0; until [ -e /trig/stop ]; do echo "tick $i"; i=$((i+1)); sleep 0.02; done; echo done')
	wait_for 20 grep -q 'tick 3' "$p/jobs/$job/stdout"
	kill -TERM "$WARDEND_PID"
	wait "$WARDEND_PID" || rc=$?
	assert_equal "$rc" 0 "wardend's exit status after SIGTERM"
	# wshd lives and the job keeps writing while no wardend runs.
	kill -0 "$wpid" || _explain "wshd $wpid died with wardend"
	local n
	n=$(wc -l <"$p/jobs/$job/stdout")
	wait_for 20 eval "(( \$(wc -l <'$p/jobs/$job/stdout') > n + 5 ))"
	start
	touch "$TRIG/stop"
	run_w --json link t "$job"
	assert_success
	json '.[0] == 0 and (.[1] | endswith("done\n")) and (.[1] | startswith("tick 0\ntick 1\n"))'
	# Every line, none twice, none lost.
	local count
	jq -r '.[1]' <<<"$output" | grep '^tick ' >"$WTMP/ticks"
	count=$(wc -l <"$WTMP/ticks")
	run_cmd awk '{ if ($2 != NR - 1) { print "line " NR ": " $0; exit 1 } }' "$WTMP/ticks"
	assert_success
	((count > n)) || _explain "only $count lines"
	assert_equal "$(cat "$p/run/wshd.pid")" "$wpid" "wshd pid after the restart"
}

@test "kill -9 during a stream: the stream ends; after the restart a new stream gets every byte" {
	start
	run_w create --handle st --bind-mount "$TRIG:/trig:rw"
	assert_success
	local job p
	p=$WTMP/depot/$(id_of st)
	# Binary-safe output (every byte value) on stdout, text on stderr, until told to stop.
	job=$(w spawn st 'i=0; until [ -e /trig/stop ]; do printf "%s\n" "line $i"; printf "\001\377\000%s" "$i" >&2; i=$((i+1)); sleep 0.01; done; echo end')
	bg stream_b64 st "$job" "$WTMP/s1.out" "$WTMP/s1.err"
	local s1=$LAST_BG
	wait_for 20 grep -qs 'line 20' "$WTMP/s1.out"
	kill9
	local rc=0
	wait "$s1" || rc=$?
	assert_equal "$rc" 3 "the first stream's end (3: closed by the server)"
	start
	touch "$TRIG/stop"
	wait_for 30 test -e "$p/jobs/$job/status"
	stream_b64 st "$job" "$WTMP/s2.out" "$WTMP/s2.err"
	# The second stream is the job's whole output, byte for byte, as wshd wrote it.
	run_cmd cmp "$WTMP/s2.out" "$p/jobs/$job/stdout"
	assert_success
	run_cmd cmp "$WTMP/s2.err" "$p/jobs/$job/stderr"
	assert_success
	# The first stream's bytes are a prefix of it.
	run_cmd cmp -n "$(stat -c %s "$WTMP/s1.out")" "$WTMP/s1.out" "$WTMP/s2.out"
	assert_success
	run_cmd cmp -n "$(stat -c %s "$WTMP/s1.err")" "$WTMP/s1.err" "$WTMP/s2.err"
	assert_success
	# What the job wrote: every line from 0 on, each with its stderr record.
	local n
	n=$(grep -c '^line ' "$WTMP/s2.out")
	run_cmd cmp "$WTMP/s2.err" <(for ((i = 0; i < n; i++)); do printf '\001\377\000%s' "$i"; done)
	assert_success
	[[ $(tail -n 1 "$WTMP/s2.out") == end && $(head -n 1 "$WTMP/s2.out") == 'line 0' ]] ||
		_explain "stream does not run from line 0 to end"
}

@test "kill -9 in the middle of a create: the half-built container is torn down, its hooks killed" {
	hooks_copy
	# start.sh has started wshd, made the veth and the cgroups; create has not answered.
	hold_hook_after start.sh
	SERVER_KEYS="\"hooks_path\":\"$WTMP/hooks\""
	start
	bg bash -c "'$WARDEN_BIN' -s '$WSOCK' create --handle half --network 10.253.224.8 >'$WTMP/c.out' 2>&1"
	wait_for 30 test -e "$WTMP/held-start.sh"
	local id=0afde008
	[[ -d $WTMP/depot/$id ]] || _explain "create has not made its depot entry"
	[[ -n $(pgrep -f "^wshd: $id") ]] || _explain "no wshd: the create is not far enough"
	kill9
	start
	run_cmd grep -F "container $id: not adopted (no snapshot.json: its create never finished)" "$WTMP/wardend.log"
	assert_success
	no_hook_left start.sh
	run_w info half
	assert_output "warden: unknown handle"
	assert_gone "$id"
	# Its handle and network are free again.
	run_w create --handle half --network 10.253.224.8
	assert_success
	run_w run half 'echo rebuilt'
	assert_output rebuilt
}

@test "kill -9 while wshd waits beside setup.sh: wshd ends without a clone, the restart tears it all down" {
	hooks_copy
	# setup.sh has done its work and holds; start.sh beside it has started wshd, which
	# waits for setup.sh's end on wardend's pipe before it clones.
	hold_hook_after setup.sh
	SERVER_KEYS="\"hooks_path\":\"$WTMP/hooks\""
	start
	bg bash -c "'$WARDEN_BIN' -s '$WSOCK' create --handle beside --network 10.253.224.12 >'$WTMP/c.out' 2>&1"
	wait_for 30 test -e "$WTMP/held-setup.sh"
	local id=0afde00c
	wait_for 30 eval '[[ -n $(pgrep -f -- "--title wshd: $id") ]]' || _explain "no wshd beside setup.sh"
	kill9
	# The pipe's writer is gone: wshd ends by itself, before the restart, having cloned
	# nothing (no child-before-pivot.sh: the depot has no etc/fstab).
	wait_for 30 eval '[[ -z $(pgrep -f "wshd: $id") ]]' || _explain "wshd still waits with wardend dead"
	[[ ! -e $WTMP/depot/$id/etc/fstab ]] || _explain "child-before-pivot.sh ran"
	touch "$WTMP/release-setup.sh"
	start
	assert_gone "$id"
	run_w create --handle beside --network 10.253.224.12
	assert_success
	run_w run beside 'echo rebuilt'
	assert_output rebuilt
}

@test "kill -9 in the middle of a teardown (destroy answered, destroy.sh at work): the restart finishes it" {
	hooks_copy
	hold_hook destroy.sh
	SERVER_KEYS="\"hooks_path\":\"$WTMP/hooks\""
	start
	run_w create --handle d
	assert_success
	run_w create --handle keep
	assert_success
	local id
	id=$(id_of d)
	# destroy answers before its teardown: the container is killed and unlisted.
	run_w destroy d
	assert_success
	assert_output ok
	wait_for 30 test -e "$WTMP/held-destroy.sh"
	run_cmd jq -r .state "$WTMP/depot/$id/snapshot.json"
	assert_output destroying
	run_w info d
	assert_output "warden: unknown handle"
	kill9
	start
	run_cmd grep -F "container $id: not adopted (snapshot.json: \`state\` is \"destroying\": its destroy never finished)" "$WTMP/wardend.log"
	assert_success
	no_hook_left destroy.sh
	run_w list
	assert_output keep
	assert_gone "$id"
	run_w run keep 'echo fine'
	assert_output fine
}

@test "a teardown that failed (destroy.sh exit 3) keeps its network and uid taken until the restart, which tears it down" {
	hooks_copy
	mv "$WTMP/hooks/destroy.sh" "$WTMP/hooks/destroy.sh.real"
	# Fails once (before doing anything), then is the real hook.
	cat >"$WTMP/hooks/destroy.sh" <<-EOF
		#!/bin/bash
		if [[ ! -e "$WTMP/failed-once" ]]; then touch "$WTMP/failed-once"; echo "destroy.sh: no" >&2; exit 3; fi
		exec "\${BASH_SOURCE[0]%/*}/destroy.sh.real" "\$@"
	EOF
	chmod 0755 "$WTMP/hooks/destroy.sh"
	SERVER_KEYS="\"hooks_path\":\"$WTMP/hooks\""
	start
	run_w create --handle df --network 10.253.224.8
	assert_success
	local id
	id=$(id_of df)
	run_w destroy df
	assert_success
	assert_output ok
	wait_for 20 grep -qF "container df (id $id): teardown failed: hook destroy.sh exited with status 3: destroy.sh: no; its network, uid and host ports stay taken until wardend's next start tears it down again" "$WTMP/wardend.log"
	run_w info df
	assert_output "warden: unknown handle"
	run_cmd jq -r .state "$WTMP/depot/$id/snapshot.json"
	assert_output destroying
	# Its /30 is not handed out again, by name or otherwise.
	run_w create --network 10.253.224.8
	assert_failure 1
	assert_output "warden: could not acquire network"
	run_w create --handle df
	assert_success
	[[ $(id_of df) != "$id" ]] || _explain "the new df got the failed teardown's /30"
	kill9
	start
	run_cmd grep -F "container $id: not adopted (snapshot.json: \`state\` is \"destroying\": its destroy never finished); tearing it down" "$WTMP/wardend.log"
	assert_success
	assert_gone "$id"
	run_w list
	assert_output df
	run_w create --handle again --network 10.253.224.8
	assert_success
}

# tbf_rate IFACE: the rate (bytes/s) of IFACE's tbf qdisc, from tc's JSON.
tbf_rate() {
	tc -j qdisc show dev "$1" | jq -r '.[] | select(.kind == "tbf") | .options.rate'
}

@test "kill -9: every limit is adopted (info and the kernel agree), and an OOM after the restart stops the container" {
	# A sanitized wshd (the sanitizer runtime and its shadow memory) lives in the same
	# 16 MiB cgroup as the job, so which of them the kernel kills first is chance there;
	# the normal run proves this.
	sanitized && skip "a sanitized wshd competes with the job for the 16 MiB"
	requires cgroup1 # reads the v1 files
	local last id mcg
	last=$(($(nproc --all) - 1))
	start
	run_w create --handle lim --limit-mem 48M --limit-cpu 256 --limit-cpuset "$last" \
		--limit-bandwidth 512K,32K --limit-disk 8M
	assert_success
	id=$(id_of lim) mcg=$(cgroup_path memory "warden-$WINSTANCE/$(id_of lim)")
	run_w --json info lim
	local before=$output
	kill9
	start
	run_w --json info lim
	assert_equal "$(jq -c .limits <<<"$output")" "$(jq -c .limits <<<"$before")" "limits after the restart"
	json '.limits == {"mem":50331648,"cpu":256,"cpuset":"'"$last"'","bandwidth":{"rate":524288,"burst":32768},"disk":8388608}'
	assert_file "$mcg/memory.limit_in_bytes" 50331648
	assert_file "/sys/fs/cgroup/cpu/warden-$WINSTANCE/$id/cpu.shares" 256
	assert_file "/sys/fs/cgroup/cpuset/warden-$WINSTANCE/$id/cpuset.cpus" "$last"
	assert_equal "$(tbf_rate "$WINSTANCE-$id-0")" 524288 "egress rate"
	assert_equal "$(stat -f -c %T "$WTMP/depot/$id/overlay/upper")" ext2/ext3 "the disk image's filesystem"
	run_w limit lim mem
	assert_output 50331648
	# The OOM watch was re-armed: running out of memory now still stops the container.
	run_w spawn lim 'exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=96'
	assert_success
	wait_for 20 eval "w --json info lim | jq -e '.state == \"stopped\" and .events == [\"oom\"]' >/dev/null"
	run_w destroy lim
	assert_success
	assert_gone "$id"
	! losetup -a | grep -qF "$WTMP/depot/$id/" || _explain "loop device of $id left"
}

@test "kill -9, twice: hostname, tmpfs_mounts, read_only_root and sysctls stay, in the container and in snapshot.json" {
	start
	mkdir "$WTMP/data"
	run_w raw "[\"create\",{\"handle\":\"opts\",\"hostname\":\"kept.example\",\"read_only_root\":true,\"tmpfs_mounts\":[[\"/scratch\",{\"size\":65536,\"mode\":\"0750\"}]],\"sysctls\":{\"net.ipv4.tcp_keepalive_time\":\"4321\"},\"bind_mounts\":[[\"$WTMP/data\",\"/data\"]]}]"
	assert_success
	local snap want i
	snap=$WTMP/depot/$(id_of opts)/snapshot.json
	want="{\"hostname\":\"kept.example\",\"bind_mounts\":\"$WTMP/data\\t/data\\trw\\n\",\"tmpfs_mounts\":\"/scratch\\tmode=0750,size=65536\\n\",\"read_only_root\":true,\"sysctls\":\"net.ipv4.tcp_keepalive_time\\t4321\\n\"}"
	assert_equal "$(jq -c .create "$snap")" "$(jq -c . <<<"$want")" "snapshot.json's create"
	for i in 1 2; do
		kill9
		start
		# A job rewrites snapshot.json from what the restart loaded.
		run_w run opts --privileged 'hostname; grep -c " /scratch tmpfs rw,.*size=64k,mode=750" /proc/mounts; touch /x 2>&1; cat /proc/sys/net/ipv4/tcp_keepalive_time; echo w >/data/w && cat /data/w'
		assert_success
		assert_line 0 kept.example
		assert_line 1 1
		assert_line_match 2 '*Read-only file system'
		assert_line 3 4321
		assert_line 4 w
		assert_equal "$(jq -c .create "$snap")" "$(jq -c . <<<"$want")" "snapshot.json's create after restart $i"
	done
}

# host_get PORT: what the server at 127.0.0.1:PORT sends, read from the host.
host_get() {
	timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && cat <&3' "$1"
}

@test "kill -9, and the kernel lost the net in/out rules meanwhile: the restart puts them back, once" {
	start
	run_w create --handle n
	assert_success
	w spawn n 'exec nc -ll -p 8080 -e echo from-n' --discard-output >/dev/null
	run_w --json net n in 8080
	assert_success
	local hp id chain
	hp=$(jq -r .host_port <<<"$output") id=$(id_of n) chain=warden-$WINSTANCE-$(id_of n)
	wait_for 10 eval '[[ $(host_get "$hp") == from-n ]]'
	run_w net n out 192.0.2.0/24:80
	assert_success
	local -a accept=(-d 192.0.2.0/24 -p tcp -m tcp --dport 80 -j ACCEPT)
	iptables -w -C "$chain" "${accept[@]}" || _explain "net out made no rule"
	kill9
	# A firewall reload while wardend is down: the container's DNAT chain and its jump
	# go, and its filter chain is emptied.
	iptables -w -t nat -D "warden-$WINSTANCE-prerouting" -j "$chain"
	iptables -w -t nat -F "$chain"
	iptables -w -t nat -X "$chain"
	iptables -w -F "$chain"
	run_cmd host_get "$hp"
	assert_failure
	start
	assert_grep "net.sh: re-applied what the kernel had lost: in $hp:8080 out 192.0.2.0/24 80 tcp nolog" \
		"$WTMP/depot/$id/log/hooks.log"
	run_cmd host_get "$hp"
	assert_output from-n
	iptables -w -C "$chain" "${accept[@]}" || _explain "the net out rule is not back"
	# The port is the container's in the pool's books again, and a second restart adds
	# nothing: one rule, one jump.
	run_w net n in 8080 "$hp"
	assert_output "warden: host port $hp is already taken"
	kill9
	start
	assert_equal "$(iptables -w -t nat -S "$chain" | grep -c -- "--dport $hp ")" 1 "DNAT rules for $hp"
	assert_equal "$(iptables -w -t nat -S "warden-$WINSTANCE-prerouting" | grep -c -- "-j $chain")" 1 "jumps to $chain"
	assert_equal "$(iptables -w -S "$chain" | grep -c -- "-j ACCEPT")" 1 "ACCEPT rules in $chain"
	assert_equal "$(iptables -w -S "warden-$WINSTANCE-forward" | grep -c -- "-j $chain")" 1 "forward jumps to $chain"
	run_cmd host_get "$hp"
	assert_output from-n
	run_w destroy n
	assert_success
	assert_gone "$id"
}

@test "restart cleans stale global state: the instance's jumps stay single, leftover temp snapshots go" {
	start
	run_w create --handle g
	assert_success
	local id
	id=$(id_of g)
	kill9
	echo '{"torn' >"$WTMP/depot/$id/snapshot.json.tmp.99999"
	echo '12' >"$WTMP/depot/.job_seq.tmp.99999"
	start
	kill9
	start
	refute_exists "$WTMP/depot/$id/snapshot.json.tmp.99999"
	refute_exists "$WTMP/depot/.job_seq.tmp.99999"
	local t c f
	for t in "filter FORWARD -j warden-$WINSTANCE-forward" "filter INPUT -i $WINSTANCE-+ -j warden-$WINSTANCE-input" \
		"nat POSTROUTING -j warden-$WINSTANCE-postrouting"; do
		read -ra f <<<"$t"
		set -- "${f[@]}"
		c=$(iptables -w -t "$1" -S "$2" | grep -cxF -- "-A $2 ${*:3}" || true)
		assert_equal "$c" 1 "jumps '$t' after three starts"
	done
	run_w run g 'echo ok'
	assert_output ok
}

# A depot on a small ext4 image, loop-mounted; $DEPOT_MNT is the depot.
small_depot() {
	DEPOT_IMG=$WTMP.img DEPOT_MNT=$WTMP.depot
	truncate -s 24M "$DEPOT_IMG"
	mkfs.ext4 -q -F -m 0 -b 4096 "$DEPOT_IMG"
	LOOPDEV=$(losetup --find --show "$DEPOT_IMG")
	mkdir -p "$DEPOT_MNT"
	mount "$LOOPDEV" "$DEPOT_MNT"
}

# fill: no block left. Delayed allocation frees over-reserved blocks at writeback, so
# small files go on filling after each sync until a probe write fails (bounded).
fill() {
	local i=0 round
	dd if=/dev/zero of="$DEPOT_MNT/filler" bs=64k 2>/dev/null || true
	mkdir -p "$DEPOT_MNT/fill"
	for ((round = 0; round < 10; round++)); do
		sync -f "$DEPOT_MNT"
		while ((i < 20000)) && head -c 4096 /dev/zero >"$DEPOT_MNT/fill/$i" 2>/dev/null; do
			((i += 1))
		done
		sync -f "$DEPOT_MNT"
		echo x 2>/dev/null >"$DEPOT_MNT/fill/probe" || return 0
	done
	df "$DEPOT_MNT" >&2; find "$DEPOT_MNT/fill" -newer "$DEPOT_MNT/filler" -ls | tail -3 >&2
	_explain "the depot is not full after $round rounds ($i small files)"
}

@test "depot filesystem full: clear errors to clients, snapshot.json never truncated, all adopted after" {
	small_depot
	SERVER_KEYS="\"container_depot_path\":\"$DEPOT_MNT\""
	start "$SERVER_KEYS"
	run_w create --handle f
	assert_success
	local id snap job
	id=$(id_of f)
	job=$(w spawn f 'echo before-full')
	w link f "$job" >/dev/null
	snap=$(cat "$DEPOT_MNT/$id/snapshot.json")
	fill
	# Every request that needs the depot says why it cannot, naming the cause.
	run_w create --handle g
	assert_failure 1
	assert_output_contains "No space left on device"
	refute_exists "$DEPOT_MNT/0afde004"
	run_w list
	assert_output f
	run_w spawn f 'echo x' --output base64
	assert_failure 1
	assert_output_contains "No space left on device"
	run_w stop f
	assert_success
	# The stop could not be recorded: the old snapshot is whole, and the log says why.
	run_cmd jq -e . "$DEPOT_MNT/$id/snapshot.json"
	assert_success
	assert_equal "$(cat "$DEPOT_MNT/$id/snapshot.json")" "$snap" "snapshot.json on a full depot"
	assert_grep "container f: snapshot: .*No space left on device" "$WTMP/wardend.log"
	run_w ping
	assert_output pong
	kill9
	start "$SERVER_KEYS"
	run_w list
	assert_output f
	run_w --json link f "$job"
	assert_output '[0,"before-full\n",""]'
	rm -rf "$DEPOT_MNT/filler" "$DEPOT_MNT/fill"
	run_w destroy f
	assert_success
	assert_gone "$id" "$DEPOT_MNT"
}
