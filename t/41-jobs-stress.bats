#!/usr/bin/env bats
# Jobs under load: many short jobs leak nothing in wardend or wshd, a 100 MiB job streams
# intact while wardend's memory stays bounded, big non-UTF-8 output stays valid JSON, a link
# reply past 2 GiB comes whole.
# One container "s" shared by the file, on a private daemon with a large output limit.

# Scripts in single quotes are expanded by the container's shell, not here.
# shellcheck disable=SC2016

load helpers

WINSTANCE=${WPREFIX}s
export WINSTANCE
CONF='{"server":{"job_output_limit":536870912},"network":{"pool_start_address":"10.253.192.0","pool_size":8},"user":{"pool_start_uid":61200,"pool_size":8},"port":{"pool_start_port":63400,"pool_size":10}}'

setup_file() {
	requires root rootfs wardend
	wardend_start "$CONF"
	w create --handle s >/dev/null
}

teardown_file() {
	wardend_stop
}

ct_path() { w --json info s | jq -r .container_path; }

# The host pid of the container's wshd.
wshd_pid() {
	local p
	p=$(cat "$(ct_path)/run/wshd.pid")
	[[ $(cat "/proc/$p/comm") == wshd ]] || return 1
	echo "$p"
}

nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
zombies() { ps -e -o ppid=,stat= | awk -v p="$1" '$1 == p && $2 ~ /^Z/' | wc -l; }
children() { ps -e -o ppid= | awk -v p="$1" '$1 == p' | wc -l; }

# counts PID...: "fds zombies children" of each.
counts() {
	local p
	for p in "$@"; do
		printf '%s:%s/%s/%s ' "$p" "$(nfds "$p")" "$(zombies "$p")" "$(children "$p")"
	done
}

@test "1000 short jobs in a row leave no zombie and no extra descriptor in wardend or wshd" {
	local wshd before after start=$SECONDS
	wshd=$(wshd_pid)
	# Warm up (first job dir, inotify instance, lazily opened files).
	run_cmd wire send -n 3 '["run","s","true"]\n["run","s","true"]\n["run","s","true"]\n'
	assert_success
	before=$(counts "$WARDEND_PID" "$wshd")
	echo "# before: $before (pid:fds/zombies/children)" >&3
	# 1000 pipelined runs, half with output; each must answer its own result.
	wire send -n 1000 -t 120 "py:b'[\"run\",\"s\",\"true\"]\n[\"run\",\"s\",\"echo x; exit 3\"]\n' * 500" \
		>"$BATS_TEST_TMPDIR/replies"
	run_cmd bash -c 'sort "$1" | uniq -c | sed "s/^ *//"' _ "$BATS_TEST_TMPDIR/replies"
	assert_output "$(printf '%s\n' '500 {"payload":[0,"",""],"type":"object"}' \
		'500 {"payload":[3,"x\n",""],"type":"object"}')"
	# And 1000 spawns linked afterwards.
	wire send -n 1000 -t 120 "py:b'[\"spawn\",\"s\",\"exit 0\"]\n' * 1000" >"$BATS_TEST_TMPDIR/ids"
	jq .payload "$BATS_TEST_TMPDIR/ids" | sed 's/.*/["link","s",&]/' >"$BATS_TEST_TMPDIR/links"
	wire send -n 1000 -t 120 @"$BATS_TEST_TMPDIR/links" >"$BATS_TEST_TMPDIR/linked"
	run_cmd bash -c 'sort "$1" | uniq -c | sed "s/^ *//"' _ "$BATS_TEST_TMPDIR/linked"
	assert_output '1000 {"payload":[0,"",""],"type":"object"}'
	wait_for 30 eval '[[ $(counts "$WARDEND_PID" "$wshd") == "$before" ]]' ||
		_explain "after: $(counts "$WARDEND_PID" "$wshd"), before: $before"
	after=$(counts "$WARDEND_PID" "$wshd")
	echo "# after:  $after; $((SECONDS - start)) s" >&3
	[[ $(zombies "$wshd") == 0 && $(zombies "$WARDEND_PID") == 0 ]]
}

# A raw client that spawns SCRIPT (base64 output), streams it, and prints
# "<sha256 of stdout> <stderr text> <max VmRSS kB> <VmHWM kB> <job id>".
BIG_CLIENT='
import base64, hashlib, json, socket, sys
sock, script, pid = sys.argv[1], sys.argv[2], sys.argv[3]
def vm(key):
    for l in open("/proc/%s/status" % pid):
        if l.startswith(key + ":"):
            return int(l.split()[1])
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rb")
s.sendall(json.dumps(["spawn", "s", script, {"output": "base64"}]).encode() + b"\n")
rep = json.loads(f.readline())
job = rep["payload"]
assert isinstance(job, int), rep
s.sendall(json.dumps(["stream", "s", job]).encode() + b"\n")
h, err, n, rss = hashlib.sha256(), b"", 0, 0
while True:
    line = f.readline()
    assert line, "stream ended without its last line"
    o = json.loads(line)
    assert o["type"] == "object", o
    if o["payload"] == []:
        break
    kind, chunk = o["payload"]
    data = base64.b64decode(chunk, validate=True)
    if kind == "stdout":
        h.update(data)
    else:
        err += data
    n += 1
    if n % 50 == 0:
        rss = max(rss, vm("VmRSS"))
