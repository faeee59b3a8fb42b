#!/bin/bash
# bench/copy.sh SOCKET [FILES] [MIB] [RUNS]: copy in and copy out of a tree of FILES files
# (default 10000, in 100 directories) holding MIB MiB (default 1024) against `cp -a` of
# the same tree on this machine, in turns (cp, in, out, cp, in, out, ...), RUNS times
# (default 5). Prints each one's median seconds and the median of the per-run speed
# ratios cp -a time / copy time (>= 0.5 is the goal: at least half as fast as cp -a). Needs a running wardend on SOCKET;
# makes one container and destroys it. Root only (wardend's copy writes as root).
set -euo pipefail
sock=${1:?usage: bench/copy.sh SOCKET [FILES] [MIB] [RUNS]}
files=${2:-10000}
mib=${3:-1024}
runs=${4:-5}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
warden=${WARDEN:-$here/../_build/src/warden/warden}
w() { "$warden" -s "$sock" "$@"; }

tmp=$(mktemp -d /var/tmp/warden-bench-copy.XXXXXX)
h=
cleanup() {
	[[ -n $h ]] && w destroy "$h" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

# The tree: 100 directories of files/100 files each, random bytes (no sparse shortcuts).
python3 - "$tmp/tree" "$files" "$mib" <<'PY'
import os, sys
root, files, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = mib * 1024 * 1024 // files
block = os.urandom(1 << 20)
for i in range(files):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        off = (i * 4099) % (len(block) - size) if size < len(block) else 0
        left = size
        while left > 0:
            n = min(left, len(block) - off)
            f.write(block[off:off + n])
            left -= n
            off = 0
PY
sync
h=$(w create)

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
# Each timed step starts with no dirty pages of the one before (sync, untimed), so one
# step's writeback is not charged to the next.
cp_t=() in_t=() out_t=() in_r=() out_r=()
for ((r = 0; r < runs; r++)); do
	sync
	t=$(now)
	cp -a "$tmp/tree" "$tmp/cpa"
	cp_t+=("$(elapsed "$t")")
	sync
	t=$(now)
	w copy "$h" in "$tmp/tree" /home/vcap >/dev/null
	in_t+=("$(elapsed "$t")")
	sync
	t=$(now)
	w copy "$h" out /home/vcap/tree "$tmp/out" >/dev/null
	out_t+=("$(elapsed "$t")")
	in_r+=("$(echo "${cp_t[r]} / ${in_t[r]}" | bc -l)")
	out_r+=("$(echo "${cp_t[r]} / ${out_t[r]}" | bc -l)")
	w run "$h" 'rm -rf /home/vcap/tree' >/dev/null
	rm -rf "$tmp/out" "$tmp/cpa"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
cp_m=$(median "${cp_t[@]}")
in_m=$(median "${in_t[@]}")
out_m=$(median "${out_t[@]}")
printf '# copy of %d files / %d MiB, %d runs in turns (s: cp %s; in %s; out %s)\n' \
	"$files" "$mib" "$runs" "${cp_t[*]}" "${in_t[*]}" "${out_t[*]}"
printf 'cp -a       %6.2f s  %7.1f MiB/s\n' "$cp_m" "$(echo "$mib / $cp_m" | bc -l)"
# The speed ratio is taken run by run (cp -a and the copy right after it), then the median.
printf 'copy in     %6.2f s  %7.1f MiB/s  %.2fx cp -a (per run: %s)\n' "$in_m" \
	"$(echo "$mib / $in_m" | bc -l)" "$(median "${in_r[@]}")" "$(printf '%.2f ' "${in_r[@]}")"
printf 'copy out    %6.2f s  %7.1f MiB/s  %.2fx cp -a (per run: %s)\n' "$out_m" \
	"$(echo "$mib / $out_m" | bc -l)" "$(median "${out_r[@]}")" "$(printf '%.2f ' "${out_r[@]}")"
