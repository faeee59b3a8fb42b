# shellcheck shell=bash
# Loaded by every suite (`load helpers`). Runs under bats as root on the build machine.
# Gives each test file (or test) a private wardend: its own temp dir, socket, depot,
# instance name ($WINSTANCE, default "tw") and pools, and tears all of it down even when a
# test failed.

WARDEN_SRC=${WARDEN_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
WARDEN_BUILD=${WARDEN_BUILD:-$WARDEN_SRC/_build}
WARDEN_TEST_ROOTFS=${WARDEN_TEST_ROOTFS:-/var/tmp/warden-test-rootfs}
WARDEN_BIN=$WARDEN_BUILD/src/warden/warden
WARDEND_BIN=$WARDEN_BUILD/src/wardend/wardend
WIRE=$WARDEN_SRC/t/lib/wire.py
# Suites with instances of their own name them ${WPREFIX}SUFFIX (SUFFIX: 2 characters at
# most, as interface names hold 15: INSTANCE-ID-0). WPREFIX is the first two characters of
# the WINSTANCE the run was given, "t" without one, so that runs given different
# WINSTANCEs on one machine never share a cgroup (cgroups are not per network namespace).
if [[ -z ${WPREFIX:-} ]]; then
	WPREFIX=${WINSTANCE:+${WINSTANCE:0:2}}
	WPREFIX=${WPREFIX:-t}
	export WPREFIX
fi
WINSTANCE=${WINSTANCE:-tw}
# Set by bats `run`.
status=${status:-} output=${output:-}
export WARDEN_SRC WARDEN_BUILD WARDEN_TEST_ROOTFS

# ---- requirements ----

# requires root|cgroup1|cgroup2|wardend|rootfs...: skip with a reason; unknown = test bug.
requires() {
	local r
	for r in "$@"; do
		case $r in
		root) [[ $(id -u) == 0 ]] || skip "needs root" ;;
		cgroup1) [[ -d /sys/fs/cgroup/memory && ! -f /sys/fs/cgroup/cgroup.controllers ]] ||
			skip "needs cgroup v1 controllers under /sys/fs/cgroup" ;;
		cgroup2) [[ -f /sys/fs/cgroup/cgroup.controllers ]] ||
			skip "needs the unified cgroup v2 hierarchy at /sys/fs/cgroup" ;;
		wardend) [[ -x $WARDEND_BIN ]] || skip "wardend not built at $WARDEND_BIN" ;;
		rootfs) [[ -x $WARDEN_TEST_ROOTFS/bin/sh ]] || skip "no test rootfs at $WARDEN_TEST_ROOTFS" ;;
		*)
			echo "requires: unknown requirement '$r'" >&2
			return 1
			;;
		esac
	done
}

# sanitized: the build under test has ASan/UBSan (configure --enable-sanitizers, with gcc
# or clang, whose runtime is linked in statically and so not seen in /proc/PID/maps).
sanitized() {
	grep -qE -- '^WARN_CFLAGS = .*-fsanitize=' "$WARDEN_BUILD/Makefile" 2>/dev/null
}

# ---- bounded waiting ----

# wait_for TIMEOUT_S CMD...: run CMD until it succeeds; fail after TIMEOUT_S seconds.
wait_for() {
	local timeout=$1
	shift
	local deadline=$((SECONDS + timeout))
	until "$@"; do
		if ((SECONDS >= deadline)); then
			echo "wait_for: '$*' still failing after ${timeout}s" >&2
			return 1
		fi
		sleep 0.1
	done
}

# wait_torn_down ID [DEPOT]: destroy replies once container ID is killed and unlisted,
# and its teardown (destroy.sh) goes on in the daemon's own time: wait, bounded (20 s),
# until its depot entry, the last thing destroy.sh removes, is gone. Fails, showing the
# entry, when it stays; never passes before destroy.sh got to its end.
wait_torn_down() {
	local dir=${2:-$WTMP/depot}/$1
	wait_for 20 eval "[[ ! -e '$dir' ]]" && return 0
	echo "teardown of $1 unfinished: $dir left" >&2
	ls -la "$dir" >&2
	return 1
}

