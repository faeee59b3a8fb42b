#!/usr/bin/env bats
# Opt-in (not run by t/run: it needs Debian's mirror, about 30-60 s here). Uses a rootfs
# from scripts/mkrootfs-debootstrap as a container rootfs: the container user, its
# home, Debian's tools. The build needs the host's network and the test a private one,
# so build first, then test:
#   scripts/mkrootfs-debootstrap /var/tmp/warden-debian-rootfs [SUITE] [MIRROR]
#   unshare --net --fork bash -c 'ip link set lo up; WINSTANCE=xx \
#       WARDEN_DEBIAN_ROOTFS=/var/tmp/warden-debian-rootfs bats t/package/rootfs-debootstrap.bats'
# Without WARDEN_DEBIAN_ROOTFS the test builds one itself (then it must reach the
# mirror) and also checks the build's progress output.

# shellcheck disable=SC2016 # scripts for the container
load ../helpers

setup_file() {
	requires root
	command -v debootstrap >/dev/null || skip "no debootstrap (apt-get install debootstrap)"
	export DBS_TMP DBS_ROOTFS
	DBS_TMP=$(mktemp -d /tmp/warden-dbstest.XXXXXX)
	if [[ -n ${WARDEN_DEBIAN_ROOTFS:-} ]]; then
		DBS_ROOTFS=$WARDEN_DEBIAN_ROOTFS
	else
		DBS_ROOTFS=$DBS_TMP/rootfs
		"$WARDEN_SRC/scripts/mkrootfs-debootstrap" "$DBS_ROOTFS" ${SUITE:+"$SUITE"} ${MIRROR:+"$MIRROR"} \
			>"$DBS_TMP/build.log" 2>&1 || {
			tail -n 30 "$DBS_TMP/build.log" >&2
			return 1
		}
	fi
}

teardown_file() {
	[[ -n ${DBS_TMP:-} ]] && rm -rf --one-file-system "$DBS_TMP"
	return 0
}

teardown() {
	wardend_stop
}

@test "the build showed its progress and left a complete tree, nothing half-built beside it" {
	[[ -z ${WARDEN_DEBIAN_ROOTFS:-} ]] || skip "rootfs given, not built here"
	run_cmd cat "$DBS_TMP/build.log"
	assert_output_contains "==> [1/5] debootstrap --variant=minbase"
	assert_output_contains "I: Retrieving"
	assert_output_contains "==> [5/5] done"
	[[ -x $DBS_ROOTFS/bin/sh && -f $DBS_ROOTFS/etc/.mkrootfs-debootstrap ]] || _explain "incomplete tree"
	run_cmd ls "$DBS_TMP"
	assert_output $'build.log\nrootfs'
}

@test "a container on the Debian rootfs: vcap, its home, Debian's tools" {
	requires wardend
	wardend_start "{\"server\":{\"container_rootfs_path\":\"$DBS_ROOTFS\"}}"
	run_w create
	assert_success
	h=$output
	run_w run "$h" 'id -un; cd && echo ok >file && cat file; . /etc/os-release && echo "$ID"; dpkg-query -W -f "\${Status}\n" dash'
	assert_success
	assert_output $'vcap\nok\ndebian\ninstall ok installed'
	run_w run "$h" --privileged 'id -u; ls /root >/dev/null && echo root-ok'
	assert_success
	assert_output $'0\nroot-ok'
	run_w destroy "$h"
	assert_success
}