rss = max(rss, vm("VmRSS"))
print(h.hexdigest(), err.decode().split()[0] if err else "-", rss, vm("VmHWM"), job)
'

@test "a job writing 100 MiB streams intact while wardend's memory stays bounded" {
	local script res sum jsum rss hwm job
	script='mkfifo /tmp/big.fifo && { sha256sum </tmp/big.fifo >&2 & head -c 104857600 /dev/urandom | tee /tmp/big.fifo; wait; }'
	res=$(timeout 300 python3 -c "$BIG_CLIENT" "$WSOCK" "$script" "$WARDEND_PID")
	read -r sum jsum rss hwm job <<<"$res"
	echo "# wardend VmRSS max ${rss} kB, VmHWM ${hwm} kB over the 100 MiB stream" >&3
	[[ $sum =~ ^[0-9a-f]{64}$ && $sum == "$jsum" ]] ||
		_explain "received sha256 $sum, the job's own $jsum"
	run_cmd stat -c %s "$(ct_path)/jobs/$job/stdout"
	assert_output 104857600
	run_cmd jq -c . "$(ct_path)/jobs/$job/status"
	assert_output '{"exit":0}'
	# Under AddressSanitizer (--enable-sanitizers) shadow memory and quarantine make the
	# figure meaningless: it is printed above, the bound is checked on normal builds only.
	if ! sanitized; then
		((rss < 65536 && hwm < 65536)) || _explain "wardend used too much memory: $rss / $hwm kB"
	fi
}

@test "a job spawned on a connection that then closed is linked on another, output whole" {
	local id
	id=$(wire send '["spawn","s","yes yyyyyyy | head -c 1048576; echo done >&2"]\n' | jq .payload)
	[[ $id =~ ^[0-9]+$ ]]
	wire send "[\"link\",\"s\",$id]\n" >"$BATS_TEST_TMPDIR/l"
	run_cmd jq -r '.payload[0], (.payload[1] | length), .payload[2]' "$BATS_TEST_TMPDIR/l"
	assert_output "$(printf '0\n1048576\ndone')"
	run_cmd jq -r '.payload[1] | test("^(yyyyyyy\n)+$")' "$BATS_TEST_TMPDIR/l"
	assert_output true
}

@test "1 MiB of random, non-UTF-8 output: link and stream are valid JSON and agree" {
	local id
	id=$(wire send '["spawn","s","head -c 1048576 /dev/urandom | tee /tmp/rnd; cat /tmp/rnd >&2"]\n' | jq .payload)
	# Raw lines, checked by python's strict UTF-8 and JSON decoders.
	wire send --raw -t 60 "[\"link\",\"s\",$id]\n" >"$BATS_TEST_TMPDIR/l"
	run_cmd python3 - "$BATS_TEST_TMPDIR/l" <<'PY'
import json, sys
o = json.loads(open(sys.argv[1], "rb").read().decode("utf-8", errors="strict"))
p = o["payload"]
assert p[0] == 0 and p[1] == p[2] and "\ufffd" in p[1], p[0]
print(len(p[1].encode()) >= 1048576)
PY
	assert_output True
	python3 - "$WSOCK" "$id" "$BATS_TEST_TMPDIR/l" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(json.dumps(["stream", "s", int(sys.argv[2])]).encode() + b"\n")
f = s.makefile("rb")
out = {"stdout": "", "stderr": ""}
while True:
    line = f.readline()
    assert line, "stream ended early"
    p = json.loads(line.decode("utf-8", errors="strict"))["payload"]
    if p == []:
        break
    out[p[0]] += p[1]
link = json.loads(open(sys.argv[3], "rb").read())["payload"]
assert out["stdout"] == link[1], "stream and link differ on stdout"
assert out["stderr"] == link[2], "stream and link differ on stderr"
PY
}

@test "link of 360 MiB of NUL bytes: one exact reply of 2.26 GB (past json-c's 2 GiB)" {
	local id n=377487360
	id=$(w spawn s "head -c $n /dev/zero; echo done >&2")
	wait_for 300 test -e "$(ct_path)/jobs/$id/status"
	run_cmd timeout 600 python3 - "$WSOCK" "$id" "$n" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(300)
n = int(sys.argv[3])
s.sendall(json.dumps(["link", "s", int(sys.argv[2])]).encode() + b"\n")
head, tail = b'{"type":"object","payload":[0,"', b'","done\\n"]}\n'
want = len(head) + 6 * n + len(tail)
buf = bytearray()
while not buf.endswith(b"\n"):  # the reply's only raw newline is its last byte
    d = s.recv(1 << 22)
    if not d:
        break
    buf += d
assert buf.startswith(head), bytes(buf[:200])
assert buf.endswith(tail), bytes(buf[-100:])
assert len(buf) == want, (len(buf), want)
assert buf.count(b"\\u0000") == n
print("ok", len(buf))
PY
	assert_success
	assert_output "ok $((31 + 6 * n + 13))"
}
