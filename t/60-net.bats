#!/usr/bin/env bats
# The network rules of real containers: net in (DNAT from the port pool, reached at
# 127.0.0.1, at the host's own addresses and from another interface), net out (tcp
# port, port range, udp, icmp, log), the default deny from a container to the host and
# to other containers, allow_networks and deny_networks, the exact errors of bad
# arguments, a restart after kill -9, and that destroy leaves no rule, chain or port.
# Traffic flows only between this host and the containers this file makes (loopback
# and the container pool).

# Scripts for the container are single-quoted on purpose.
# shellcheck disable=SC2016

load helpers

P=10.253.60
# Containers (by /30): a .0 (host side .1, container .2), b .4 (.5/.6), c .8 (.9/.10)
# and d .12 (.13/.14). c and d lie in allow_networks; c is also in deny_networks.
CONF="{\"network\":{\"pool_start_address\":\"$P.0\",\"pool_size\":8,\"release_delay_ms\":100,
	\"allow_networks\":[\"$P.8/29\"],\"deny_networks\":[\"$P.10/32\"]},
	\"port\":{\"pool_start_port\":62000,\"pool_size\":8},
	\"user\":{\"pool_start_uid\":61600,\"pool_size\":16}}"

setup_file() {
	# Its own instance: cgroups are host-wide, other suites may run beside this one.
	export WINSTANCE=${WPREFIX}60
	[[ $(id -u) == 0 && -x $WARDEN_TEST_ROOTFS/bin/sh ]] || return 0
	wardend_start "$CONF"
	local h i=0
	for h in a b c d; do
		w create --handle "$h" --network "$P.$((i * 4))" >/dev/null
		i=$((i + 1))
	done
	# Listeners: a, c and d answer tcp 8080 with their name, for ever.
	for h in a c d; do
		w spawn "$h" "exec nc -ll -p 8080 -e echo from-$h" --discard-output >/dev/null
	done
}

teardown_file() {
	# A test restarts the daemon: the pid file names the one running now.
	unset WARDEND_PID
	wardend_stop
}

setup() {
	requires root rootfs wardend
	LISTENER_PID=
}

teardown() {
	if [[ -n ${LISTENER_PID:-} ]]; then
		kill "$LISTENER_PID" 2>/dev/null || true
		wait "$LISTENER_PID" 2>/dev/null || true
	fi
	LISTENER_PID=
}

json() { jq -e "$@" <<<"$output"; }

# host_get ADDR PORT: what the server at ADDR:PORT sends, read from the host.
host_get() {
	timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" && cat <&3' "$1" "$2"
}

# in_get H ADDR PORT: the same, from inside container H.
in_get() {
	run_w run "$1" "nc -w 2 $2 $3 </dev/null"
}

# host_listen PROTO PORT: a listener on the host (all addresses) that appends what it
# receives to $BATS_TEST_TMPDIR/got; LISTENER_PID is killed by teardown.
host_listen() {
	: >"$BATS_TEST_TMPDIR/got"
	python3 - "$1" "$2" "$BATS_TEST_TMPDIR/got" <<-'PY' &
		import socket, sys
		proto, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
		kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
		s = socket.socket(socket.AF_INET, kind)
		s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		s.bind(("0.0.0.0", port))
		if proto == "tcp":
		    s.listen(8)
		open(out + ".ready", "w").close()
		while True:
		    if proto == "tcp":
		        c, _ = s.accept()
		        c.sendall(b"from-host\n")
		        c.close()
		        data = b"tcp\n"
		    else:
		        data, peer = s.recvfrom(2048)
		        s.sendto(b"\0\5\0\1not here\0", peer)  # a TFTP error: the client stops
		        data = b"udp\n"
		    with open(out, "ab") as f:
		        f.write(data)
	PY
	LISTENER_PID=$!
	wait_for 10 test -e "$BATS_TEST_TMPDIR/got.ready"
}

# rules_of ID [TABLE]: every rule naming container ID's chain.
rules_of() {
	iptables -w -t "${2:-filter}" -S 2>/dev/null | grep -- "warden-$WINSTANCE-$1" || true
}

id_of() { w --json info "$1" | jq -r .id; }

# wire_error REQUEST: the message of the error reply to one raw request line.
wire_error() {
	wire send "$1"$'\n' | jq -er 'select(.type == "error") | .payload'
}

# ---- net in ----

