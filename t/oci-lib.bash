# shellcheck shell=bash
# What the warden-oci suites (t/71-oci.bats, t/73-oci-io.bats) share: one private wardend
# per file with the suite's POOLS, a root and a bundle directory per test, the runtime
# called on them, and every container a test left deleted in its teardown.

OCI_BIN=$WARDEN_BUILD/src/oci/warden-oci

setup_file() {
	requires root rootfs wardend
	[[ -x $OCI_BIN ]] || skip "warden-oci not built at $OCI_BIN"
	wardend_start "{$POOLS}"
}

teardown_file() {
	wardend_stop
}

# oci_setup: OCIROOT and BUNDLE, fresh for this test (called from the suite's setup).
oci_setup() {
	[[ -x $OCI_BIN ]] || skip "warden-oci not built at $OCI_BIN"
	OCIROOT=$WTMP/oci-$BATS_TEST_NUMBER
	BUNDLE=$WTMP/bundle-$BATS_TEST_NUMBER
	mkdir -p "$BUNDLE"
}

# oci_delete_all: delete --force every container of this test's root (from teardown).
oci_delete_all() {
	local d
	for d in "$OCIROOT"/*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		oci delete --force "${d##*/}" >/dev/null 2>&1 || true
	done
}

oci() { "$OCI_BIN" --root "$OCIROOT" --socket "$WSOCK" "$@"; }
