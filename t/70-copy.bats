#!/usr/bin/env bats
# copy in / copy out (PROTOCOL.md `copy`, DESIGN.md "Files"): rsync-like trailing-slash
# semantics, modes, symlinks and times kept, hard links materialised, copied-in files
# owned by the container's user, OWNER on copy out chowning only what was copied, copy
# out of a stopped container, exact and clear errors; and every way a container might
# make the host read or write a host path through a symlink (planted link, link as DST,
# symlinked parent, a link swapped in during the copy), each checking that the host
# files are untouched. Real containers on the busybox rootfs (no rsync inside).
# Hostile streams (names with "..", absolute names, writes through a link the stream
# made) are the unit test t/unit/test_copytree.c: a real container cannot send them.

# Scripts in single quotes are expanded by the container's shell, not here.
# shellcheck disable=SC2016

load helpers

# Instance and pools of this file, apart from the other suites' (they may run at once).
WINSTANCE=${WPREFIX}70
export WINSTANCE
CONF='{"network":{"pool_start_address":"10.253.192.0","pool_size":8},"user":{"pool_start_uid":61400,"pool_size":8},"port":{"pool_start_port":63400,"pool_size":10}}'

setup_file() {
	requires root rootfs wardend
	wardend_start "$CONF"
	w create --handle c >/dev/null
	# Host files a container would love to reach: each test checks they are untouched.
	SECRET=$WTMP/secret
	HOSTDIR=$WTMP/hostdir
	mkdir -m 0700 "$HOSTDIR"
	printf 'host secret\n' >"$SECRET"
	chmod 0600 "$SECRET"
	printf 'host dir file\n' >"$HOSTDIR/keep"
	touch -d '2001-02-03 04:05:06' "$SECRET" "$HOSTDIR/keep" "$HOSTDIR"
	host_state >"$WTMP/host.state"
	export SECRET HOSTDIR
}

teardown_file() {
	wardend_stop
}

setup() {
	requires root rootfs wardend
	T=$BATS_TEST_TMPDIR
	VUID=$(w run c 'id -u')
	VGID=$(w run c 'id -g')
	# A fresh scratch directory in the container's home for each test.
	w run c 'rm -rf t && mkdir t' >/dev/null
}

teardown() {
	own_daemon_end || true
	w run c 'chmod -R u+w t 2>/dev/null; rm -rf t' >/dev/null 2>&1 || true
	w run --privileged c 'rm -rf /home/vcap/t /tmp/t' >/dev/null 2>&1 || true
}

# A test's own daemon (instance ${WPREFIX}7t), beside the file's: own_daemon_begin, then
# wardend_start [EXTRA_JSON]; teardown calls own_daemon_end, which stops it and puts the
# file's daemon back. Pools apart from the file's.
OWN_POOLS='"network":{"pool_start_address":"10.253.200.0","pool_size":4},"user":{"pool_start_uid":61420,"pool_size":4},"port":{"pool_start_port":63420,"pool_size":4}'
own_daemon_begin() {
	FILE_WTMP=$WTMP FILE_WSOCK=$WSOCK FILE_PID=$WARDEND_PID
	WINSTANCE=${WPREFIX}7t
	WTMP=$(mktemp -d /tmp/wt.XXXXXX)
	export WINSTANCE WTMP WSOCK=$WTMP/w.sock
	unset WARDEND_PID
}

own_daemon_end() {
	[[ -n ${FILE_WTMP:-} ]] || return 0
	local rc=0
	[[ -z ${STOPPED_PID:-} ]] || kill -CONT "$STOPPED_PID" 2>/dev/null || true
	wardend_stop || rc=$?
	WINSTANCE=${WPREFIX}70
	export WINSTANCE WTMP=$FILE_WTMP WSOCK=$FILE_WSOCK WARDEND_PID=$FILE_PID
	FILE_WTMP=
	return "$rc"
}