# wait_depot_empty [DEPOT]: the same for every container (dot files are the server's).
wait_depot_empty() {
	local depot=${1:-$WTMP/depot}
	wait_for 20 eval "[[ -z \$(ls '$depot') ]]" && return 0
	echo "depot not empty: $(ls "$depot")" >&2
	return 1
}

# retry N DELAY CMD...: up to N attempts, DELAY seconds apart.
retry() {
	local n=$1 delay=$2 i
	shift 2
	for ((i = 1; i <= n; i++)); do
		"$@" && return 0
		((i < n)) && sleep "$delay"
	done
	echo "retry: '$*' failed $n times" >&2
	return 1
}

# ---- the CLI and the raw client on the private socket ----

w() { "$WARDEN_BIN" -s "$WSOCK" "$@"; }
wire() { python3 "$WIRE" "$WSOCK" "$@"; }

# run_w ARGS...: bats `run` of the CLI; the assert helpers below explain failures.
run_w() {
	WLAST_CMD="warden $*"
	run "$WARDEN_BIN" -s "$WSOCK" "$@"
}

# run_cmd ARGS...: like run, but remembered for the assert helpers' failure messages.
run_cmd() {
	WLAST_CMD="$*"
	run "$@"
}

_explain() {
	{
		echo "-- $1"
		echo "command: ${WLAST_CMD:-${BATS_RUN_COMMAND:-?}}"
		echo "status:  $status"
		echo "output:"
		printf '%s\n' "$output"
		echo "--"
	} >&2
	return 1
}

assert_success() {
	[[ $status == 0 ]] || _explain "expected success"
}

# assert_failure [N]: non-zero, or exactly N.
assert_failure() {
	if [[ -n ${1:-} ]]; then
		[[ $status == "$1" ]] || _explain "expected exit status $1"
	else
		[[ $status != 0 ]] || _explain "expected failure"
	fi
}

assert_output() {
	[[ $output == "$1" ]] || _explain "expected output: $1"
}

assert_output_contains() {
	[[ $output == *"$1"* ]] || _explain "expected output to contain: $1"
}

refute_output_contains() {
	[[ $output != *"$1"* ]] || _explain "expected output not to contain: $1"
}

# assert_line N TEXT / assert_line_match N GLOB: line N (bats' lines; -1 the last) of the
# last run's output is TEXT, or matches GLOB.
assert_line() {
	[[ ${lines[$1]-} == "$2" ]] || _explain "expected line $1 of the output: $2"
}

assert_line_match() {
	# shellcheck disable=SC2053 # $2 is a glob
	[[ ${lines[$1]-} == $2 ]] || _explain "expected line $1 of the output to match: $2"
}

# _explain_value WHAT EXPECTED ACTUAL: print both (each may span lines), return 1.
_explain_value() {
	printf -- '-- %s\nexpected:\n%s\nactual:\n%s\n--\n' "$1" "$2" "$3" >&2
	return 1
}

# assert_equal ACTUAL EXPECTED [WHAT]: the two are the same string.
assert_equal() {
	[[ $1 == "$2" ]] || _explain_value "${3:-value}" "$2" "$1"
}

# assert_match ACTUAL GLOB [WHAT]: ACTUAL matches the glob pattern GLOB.
assert_match() {
	# shellcheck disable=SC2053 # $2 is a glob
	[[ $1 == $2 ]] || _explain_value "${3:-value} (a glob)" "$2" "$1"
}

# assert_file FILE EXPECTED: FILE exists and holds EXPECTED (trailing newlines aside).
assert_file() {
	[[ -e $1 ]] || { echo "-- $1: no such file" >&2; return 1; }
	assert_equal "$(<"$1")" "$2" "content of $1"
}

