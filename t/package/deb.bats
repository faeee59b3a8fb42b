#!/usr/bin/env bats
# Opt-in (not run by t/run: it builds a package, about a minute here):
#   unshare --net --fork bash -c 'ip link set lo up; WINSTANCE=xx bats t/package/deb.bats'
# Builds the .deb with scripts/build-deb (or takes $WARDEN_DEB), checks its contents
# with dpkg-deb, then installs it with dpkg into a throwaway root (an overlay over this
# machine's /, in a private mount namespace, so nothing on the host changes), makes a
# rootfs with the installed mkrootfs-busybox, starts the installed wardend with the
# installed config (only the instance and pools changed), runs `warden ping` and a
# container, and purges the package there, checking that it leaves nothing behind.

load ../helpers

setup_file() {
	requires root
	command -v dpkg-buildpackage >/dev/null || skip "no dpkg-buildpackage (apt-get install dpkg-dev debhelper)"
	export DEB_TMP
	DEB_TMP=$(mktemp -d /tmp/warden-debtest.XXXXXX)
	if [[ -n ${WARDEN_DEB:-} ]]; then
		cp "$WARDEN_DEB" "$DEB_TMP/"
	else
		"$WARDEN_SRC/scripts/build-deb" "$DEB_TMP" >"$DEB_TMP/build.log" 2>&1 || {
			tail -n 40 "$DEB_TMP/build.log" >&2
			return 1
		}
	fi
	DEB=$(ls "$DEB_TMP"/warden_*.deb)
	export DEB
}

teardown_file() {
	[[ -n ${DEB_TMP:-} ]] && rm -rf --one-file-system "$DEB_TMP"
	return 0
}

@test "the .deb holds the FHS layout, the unit, man pages, completion; /etc as conffiles" {
	run_cmd dpkg-deb -c "$DEB"
	assert_success
	for f in ./usr/sbin/wardend ./usr/sbin/wshd ./usr/bin/warden ./usr/bin/wsh \
		./usr/sbin/mkrootfs-busybox ./usr/sbin/mkrootfs-debootstrap \
		./etc/warden/warden.conf ./etc/warden/hooks/setup.sh ./etc/warden/hooks/lib/common.sh \
		./lib/systemd/system/warden.service \
		./usr/share/man/man1/warden.1.gz ./usr/share/man/man1/wsh.1.gz \
		./usr/share/man/man5/warden.conf.5.gz ./usr/share/man/man7/warden-hooks.7.gz \
		./usr/share/man/man8/wardend.8.gz ./usr/share/man/man8/wshd.8.gz \
		./usr/share/bash-completion/completions/warden \
		./usr/share/warden/skeleton/overlay/work/; do
		[[ $output == *" $f"$'\n'* || $output == *" $f" ]] || _explain "missing $f"
	done
	refute_output_contains "skeleton/dev/fd"
	refute_output_contains ".gitkeep"
	run_cmd dpkg-deb -f "$DEB" Depends Recommends
	for d in iptables iproute2 e2fsprogs bash busybox-static debootstrap; do
		assert_output_contains "$d"
	done
	mkdir -p "$DEB_TMP/ctl"
	dpkg-deb -e "$DEB" "$DEB_TMP/ctl"
	run_cmd cat "$DEB_TMP/ctl/conffiles"
	assert_output_contains /etc/warden/warden.conf
	assert_output_contains /etc/warden/hooks/net.sh
	# The config names the FHS paths.
	run_cmd bash -c "dpkg-deb --fsys-tarfile '$DEB' | tar -xOf - ./etc/warden/warden.conf"
	assert_output_contains '"unix_domain_path": "/run/warden/warden.sock"'
	assert_output_contains '"container_depot_path": "/var/lib/warden/containers"'
	assert_output_contains '"hooks_path": "/etc/warden/hooks"'
	assert_output_contains '"container_rootfs_path": "/var/lib/warden/rootfs"'
}

