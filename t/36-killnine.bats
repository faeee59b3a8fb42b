#!/usr/bin/env bats
# The fault proof of DESIGN.md "State and restart", reduced to fit every CI run:
# bench/killnine kills a private wardend with SIGKILL at random moments while three
# clients create, destroy, spawn and stream, restarts it, and checks after each round
# that every container a client was answered for is there, job output is byte-complete,
# no id is reused and nothing destroyed is left in the kernel. The full run (100 rounds,
# and the restart time with 100 live containers) is `bench/killnine`.

load helpers

@test "kill -9 of wardend at random moments under load: nothing lost, nothing leaked (12 rounds)" {
	requires root rootfs
	# Its own network namespace, depot, pool and instance (cgroups are host-wide).
	run_cmd env ROUNDS=12 RESTART_N=0 SECONDS_MAX=240 KN_INSTANCE="${WPREFIX}k9" \
		"$WARDEN_SRC/bench/killnine" "$WARDEN_BUILD"
	assert_success
	assert_output_contains "rounds 12; answered: "
	assert_output_contains "0 failures"
	# The rounds did real work: creates and spawns were answered between the kills.
	[[ $output =~ answered:\ ([0-9]+)\ creates.*\ ([0-9]+)\ spawns ]] ||
		_explain "no answered counts in the output"
	((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > 0)) || _explain "no create or no spawn answered"
}