# assert_grep REGEX FILE: some line of FILE matches the extended regex.
assert_grep() {
	grep -qE -- "$1" "$2" 2>/dev/null && return 0
	{
		echo "-- no line of $2 matches: $1"
		if [[ -e $2 ]]; then head -n 40 "$2"; else echo "($2: no such file)"; fi
		echo "--"
	} >&2
	return 1
}

# assert_exists PATH / assert_dir PATH / refute_exists PATH.
assert_exists() {
	[[ -e $1 || -L $1 ]] || { echo "-- expected $1 to exist" >&2; return 1; }
}

assert_dir() {
	[[ -d $1 ]] || { echo "-- expected a directory at $1" >&2; ls -ld "$1" >&2 2>/dev/null; return 1; }
}

refute_exists() {
	[[ ! -e $1 && ! -L $1 ]] && return 0
	echo "-- expected $1 not to exist:" >&2
	ls -ld "$1" >&2
	return 1
}

# ---- hooks held at a moment a test needs ----

# hold_hook NAME [ARG]: in $WTMP/hooks (a copy of the hooks), the first run of NAME (whose
# first argument is ARG, or any) makes $WTMP/held-NAME and waits, bounded (60 s), for
# $WTMP/release-NAME before it runs the real hook; later runs go straight through.
hold_hook() {
	mv "$WTMP/hooks/$1" "$WTMP/hooks/$1.real"
	cat >"$WTMP/hooks/$1" <<-EOF
		#!/bin/bash
		if [[ ( -z "${2:-}" || "\${1:-}" == "${2:-}" ) && ! -e "$WTMP/held-$1" ]]; then
			touch "$WTMP/held-$1"
			for ((i = 0; i < 600; i++)); do [[ -e "$WTMP/release-$1" ]] && break; sleep 0.1; done
		fi
		exec "\${BASH_SOURCE[0]%/*}/$1.real" "\$@"
	EOF
	chmod 0755 "$WTMP/hooks/$1"
}

# ---- cgroups, both layouts ----

# cgroup_path CONTROLLER REL: the directory of cgroup REL (warden-INSTANCE/ID) for
# CONTROLLER in the layout the hooks use (lib/cgroup.sh), as runc's get_cgroup_path: v2
# (cgroup.controllers at the root) one directory for all controllers, v1 one under each
# controller's hierarchy.
cgroup_path() {
	local root=${WARDEN_CGROUP_ROOT:-/sys/fs/cgroup}
	if [[ -e $root/cgroup.controllers ]]; then
		echo "$root/$2"
	else
		echo "$root/$1/$2"
	fi
}

