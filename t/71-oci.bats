#!/usr/bin/env bats
# warden-oci (doc/oci.md), driven as an engine drives runc: create/start/state/kill/
# delete on a bundle, run, --version, --root, --log --log-format json, and config.json
# honoured field by field or refused with the field's name. Real containers of a private
# wardend; each test's containers are deleted in teardown (and wardend_stop destroys
# whatever is left). t/lib/subreaper.py plays the engine's shim: a child subreaper that
# waits for the pid the runtime reports.

# BG: per test, set and read in the same test; WLAST_CMD is read by helpers.bash.
# shellcheck disable=SC2030,SC2031,SC2034

load helpers
load oci-lib

WINSTANCE=${WPREFIX}o
export WINSTANCE
POOLS='"network":{"pool_start_address":"10.253.80.0","pool_size":16},"user":{"pool_start_uid":61600,"pool_size":32},"port":{"pool_start_port":63600,"pool_size":50}'

setup() {
	oci_setup
	BG=()
}

teardown() {
	local p
	oci_delete_all
	for p in "${BG[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

run_oci() {
	WLAST_CMD="warden-oci $*"
	run "$OCI_BIN" --root "$OCIROOT" --socket "$WSOCK" "$@"
}

# bundle ARGS_JSON [EXTRA_PYTHON]: $BUNDLE/config.json running ARGS_JSON as root in the
# test rootfs; EXTRA_PYTHON edits the dict c before it is written.
bundle() {
	python3 - "$BUNDLE/config.json" "$WARDEN_TEST_ROOTFS" "$1" "${2:-}" <<'PY'
import json, sys
path, rootfs, args, extra = sys.argv[1:5]
c = {
    "ociVersion": "1.0.2",
    "root": {"path": rootfs, "readonly": False},
    "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": json.loads(args),
                "env": ["PATH=/usr/bin:/bin", "TERM=xterm"], "cwd": "/"},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
               {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
               {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
               {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]}],
    "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
}
exec(extra)
json.dump(c, open(path, "w"))
PY
}

