#!/usr/bin/env bats
# The hook runner (doc/hooks.md, "How hooks run: the runner"), for real: a bash hook is
# forked by wardend's zygote (a bash started ahead of need with the libraries preloaded),
# yet as its own process ($$, parent, process group, exit status, signal death,
# environment), an edited hook or library applies to the next run, a hook that is not
# bash is exec'd, wshd's parent-after-clone.sh gets the same, without the zygote builtin
# (or with server.hook_zygote false) runners take the hooks, and a killed wardend leaves
# no zygote or runner behind.

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
	# only when changed: a copy is a changed library to the zygote, which starts again
	cmp -s "$WARDEN_SRC/hooks/lib/common.sh" "$WTMP/hooks/lib/common.sh" ||
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
printf "env %s %s\n" "$(printenv instance)" "$(printenv PID || echo -)"
read -r -a st </proc/$$/stat; printf "pgid %s\n" "${st[4]}"; printf "random %s\n" "$RANDOM"
printf "seconds %s\n" "$SECONDS"; } >"@PROBES@/probe.${0##*/}"'

probe_field() { # NAME FIELD
	awk -v f="$2" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "$WTMP/probe.$1"
}

create_ok() {
	run_w create
	assert_success
	H=$output
}

# zygote_pid: the pid of wardend's hook zygote for the hooks of $WTMP/hooks, once it is
# there, ready (wardend takes it off SCHED_IDLE when it says so) and no hook runs.
# ZYGOTE_CMD: a part of its command line (and its forks') that a runner's lacks, as a
# glob and as a regex.
ZYGOTE_CMD='" zygote 2>'
zygote_ready() {
	local pids
	pids=$(pgrep -P "$WARDEND_PID" -f "$ZYGOTE_CMD.* warden-hook $WTMP/hooks ") || return 1
	[[ $pids != *$'\n'* ]] && chrt -p "$pids" 2>/dev/null | grep -q SCHED_OTHER && echo "$pids"
}
zygote_pid() {
	wait_for 10 zygote_ready >/dev/null && zygote_ready
}

@test "a bash hook is forked by the zygote, as its own process: \$\$, parent, group, \$0, environment, \$RANDOM, \$SECONDS" {
	local zygote pid bashpid hook randoms
	wrap_hook setup.sh "$PROBE"
	wrap_hook destroy.sh "$PROBE"
	zygote=$(zygote_pid)
	sleep 2.1 # the zygote is 2 s old: a hook's $SECONDS starts at its fork (0, or 1 across
	# a second's boundary, as for an exec'd hook)
	create_ok
	run_w destroy "$H"
	assert_success
	H=
	for hook in setup.sh destroy.sh; do
		run probe_field "$hook" pid
		read -r pid bashpid <<<"$output"
		assert_equal "$pid" "$bashpid"
		[[ $pid != "$zygote" ]]
		assert_equal "$(probe_field "$hook" ppid)" "$WARDEND_PID"
		assert_equal "$(probe_field "$hook" pgid)" "$pid"
		assert_equal "$(probe_field "$hook" zero)" "$WTMP/hooks/$hook"
		assert_equal "$(probe_field "$hook" runner-vars)" 0
		assert_equal "$(probe_field "$hook" env)" "$WINSTANCE -"
		(($(probe_field "$hook" seconds) <= 1))
		# a fork of the zygote, which had read the libraries
		assert_match "$(probe_field "$hook" cmdline)" "bash --noprofile --norc -c *$ZYGOTE_CMD* warden-hook $WTMP/hooks *"
		assert_equal "$(grep -c '^preloaded$' "$WTMP/probe.$hook")" 1
		assert_grep "hook $hook ok \([0-9]+ ms, forked by the zygote\)" "$WTMP/wardend.log"
	done
	randoms=$(cat "$WTMP"/probe.{setup,destroy}.sh | awk '$1 == "random" { print $2 }' | sort -u | wc -l)
	assert_equal "$randoms" 2
	# The same zygote forked both and is there for the next hook.
	assert_equal "$(zygote_pid)" "$zygote"
}

