#!/usr/bin/env bats
# The hook runner (doc/hooks.md, "How hooks run: the runner"), for real: a bash hook runs
# in a bash started ahead of need with the libraries preloaded, yet as its own process
# ($$, parent, exit status, signal death, environment), an edited hook or library applies
# to the next run, a hook that is not bash is exec'd, wshd's parent-after-clone.sh gets the
# same, and a killed wardend leaves no runner behind.

# Hook bodies are single-quoted on purpose; H is set in a test and read by teardown.
# shellcheck disable=SC2016,SC2030,SC2031

load helpers

FILE_CONF='{"network":{"pool_start_address":"10.253.38.0","pool_size":8,"release_delay_ms":0},
	"user":{"pool_start_uid":63800,"pool_size":16}}'

setup_file() {
	export WINSTANCE=${WPREFIX}38
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WTMP
	cp -a "$WARDEN_SRC/hooks" "$WTMP/hooks"
	wardend_start "${FILE_CONF%\}}, \"server\":{\"hooks_path\":\"$WTMP/hooks\"}}"
}

teardown_file() {
	wardend_stop
}

setup() {
	requires root rootfs
	H=''
	OWN_SUITE=''
}

teardown() {
	local f
	if [[ -n ${OWN_SUITE:-} ]]; then # the last test's own daemon, then the suite's again
		wardend_stop
		read -r WTMP WSOCK WARDEND_PID <<<"$OWN_SUITE"
		export WTMP WSOCK WARDEND_PID WINSTANCE=${WPREFIX}38
		OWN_SUITE=
	fi
	[[ -z $H ]] || w destroy "$H" >/dev/null 2>&1 || true
	for f in "$WTMP"/hooks/*.real; do
		[[ -e $f ]] && mv "$f" "${f%.real}"
	done
	cp "$WARDEN_SRC/hooks/lib/common.sh" "$WTMP/hooks/lib/common.sh"
	rm -f "$WTMP"/probe.*
}

# wrap_hook NAME BODY: NAME runs BODY (bash), then the real hook as a process of its own.
wrap_hook() {
	mv "$WTMP/hooks/$1" "$WTMP/hooks/$1.real"
	printf '#!/bin/bash\n%s\n"${BASH_SOURCE[0]%%/*}/%s.real" "$@"\n' "${2//@PROBES@/$WTMP}" "$1" \
		>"$WTMP/hooks/$1"
	chmod 0755 "$WTMP/hooks/$1"
}

# set_hook NAME FIRST_LINE BODY: NAME is only BODY, under FIRST_LINE.
set_hook() {
	[[ -e $WTMP/hooks/$1.real ]] || mv "$WTMP/hooks/$1" "$WTMP/hooks/$1.real"
	printf '%s\n%s\n' "$2" "$3" >"$WTMP/hooks/$1.new"
	chmod 0755 "$WTMP/hooks/$1.new"
	mv "$WTMP/hooks/$1.new" "$WTMP/hooks/$1"
}

# What a wrapped hook writes to $WTMP/probe.NAME (@PROBES@: $WTMP, whose name the hook's
# clean environment lacks): its $$, $BASHPID, $PPID, $0, whether the libraries'
# functions were there before it sourced any (a runner that had the time to read them),
# its command line (a runner's names warden-hook), the runner's own variables it can
# see, and whether its environment has instance and id.
PROBE='{ printf "pid %s %s\n" "$$" "$BASHPID"; printf "ppid %s\n" "$PPID"; printf "zero %s\n" "$0"
declare -F cg_init >/dev/null && echo preloaded || echo cold
mapfile -d "" -t pc </proc/self/cmdline; pc="${pc[*]}"; printf "cmdline %s\n" "${pc//$'"'"'\n'"'"'/ }"
printf "runner-vars %s\n" "$(compgen -v | grep -cE "^w_(r|n|d|f|l|preload)$")"
printf "env %s %s\n" "$(printenv instance)" "$(printenv PID || echo -)"; } >"@PROBES@/probe.${0##*/}"'

probe_field() { # NAME FIELD
	awk -v f="$2" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "$WTMP/probe.$1"
}

create_ok() {
	run_w create
	assert_success
	H=$output
}

@test "a bash hook runs in a runner started ahead, as its own process: \$\$, parent, \$0, environment" {
	wrap_hook setup.sh "$PROBE"
	wrap_hook destroy.sh "$PROBE"
	create_ok
	run_w destroy "$H"
	assert_success
	H=
	for hook in setup.sh destroy.sh; do
		run probe_field "$hook" pid
		read -r pid bashpid <<<"$output"
		assert_equal "$pid" "$bashpid"
		assert_equal "$(probe_field "$hook" ppid)" "$WARDEND_PID"
		assert_equal "$(probe_field "$hook" zero)" "$WTMP/hooks/$hook"
		assert_equal "$(probe_field "$hook" runner-vars)" 0
		assert_equal "$(probe_field "$hook" env)" "$WINSTANCE -"
	done
	# Both ran in a runner (host-setup.sh's end started the first): one that had the time
	# found the libraries read (not asserted: under load a runner may get no CPU ahead).
	for hook in setup.sh destroy.sh; do
		assert_match "$(probe_field "$hook" cmdline)" "bash --noprofile --norc -c * warden-hook $WTMP/hooks"
	done
}

