#!/usr/bin/env bats
# The events feed and bulk_info (doc/protocol.md "events", "bulk_info"): what a scheduler
# watching many containers sees. Real containers; each subscriber is a `warden events`
# in the background whose output goes to a file, stopped by its pid in teardown.

# Scripts in single quotes are expanded by the container's shell, not here.
# shellcheck disable=SC2016,SC2030,SC2031 # SUBS: per test, set and read in the same test

load helpers

WINSTANCE=${WPREFIX}e
export WINSTANCE
POOLS='"network":{"pool_start_address":"10.253.64.0","pool_size":16},"user":{"pool_start_uid":61500,"pool_size":32},"port":{"pool_start_port":63500,"pool_size":50}'

setup_file() {
	requires root rootfs wardend
	wardend_start '{"server":{"job_output_limit":4096},'"$POOLS"'}'
}

teardown_file() {
	wardend_stop
}

setup() {
	SUBS=()
}

teardown() {
	local p
	for p in "${SUBS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	local n
	for h in $(w list 2>/dev/null); do
		n=$(grep -c "container $h: destroyed" "$WTMP/wardend.log")
		w destroy "$h" >/dev/null 2>&1 || true
		# destroy replies before the teardown, whose `destroyed` must not reach the next
		# test's subscribers: wardend logs the line just before it sends the event.
		wait_for 20 eval "((\$(grep -c 'container $h: destroyed' '$WTMP/wardend.log') > n))" || true
	done
}

# subscribe FILE [ARGS...]: `warden --json events ARGS` into FILE, back once subscribed.
subscribe() {
	local f=$1
	shift
	w --json events "$@" >"$f" 2>&1 &
	SUBS+=($!)
	wait_for 10 grep -q '"event": *"listening"' "$f"
}

# events_of FILE: the events of FILE as `EVENT HANDLE [JOB STATUS]` lines.
events_of() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "listening":
        continue
    out = [e["event"], e.get("handle", "-")]
    if "job_id" in e:
        out += [str(e["job_id"]), json.dumps(e["exit_status"])]
    print(" ".join(out))' "$1"
}

# has_event FILE LINE: events_of FILE holds LINE.
has_event() {
	events_of "$1" | grep -qxF "$2"
}

@test "events: create, job exits with its status, stop, destroy, in order" {
	subscribe "$WTMP/ev1"
	run_w create --handle ev-a
	assert_success
	run_w spawn ev-a 'exit 3'
	assert_success
	job=$output
	run_w link ev-a "$job"
	assert_failure 3
	run_w stop ev-a
	assert_success
	run_w destroy ev-a
	assert_success
	wait_for 10 has_event "$WTMP/ev1" "destroyed ev-a"
	run_cmd events_of "$WTMP/ev1"
	assert_output "created ev-a
job exited ev-a $job 3
stopped ev-a
destroyed ev-a"
}

@test "events: a job ended by destroy exits with null status; every subscriber gets it" {
	w create --handle ev-b >/dev/null
	job=$(w spawn ev-b 'sleep 100')
	subscribe "$WTMP/ev2a"
	subscribe "$WTMP/ev2b"
	run_w destroy ev-b
	assert_success
	for f in "$WTMP/ev2a" "$WTMP/ev2b"; do
		wait_for 10 has_event "$f" "destroyed ev-b"
		run_cmd events_of "$f"
		assert_output_contains "job exited ev-b $job null"
	done
}

@test "events: the output limit is an event, and the job's status is null" {
	w create --handle ev-c >/dev/null
	subscribe "$WTMP/ev3"
	job=$(w spawn ev-c 'yes | head -c 100000')
	wait_for 20 has_event "$WTMP/ev3" "job exited ev-c $job null"
	run_cmd events_of "$WTMP/ev3"
	assert_output_contains "command exceeded maximum output ev-c"
	run_w info ev-c
	assert_output_contains "command exceeded maximum output"
}