@test "via the zygote, exit 137 is a status, kill -KILL \$\$ a signal death; an edited hook applies to the next run" {
	local zygote cmd='tr "\0" " " </proc/$$/cmdline >'"$WTMP/probe.cmd"
	create_ok
	zygote=$(zygote_pid)
	set_hook net.sh '#!/bin/bash' "$cmd"'; echo "net.sh: one" >&2; exit 137'
	run_w net "$H" in 80
	assert_failure 1
	assert_output "warden: hook net.sh exited with status 137: net.sh: one"
	assert_match "$(cat "$WTMP/probe.cmd")" "*$ZYGOTE_CMD* warden-hook $WTMP/hooks *"
	rm "$WTMP/probe.cmd"
	set_hook net.sh '#!/bin/bash' "$cmd"'; echo "net.sh: two" >&2; kill -KILL $$'
	run_w net "$H" in 80
	assert_failure 1
	assert_output "warden: hook net.sh killed by signal 9"
	assert_match "$(cat "$WTMP/probe.cmd")" "*$ZYGOTE_CMD* warden-hook $WTMP/hooks *"
	# Both were forks of the zygote, which lives on.
	assert_equal "$(zygote_pid)" "$zygote"
	run_w run "$H" 'echo alive'
	assert_output alive
}

@test "an edited library applies to the next hook: the zygote that read the old one starts again" {
	local zygote
	create_ok
	set_hook net.sh '#!/bin/bash' "declare -F w_probe >/dev/null && echo preloaded >$WTMP/probe.lib"'
		. "${BASH_SOURCE[0]%/*}/lib/common.sh"; w_probe >&2; exit 3'
	sed -i '/^BASH_LOADABLES_PATH=/i w_probe() { echo "net.sh: lib one"; }' "$WTMP/hooks/lib/common.sh"
	run_w net "$H" in 80
	assert_output "warden: hook net.sh exited with status 3: net.sh: lib one"
	# Let the zygote start again and read this version, then change it.
	run_w run "$H" true
	run_w net "$H" in 80
	assert_output "warden: hook net.sh exited with status 3: net.sh: lib one"
	zygote=$(zygote_pid)
	sed -i 's/lib one/lib two/' "$WTMP/hooks/lib/common.sh"
	run_w net "$H" in 80
	assert_output "warden: hook net.sh exited with status 3: net.sh: lib two"
	# That hook was exec'd, and a new zygote has read the new library.
	assert_grep "hook libraries changed: the hook zygote starts again" "$WTMP/wardend.log"
	[[ $(zygote_pid) != "$zygote" ]]
	rm -f "$WTMP/probe.lib"
	run_w net "$H" in 80
	assert_output "warden: hook net.sh exited with status 3: net.sh: lib two"
	assert_equal "$(cat "$WTMP/probe.lib")" preloaded
}

@test "a zygote that dies before it is ready (a library that exits at preload): hooks are exec'd, wardend says so and goes on" {
	# exit 7 at preload in the zygote only ($2, its builtins path, is what the sourced
	# library sees as $2; wshd's runners have none)
	sed -i '3i [[ -z ${w_preload-} || -z ${2-} ]] || exit 7' "$WTMP/hooks/lib/common.sh"
	# the zygote started before the edit read the old library: let it go
	create_ok
	run_w destroy "$H"
	H=''
	create_ok
	run_w run "$H" 'echo alive'
	assert_output alive
	run_w destroy "$H"
	assert_success
	H=''
	wait_for 5 grep -qE "hook zygote [0-9]+ ended before it was ready \(status 0x700\)$" "$WTMP/wardend.log"
	run grep -c "hook runners from now on" "$WTMP/wardend.log"
	assert_output 0
	run_w ping
	assert_success
}

@test "a hook whose first line names another interpreter is exec'd by it" {
	create_ok
	set_hook net.sh '#!/bin/sh' 'echo "net.sh: bash=${BASH_VERSION:-none} zero=$0" >&2; exit 4'
	run_w net "$H" in 80
	assert_output "warden: hook net.sh exited with status 4: net.sh: bash=none zero=$WTMP/hooks/net.sh"
}

