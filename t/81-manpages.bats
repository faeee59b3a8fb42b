#!/usr/bin/env bats
# The man pages match the code: every option each program's --help prints, every
# command of `warden help` and each command's options, every config key of cfg.c's
# table (with the default the installed warden.conf has), every hook and every
# variable of the hook environment appear in their page. Pages as built in
# $WARDEN_BUILD/doc/man (what make install installs). Needs groff (man-db's).

load helpers

setup() {
	command -v groff >/dev/null || skip "no groff"
	MAN=$WARDEN_BUILD/doc/man
	[[ -f $MAN/warden.1 ]] || _explain "no built man pages in $MAN (make)"
}

# opts_of CMD...: the options CMD... --help prints (--long and -s), one per line.
opts_of() {
	"$@" --help | grep -oE -- '(^|[ [|,])--?[a-zA-Z][a-zA-Z0-9-]*' | sed 's/^[ [|,]//' | sort -u
}

mancheck() {
	# shellcheck disable=SC2034 # read by the assert helpers
	WLAST_CMD="mancheck $*"
	run python3 "$WARDEN_SRC/t/lib/mancheck.py" "$@"
	[[ $status == 0 ]] || _explain "the man page lacks what the code has"
}

@test "wardend(8), wsh(1), wshd(8): every option of --help under OPTIONS" {
	mapfile -t o < <(opts_of "$WARDEND_BIN")
	((${#o[@]} >= 3)) || _explain "parsed too few options from wardend --help: ${o[*]}"
	mancheck "$MAN/wardend.8" OPTIONS --tags "${o[@]}"
	mapfile -t o < <(opts_of "$WARDEN_BUILD/src/wshd/wsh")
	((${#o[@]} >= 6)) || _explain "parsed too few options from wsh --help: ${o[*]}"
	mancheck "$MAN/wsh.1" OPTIONS --tags "${o[@]}"
	mapfile -t o < <(opts_of "$WARDEN_BUILD/src/wshd/wshd")
	((${#o[@]} >= 6)) || _explain "parsed too few options from wshd --help: ${o[*]}"
	mancheck "$MAN/wshd.8" OPTIONS --tags "${o[@]}"
}

@test "warden(1): global options, every command of \`warden help\` and each command's options" {
	mapfile -t o < <("$WARDEN_BIN" --help | sed -n '/^commands:/q;p' |
		grep -oE -- '(^|[ [|,])--?[a-zA-Z][a-zA-Z0-9-]*' | sed 's/^[ [|,]//' | sort -u)
	((${#o[@]} >= 6)) || _explain "parsed too few options from warden --help: ${o[*]}"
	mancheck "$MAN/warden.1" OPTIONS --tags "${o[@]}"
	mapfile -t cmds < <("$WARDEN_BIN" help | awk '/^  [a-z]/ { print $1 }')
	((${#cmds[@]} >= 15)) || _explain "parsed too few commands from warden help: ${cmds[*]}"
	mancheck "$MAN/warden.1" COMMANDS --tags "${cmds[@]}"
	for c in "${cmds[@]}"; do
		mapfile -t o < <("$WARDEN_BIN" "$c" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
		((${#o[@]})) || continue
		mancheck "$MAN/warden.1" COMMANDS "${o[@]}"
	done
}

@test "warden.conf(5): every key of cfg.c's table, with the default of the installed config" {
	mapfile -t keys < <(grep -oE '^ *\{"[a-z_]+", "[a-z_]+", K_' "$WARDEN_SRC/src/wardend/cfg.c" |
		sed -E 's/^ *\{"([a-z_]+)", "([a-z_]+)".*/\1.\2/')
	((${#keys[@]} >= 25)) || _explain "parsed too few keys from cfg.c: ${keys[*]}"
	mancheck "$MAN/warden.conf.5" ALL --tags "${keys[@]}"
	# Defaults: the values etc/warden.conf (made with the same prefix) installs.
	(cd "$WARDEN_BUILD" && make -s etc/warden.conf) >/dev/null
	mapfile -t defs < <(python3 - "$WARDEN_BUILD/etc/warden.conf" <<'PY'
import json, sys
for section, keys in json.load(open(sys.argv[1])).items():
    for k, v in keys.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, list) and v:
            for e in v:  # each element of a non-empty list is shown
                print("%s.%s=%s" % (section, k, e))
            continue
        elif isinstance(v, (list, dict)):
            v = json.dumps(v)
        print("%s.%s=%s" % (section, k, v))
PY
	)
	((${#defs[@]} >= 20)) || _explain "parsed too few values from etc/warden.conf: ${defs[*]}"
	mancheck "$MAN/warden.conf.5" ALL --default "${defs[@]}"
	# Every key of the installed config is one wardend knows.
	for d in "${defs[@]}"; do
		[[ " ${keys[*]} " == *" ${d%%=*} "* ]] || _explain "etc/warden.conf has ${d%%=*}, cfg.c does not"
	done
}

@test "warden-hooks(7): every hook, and every variable setup.sh writes to etc/config" {
	mapfile -t hooks < <(cd "$WARDEN_SRC/hooks" && find . -maxdepth 1 -name '*.sh' | sed 's|^\./||' | sort)
	((${#hooks[@]} >= 10)) || _explain "found too few hooks: ${hooks[*]}"
	mancheck "$MAN/warden-hooks.7" "WHEN EACH HOOK RUNS" --tags "${hooks[@]}"
	mapfile -t vars < <(sed -n '/^for v in /,/; do$/p' "$WARDEN_SRC/hooks/setup.sh" |
		sed -e 's/^for v in //' -e 's/; do$//' -e 's/\\$//' | tr -s ' \t' '\n' | grep -E '^[a-z_]+$')
	((${#vars[@]} >= 20)) || _explain "parsed too few variables from setup.sh: ${vars[*]}"
	mancheck "$MAN/warden-hooks.7" ENVIRONMENT --tags "${vars[@]}" PID
}