@test "net in: reply names both ports; reached from the host at 127.0.0.1 and its own addresses" {
	run_w --json net a in 8080
	assert_success
	json '.container_port == 8080 and (.host_port | . >= 62000 and . < 62008)'
	local port
	port=$(jq .host_port <<<"$output")
	wait_for 10 eval "host_get 127.0.0.1 $port >/dev/null"
	run_cmd host_get 127.0.0.1 "$port"
	assert_output from-a
	# The host side of a's veth and of b's: both are addresses of this host.
	run_cmd host_get "$P.1" "$port"
	assert_output from-a
	run_cmd host_get "$P.5" "$port"
	assert_output from-a
	run_w net a in 8080
	assert_success
	assert_output_contains "container_port: 8080"
}

@test "net in: from another interface (container d through its host address) once d may go there" {
	run_w --json net a in 8080
	local port
	port=$(jq .host_port <<<"$output")
	# d's packets are DNAT'd to a and then meet d's own default deny.
	in_get d "$P.13" "$port"
	refute_output_contains from-a
	run_w net d out "$P.2:8080"
	assert_success
	in_get d "$P.13" "$port"
	assert_success
	assert_output from-a
}

@test "net in: HPORT chosen; taken by a container or by a host socket -> clear errors" {
	run_w --json net a in 8080 62007
	assert_success
	json '.host_port == 62007 and .container_port == 8080'
	run_cmd host_get 127.0.0.1 62007
	assert_output from-a
	run_w net c in 8080 62007
	assert_failure 1
	assert_output "warden: host port 62007 is already taken"
	host_listen tcp 62006
	run_w net c in 8080 62006
	assert_failure 1
	assert_output "warden: host port 62006 is already in use on the host"
	# Ports outside the pool are fine when free.
	run_w --json net c in 8080 62100
	assert_success
	run_cmd host_get 127.0.0.1 62100
	assert_output from-c
}

@test "net in: bad arguments get exact errors; the daemon keeps serving" {
	local bad
	for bad in '["net","a","in","http"]:invalid container port "http" (1..65535)' \
		'["net","a","in",0]:invalid container port 0 (1..65535)' \
		'["net","a","in",8080,65536]:invalid host port 65536 (1..65535)' \
		'["net","a","in",8080,-1]:invalid host port -1 (1..65535)' \
		'["net","a","in",8080,1,2]:invalid number of arguments' \
		'["net","a","sideways"]:invalid argument' \
		'["net","a",7]:invalid argument' \
		'["net","nope","in"]:unknown handle' \
		'["net","a"]:invalid number of arguments'; do
		run_cmd wire_error "${bad%%:*}"
		assert_output "${bad#*:}"
	done
	run_w ping
	assert_output pong
}

@test "port pool: empty -> no port available; destroy gives the ports back" {
	w create --handle e --network "$P.16" >/dev/null
	local n=0 out
	while out=$(w --json net e in 80 2>&1); do
		n=$((n + 1))
		((n <= 8)) || break
	done
	[[ $out == "warden: no port available" ]] || { echo "after $n: $out" >&2; false; }
	local id
	id=$(id_of e)
	[[ -n $(rules_of "$id" nat) ]]
	w destroy e
	wait_torn_down "$id"
	[[ -z $(rules_of "$id" nat) && -z $(rules_of "$id") ]]
	# After the release delay (100 ms) the ports (and the /30) are free again.
	retry 20 0.1 w create --handle e --network "$P.16" >/dev/null
	retry 20 0.1 w net e in 80 >/dev/null
	w destroy e
}

# ---- net out and the default deny ----

@test "default deny: container -> host and container -> container; net out tcp port opens each" {
	host_listen tcp 62400
	in_get b "$P.5" 62400
	refute_output_contains from-host
	in_get b "$P.2" 8080
	refute_output_contains from-a
	[[ ! -s $BATS_TEST_TMPDIR/got ]]
	run_w net b out "$P.5:62400"
	assert_success
	assert_output ok
	in_get b "$P.5" 62400
	assert_output from-host
	run_w net b out "$P.2/32:8080"
	assert_success
	in_get b "$P.2" 8080
	assert_output from-a
	# Only that port: another port of the host stays closed.
	kill "$LISTENER_PID"
	wait "$LISTENER_PID" 2>/dev/null || true
	host_listen tcp 62401
	in_get b "$P.5" 62401
	refute_output_contains from-host
	in_get b "$P.5" 62401
	refute_output_contains from-host
	run_w net b out "$P.5:62401"
	in_get b "$P.5" 62401
	assert_output from-host
}