@test "wshd's parent-before-clone.sh and parent-after-clone.sh are forks of start.sh's zygote, child-before-pivot.sh exec'd, each its own process" {
	local hook pid bashpid
	wrap_hook parent-before-clone.sh "$PROBE"
	wrap_hook parent-after-clone.sh "$PROBE"'
read -r -a st </proc/$PPID/stat; echo "parentpgid ${st[4]}" >>"@PROBES@/probe.${0##*/}"
awk "\$1 == \"PPid:\" { print \"initppid\", \$2 }" /proc/$PID/status >>"@PROBES@/probe.${0##*/}"'
	wrap_hook child-before-pivot.sh "$PROBE"
	zygote_pid >/dev/null # start.sh is its fork (not exec'd as while it starts)
	create_ok
	for hook in parent-before-clone.sh parent-after-clone.sh child-before-pivot.sh; do
		run probe_field "$hook" pid
		read -r pid bashpid <<<"$output"
		assert_equal "$pid" "$bashpid"
		assert_equal "$(probe_field "$hook" runner-vars)" 0
	done
	# The two on the host: forks of the zygote start.sh left as wshd's child (the command
	# line is wardend's zygote's, which forked start.sh), children of wshd (the parent of
	# the container's init), in its process group as an exec'd hook would be.
	for hook in parent-before-clone.sh parent-after-clone.sh; do
		assert_match "$(probe_field "$hook" cmdline)" "bash --noprofile --norc -c *$ZYGOTE_CMD* warden-hook $WTMP/hooks *"
		assert_equal "$(probe_field "$hook" ppid)" "$(probe_field parent-after-clone.sh initppid)"
		assert_equal "$(probe_field "$hook" pgid)" "$(probe_field parent-after-clone.sh parentpgid)"
	done
	[[ $(probe_field parent-after-clone.sh pgid) != "$(probe_field parent-after-clone.sh pid | cut -d' ' -f1)" ]]
	# parent-after-clone.sh: wshd's child on the host, with PID (the container's init).
	run probe_field parent-after-clone.sh env
	assert_match "$output" "$WINSTANCE [0-9]*"
	refute_output_contains " $WARDEND_PID"
	# child-before-pivot.sh is due as soon as the child is cloned: exec'd, no runner to
	# wait for; in the container's pid namespace, the child of its init.
	assert_equal "$(probe_field child-before-pivot.sh cmdline)" "/bin/bash $WTMP/hooks/child-before-pivot.sh"
	assert_equal "$(probe_field child-before-pivot.sh ppid)" 1
	assert_equal "$(probe_field child-before-pivot.sh env)" "$WINSTANCE -"
	run_w run "$H" 'echo alive'
	assert_output alive
}

# slow_setup BODY: setup.sh is the real one, then a pause, then BODY; each of the clone-
# stage hooks notes when it began (probe.NAME.t, $EPOCHREALTIME) before it runs.
slow_setup() {
	set_hook setup.sh '#!/bin/bash' '"${BASH_SOURCE[0]%/*}/setup.sh.real" "$@" || exit
sleep 0.4
'"$1"
	local hook
	for hook in parent-before-clone.sh parent-after-clone.sh child-before-pivot.sh; do
		wrap_hook "$hook" 'echo "$EPOCHREALTIME" >"@PROBES@/probe.${0##*/}.t"'
	done
}