# state_field ID FIELD: one field of `warden-oci state ID`.
state_field() {
	oci state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

@test "--version names the runtime spec" {
	run_oci --version
	assert_success
	assert_line_match 0 'warden-oci version *'
	assert_line 1 'spec: 1.0.2'
	run_cmd "$WARDEN_BIN" oci --version
	assert_success
	assert_line 1 'spec: 1.0.2'
}

@test "run: the output, the exit status, and nothing left behind" {
	bundle '["/bin/sh","-c","echo out; echo err >&2; exit 3"]'
	run_oci run --bundle "$BUNDLE" r1
	assert_failure 3
	assert_output "out
err"
	run_w list
	assert_output ""
	refute_exists "$OCIROOT/r1"
}

@test "run: a process killed by a signal exits 128+N" {
	bundle '["/bin/sh","-c","kill -USR1 $$"]'
	run_oci run --bundle "$BUNDLE" r2
	assert_failure $((128 + 10))
}

@test "config.json: args, env exactly, cwd, rlimits, umask, hostname, sysctl" {
	bundle '["/bin/sh","-c","env | sort; pwd; ulimit -n; umask; hostname; cat /proc/sys/net/ipv4/ping_group_range"]' \
		'c["process"].update(cwd="/tmp", env=["PATH=/bin", "A=b c", "BASH_FUNC_f%%=() { :; }"], rlimits=[{"type":"RLIMIT_NOFILE","hard":333,"soft":333}]); c["process"]["user"]["umask"]=0o27; c["linux"]["sysctl"]={"net.ipv4.ping_group_range":"0 7"}; c["hostname"]="ocibox"'
	local host_range
	host_range=$(cat /proc/sys/net/ipv4/ping_group_range)
	run_oci run --bundle "$BUNDLE" c1
	assert_success
	assert_output "warden-oci: warning: config.json process.env[2]: BASH_FUNC_f%% is not a name /bin/sh passes on; the program will not have it
A=b c
PATH=/bin
PWD=/tmp
SHLVL=1
/tmp
333
0027
ocibox
0	7"
	assert_file /proc/sys/net/ipv4/ping_group_range "$host_range"
	# Without a hostname the container's is its warden id.
	bundle '["/bin/hostname"]'
	run_oci run --bundle "$BUNDLE" c1b
	assert_success
	[[ $output =~ ^[0-9a-f]{8}$ ]] || _explain "expected the warden id as the hostname"
}

@test "config.json: bind mounts read-only and read-write; a tmpfs with its size and mode" {
	mkdir -p "$WTMP/ro-$BATS_TEST_NUMBER" "$WTMP/rw-$BATS_TEST_NUMBER"
	echo data >"$WTMP/ro-$BATS_TEST_NUMBER/f"
	bundle '["/bin/sh","-c","cat /in/f; touch /in/g 2>/dev/null && echo wrote-ro; echo new >/out/h; touch /run/t/y && echo wrote-tmpfs; grep \" /run/t \" /proc/mounts; stat -c %a /run/t; echo done"]' \
		'c["mounts"] += [{"destination":"/run/t","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=1024k"]},{"destination":"/in","type":"bind","source":"'"$WTMP/ro-$BATS_TEST_NUMBER"'","options":["rbind","ro"]},{"destination":"/out","type":"none","source":"'"$WTMP/rw-$BATS_TEST_NUMBER"'","options":["bind"]}]'
	run_oci run --bundle "$BUNDLE" m1
	assert_success
	assert_line 0 data
	assert_line 1 wrote-tmpfs
	[[ ${lines[2]} =~ ^tmpfs\ /run/t\ tmpfs\ rw,nosuid,.*size=1024k,mode=755 ]] || _explain "the tmpfs: ${lines[2]}"
	assert_line 3 755
	assert_line 4 "done"
	assert_equal "${#lines[@]}" 5 "lines of output"
	assert_equal "$(cat "$WTMP/rw-$BATS_TEST_NUMBER/h")" new
}

@test "config.json: root.readonly makes / read-only; the bind mounts (even onto paths the rootfs lacks) and tmpfs stay writable" {
	mkdir -p "$WTMP/rw-$BATS_TEST_NUMBER"
	echo 'echo from-script' >"$WTMP/script-$BATS_TEST_NUMBER"
	bundle '["/bin/sh","-c","touch /x 2>&1; sh /slurm/job/script; echo out >/slurm/out/o; echo t >/tmp/t && cat /tmp/t"]' \
		'c["root"]["readonly"]=True; c["mounts"] += [{"destination":"/tmp","type":"tmpfs","source":"tmpfs"},{"destination":"/slurm/job/script","type":"bind","source":"'"$WTMP/script-$BATS_TEST_NUMBER"'","options":["bind","ro"]},{"destination":"/slurm/out","type":"bind","source":"'"$WTMP/rw-$BATS_TEST_NUMBER"'","options":["bind"]}]'
	run_oci run --bundle "$BUNDLE" ro1
	assert_success
	assert_line_match 0 '*Read-only file system'
	assert_line 1 from-script
	assert_line 2 t
	assert_equal "$(cat "$WTMP/rw-$BATS_TEST_NUMBER/o")" out
}

@test "create, start, state, kill, delete: as an engine drives them" {
	bundle '["/bin/sh","-c","echo started; trap \"echo got-term; exit 7\" TERM; while :; do sleep 0.1; done"]'
	python3 "$WARDEN_SRC/t/lib/subreaper.py" "$WTMP/k1.pid" "$OCI_BIN" --root "$OCIROOT" \
		--socket "$WSOCK" create --bundle "$BUNDLE" --pid-file "$WTMP/k1.pid" k1 \
		>"$WTMP/k1.out" 2>&1 &
	BG+=($!)
	wait_for 20 test -e "$WTMP/k1.pid.waiting"
	run state_field k1 status
	assert_output created
	pid=$(cat "$WTMP/k1.pid")
	assert_equal "$(state_field k1 pid)" "$pid" "state's pid is the pid file's"
	kill -0 "$pid"
	assert_equal "$(state_field k1 bundle)" "$BUNDLE"
	run_w list
	assert_output k1
	run_oci start k1
	assert_success
	run state_field k1 status
	assert_output running
	wait_for 10 grep -q started "$WTMP/k1.out"
	run_oci start k1
	assert_failure 1
	assert_output_contains "cannot start a container that is running"
	run_oci delete k1
	assert_failure 1
	assert_output_contains "not stopped: running"
	run_oci kill k1 SIGTERM
	assert_success
	wait_for 20 grep -q '^exited' "$WTMP/k1.out"
	run_cmd cat "$WTMP/k1.out"
	assert_output "created $pid
started
got-term
exited 7"
	run state_field k1 status
	assert_output stopped
	run_oci kill k1 KILL
	assert_failure 1
	assert_output_contains "not running"
	run_oci delete k1
	assert_success
	run_w list
	assert_output ""
	refute_exists "$OCIROOT/k1"
	run_oci state k1
	assert_failure 1
	assert_output_contains 'container "k1" does not exist'
}

@test "kill KILL: the shim sees the process die of SIGKILL; delete --force of a running one" {
	bundle '["/bin/sleep","100"]'
	python3 "$WARDEN_SRC/t/lib/subreaper.py" "$WTMP/k2.pid" "$OCI_BIN" --root "$OCIROOT" \
		--socket "$WSOCK" create --bundle "$BUNDLE" --pid-file "$WTMP/k2.pid" k2 \
		>"$WTMP/k2.out" 2>&1 &
	BG+=($!)
	wait_for 20 test -e "$WTMP/k2.pid.waiting"
	oci start k2
	oci kill --all k2 9
	wait_for 20 grep -q '^signaled' "$WTMP/k2.out"
	run_cmd tail -n 1 "$WTMP/k2.out"
	assert_output "signaled 9"
	oci delete k2
	# a running one needs --force
	oci create --bundle "$BUNDLE" k3 >/dev/null 2>&1 </dev/null
	oci start k3
	run state_field k3 status
	assert_output running
	run_oci delete --force k3
	assert_success
	run_w list
	assert_output ""
}

@test "delete of a created container that never started; a second create of an id fails" {
	bundle '["/bin/true"]'
	oci create --bundle "$BUNDLE" d1 </dev/null >/dev/null 2>&1
	run_oci create --bundle "$BUNDLE" d1
	assert_failure 1
	assert_output_contains 'container "d1" already exists'
	pid=$(state_field d1 pid)
	run_oci delete d1
	assert_success
	wait_for 10 eval "! kill -0 $pid 2>/dev/null"
	run_w list
	assert_output ""
}

@test "config.json: what cannot be honoured is an error naming the field, and nothing is left" {
	local edit
	while IFS='|' read -r edit msg; do
		bundle '["/bin/true"]' "$edit"
		run_oci run --bundle "$BUNDLE" bad
		assert_failure 1
		assert_output_contains "$msg"
		run_w list
		assert_output ""
		refute_exists "$OCIROOT/bad"
	done <<-'EOF'
		c["process"]["consoleSize"]={"height":-1,"width":80}|config.json process.consoleSize: must be {"height":N,"width":N}
		c["process"]["user"]["uid"]=1000|config.json process.user.uid: only 0 is supported
		c["process"]["rlimits"]=[{"type":"RLIMIT_NOFILE","hard":10,"soft":5}]|config.json process.rlimits[0] (RLIMIT_NOFILE): soft 5 != hard 10
		c["mounts"].append({"destination":"/mnt","type":"nfs","source":"x:/y"})|config.json mounts[4]: a nfs mount on /mnt is not supported
		c["root"]["readonly"]="yes"|config.json root.readonly: must be a boolean
		c["mounts"].append({"destination":"/t","type":"tmpfs","source":"tmpfs","options":["nr_inodes=5"]})|config.json mounts[4].options: nr_inodes=5 is not supported for a tmpfs
		c["mounts"].append({"destination":"/t","type":"tmpfs","source":"tmpfs","options":["size=10%"]})|config.json mounts[4].options: size=10% is not a size in bytes, k, m or g
		c["mounts"].append({"destination":"/t","type":"tmpfs","source":"tmpfs","options":["mode=rwx"]})|config.json mounts[4].options: mode=rwx is not an octal mode
		c["mounts"] += [{"destination":"/d","type":"bind","source":"/tmp","options":["bind"]},{"destination":"/d/t","type":"tmpfs","source":"tmpfs"}]|config.json mounts: the tmpfs on /d/t is inside the bind mount on /d
		c["hostname"]="not_a_hostname"|Expected `hostname` to hold a hostname
		c["linux"]["sysctl"]={"net.ipv4.ping_group_range":7}|config.json linux.sysctl.net.ipv4.ping_group_range: must be a string
		c["linux"]["namespaces"].pop(1)|config.json linux.namespaces: warden always makes a new network namespace
		c["linux"]["namespaces"].append({"type":"user"})|config.json linux.namespaces[5]: a user namespace is not supported
		c["linux"]["namespaces"][0]["path"]="/proc/1/ns/pid"|config.json linux.namespaces[0].path: joining an existing namespace
		c["linux"]["resources"]={"pids":{"limit":10}}|config.json linux.resources.pids.limit: not supported
		c["linux"]["uidMappings"]=[]|config.json linux.uidMappings: not supported by warden-oci
		c["hooks"]={"prestart":[{"path":"/bin/true"}]}|config.json hooks: OCI hooks are not supported
		c["process"]["args"]=[]|config.json process.args: must be a non-empty array of strings
		c["process"]["cwd"]="tmp"|config.json process.cwd: must be an absolute path
		c["root"]["path"]="/nonexistent"|config.json root.path: /nonexistent is not a directory
		c["ociVersion"]="0.9"|config.json ociVersion: must be a string 1.x
		c["linux"]["sysctl"]={"kernel.panic":"1"}|config.json linux.sysctl.kernel.panic: not a sysctl of the container's own namespaces
		c["frobnicate"]=1|config.json frobnicate: not supported by warden-oci
		c["process"]["env"]=["NOEQUALS"]|config.json process.env[0]: must be a string KEY=VALUE
		c["process"]["env"]=["=x"]|config.json process.env[0]: must be a string KEY=VALUE
	EOF
	echo '{not json' >"$BUNDLE/config.json"
	run_oci run --bundle "$BUNDLE" bad
	assert_failure 1
	assert_output_contains "config.json"
}

@test "fields of warden's own policy are accepted and named in a warning" {
	bundle '["/bin/true"]' 'c["process"]["capabilities"]={"bounding":["CAP_KILL"]}; c["linux"]["maskedPaths"]=["/proc/kcore"]'
	run_oci run --bundle "$BUNDLE" p1
	assert_success
	assert_output_contains "warning: config.json process.capabilities: not applied, warden's own policy is in force"
	assert_output_contains "config.json linux.maskedPaths"
	# With --log, warnings go only there: stderr is the container's.
	run_oci --log "$WTMP/w.log" --log-format json run --bundle "$BUNDLE" p2
	assert_success
	assert_output ""
	run python3 -c 'import json,sys; [print(e["level"], e["msg"]) for e in map(json.loads, open(sys.argv[1]))]' "$WTMP/w.log"
	assert_output_contains "warning config.json process.capabilities"
}

@test "--log --log-format json: errors as runc writes them; usage errors; bad ids" {
	run_oci --log "$WTMP/e.log" --log-format json state nosuch
	assert_failure 1
	run python3 -c 'import json,sys; e=json.loads(open(sys.argv[1]).readline()); print(e["level"], e["msg"], "time" in e)' "$WTMP/e.log"
	assert_output 'error container "nosuch" does not exist True'
	run_oci --log-format yaml state x
	assert_failure 100
	run_oci frob x
	assert_failure 100
	assert_output_contains "not a command warden-oci implements"
	run_oci state ../etc
	assert_failure 1
	assert_output_contains 'invalid container id'
	run_oci kill
	assert_failure 100
}

@test "wardend refusing create (a limit it lacks, an unreachable socket) is an error; nothing left" {
	bundle '["/bin/true"]' 'c["linux"]["resources"]={"memory":{"limit":1<<40}}'
	run_oci run --bundle "$BUNDLE" l1
	# Whatever wardend says about the limit (supported or not), a created container runs.
	if [[ $status == 0 ]]; then
		assert_output ""
	else
		assert_output_contains "create l1:"
	fi
	refute_exists "$OCIROOT/l1"
	run "$OCI_BIN" --root "$OCIROOT" --socket "$WTMP/no.sock" run --bundle "$BUNDLE" l2
	assert_failure 111
	assert_output_contains "cannot connect to $WTMP/no.sock"
	refute_exists "$OCIROOT/l2"
}