@test "net out: a port range, udp and icmp" {
	local id
	id=$(id_of d)
	host_listen tcp 62402
	in_get d "$P.13" 62402
	refute_output_contains from-host
	run_w net d out "$P.13:62401-62403"
	assert_success
	in_get d "$P.13" 62402
	assert_output from-host
	kill "$LISTENER_PID"
	wait "$LISTENER_PID" 2>/dev/null || true
	# udp: busybox tftp sends one datagram to the host's port.
	host_listen udp 62410
	run_w run d "tftp -g -r x -l /tmp/x $P.13 62410"
	sleep 0.5
	[[ ! -s $BATS_TEST_TMPDIR/got ]]
	run_w net d out "$P.13:62410" --protocol udp
	assert_success
	run_w run d "tftp -g -r x -l /tmp/x $P.13 62410"
	wait_for 5 test -s "$BATS_TEST_TMPDIR/got"
	[[ $(head -1 "$BATS_TEST_TMPDIR/got") == udp ]]
	# icmp: to another container, denied (b may reach a on tcp 8080 only), then allowed.
	run_w run b "ping -c 1 -W 1 $P.2" --privileged
	assert_failure
	run_w net b out "$P.2" --protocol icmp
	assert_success
	run_w run b "ping -c 1 -W 2 $P.2" --privileged
	assert_success
	[[ $(rules_of "$id") == *"-d $P.13/32 -p tcp -m tcp --dport 62401:62403 -j ACCEPT"* ]]
	[[ $(rules_of "$id") == *"-d $P.13/32 -p udp -m udp --dport 62410 -j ACCEPT"* ]]
}

@test "net out --log: a LOG rule for new connections, prefixed with the container's chain" {
	local id
	id=$(id_of c)
	run_w net c out "$P.1:62420" --log
	assert_success
	run_cmd rules_of "$id"
	assert_output_contains "-A warden-$WINSTANCE-$id -d $P.1/32 -p tcp -m tcp --dport 62420 -m conntrack --ctstate NEW -j LOG --log-prefix \"warden-$WINSTANCE-$id \""
	assert_output_contains "-A warden-$WINSTANCE-$id -d $P.1/32 -p tcp -m tcp --dport 62420 -j ACCEPT"
	run_w raw '["net","c","out","10.253.60.1",{"protocol":"all","log":true}]'
	assert_success
	run_cmd rules_of "$id"
	assert_output_contains "-A warden-$WINSTANCE-$id -d $P.1/32 -m conntrack --ctstate NEW -j LOG"
}

@test "allow_networks and deny_networks: d (allowed) is reachable, c (allowed but denied) is not" {
	in_get a "$P.14" 8080
	assert_success
	assert_output from-d
	in_get a "$P.10" 8080
	refute_output_contains from-c
	# b is in neither list: denied (and b answers pings from those it may reach).
	run_w run a "ping -c 1 -W 1 $P.6" --privileged
	assert_failure
	run_w run a "ping -c 1 -W 2 $P.14" --privileged
	assert_success
	# net out of the container itself comes before deny_networks.
	run_w net a out "$P.10:8080"
	in_get a "$P.10" 8080
	assert_output from-c
}

@test "net out: every malformed part gets an error naming it; the daemon keeps serving" {
	local bad
	for bad in '["net","a","out","x"]|invalid address "x"' \
		'["net","a","out",""]|invalid address ""' \
		'["net","a","out",":80"]|invalid address ""' \
		'["net","a","out","10.0.0.256"]|invalid address "10.0.0.256"' \
		'["net","a","out","10.0.0.0/33"]|invalid mask "33"' \
		'["net","a","out","10.0.0.0/"]|invalid mask ""' \
		'["net","a","out","10.0.0.0/8:99999"]|invalid port range 99999' \
		'["net","a","out","10.0.0.0/8:90-80"]|invalid port range 90-80' \
		'["net","a","out","10.0.0.0/8:"]|invalid port range ' \
		'["net","a","out","10.0.0.0/8:8a"]|invalid port range 8a' \
		'["net","a","out",5]|invalid address 5' \
		'["net","a","out","10.0.0.1",[]]|Options must be a hash' \
		'["net","a","out","10.0.0.1",{"protocol":"sctp"}]|invalid protocol "sctp" (tcp, udp, icmp or all)' \
		'["net","a","out","10.0.0.1",{"log":1}]|Expected `log` to hold a boolean.' \
		'["net","a","out","10.0.0.1",{"port":1}]|Unknown net out option `port`.' \
		'["net","a","out","10.0.0.1:80",{"protocol":"icmp"}]|a port range needs protocol tcp or udp, not icmp' \
		'["net","a","out"]|invalid number of arguments'; do
		run_cmd wire_error "${bad%%|*}"
		assert_output "${bad#*|}"
	done
	run_w ping
	assert_output pong
}