@test "exit 137 is a status, kill -KILL \$\$ a signal death; an edited hook applies to the next run" {
	create_ok
	set_hook net.sh '#!/bin/bash' 'echo "net.sh: one" >&2; exit 137'
	run_w net "$H" in 80
	assert_failure 1
	assert_output "warden: hook net.sh exited with status 137: net.sh: one"
	set_hook net.sh '#!/bin/bash' 'echo "net.sh: two" >&2; kill -KILL $$'
	run_w net "$H" in 80
	assert_failure 1
	assert_output "warden: hook net.sh killed by signal 9"
	run_w run "$H" 'echo alive'
	assert_output alive
}

@test "an edited library applies to the next hook: the runners that read the old one are not used" {
	create_ok
	set_hook net.sh '#!/bin/bash' '. "${BASH_SOURCE[0]%/*}/lib/common.sh"; w_probe >&2; exit 3'
	sed -i '/^BASH_LOADABLES_PATH=/i w_probe() { echo "net.sh: lib one"; }' "$WTMP/hooks/lib/common.sh"
	run_w net "$H" in 80
	assert_output "warden: hook net.sh exited with status 3: net.sh: lib one"
	# Let runners start and read this version, then change it.
	run_w run "$H" true
	run_w net "$H" in 80
	assert_output "warden: hook net.sh exited with status 3: net.sh: lib one"
	sed -i 's/lib one/lib two/' "$WTMP/hooks/lib/common.sh"
	run_w net "$H" in 80
	assert_output "warden: hook net.sh exited with status 3: net.sh: lib two"
}

@test "runners that die before their hook (a library that exits at preload): hooks are exec'd, wardend says so and goes on" {
	sed -i '3i [[ -z ${w_preload-} ]] || exit 7' "$WTMP/hooks/lib/common.sh"
	# the runners started before the edit read the old library: let them go
	create_ok
	run_w destroy "$H"
	H=''
	create_ok
	run_w run "$H" 'echo alive'
	assert_output alive
	run_w destroy "$H"
	assert_success
	H=''
	wait_for 5 grep -q "hook runner [0-9]* ended before it had a hook (status 0x700)" "$WTMP/wardend.log"
	run_w ping
	assert_success
}

@test "a hook whose first line names another interpreter is exec'd by it" {
	create_ok
	set_hook net.sh '#!/bin/sh' 'echo "net.sh: bash=${BASH_VERSION:-none} zero=$0" >&2; exit 4'
	run_w net "$H" in 80
	assert_output "warden: hook net.sh exited with status 4: net.sh: bash=none zero=$WTMP/hooks/net.sh"
}

@test "wshd's parent-after-clone.sh runs in a runner, child-before-pivot.sh exec'd, each its own process" {
	wrap_hook parent-after-clone.sh "$PROBE"
	wrap_hook child-before-pivot.sh "$PROBE"
	create_ok
	for hook in parent-after-clone.sh child-before-pivot.sh; do
		run probe_field "$hook" pid
		read -r pid bashpid <<<"$output"
		assert_equal "$pid" "$bashpid"
		assert_equal "$(probe_field "$hook" runner-vars)" 0
	done
	assert_match "$(probe_field parent-after-clone.sh cmdline)" "bash --noprofile --norc -c * warden-hook $WTMP/hooks"
	# child-before-pivot.sh is due as soon as the child is cloned: no runner to wait for.
	assert_equal "$(probe_field child-before-pivot.sh cmdline)" "/bin/bash $WTMP/hooks/child-before-pivot.sh"
	# parent-after-clone.sh: wshd's child on the host, with PID (the container's init).
	run probe_field parent-after-clone.sh env
	assert_match "$output" "$WINSTANCE [0-9]*"
	refute_output_contains " $WARDEND_PID"
	# child-before-pivot.sh: in the container's pid namespace, the child of its init.
	assert_equal "$(probe_field child-before-pivot.sh ppid)" 1
	assert_equal "$(probe_field child-before-pivot.sh env)" "$WINSTANCE -"
	run_w run "$H" 'echo alive'
	assert_output alive
}

@test "idle runners are children of wardend, server.hook_runners of them, and end with a killed wardend" {
	local dir pids p
	OWN_SUITE="$WTMP $WSOCK $WARDEND_PID"
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WTMP WINSTANCE=${WPREFIX}3r
	unset WARDEND_PID
	dir=$WTMP/hooks
	cp -a "$WARDEN_SRC/hooks" "$dir"
	wardend_start '{"network":{"pool_start_address":"10.253.138.0","pool_size":4},
		"user":{"pool_start_uid":63900,"pool_size":8},
		"server":{"hooks_path":"'"$dir"'","hook_runners":3}}'
	# host-setup.sh has run: the runners start one after the other.
	wait_for 10 eval "[[ \$(pgrep -P $WARDEND_PID -fc 'warden-hook $dir') == 3 ]]"
	sleep 0.3
	assert_equal "$(pgrep -P "$WARDEND_PID" -fc "warden-hook $dir")" 3
	pids=$(pgrep -P "$WARDEND_PID" -f "warden-hook $dir" | tr '\n' ' ')
	kill -KILL "$WARDEND_PID"
	wait_for 5 eval "! pgrep -f 'warden-hook $dir' >/dev/null"
	for p in $pids; do # gone, or a zombie its new parent has not reaped yet
		[[ ! -e /proc/$p || $(awk '$1 == "State:" { print $2 }' "/proc/$p/status" 2>/dev/null) == Z ]]
	done
}