# Everything about the host sentinels that a write, chmod, chown or touch would change.
host_state() {
	stat -c '%n %s %a %u %g %Y %h %F' "$WTMP/secret" "$WTMP/hostdir" "$WTMP"/hostdir/* /etc/shadow /etc/passwd
	cat "$WTMP/secret" "$WTMP"/hostdir/*
	ls -A "$WTMP/hostdir"
	md5sum /etc/shadow /etc/passwd
}

assert_host_untouched() {
	local now
	now=$(host_state)
	if [[ $now != "$(cat "$WTMP/host.state")" ]]; then
		echo "host files changed:" >&2
		diff <(cat "$WTMP/host.state") <(printf '%s\n' "$now") >&2
		return 1
	fi
}

# A tree with every kind of entry rsync -rp --links keeps (and two it materialises).
make_tree() { # DIR
	mkdir -p "$1/sub/deep" "$1/ro"
	printf 'hello\n' >"$1/file"
	printf '#!/bin/sh\necho run\n' >"$1/sub/exec.sh"
	printf 'deep\n' >"$1/sub/deep/d.txt"
	printf 'inside ro\n' >"$1/ro/r"
	printf 'linked\n' >"$1/hard1"
	ln "$1/hard1" "$1/hard2"
	ln -s file "$1/rel-link"
	ln -s /etc/shadow "$1/abs-link"
	ln -s nowhere "$1/dangling"
	: >"$1/empty"
	chmod 0640 "$1/file"
	chmod 0755 "$1/sub/exec.sh"
	chmod 0750 "$1/sub"
	chmod 0555 "$1/ro"
	touch -h -d '2010-01-02 03:04:05' "$1/file" "$1/rel-link"
}

# The tree as "mode type size name [-> target]" lines, for comparing two sides.
tree_listing() { # DIR (run in the container with `w run c`, or on the host)
	printf '%s\n' "cd '$1' && find . | sort | while read -r f; do stat -c '%a %F %s %n' \"\$f\"; [ -L \"\$f\" ] && echo \"-> \$(readlink \"\$f\")\"; done; true"
}

@test "copy in: a directory without / lands as DST/NAME with modes, links, times; hard links materialised; owned by the container user" {
	make_tree "$T/src"
	run_w copy c in "$T/src" /home/vcap/t
	assert_success
	assert_output "ok"
	run_w run c "$(tree_listing /home/vcap/t/src)"
	assert_success
	local want
	want=$(bash -c "$(tree_listing "$T/src")")
	# Hard links arrive as separate files, so only their link counts differ: none shown.
	[[ $output == "$want" ]] || { diff <(echo "$want") <(echo "$output") >&2; false; }
	run_w run c 'cd t/src && stat -c "%u:%g %h %i" hard1 hard2 && find . ! -user vcap | wc -l && stat -c %Y file && stat -c %a ro && cat sub/deep/d.txt && readlink abs-link'
	assert_success
	local lines
	mapfile -t lines <<<"$output"
	[[ ${lines[0]} == "$VUID:$VGID 1 "* && ${lines[1]} == "$VUID:$VGID 1 "* ]] || _explain "hard links not materialised or wrong owner"
	[[ ${lines[0]##* } != "${lines[1]##* }" ]] || _explain "hard1 and hard2 share an inode"
	[[ ${lines[2]} == 0 ]] || _explain "files not owned by vcap"
	[[ ${lines[3]} == "$(stat -c %Y "$T/src/file")" ]] || _explain "mtime not kept"
	[[ ${lines[4]} == 555 && ${lines[5]} == deep && ${lines[6]} == /etc/shadow ]] || _explain "mode, content or link"
	assert_host_untouched
}

@test "copy in: SRC/ copies the contents into DST, made with its parents" {
	make_tree "$T/src"
	run_w copy c in "$T/src/" /home/vcap/t/a/b
	assert_success
	run_w run c 'ls -A t/a/b | tr "\n" " "; stat -c %a t/a/b/sub'
	assert_success
	assert_output "abs-link dangling empty file hard1 hard2 rel-link ro sub 750"
}

@test "copy in: a file into an existing directory, to a new name, into DST/ that is made" {
	printf 'one\n' >"$T/f1"
	chmod 0604 "$T/f1"
	w run c 'mkdir t/dir' >/dev/null
	run_w copy c in "$T/f1" /home/vcap/t/dir
	assert_success
	run_w copy c in "$T/f1" /home/vcap/t/renamed
	assert_success
	run_w copy c in "$T/f1" /home/vcap/t/newdir/
	assert_success
	run_w run c 'cd t && stat -c "%a %F %n" dir/f1 renamed newdir/f1 && cat renamed'
	assert_success
	assert_output "$(printf '%s\n' '604 regular file dir/f1' '604 regular file renamed' '604 regular file newdir/f1' 'one')"
}

@test "copy in: a relative DST is relative to the user's home; the CLI makes a relative host SRC absolute" {
	printf 'rel\n' >"$T/relfile"
	cd "$T"
	run_w copy c in relfile t/x
	assert_success
	run_w run c 'cat /home/vcap/t/x'
	assert_output "rel"
}

@test "copy in: replaces what is at the destination, never writing through it" {
	printf 'new\n' >"$T/f"
	# A link to a file the user may not write, and a hard link: both replaced, not written.
	w run c 'ln -s /etc/passwd t/f && mkdir t/d && echo old >t/d/orig && ln t/d/orig t/d/f' >/dev/null
	run_w copy c in "$T/f" /home/vcap/t/f
	assert_success
	run_w copy c in "$T/f" /home/vcap/t/d/
	assert_success
	run_w run c 'stat -c %F t/f; cat t/f t/d/f t/d/orig; grep -c root /etc/passwd'
	assert_success
	assert_output "$(printf '%s\n' 'regular file' new new old 1)"
}

@test "copy out: directory, DIR/ and a file, rsync-like; modes, links and times kept; hard links materialised; owned by root" {
	w run c "$(printf '%s\n' "$(declare -f make_tree)" 'make_tree t/src')" >/dev/null
	mkdir "$T/out" "$T/out2"
	run_w copy c out /home/vcap/t/src "$T/out"
	assert_success
	assert_output "ok"
	run_w copy c out /home/vcap/t/src/ "$T/out2/new"
	assert_success
	run_w copy c out /home/vcap/t/src/file "$T/out/renamed"
	assert_success
	run_w run c "$(tree_listing /home/vcap/t/src)"
	assert_success
	local want=$output
	run bash -c "$(tree_listing "$T/out/src")"
	[[ $output == "$want" ]] || { diff <(echo "$want") <(echo "$output") >&2; false; }
	run bash -c "$(tree_listing "$T/out2/new")"
	[[ $output == "$want" ]] || { diff <(echo "$want") <(echo "$output") >&2; false; }
	[[ $(stat -c '%h %u:%g' "$T/out/src/hard1" "$T/out/src/hard2" | sort -u) == "1 0:0" ]]
	[[ $(stat -c %i "$T/out/src/hard1") != $(stat -c %i "$T/out/src/hard2") ]]
	[[ $(find "$T/out" ! -user root | wc -l) == 0 ]]
	[[ $(readlink "$T/out/src/abs-link") == /etc/shadow && $(cat "$T/out/renamed") == hello ]]
	[[ $(stat -c %Y "$T/out/src/file") == $(w run c 'stat -c %Y t/src/file') ]]
	assert_host_untouched
}

@test "copy out: setuid and setgid bits never reach the host" {
	w run --privileged c 'cp /bin/busybox /home/vcap/t/suid && chmod 6755 /home/vcap/t/suid && chmod 2775 /home/vcap/t' >/dev/null
	mkdir "$T/out"
	run_w copy c out /home/vcap/t/suid "$T/out/"
	assert_success
	[[ $(stat -c %a "$T/out/suid") == 755 ]] || _explain "mode $(stat -c %a "$T/out/suid")"
}

@test "copy out OWNER: user:group chowns exactly what was copied" {
	w run c 'mkdir -p t/o/in && echo a >t/o/a && echo b >t/o/in/b && ln -s a t/o/l' >/dev/null
	mkdir "$T/dst"
	echo mine >"$T/dst/other"
	chown 4321:4321 "$T/dst"
	run_w copy c out /home/vcap/t/o/ "$T/dst" 1234:5678
	assert_success
	run stat -c '%u:%g %n' "$T/dst" "$T/dst/other" "$T/dst/a" "$T/dst/in" "$T/dst/in/b" "$T/dst/l"
	assert_output "$(printf '%s\n' "4321:4321 $T/dst" "0:0 $T/dst/other" "1234:5678 $T/dst/a" \
		"1234:5678 $T/dst/in" "1234:5678 $T/dst/in/b" "1234:5678 $T/dst/l")"
	# Names, a user alone (its own group), and a made DST are chowned too.
	run_w copy c out /home/vcap/t/o "$T/new/deeper" nobody
	assert_success
	[[ $(stat -c '%U:%g' "$T/new/deeper" "$T/new/deeper/o" "$T/new/deeper/o/in/b" | sort -u) == "nobody:$(id -g nobody)" ]]
	run_w copy c out /home/vcap/t/o/a "$T/named" nobody:nogroup
	assert_success
	[[ $(stat -c '%U:%G' "$T/named") == nobody:nogroup ]]
	run_w copy c out /home/vcap/t/o/a "$T/x" no-such-user-here:root
	assert_failure 1
	assert_output 'warden: Unknown user "no-such-user-here" in owner'
	run_w copy c out /home/vcap/t/o/a "$T/x" root:no-such-group-here
	assert_output 'warden: Unknown group "no-such-group-here" in owner'
	[[ ! -e $T/x ]]
}

@test "copy out works on a stopped container; copy in does not" {
	local h
	h=$(w create)
	w run "$h" 'mkdir kept && echo still here >kept/f' >/dev/null
	w stop "$h"
	run_w copy "$h" out /home/vcap/kept "$T"
	assert_success
	[[ $(cat "$T/kept/f") == "still here" ]]
	run_w copy "$h" in "$T/kept" /home/vcap
	assert_failure 1
	assert_output "warden: Container state must be one of 'active', current state is 'stopped'"
	# A container whose wshd died has lost its mount namespace: a clear error, no hang.
	local p pid
	p=$(w --json info "$h" | jq -r .container_path)
	pid=$(cat "$p/run/wshd.pid")
	kill -KILL "$pid"
	wait_for 20 eval "! kill -0 $pid 2>/dev/null"
	run_w copy "$h" out /home/vcap/kept "$T/again"
	assert_failure 1
	assert_output_contains "warden: copy out: cannot reach the container's wshd: "
	assert_output_contains "$p/run/wshd.sock: "
	[[ ! -e $T/again ]]
	w destroy "$h"
}

@test "copy: the errors of PROTOCOL.md, exactly" {
	run_cmd wire send -n 4 '["copy","c","sideways","/a","/b"]\n["copy","c",7,"/a","/b"]\n["copy","c","in","/a","/b","root:root"]\n["copy","c","in","/a","/b",{}]\n'
	assert_success
	assert_output "$(printf '%s\n' \
		'{"payload":"Invalid direction, must be '"'"'in'"'"' or '"'"'out'"'"'.","type":"error"}' \
		'{"payload":"Invalid direction, must be '"'"'in'"'"' or '"'"'out'"'"'.","type":"error"}' \
		'{"payload":"You can only supply a target owner when copying out","type":"error"}' \
		'{"payload":"You can only supply a target owner when copying out","type":"error"}')"
}

@test "copy: clear errors for bad paths, a missing source and an unwritable destination" {
	run_cmd wire send -n 5 '["copy","c","in","rel","/b"]\n["copy","c","out","/a","rel"]\n["copy","c","in",1,"/b"]\n["copy","c","out","/a",""]\n["copy","c","out","/a","/b",5]\n'
	assert_success
	assert_output "$(printf '%s\n' \
		'{"payload":"SRC must be an absolute path on the host: rel","type":"error"}' \
		'{"payload":"DST must be an absolute path on the host: rel","type":"error"}' \
		'{"payload":"Expected SRC to be a path","type":"error"}' \
		'{"payload":"Expected DST to be a path","type":"error"}' \
		'{"payload":"Expected OWNER to be a string user:group","type":"error"}')"
	run_w copy c in "$T/nope" /home/vcap/t
	assert_failure 1
	assert_output "warden: copy in: cannot open $T/nope: No such file or directory"
	run_w run c 'ls -A t'
	assert_output ""
	run_w copy c out /home/vcap/nope "$T/out"
	assert_failure 1
	assert_output "warden: copy out: container: cannot open /home/vcap/nope: No such file or directory"
	[[ ! -e $T/out ]]
	echo x >"$T/f"
	run_w copy c in "$T/f" /etc/f
	assert_failure 1
	assert_output "warden: copy in: container: cannot create /etc/f: Permission denied"
	run_w copy c in "$T/f" /etc/new/dir/
	assert_output "warden: copy in: container: cannot create directory /etc/new: Permission denied"
	w run c 'echo x >t/f' >/dev/null
	mkdir "$T/ro"
	mount -t tmpfs -o ro tmpfs "$T/ro"
	run_w copy c out /home/vcap/t/f "$T/ro/f"
	umount "$T/ro"
	assert_failure 1
	assert_output "warden: copy out: cannot create $T/ro/f: Read-only file system"
	run_w copy c out /home/vcap/t/f /etc/hostname/x
	assert_output "warden: copy out: cannot copy into /etc/hostname: it is not a directory"
	run_w ping
	assert_output pong
}

@test "escape: links planted in the container (ln -s /etc/shadow x, to a host file) come out as links, never as content" {
	w run c "ln -s /etc/shadow t/x && ln -s '$SECRET' t/y && mkdir t/d && ln -s '$HOSTDIR' t/d/z && ln -s / t/d/root" >/dev/null
	mkdir "$T/out"
	run_w copy c out /home/vcap/t/x "$T/out"
	assert_success
	run_w copy c out /home/vcap/t/y "$T/out/"
	assert_success
	run_w copy c out /home/vcap/t/d "$T/out"
	assert_success
	[[ $(readlink "$T/out/x") == /etc/shadow && $(readlink "$T/out/y") == "$SECRET" ]]
	[[ $(readlink "$T/out/d/z") == "$HOSTDIR" && $(readlink "$T/out/d/root") == / ]]
	[[ $(find "$T/out" -type f | wc -l) == 0 ]] || _explain "regular files appeared: $(find "$T/out" -type f)"
	# Through the link (SRC/) the container's own view is used: the host file is not there.
	run_w copy c out /home/vcap/t/y/ "$T/out/through"
	assert_failure 1
	assert_output_contains "cannot open /home/vcap/t/y/: No such file or directory"
	run_w copy c out /home/vcap/t/d/z/ "$T/out/through"
	assert_failure 1
	[[ ! -e $T/out/through ]]
	# The container's own /etc/shadow is readable only by its root: vcap cannot copy it out.
	run_w copy c out /home/vcap/t/x/ "$T/out/shadow"
	assert_failure 1
	[[ ! -e $T/out/shadow ]]
	assert_host_untouched
}

@test "escape: a link as DST (ln -s / dst, to a host directory) is never written through" {
	make_tree "$T/src"
	w run c "ln -s / t/dst && ln -s '$HOSTDIR' t/dst2 && ln -s /tmp t/dst3" >/dev/null
	run_w copy c in "$T/src" /home/vcap/t/dst
	assert_failure 1
	assert_output "warden: copy in: container: cannot copy into /home/vcap/t/dst: it is a symbolic link"
	run_w copy c in "$T/src/" /home/vcap/t/dst2
	assert_failure 1
	assert_output "warden: copy in: container: cannot copy into /home/vcap/t/dst2: it is a symbolic link"
	run_w copy c in "$T/src" /home/vcap/t/dst3/
	assert_failure 1
	# A file copied onto a link replaces the link, in the container.
	run_w copy c in "$T/src/file" /home/vcap/t/dst2
	assert_success
	run_w run c 'stat -c %F t/dst2; ls -A /tmp | wc -l; ls -d /src /keep 2>&1 | wc -l; readlink t/dst'
	assert_output "$(printf '%s\n' 'regular file' 0 2 /)"
	assert_host_untouched
}

@test "escape: a symlinked parent directory, in the container and in the host's DST" {
	printf 'new\n' >"$T/keep"
	w run c "ln -s '$HOSTDIR' t/p && ln -s /tmp t/q" >/dev/null
	# Parents of DST are the container's own view: its /tmp, never the host's directory.
	run_w copy c in "$T/keep" /home/vcap/t/p/keep
	assert_failure 1
	assert_output "warden: copy in: container: cannot copy into /home/vcap/t/p: it is a symbolic link"
	run_w copy c in "$T/keep" /home/vcap/t/p/deeper/keep
	assert_failure 1
	# Copy out a tree whose sub is a link to the host directory, then the same tree with
	# sub a real directory holding "keep": the host's DST link is replaced, not followed.
	w run c "mkdir t/tree && ln -s '$HOSTDIR' t/tree/sub" >/dev/null
	mkdir "$T/out"
	run_w copy c out /home/vcap/t/tree "$T/out"
	assert_success
	[[ $(readlink "$T/out/tree/sub") == "$HOSTDIR" ]]
	w run c 'rm t/tree/sub && mkdir t/tree/sub && echo from container >t/tree/sub/keep' >/dev/null
	run_w copy c out /home/vcap/t/tree "$T/out"
	assert_success
	[[ ! -L $T/out/tree/sub && $(cat "$T/out/tree/sub/keep") == "from container" ]]
	# A link the operator's DST holds below it is not followed either.
	mkdir "$T/out2"
	ln -s "$HOSTDIR" "$T/out2/tree"
	run_w copy c out /home/vcap/t/tree "$T/out2"
	assert_success
	[[ -d $T/out2/tree && ! -L $T/out2/tree && $(cat "$T/out2/tree/sub/keep") == "from container" ]]
	assert_host_untouched
}

@test "escape: host links in SRC are copied in as links; SRC itself only followed with /" {
	mkdir "$T/src"
	ln -s "$SECRET" "$T/src/s"
	ln -s "$HOSTDIR" "$T/src/d"
	ln -s "$HOSTDIR" "$T/link"
	run_w copy c in "$T/src" /home/vcap/t
	assert_success
	run_w copy c in "$T/link" /home/vcap/t
	assert_success
	run_w run c 'for l in t/src/s t/src/d t/link; do readlink $l; done; cat t/src/s t/src/d/keep 2>/dev/null; true'
	assert_output "$(printf '%s\n' "$SECRET" "$HOSTDIR" "$HOSTDIR")"
	# SRC/ is the operator's path: followed, as rsync does.
	run_w copy c in "$T/link/" /home/vcap/t/followed
	assert_success
	run_w run c 'cat t/followed/keep'
	assert_output "host dir file"
	assert_host_untouched
}

@test "escape: a link swapped in during copy out, in the container, is never followed on either side" {
	w run c 'mkdir -p t/race/d && for i in 1 2 3 4 5 6 7 8; do echo $i >t/race/f$i; done' >/dev/null
	local racer='end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do
		rm -rf t/race/d; ln -s '"'$HOSTDIR'"' t/race/d; rm -f t/race/d; mkdir t/race/d; echo c >t/race/d/keep
		rm -rf t/race/d; ln -s / t/race/d; rm -f t/race/d; mkdir t/race/d; done'
	local job i
	job=$(w spawn c "$racer")
	for i in $(seq 1 15); do
		w copy c out /home/vcap/t/race "$T/out$i" >/dev/null 2>"$T/err$i" || true
		w copy c out /home/vcap/t/race/ "$T/outs$i" >/dev/null 2>>"$T/err$i" || true
	done
	w link c "$job" >/dev/null || true
	# Failures are allowed (an entry changed under the walk), silence about why is not.
	for i in $(seq 1 15); do
		if grep -qvE '^warden: copy out: (container: )?[a-z]' "$T/err$i"; then
			cat "$T/err$i" >&2
			return 1
		fi
	done
	if grep -rqs "host dir file" "$T"/out*; then
		_explain "host content reached the copy: $(grep -rl "host dir file" "$T"/out*)"
	fi
	[[ $(find "$T"/out* -type f ! -name 'f[1-8]' ! -name keep | wc -l) == 0 ]]
	run_w ping
	assert_output pong
	assert_host_untouched
}

@test "escape: a link swapped in during copy in never makes the container's writer leave DST" {
	mkdir -p "$T/src/d"
	for i in 1 2 3 4 5 6 7 8; do echo "$i" >"$T/src/d/g$i"; done
	w run c 'mkdir -p t/race/d /tmp/victim' >/dev/null
	local racer='end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do
		rm -rf t/race/src/d; mkdir -p t/race/src; ln -s /tmp/victim t/race/src/d; rm -f t/race/src/d; mkdir t/race/src/d; done'
	local job i
	job=$(w spawn c "$racer")
	for i in $(seq 1 15); do
		w copy c in "$T/src" /home/vcap/t/race >/dev/null 2>&1 || true
	done
	w link c "$job" >/dev/null || true
	run_w run c 'ls -A /tmp/victim | wc -l'
	assert_output 0
	# And on the host side: a link swapped into the host SRC is never followed either.
	(end=$((SECONDS + 3)); while ((SECONDS < end)); do
		rm -rf "$T/src/d"; ln -s "$HOSTDIR" "$T/src/d"; rm -f "$T/src/d"; mkdir "$T/src/d"; echo x >"$T/src/d/g1"; done) &
	local racer_pid=$!
	for i in $(seq 1 15); do
		w copy c in "$T/src" "/home/vcap/t/in$i" >/dev/null 2>&1 || true
	done
	wait "$racer_pid"
	run_w run c 'grep -rl "host dir file" t 2>/dev/null | wc -l; find t -type f | grep -c keep'
	assert_output "$(printf '%s\n' 0 0)"
	assert_host_untouched
}

@test "copy: a big copy blocks no other client, and wardend survives the copy's container being destroyed" {
	local h
	h=$(w create)
	w run "$h" 'dd if=/dev/zero of=big bs=1M count=300 2>/dev/null' >/dev/null
	w copy "$h" out /home/vcap/big "$T/big" >"$T/copy.out" 2>&1 &
	local cp_pid=$!
	run_w ping
	assert_output pong
	w destroy "$h"
	# (wait itself, not `run wait`: run's subshell has no child to wait for, and the
	# check below would race the copy's last words, which destroy's early reply exposes.)
	local st=0
	wait "$cp_pid" || st=$?
	# Done before the destroy, or cut short by it with a reason.
	[[ $st == 0 && $(stat -c %s "$T/big") == 314572800 ]] ||
		grep -qE '^warden: copy out: (container: )?[a-z]' "$T/copy.out" ||
		_explain "copy out during destroy: $(cat "$T/copy.out")"
	run_w ping
	assert_output pong
	rm -f "$T/big"
}

# wshd_copy_client SOCK OUTDIR REQUEST_JSON NFDS: sends REQUEST_JSON to wshd with NFDS (0-2)
# descriptors: the write end of a data pipe and of a status pipe. Writes the reply to
# OUTDIR/reply; with 2 descriptors waits (bounded) for OUTDIR/go, then drains the data and
# writes the byte count and the status line to OUTDIR/result.
wshd_copy_client() {
	python3 - "$@" <<'PY'
import array, os, socket, sys, time
path, out, req, nfds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(30)
s.connect(path)
dr, dw = os.pipe()
sr, sw = os.pipe()
fds = [dw, sw][:nfds]
anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
s.sendmsg([req.encode()], anc)
os.close(dw)
os.close(sw)
open(out + "/reply", "w").write(s.recv(1 << 16).decode())
if nfds == 2:
    deadline = time.time() + 30
    while not os.path.exists(out + "/go") and time.time() < deadline:
        time.sleep(0.05)
    n = 0
    while True:
        b = os.read(dr, 1 << 16)
        if not b:
            break
        n += len(b)
    st = b""
    while True:
        b = os.read(sr, 4096)
        if not b:
            break
        st += b
    open(out + "/result", "w").write("%d %s" % (n, st.decode()))
PY
}

@test "wshd copy op: bad requests get an error and wshd stays; the child keeps no descriptor of wshd's and runs confined as a job" {
	local p sock wpid child
	p=$(w --json info c | jq -r .container_path)
	sock=$p/run/wshd.sock
	wpid=$(cat "$p/run/wshd.pid")
	mkdir "$T/c1"
	local bad=('{"op":"copy"}|0|direction: must be \"in\" or \"out\"'
		'{"op":"copy","direction":"up","path":"/x"}|2|direction: must be \"in\" or \"out\"'
		'{"op":"copy","direction":"in","path":""}|2|path: must be a non-empty path'
		'{"op":"copy","direction":"in","path":7}|2|path: must be a non-empty path'
		'{"op":"copy","direction":"in","path":"/x","user":"nobody-here"}|2|unknown user nobody-here'
		'{"op":"copy","direction":"in","path":"/x","user":5}|2|user: must be a string'
		'{"op":"copy","direction":"in","path":"/x"}|0|copy needs 2 descriptors (data, status), got 0'
		'{"op":"copy","direction":"out","path":"/x"}|1|copy needs 2 descriptors (data, status), got 1')
	local b req n want
	for b in "${bad[@]}"; do
		IFS='|' read -r req n want <<<"$b"
		rm -f "$T/c1/reply"
		wshd_copy_client "$sock" "$T/c1" "$req" "$n" || true
		[[ $(cat "$T/c1/reply") == "{\"error\":\"$want\"}" ]] || _explain "$req -> $(cat "$T/c1/reply")"
	done
	kill -0 "$wpid"
	# A copy out of a file bigger than the pipe: the child blocks writing, so it can be seen.
	w run c 'dd if=/dev/zero of=t/big bs=1M count=4 2>/dev/null' >/dev/null
	mkdir "$T/c2"
	wshd_copy_client "$sock" "$T/c2" '{"op":"copy","direction":"out","path":"t/big"}' 2 &
	local cl=$!
	wait_for 20 test -s "$T/c2/reply"
	[[ $(cat "$T/c2/reply") == '{"ok":true,"pid":'* ]] || _explain "reply $(cat "$T/c2/reply")"
	wait_for 20 eval "pgrep -P $wpid -u $VUID >/dev/null"
	child=$(pgrep -P "$wpid" -u "$VUID" | head -1)
	# Its own: 0-2, the data (3) and status (4) pipes, and what the walk opened (the
	# directory of t/big and the file), inside the container's root.
	local fds="" f
	for f in "/proc/$child/fd"/*; do
		fds+="${f##*/} $(readlink "$f" | sed 's/pipe:.*/pipe/')"$'\n'
	done
	run_cmd grep -E '^(Uid|Gid|NoNewPrivs|CapEff|CapBnd|Seccomp):' "/proc/$child/status"
	local st=$output
	touch "$T/c2/go"
	wait "$cl"
	[[ $fds == "$(printf '%s\n' '0 /dev/null' '1 /dev/null' '2 /dev/null' '3 pipe' '4 pipe' \
		'5 /home/vcap/t' '6 /home/vcap/t/big')"$'\n' ]] || _explain "fds: $fds"
	[[ $st == *"Uid:	$VUID	$VUID	$VUID	$VUID"* && $st == *"NoNewPrivs:	1"* && $st == *"CapEff:	0000000000000000"* ]] ||
		_explain "status: $st"
	# The jobs' confinement (doc/security.md): the seccomp filter (mode 2) and, as the
	# user is not root, an empty bounding set.
	[[ $st == *"Seccomp:	2"* && $st == *"CapBnd:	0000000000000000"* ]] || _explain "status: $st"
	# 4 MiB of data plus headers, then "ok".
	run_cmd cat "$T/c2/result"
	[[ $output == "$((4 * 1024 * 1024 + 2 * 32 + 3)) ok" ]] || _explain "result"
	run_w run c 'echo alive'
	assert_output alive
}