@test "net in/out on a stopped container: the state error" {
	w create --handle s --network "$P.20" >/dev/null
	w stop s >/dev/null
	run_w net s out 10.0.0.1
	assert_failure 1
	assert_output "warden: Container state must be one of 'active', current state is 'stopped'"
	run_w net s in 80
	assert_output "warden: Container state must be one of 'active', current state is 'stopped'"
	w destroy s >/dev/null
}

# ---- restart and destroy ----

@test "kill -9 of wardend: the net in port, its DNAT and the jumps survive, exactly once" {
	run_w --json net d in 8080 62005
	assert_success
	kill -KILL "$WARDEND_PID"
	wait "$WARDEND_PID" 2>/dev/null || true
	wardend_start "$CONF"
	run_cmd host_get 127.0.0.1 62005
	assert_output from-d
	run_w net a in 8080 62005
	assert_output "warden: host port 62005 is already taken"
	local id
	id=$(id_of d)
	[[ $(iptables -w -S "warden-$WINSTANCE-forward" | grep -c -- "-j warden-$WINSTANCE-$id") == 1 ]]
	[[ $(iptables -w -t nat -S "warden-$WINSTANCE-prerouting" | grep -c -- "-j warden-$WINSTANCE-$id") == 1 ]]
}

@test "destroy: no rule, chain or jump of the container is left, the others keep theirs" {
	w create --handle z --network "$P.24" >/dev/null
	local id
	id=$(id_of z)
	w net z in 8080 >/dev/null
	w net z out 10.0.0.0/8:80 --log >/dev/null
	[[ -n $(rules_of "$id") && -n $(rules_of "$id" nat) ]]
	[[ -e $WTMP/depot/$id/run/chain-filter && -e $WTMP/depot/$id/run/chain-nat ]]
	run_w destroy z
	assert_success
	wait_torn_down "$id"
	run_cmd rules_of "$id"
	assert_output ''
	run_cmd rules_of "$id" nat
	assert_output ''
	[[ -n $(rules_of "$(id_of b)") ]]
	# Nothing of this instance outside its own chains, and its chains name only it.
	run_cmd bash -c "iptables -w -S; iptables -w -t nat -S"
	local line
	while read -r line; do
		[[ $line != *"warden-"* || $line == *"warden-$WINSTANCE-"* ]] ||
			{ echo "foreign: $line" >&2; false; }
	done <<<"$output"
}

@test "a container with no net in/out has no chain of its own, yet is filtered" {
	local id
	w create --handle plain --network "$P.28" >/dev/null
	id=$(id_of plain)
	run_cmd rules_of "$id"
	assert_output ''
	[[ ! -e $WTMP/depot/$id/run/chain-filter ]]
	in_get plain "$P.2" 8080
	refute_output_contains from-a
	in_get plain "$P.14" 8080
	assert_output from-d
	w destroy plain >/dev/null
}

@test "a port pool overlapping the kernel's ephemeral ports: wardend refuses to start" {
	local lo hi
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	printf '{"server":{"instance":"%s6x","unix_domain_path":"%s/x.sock","container_depot_path":"%s/depot"},
		"port":{"pool_start_port":%d,"pool_size":10},"user":{"pool_start_uid":61650,"pool_size":4}}' \
		"$WPREFIX" "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR" $((hi - 5)) >"$BATS_TEST_TMPDIR/x.conf"
	run_cmd timeout 20 "$WARDEND_BIN" --config "$BATS_TEST_TMPDIR/x.conf"
	assert_failure 111
	assert_output_contains "port pool $((hi - 5))..$((hi + 4)) (port.pool_start_port, port.pool_size) overlaps the kernel's ephemeral ports $lo..$hi (net.ipv4.ip_local_port_range)"
	[[ ! -e $BATS_TEST_TMPDIR/depot ]]
}