# cgroup_dirs REL: every directory cgroup REL has, in either layout (v1 under each
# hierarchy, including a hybrid host's unified one; v2 at the root). Prints nothing when
# there is none: the leak checks use it.
cgroup_dirs() {
	local root=${WARDEN_CGROUP_ROOT:-/sys/fs/cgroup} d
	for d in "$root/$1" "$root"/*/"$1"; do
		[[ -d $d ]] && echo "$d"
	done
	return 0
}

# refute_cgroups REL: no directory of cgroup REL is left, in either layout.
refute_cgroups() {
	local left
	left=$(cgroup_dirs "$1")
	[[ -z $left ]] || { echo "cgroups left: $left" >&2; return 1; }
}

# ---- private daemon ----

# wardend_config [EXTRA_JSON]: write $WTMP/warden.conf; EXTRA_JSON ({"server":{...},...}) is
# merged into the defaults section by section (a null section value removes the section).
wardend_config() {
	[[ -n ${WTMP:-} ]] || WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WTMP WSOCK=$WTMP/w.sock
	mkdir -p "$WTMP/depot"
	local extra=${1:-}
	[[ -n $extra ]] || extra='{}'
	python3 - "$WTMP" "$extra" >"$WTMP/warden.conf" <<'PY' || return 1
import json, os, sys
tmp, extra = sys.argv[1], json.loads(sys.argv[2])
env = os.environ
cfg = {
    "server": {
        "instance": env.get("WINSTANCE", "tw"),
        "unix_domain_path": tmp + "/w.sock",
        "container_depot_path": tmp + "/depot",
        "container_rootfs_path": env["WARDEN_TEST_ROOTFS"],
        "hooks_path": env["WARDEN_SRC"] + "/hooks",
        "skeleton_path": env["WARDEN_SRC"] + "/skeleton",
        "wshd_path": env["WARDEN_BUILD"] + "/src/wshd/wshd",
        "builtins_path": env["WARDEN_BUILD"] + "/src/builtins/warden-builtins.so",
        "container_grace_time": None,
    },
    "network": {"pool_start_address": "10.253.0.0", "pool_size": 32},
    "user": {"pool_start_uid": 60000, "pool_size": 64},
    "port": {"pool_start_port": 62000, "pool_size": 100},
    "logging": {"level": "debug", "file": tmp + "/wardend.log"},
}
for section, keys in extra.items():
    if keys is None:
        cfg.pop(section, None)
    elif isinstance(keys, dict) and isinstance(cfg.get(section), dict):
        cfg[section].update(keys)
    else:
        cfg[section] = keys
json.dump(cfg, sys.stdout, indent=2)
PY
}

wardend_log() {
	local f
	for f in "$WTMP/wardend.log" "$WTMP/wardend.out"; do
		[[ -s $f ]] && { echo "== $f (last 60 lines)"; tail -n 60 "$f"; }
	done >&2
	return 0
}

_wardend_answers() {
	kill -0 "$WARDEND_PID" 2>/dev/null || return 2
	"$WARDEN_BIN" -s "$WSOCK" ping >/dev/null 2>&1
}

# wardend_start [EXTRA_JSON]: private daemon in the background; waits (bounded) for ping.
wardend_start() {
	requires wardend || return
	wardend_config "${1:-}" || return 1
	"$WARDEND_BIN" --config "$WTMP/warden.conf" >>"$WTMP/wardend.out" 2>&1 3>&- </dev/null &
	WARDEND_PID=$!
	echo "$WARDEND_PID" >"$WTMP/wardend.pid"
	export WARDEND_PID
	local deadline=$((SECONDS + 30)) rc
	while :; do
		_wardend_answers && return 0
		rc=$?
		if ((rc == 2)); then
			echo "wardend_start: wardend exited before answering ping" >&2
			wardend_log
			return 1
		fi
		if ((SECONDS >= deadline)); then
			echo "wardend_start: no pong on $WSOCK within 30s" >&2
			wardend_log
			return 1
		fi
		sleep 0.1
	done
}

# Every leftover of this instance in the kernel: chains, interfaces, cgroups, mounts.
_cleanup_instance() {
	local ipt table rule chain ifc cg pid m
	local -a args
	# The hooks may use either front end (server.iptables): clean both.
	for ipt in iptables iptables-legacy; do
		command -v "$ipt" >/dev/null || continue
		for table in filter nat mangle; do
			# Jumps into the instance's chains first, then the chains themselves.
			while read -r rule; do
				[[ -n $rule ]] || continue
				eval "args=(${rule/-A /-D })"
				"$ipt" -w -t "$table" "${args[@]}" 2>/dev/null || true
			done < <("$ipt" -w -t "$table" -S 2>/dev/null | grep -E "^-A .*-j warden-$WINSTANCE-" || true)
			for chain in $("$ipt" -w -t "$table" -S 2>/dev/null |
				awk -v p="warden-$WINSTANCE-" '$1 == "-N" && index($2, p) == 1 { print $2 }'); do
				"$ipt" -w -t "$table" -F "$chain" 2>/dev/null || true
			done
			for chain in $("$ipt" -w -t "$table" -S 2>/dev/null |
				awk -v p="warden-$WINSTANCE-" '$1 == "-N" && index($2, p) == 1 { print $2 }'); do
				"$ipt" -w -t "$table" -X "$chain" 2>/dev/null || true
			done
		done
	done
	for ifc in $(ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' |
		grep -E "^$WINSTANCE-" || true); do
		ip link del "$ifc" 2>/dev/null || true
	done
	for cg in $(cgroup_dirs "warden-$WINSTANCE"); do
		# Processes still in the instance's cgroups were started by this test's containers.
		find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
			kill -KILL "$pid" 2>/dev/null || true
		done
		find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	if [[ -n ${WTMP:-} ]]; then
		while read -r m; do
			umount -l "$m" 2>/dev/null || true
		done < <(awk -v p="$WTMP/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r)
	fi
}

SANITIZER_RE='ERROR: (Address|Leak|Thread|Memory)Sanitizer|SUMMARY: [A-Za-z]*Sanitizer|: runtime error: '

# _sanitizer_reports PID FILE...: print any sanitizer report of wardend PID (in the file
# t/run's sanitized runs have every process write) or in FILE (stderr and logs); 1 if any.
_sanitizer_reports() {
	local f found=0 pid=$1
	shift
	if [[ -n $pid && -n ${WARDEN_SAN_DIR:-} ]]; then
		for f in "$WARDEN_SAN_DIR"/*."$pid"; do
			[[ -f $f ]] || continue
			echo "wardend_stop: sanitizer report of wardend $pid ($f):"
			head -n 40 "$f"
			found=1
		done
	fi
	for f in "$@"; do
		if [[ -f $f ]] && grep -qE "$SANITIZER_RE" "$f"; then
			echo "wardend_stop: sanitizer report in $f:"
			grep -E -A 30 "$SANITIZER_RE" "$f" | head -n 40
			found=1
		fi
	done >&2
	return "$found"
}

# wardend_stop: destroy what the daemon still lists, TERM it (bounded), then a safety net
# for anything left over. Safe to call twice and when no daemon was started. Fails (after
# all of that) if the daemon or a wshd left a sanitizer report.
wardend_stop() {
	[[ -n ${WTMP:-} ]] || return 0
	local pid h dir san=0
	pid=${WARDEND_PID:-$(cat "$WTMP/wardend.pid" 2>/dev/null || true)}
	# The wshd logs (wshd's stderr) before destroy removes them.
	_sanitizer_reports "" "$WTMP"/depot/*/log/wshd.log || san=1
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		for h in $(timeout 30 "$WARDEN_BIN" -s "$WSOCK" list 2>/dev/null || true); do
			timeout 60 "$WARDEN_BIN" -s "$WSOCK" destroy "$h" >/dev/null 2>&1 ||
				echo "wardend_stop: destroy $h failed" >&2
		done
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_for 30 eval "! kill -0 $pid 2>/dev/null"; then
			echo "wardend_stop: wardend $pid ignored SIGTERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	fi
	_sanitizer_reports "$pid" "$WTMP/wardend.out" "$WTMP/wardend.log" || san=1
	# Safety net: destroy.sh on whatever the depot still holds, with its recorded env.
	for dir in "$WTMP"/depot/*/; do
		[[ -f $dir/etc/config ]] || continue
		echo "wardend_stop: leftover container $dir" >&2
		# shellcheck disable=SC2016 # expanded by the inner bash
		env -i PATH="$PATH" bash -c 'set -a; . "$1"; set +a; exec "$2"' _ \
			"$dir/etc/config" "$WARDEN_SRC/hooks/destroy.sh" >&2 || true
	done
	_cleanup_instance
	if awk -v p="$WTMP/" 'index($2, p) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
		echo "wardend_stop: mounts left under $WTMP; not removing it" >&2
	else
		rm -rf --one-file-system "$WTMP"
	fi
	unset WTMP WSOCK WARDEND_PID
	return "$san"
}