@test "start.sh runs beside setup.sh: parent-before-clone.sh overlaps it, the clone waits for its end" {
	local log t_pbc t_pac t_cbp t_end
	slow_setup 'echo "$EPOCHREALTIME" >"'"$WTMP"'/probe.setup.end"'
	create_ok
	t_pbc=$(cat "$WTMP/probe.parent-before-clone.sh.t")
	t_pac=$(cat "$WTMP/probe.parent-after-clone.sh.t")
	t_cbp=$(cat "$WTMP/probe.child-before-pivot.sh.t")
	t_end=$(cat "$WTMP/probe.setup.end")
	awk -v a="$t_pbc" -v b="$t_pac" -v c="$t_end" -v d="$t_cbp" 'BEGIN { exit !(a < c && c < b && c < d) }' ||
		_explain "want parent-before-clone.sh $t_pbc < setup.sh's end $t_end < parent-after-clone.sh $t_pac and child-before-pivot.sh $t_cbp"
	# start.sh's log line comes once setup.sh has made the log, saying how long before it began.
	log=$(echo "$WTMP"/depot/*/log/hooks.log)
	assert_grep "begin start.sh .[0-9]* ms ago.$" "$log"
	assert_grep "end start.sh: ok" "$log"
	run_w run "$H" 'cat /etc/hostname; echo alive'
	assert_output "$H
alive"
	# What setup.sh mounts (the disk image under the upper layer) is in the container's
	# mount namespace too: the clone came after it.
	w destroy "$H" >/dev/null
	run_w create --limit-disk 8M
	assert_success
	H=$output
	run_w run "$H" 'id -un; cat /etc/hostname'
	assert_output "vcap
$H"
}

@test "setup.sh fails while start.sh waits beside it: setup.sh's error, and nothing is left" {
	local id
	slow_setup 'echo "$id" >"'"$WTMP"'/probe.id"; echo "setup.sh: broke late" >&2; exit 3'
	run_w create
	assert_failure
	assert_output "warden: hook setup.sh exited with status 3: setup.sh: broke late"
	# wshd read the end of its pipe without a go and ended; destroy.sh took the rest.
	[[ -s $WTMP/probe.parent-before-clone.sh.t ]] || _explain "parent-before-clone.sh did not run beside setup.sh"
	[[ ! -e $WTMP/probe.child-before-pivot.sh.t ]] || _explain "child-before-pivot.sh ran although setup.sh failed"
	wait_depot_empty
	id=$(cat "$WTMP/probe.id")
	! pgrep -f "wshd: $id" || _explain "a wshd of $id is left"
	refute_cgroups "warden-$WINSTANCE/$id"
	assert_grep "hook start.sh exited with status [0-9]*: wshd: setup.sh did not finish" "$WTMP/wardend.log"
}

@test "a start.sh without the line '# hook-runner: beside setup.sh' runs after setup.sh, as before" {
	local t_pbc t_end
	slow_setup 'echo "$EPOCHREALTIME" >"'"$WTMP"'/probe.setup.end"'
	mv "$WTMP/hooks/start.sh" "$WTMP/hooks/start.sh.real"
	grep -vx '# hook-runner: beside setup.sh' "$WTMP/hooks/start.sh.real" >"$WTMP/hooks/start.sh"
	chmod 0755 "$WTMP/hooks/start.sh"
	create_ok
	t_pbc=$(cat "$WTMP/probe.parent-before-clone.sh.t")
	t_end=$(cat "$WTMP/probe.setup.end")
	awk -v a="$t_pbc" -v c="$t_end" 'BEGIN { exit !(c < a) }' ||
		_explain "want setup.sh's end $t_end < parent-before-clone.sh $t_pbc"
	assert_grep "begin start.sh$" "$WTMP"/depot/*/log/hooks.log
	run_w run "$H" 'echo alive'
	assert_output alive
}

@test "start.sh's hook_timeout counts from setup.sh's end; a setup.sh past its own is the hook named" {
	own_wardend ',"hook_timeout":1'
	# setup.sh takes 0.7 s, start.sh 0.6 s past its end: 1.3 s in all, each within 1 s.
	set_hook setup.sh '#!/bin/bash' '"${BASH_SOURCE[0]%/*}/setup.sh.real" "$@" || exit
sleep 0.7'
	wrap_hook parent-after-clone.sh 'sleep 0.6'
	create_ok
	run_w run "$H" 'echo alive'
	assert_output alive
	w destroy "$H" >/dev/null
	H=''
	# start.sh waits beside a setup.sh that hangs: setup.sh is killed at its deadline
	# and named, whatever start.sh's clock says.
	set_hook setup.sh '#!/bin/bash' 'sleep 60'
	run_w create
	assert_failure 1
	assert_output "warden: hook setup.sh timed out after 1 s"
	wait_depot_empty
	! pgrep -f "$WTMP/hooks/setup.sh" || _explain "the timed-out setup.sh is still running"
}

@test "start.sh exec'd (not forked by the zygote) runs wshd without one: its hooks are exec'd or in runners, as before" {
	local hook
	wrap_hook start.sh ''
	wrap_hook parent-before-clone.sh "$PROBE"
	wrap_hook parent-after-clone.sh "$PROBE"
	create_ok
	assert_match "$(probe_field parent-before-clone.sh cmdline)" "/bin/bash $WTMP/hooks/parent-before-clone.sh"
	assert_match "$(probe_field parent-after-clone.sh cmdline)" "bash --noprofile --norc -c * warden-hook $WTMP/hooks"
	run probe_field parent-after-clone.sh cmdline
	refute_output_contains "$ZYGOTE_CMD"
	run_w run "$H" 'echo alive'
	assert_output alive
}

# own_wardend SERVER_KEYS: a daemon of this test's own (teardown goes back to the suite's),
# hooks in $WTMP/hooks.
own_wardend() {
	OWN_SUITE="$WTMP $WSOCK $WARDEND_PID"
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WTMP WINSTANCE=${WPREFIX}3r
	unset WARDEND_PID
	cp -a "$WARDEN_SRC/hooks" "$WTMP/hooks"
	wardend_start '{"network":{"pool_start_address":"10.253.138.0","pool_size":4},
		"user":{"pool_start_uid":63900,"pool_size":8},
		"server":{"hooks_path":"'"$WTMP/hooks"'"'"$1"'}}'
}

