#!/usr/bin/env bats
# Real container engines running warden containers through warden-oci (doc/oci.md,
# doc/scale-out.md): each test skips with its reason when the engine is not installed.
# Podman keeps its storage, run and tmp directories in the test's temp dir, has no
# network (--network none: its bridge would leave rules behind) and puts conmon's cgroup
# under a parent named after this suite's instance, removed in teardown.

# Scripts in single quotes run in the container; WLAST_CMD is read by helpers.bash.
# shellcheck disable=SC2016,SC2034

load helpers

WINSTANCE=${WPREFIX}g
export WINSTANCE
POOLS='"network":{"pool_start_address":"10.253.96.0","pool_size":16},"user":{"pool_start_uid":61700,"pool_size":32},"port":{"pool_start_port":63700,"pool_size":50}'
OCI_BIN=$WARDEN_BUILD/src/oci/warden-oci

setup_file() {
	requires root rootfs wardend
	wardend_start "{$POOLS}"
}

teardown_file() {
	wardend_stop
}

setup() {
	[[ -x $OCI_BIN ]] || skip "warden-oci not built at $OCI_BIN"
	CGPARENT=warden-$WINSTANCE-podman
	P=$WTMP/podman-$BATS_TEST_NUMBER
	mkdir -p "$P"
	# The runtime as the engine calls it: warden-oci on this suite's wardend.
	cat >"$P/runtime" <<-EOF
		#!/bin/sh
		exec "$OCI_BIN" --root "$P/oci" --socket "$WSOCK" "\$@"
	EOF
	chmod +x "$P/runtime"
}

teardown() {
	local d
	ctd_stop
	slurm_stop
	if [[ -n ${P:-} && -d $P ]] && command -v podman >/dev/null; then
		pod rm --all --force >/dev/null 2>&1 || true
	fi
	for d in $(cgroup_dirs "$CGPARENT"); do
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	for d in "$P"/oci/*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		"$P/runtime" delete --force "${d##*/}" >/dev/null 2>&1 || true
	done
}

pod() {
	podman --root "$P/root" --runroot "$P/run" --tmpdir "$P/tmp" --storage-driver vfs \
		--cgroup-manager cgroupfs --events-backend file --runtime "$P/runtime" "$@"
}