@test "copy: a copy stuck past server.copy_timeout fails with the reason, and the container and connection go on" {
	own_daemon_begin
	wardend_start "{$OWN_POOLS,\"server\":{\"copy_timeout\":1}}"
	local h p
	h=$(w create)
	p=$(w --json info "$h" | jq -r .container_path)
	printf 'payload\n' >"$T/src"
	# A container whose wshd does not answer: the copy's worker waits for it forever.
	STOPPED_PID=$(cat "$p/run/wshd.pid")
	kill -STOP "$STOPPED_PID"
	local t0=$SECONDS
	run_cmd wire send -t 30 "[\"copy\",\"$h\",\"in\",\"$T/src\",\"/tmp/dst\"]\\n[\"ping\"]\\n" -n 2
	assert_success
	assert_line 0 '{"payload":"copy in: timed out after 1 s (server.copy_timeout); DST may hold part of the copy","type":"error"}'
	assert_line 1 '{"payload":"pong","type":"object"}'
	((SECONDS - t0 < 20)) || _explain "the timeout took $((SECONDS - t0)) s"
	assert_grep 'copy in: timed out after 1 s; worker killed' "$WTMP/wardend.log"
	kill -CONT "$STOPPED_PID"
	STOPPED_PID=
	# The same container copies again once its wshd answers.
	run_w copy "$h" in "$T/src" /tmp/dst2
	assert_success
	run_w run "$h" 'cat /tmp/dst2'
	assert_output payload
}