# kill_wardend_alone PIDS: wardend killed, PIDS (its idle zygote or runners) end too.
kill_wardend_alone() {
	local p
	kill -KILL "$WARDEND_PID"
	wait_for 5 eval "! pgrep -f 'warden-hook $WTMP/hooks' >/dev/null"
	for p in "$@"; do # gone, or a zombie its new parent has not reaped yet
		[[ ! -e /proc/$p || $(awk '$1 == "State:" { print $2 }' "/proc/$p/status" 2>/dev/null) == Z ]]
	done
}

@test "the idle zygote is one child of wardend, at the normal policy, and ends with a killed wardend" {
	local zygote
	own_wardend ''
	zygote=$(zygote_pid)
	sleep 0.3
	assert_equal "$(pgrep -P "$WARDEND_PID" -fc "warden-hook $WTMP/hooks")" 1
	assert_match "$(chrt -p "$zygote")" "*SCHED_OTHER*"
	kill_wardend_alone "$zygote"
}

@test "without the zygote builtin, runners take the hooks; wardend says so" {
	local pid bashpid
	own_wardend ',"builtins_path":"/nonexistent/warden-builtins.so","hook_runners":2'
	wait_for 10 eval "[[ \$(pgrep -P $WARDEND_PID -fc 'warden-hook $WTMP/hooks') == 2 ]]"
	assert_grep "hook zygote [0-9]+ ended before it was ready \(status 0x7000\): no zygote builtin in server.builtins_path; hook runners from now on" "$WTMP/wardend.log"
	wrap_hook setup.sh "$PROBE"
	create_ok
	run probe_field setup.sh pid
	read -r pid bashpid <<<"$output"
	assert_equal "$pid" "$bashpid"
	assert_equal "$(probe_field setup.sh ppid)" "$WARDEND_PID"
	assert_equal "$(probe_field setup.sh pgid)" "$pid"
	run probe_field setup.sh cmdline
	assert_match "$output" "bash --noprofile --norc -c * warden-hook $WTMP/hooks"
	refute_output_contains "$ZYGOTE_CMD"
	assert_grep "hook setup.sh ok \([0-9]+ ms, in a runner\)" "$WTMP/wardend.log"
	run_w destroy "$H"
	assert_success
	H=
}

@test "with server.hook_zygote false: idle runners are children of wardend, server.hook_runners of them, and end with a killed wardend" {
	local pids
	own_wardend ',"hook_zygote":false,"hook_runners":3'
	# host-setup.sh has run: the runners start one after the other.
	wait_for 10 eval "[[ \$(pgrep -P $WARDEND_PID -fc 'warden-hook $WTMP/hooks') == 3 ]]"
	sleep 0.3
	assert_equal "$(pgrep -P "$WARDEND_PID" -fc "warden-hook $WTMP/hooks")" 3
	assert_equal "$(pgrep -P "$WARDEND_PID" -fc "$ZYGOTE_CMD")" 0
	pids=$(pgrep -P "$WARDEND_PID" -f "warden-hook $WTMP/hooks" | tr '\n' ' ')
	# shellcheck disable=SC2086 # the pids, one word each
	kill_wardend_alone $pids
}