@test "events: text lines, --count stops after N events" {
	w events --count 1 >"$WTMP/ev4" 2>&1 &
	pid=$!
	SUBS+=("$pid")
	wait_for 10 grep -q ' listening$' "$WTMP/ev4"
	w create --handle ev-d >/dev/null
	wait_for 10 eval "! kill -0 $pid 2>/dev/null"
	wait "$pid"
	run_cmd cat "$WTMP/ev4"
	assert_line_match 0 '20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-9:]*.[0-9][0-9][0-9]Z listening'
	assert_line_match 1 '20*Z created ev-d'
	[[ ${#lines[@]} == 2 ]] || _explain "expected two lines"
}

@test "events: a subscriber that goes away is dropped; wardend serves on" {
	subscribe "$WTMP/ev5"
	pid=${SUBS[-1]}
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	# Two events: the first finds the closed socket, the second must not touch it.
	w create --handle ev-e >/dev/null
	w destroy ev-e >/dev/null
	run_w ping
	assert_success
	assert_output pong
	run_w raw '["events","extra"]'
	assert_failure 1
	assert_output_contains "invalid number of arguments"
}

@test "bulk_info: every container, the ones asked for, unknown handles" {
	w create --handle bi-1 >/dev/null
	w create --handle bi-2 >/dev/null
	w stop bi-2 >/dev/null
	run_w --json bulk_info
	assert_success
	run python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(" ".join(h+"="+d[h]["state"] for h in sorted(d)))' "$output"
	assert_output "bi-1=active bi-2=stopped"
	run_w --json bulk_info bi-2 nope
	assert_success
	run python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["bi-2"]["state"], d["nope"]["error"], len(d))' "$output"
	assert_output "stopped unknown handle 2"
	run_w bulk_info bi-1
	assert_output_contains "bi-1.state: active"
	run_w raw '["bulk_info",1]'
	assert_failure 1
	assert_output_contains "Expected handle 1 to be a string."
}

# slow_subscriber SOCK OUT MARKER: subscribe; create OUT.subscribed once listening; then
# read 8 KiB every 0.5 s (slowly but steadily: the server drops a client whose socket
# takes nothing for 10 s, and a socket buffer frees space a whole skb, up to ~70 KiB, at
# a time)
# until OUT.drain exists; then read at full speed, create OUT.idle once nothing came for
# 1 s (the server's queue for it is empty), and go on until the event `destroyed MARKER`.
# Every line read goes to OUT. Bounded: 300 s in all. Run it in the background only (it
# execs, so that its pid is the client's).
slow_subscriber() {
	exec python3 - "$@" <<'PY'
import json, os, select, socket, sys, time
path, out, marker = sys.argv[1:]
deadline = time.monotonic() + 300
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.sendall(b'["events"]\n')
buf = b""
with open(out, "wb") as f:
    def lines():
        global buf
        while b"\n" in buf:
            line, _, buf = buf.partition(b"\n")
            f.write(line + b"\n")
            yield json.loads(line)["payload"]
    def read(n, idle=None):
        global buf
        if idle and not select.select([s], [], [], 1.0)[0]:
            open(idle, "w").close()
        if not select.select([s], [], [], max(0, deadline - time.monotonic()))[0]:
            sys.exit("timeout")
        data = s.recv(n)
        if not data:
            sys.exit("the server closed the connection")
        buf += data
    while b"\n" not in buf:
        read(4096)
    open(out + ".subscribed", "w").close()
    while not os.path.exists(out + ".drain"):
        if time.monotonic() > deadline:
            sys.exit("timeout")
        time.sleep(0.5)
        read(8192)
    while True:
        for e in lines():
            if e.get("event") == "destroyed" and e.get("handle") == marker:
                sys.exit(0)
        read(1 << 20, out + ".idle")
PY
}

@test "events: a subscriber too slow for the feed is told how many events it lost, then gets the next ones" {
	# Many big events (a 255-character handle, a job each) while the client reads slowly:
	# more than 1 MiB of lines queues for it, and the rest are counted as lost.
	local h n=8000
	h=$(printf 'l%.0s' {1..255})
	w create --handle "$h" >/dev/null
	slow_subscriber "$WSOCK" "$WTMP/slow" ev-mark &
	SUBS+=($!)
	local sub=$!
	wait_for 10 test -e "$WTMP/slow.subscribed"
	run_cmd wire send -t 240 -n "$n" "py:b''.join(b'[\"spawn\",\"$h\",\"true\"]\n' for _ in range($n))"
	assert_success
	# Every job has exited (and so been published) before the client catches up.
	wait_for 120 eval "[[ \$(w --json info '$h' | jq '.job_ids | length') == 0 ]]"
	touch "$WTMP/slow.drain"
	wait_for 120 test -e "$WTMP/slow.idle" || { grep -E 'drop|stall' "$WTMP/wardend.log" | tail -3 >&2; false; }
	w create --handle ev-mark >/dev/null
	w destroy ev-mark >/dev/null
	wait "$sub" || { echo "slow subscriber: exit $?" >&2; tail -n 3 "$WTMP/slow" >&2; false; }
	run python3 - "$WTMP/slow" "$h" <<'PY'
import json, sys
evs = [json.loads(l)["payload"] for l in open(sys.argv[1])]
h = sys.argv[2]
exited = sum(1 for e in evs if e["event"] == "job exited" and e["handle"] == h)
lost = [i for i, e in enumerate(evs) if e["event"] == "lost"]
print("some lost:", len(lost) > 0)
# Each "lost" comes just before an event the client does get, and counts at least one.
print("lost lines well formed:", all(sorted(evs[i]) == ["count", "event", "time"] and
      evs[i]["count"] > 0 and evs[i + 1]["event"] not in ("lost", "listening") for i in lost))
print("accounted:", exited + sum(evs[i]["count"] for i in lost))
print("last:", [(e["event"], e.get("handle")) for e in evs[-2:]])
PY
	assert_success
	assert_output "some lost: True
lost lines well formed: True
accounted: $n
last: [('created', 'ev-mark'), ('destroyed', 'ev-mark')]"
	run_w ping
	assert_output pong
}