@test "dpkg -i into a throwaway root: unit enabled, warden ping and a container, purge leaves nothing" {
	command -v busybox >/dev/null || skip "no busybox for mkrootfs-busybox"
	cat >"$DEB_TMP/inside.sh" <<'IN'
set -euo pipefail
deb=$1 instance=$2
trap 'kill "$(cat /run/wardend.pid 2>/dev/null)" 2>/dev/null || true' EXIT
dpkg -i "$deb" >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; exit 1; }
echo "enabled: $(readlink /etc/systemd/system/multi-user.target.wants/warden.service)"
mkrootfs-busybox /var/lib/warden/rootfs >/dev/null
# The installed config with this test's instance and pools (other daemons share the host).
python3 - "$instance" <<'PY'
import json, sys
p = "/etc/warden/warden.conf"
c = json.load(open(p))
c["server"]["instance"] = sys.argv[1]
c["server"]["container_grace_time"] = None
c["network"].update({"pool_start_address": "10.253.0.0", "pool_size": 8})
c["user"].update({"pool_start_uid": 60000, "pool_size": 8})
c["port"].update({"pool_start_port": 62000, "pool_size": 10})
json.dump(c, open("/tmp/warden.conf", "w"))
PY
wardend --config /tmp/warden.conf >/tmp/wardend.log 2>&1 </dev/null &
echo $! >/run/wardend.pid
for _ in $(seq 100); do warden ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "ping: $(warden ping 2>&1)"
h=$(warden create --handle debtest)
echo "run: $(warden run "$h" 'echo hello from $(id -un)')"
warden destroy "$h"
kill -TERM "$(cat /run/wardend.pid)"
for _ in $(seq 100); do kill -0 "$(cat /run/wardend.pid)" 2>/dev/null || break; sleep 0.1; done
files=$(dpkg -L warden | grep -v '^/\.$')
dpkg --purge warden >>/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; exit 1; }
left=0
for f in $files; do
	[[ -d $f && $f != /etc/warden* ]] && continue # shared directories (/usr/bin ...) stay
	[[ -e $f || -L $f ]] && { echo "left after purge: $f"; left=1; }
done
[[ -e /etc/systemd/system/multi-user.target.wants/warden.service ]] && echo "left: the enable link"
echo "purged: $left"
IN
	host_state() { echo "$(dpkg-query -W -f '${Status}' warden 2>/dev/null) $(ls -d /etc/warden /usr/sbin/wardend /lib/systemd/system/warden.service 2>/dev/null)"; }
	before=$(host_state)
	mkdir -p "$DEB_TMP"/{u,m}
	# shellcheck disable=SC2016 # expanded by the inner bash
	run_cmd unshare --mount --fork bash -c '
		set -e
		t=$1 deb=$2 inst=$3
		mount --make-rprivate /
		mount -t tmpfs tmpfs "$t/u"
		mkdir "$t/u/u" "$t/u/w"
		mount -t overlay overlay -o "lowerdir=/,upperdir=$t/u/u,workdir=$t/u/w" "$t/m"
		mount -t proc proc "$t/m/proc"
		mount --rbind /sys "$t/m/sys"
		mount --rbind /dev "$t/m/dev"
		mount -t tmpfs tmpfs "$t/m/run"
		mount -t tmpfs tmpfs "$t/m/tmp"
		# Container overlays need a real upper filesystem, not the throwaway overlay.
		mkdir -p "$t/m/var/lib/warden"
		mount -t tmpfs tmpfs "$t/m/var/lib/warden"
		cp "$deb" "$t/inside.sh" "$t/m/tmp/"
		chroot "$t/m" /bin/bash /tmp/inside.sh "/tmp/${deb##*/}" "$inst"
	' _ "$DEB_TMP" "$DEB" "$WINSTANCE"
	WTMP=$DEB_TMP _cleanup_instance
	assert_success
	assert_output_contains "enabled: /lib/systemd/system/warden.service"
	assert_output_contains "ping: pong"
	assert_output_contains "run: hello from vcap"
	assert_output_contains "purged: 0"
	refute_output_contains "left"
	# Nothing reached the host.
	[[ $(host_state) == "$before" ]] || _explain "the host changed: $before -> $(host_state)"
}
