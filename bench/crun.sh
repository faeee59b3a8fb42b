#!/bin/bash
# crun.sh ROOTFS RUNS: `crun run /bin/true` on the same busybox rootfs, RUNS times one
# after another (p50/p90 in ms), then RUNS times in each of 2 concurrent loops (runs per
# second). Prints `crun p50_ms p90_ms per_s_2` on its last line for bench/run. crun
# refuses a hybrid v1+v2 host whose cgroup2 tree holds a controller ("cgroups in hybrid
# mode not supported"), so the loops run in a private mount namespace without that
# cgroup2 mount.
set -euo pipefail
rootfs=${1:?rootfs} runs=${2:-50}
command -v crun >/dev/null || { echo "crun: not installed (apt-get install crun)"; exit 0; }
b=$(mktemp -d)
trap 'rm -rf "$b"' EXIT
mkdir "$b/rootfs"
mount --bind -o ro "$rootfs" "$b/rootfs"
trap 'umount "$b/rootfs"; rm -rf "$b"' EXIT
(cd "$b" && crun spec >/dev/null)
python3 - "$b/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
c["root"]["readonly"] = True
json.dump(c, open(p, "w"))
PY
export b runs
# shellcheck disable=SC2016 # expanded by the inner bash
unshare -m --propagation private bash -c '
	umount /sys/fs/cgroup/unified 2>/dev/null || true
	loop() { # TAG: RUNS runs of crun, one line of microseconds per run
		local i t0 t1
		for ((i = 0; i < runs; i++)); do
			t0=$EPOCHREALTIME
			crun run --bundle "$b" "wbench-$$-$1-$i" >/dev/null || exit 1
			t1=$EPOCHREALTIME
			echo "$((${t1/./} - ${t0/./}))"
		done
	}
	loop s | sort -n | awk "{a[NR]=\$1} END {printf \"seq %.3f %.3f %d\n\", a[int(NR*0.5+0.5)]/1000, a[int(NR*0.9+0.5)]/1000, NR}"
	start=$EPOCHREALTIME
	loop a >/dev/null & loop b >/dev/null
	wait
	end=$EPOCHREALTIME
	echo "par $(( 2 * runs * 1000000 / (${end/./} - ${start/./}) ))"
' | awk '$1 == "seq" { p50 = $2; p90 = $3; n = $4 } $1 == "par" { par = $2 }
	END { printf "%-28s p50 %7.2f ms   p90 %7.2f ms   (n=%d); 2 concurrent: %d runs/s\n", "crun run /bin/true", p50, p90, n, par
	      printf "crun %s %s %s\n", p50, p90, par }'