# What podman needs here: no network, no pids limit (warden sets none), and rlimits root
# can set without CAP_SYS_RESOURCE.
POD_RUN=(run --network none --cgroup-parent "/warden-${WPREFIX}g-podman" --pids-limit -1
	--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

@test "podman: run --rootfs DIR /bin/echo hi prints hi and leaves no container" {
	command -v podman >/dev/null || skip "podman is not installed"
	WLAST_CMD="podman --runtime warden-oci run --rm --rootfs ROOTFS /bin/echo hi"
	run pod "${POD_RUN[@]}" --rm --rootfs "$WARDEN_TEST_ROOTFS" /bin/echo hi
	assert_success
	assert_output hi
	run pod ps -a -q
	assert_output ""
	run_w list
	assert_output ""
	run_cmd ls -A "$P/oci"
	assert_output ""
}

@test "podman: the exit status, stderr and env come through, in a warden container; rm deletes" {
	command -v podman >/dev/null || skip "podman is not installed"
	run pod "${POD_RUN[@]}" --name w1 -e FOO=bar --rootfs "$WARDEN_TEST_ROOTFS" \
		/bin/sh -c 'echo "$FOO $(cat /proc/1/comm)"; echo oops >&2; exit 3'
	assert_failure 3
	assert_output "bar wshd
oops"
	# podman's cleanup deletes the runtime's container once it has exited.
	run_w list
	assert_output ""
	run pod rm w1
	assert_success
	run_w list
	assert_output ""
}

@test "podman: stop sends TERM through warden-oci kill" {
	command -v podman >/dev/null || skip "podman is not installed"
	run pod "${POD_RUN[@]}" -d --name w2 --rootfs "$WARDEN_TEST_ROOTFS" \
		/bin/sh -c 'trap "exit 42" TERM; while :; do sleep 0.1; done'
	assert_success
	run pod stop -t 10 w2
	assert_success
	run pod inspect -f '{{.State.ExitCode}}' w2
	assert_output 42
	pod rm w2
	run_w list
	assert_output ""
}

# Slurm 22.05 (Debian's slurm-wlm): slurmctld and slurmd of a private cluster on this
# host (auth/none, no munge, no cgroup plugins, spool and state in the test's temp dir),
# an oci.conf whose RunTime* lines call warden-oci in RunTimeRun mode. Slurm resolves
# with AI_ADDRCONFIG, which needs a non-loopback address: in a network namespace with
# only lo, the test adds a veth pair of its own there (removed in teardown).
slurm_start() {
	S=$WTMP/slurm-$BATS_TEST_NUMBER
	mkdir -p "$S/state" "$S/spool" "$S/bundle"
	if [[ -z $(ip -4 -o addr show scope global 2>/dev/null) ]]; then
		SLURM_VETH=${WINSTANCE}-sl0
		ip link add "$SLURM_VETH" type veth peer name "${WINSTANCE}-sl1"
		ip addr add 10.253.99.1/30 dev "$SLURM_VETH"
		ip link set "$SLURM_VETH" up
	fi
	cat >"$S/slurm.conf" <<-EOF
		ClusterName=wtest
		SlurmctldHost=localhost(127.0.0.1)
		SlurmctldPort=6917
		SlurmdPort=6918
		AuthType=auth/none
		CredType=cred/none
		SlurmUser=root
		SlurmdUser=root
		StateSaveLocation=$S/state
		SlurmdSpoolDir=$S/spool
		SlurmctldPidFile=$S/ctld.pid
		SlurmdPidFile=$S/d.pid
		ProctrackType=proctrack/pgid
		TaskPlugin=task/none
		JobCompType=jobcomp/none
		AccountingStorageType=accounting_storage/none
		JobAcctGatherType=jobacct_gather/none
		SchedulerType=sched/builtin
		SelectType=select/linear
		ReturnToService=2
		MpiDefault=none
		SlurmctldLogFile=$S/ctld.log
		SlurmdLogFile=$S/d.log
		NodeName=wnode NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN
		PartitionName=p Nodes=wnode Default=YES MaxTime=INFINITE State=UP
	EOF
	local o="$OCI_BIN --root $S/oci --socket $WSOCK --log $S/oci.log"
	cat >"$S/oci.conf" <<-EOF
		RunTimeRun="$o run --bundle %b %n.%u.%j.%s.%t"
		RunTimeQuery="$o state %n.%u.%j.%s.%t"
		RunTimeKill="$o kill --all %n.%u.%j.%s.%t"
		RunTimeDelete="$o delete --force %n.%u.%j.%s.%t"
	EOF
	# Slurm uses <bundle>/rootfs whatever root.path says.
	ln -s "$WARDEN_TEST_ROOTFS" "$S/bundle/rootfs"
	cat >"$S/bundle/config.json" <<-EOF
		{"ociVersion":"1.0.2","root":{"path":"rootfs"},
		 "process":{"args":["/bin/true"],"cwd":"/","env":["PATH=/bin:/usr/bin"],"user":{"uid":0,"gid":0}},
		 "linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}]}}
	EOF
	export SLURM_CONF=$S/slurm.conf
	slurmctld -D -i -f "$S/slurm.conf" >"$S/ctld.out" 2>&1 &
	SLURMCTLD_PID=$!
	slurmd -D -N wnode -f "$S/slurm.conf" >"$S/d.out" 2>&1 &
	SLURMD_PID=$!
	wait_for 30 eval 'timeout 2 sinfo -h -o %t 2>/dev/null | grep -q idle'
}

slurm_stop() {
	local p
	for p in ${SLURMD_PID:-} ${SLURMCTLD_PID:-}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	SLURMD_PID='' SLURMCTLD_PID=''
	[[ -z ${SLURM_VETH:-} ]] || ip link del "$SLURM_VETH" 2>/dev/null || true
}

@test "slurm: srun --container=BUNDLE returns the program's status and output" {
	command -v srun >/dev/null && command -v slurmd >/dev/null ||
		skip "slurm (slurm-wlm) is not installed"
	slurm_start
	WLAST_CMD="srun --container=BUNDLE /bin/sh -c 'echo hi from \$(hostname); exit 3'"
	run timeout 60 srun --container="$S/bundle" /bin/sh -c 'echo "hi from $(cat /proc/1/comm)"; exit 3'
	assert_failure 3
	assert_output_contains "hi from wshd"
	run_w list
	assert_output ""
	run_cmd ls -A "$S/oci"
	assert_output ""
}

# containerd 1.6 (Debian's): a private daemon (root, state and sockets in the test's
# temp dir, no CRI plugin), ctr run with the runc shim pointed at warden-oci. The shim
# keeps its sockets in /run/containerd/s whatever the config says: removed afterwards
# when this test made it.
ctd_start() {
	C=$WTMP/ctd-$BATS_TEST_NUMBER
	mkdir -p "$C"
	[[ -e /run/containerd ]] || touch "$C/made-run-containerd"
	cat >"$C/config.toml" <<-EOF
		version = 2
		root = "$C/root"
		state = "$C/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
		  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
		  "io.containerd.snapshotter.v1.aufs"]
		[grpc]
		  address = "$C/c.sock"
		[ttrpc]
		  address = "$C/c.sock.ttrpc"
		[debug]
		  address = "$C/d.sock"
	EOF
	# The shim passes its own --root (/run/containerd/runc/NS): keep state in the test's dir.
	cat >"$C/runtime" <<-EOF
		#!/bin/sh
		[ "\$1" = --root ] && shift 2
		exec "$OCI_BIN" --root "$C/oci" --socket "$WSOCK" "\$@"
	EOF
	chmod +x "$C/runtime"
	containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
	CTD_PID=$!
	wait_for 20 test -S "$C/c.sock"
}

ctd_stop() {
	[[ -n ${CTD_PID:-} ]] || return 0
	ctr --address "$C/c.sock" task kill -s KILL t1 >/dev/null 2>&1 || true
	ctr --address "$C/c.sock" container rm t1 >/dev/null 2>&1 || true
	kill "$CTD_PID" 2>/dev/null || true
	wait "$CTD_PID" 2>/dev/null || true
	if [[ -e $C/made-run-containerd ]]; then
		rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null || true
	fi
}

@test "containerd: ctr run --runc-binary warden-oci --rootfs DIR: output and status" {
	command -v containerd >/dev/null && command -v ctr >/dev/null ||
		skip "containerd (and ctr) is not installed"
	ctd_start
	WLAST_CMD="ctr run --rm --runc-binary warden-oci --rootfs ROOTFS t1 /bin/sh -c ..."
	run timeout 60 ctr --address "$C/c.sock" run --rm --fifo-dir "$C/fifo" \
		--runc-binary "$C/runtime" --rootfs "$WARDEN_TEST_ROOTFS" t1 \
		/bin/sh -c 'echo hi; echo err >&2; exit 3'
	local st=$status out=$output
	ctd_stop
	status=$st output=$out
	assert_failure 3
	# stdout and stderr reach ctr through two fifos: their order is not kept.
	run_cmd sort <<<"$output"
	assert_output "err
hi"
	run_w list
	assert_output ""
	run_cmd ls -A "$C/oci"
	assert_output ""
}
