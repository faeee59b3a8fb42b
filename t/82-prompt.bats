#!/usr/bin/env bats
# The interactive prompt on a real terminal (a pty of a private tmux server): libedit
# line editing, tab completion of commands, options, keywords and the handles the
# daemon lists, the arrow keys recalling history, history kept across runs in
# ~/.warden_history. And bash completion (etc/bash-completion/warden) driven the way
# bash drives it, against the same daemon.

# shellcheck disable=SC2016 # eval strings expanded later
load helpers

setup_file() {
	command -v tmux >/dev/null || skip "no tmux (apt-get install tmux)"
	wardend_start
	"$WARDEN_BIN" -s "$WSOCK" create --handle tabhandle-1 >/dev/null
}

teardown_file() {
	wardend_stop
}

setup() {
	export TMUX_L=wt-$WINSTANCE-$$ PHOME=$WTMP/home-$BATS_TEST_NUMBER
	mkdir -p "$PHOME"
}

teardown() {
	tmux -L "$TMUX_L" kill-server 2>/dev/null || true
}

# prompt_start: warden's prompt in a fresh tmux session, HOME=$PHOME.
prompt_start() {
	tmux -L "$TMUX_L" -f /dev/null new-session -d -x 150 -y 40 \
		env HOME="$PHOME" TERM=xterm "$WARDEN_BIN" -s "$WSOCK"
	wait_for 10 screen_has 'warden>'
}
keys() { tmux -L "$TMUX_L" send-keys "$@"; }
screen() { tmux -L "$TMUX_L" capture-pane -p -S -100; }
screen_has() { screen | grep -qF -- "$1"; }
# wait_screen TEXT: bounded wait for TEXT on the screen; shows the screen if it never comes.
wait_screen() {
	wait_for 10 screen_has "$1" || {
		echo "-- screen:" >&2
		screen >&2
		return 1
	}
}

@test "prompt: tab completes a command and an option; Enter runs it" {
	prompt_start
	keys 'pi' Tab
	wait_screen 'warden> ping'
	keys Enter
	wait_screen pong
	keys 'create --grace-t' Tab
	wait_screen 'warden> create --grace-time'
	keys C-u 'limit tabhandle-1 bandw' Tab
	wait_screen 'warden> limit tabhandle-1 bandwidth'
	keys C-u
}

@test "prompt: tab completes the handles the daemon lists" {
	prompt_start
	keys 'info tabh' Tab
	wait_screen 'warden> info tabhandle-1'
	keys Enter
	wait_screen 'state: active'
}

@test "prompt: up arrow recalls earlier lines, and history survives a restart" {
	prompt_start
	keys 'echo first-line' Enter
	wait_screen 'first-line'
	keys 'echo second-line' Enter
	wait_screen 'second-line'
	keys Up Up Enter
	wait_for 10 eval '[ "$(screen | grep -c "^first-line")" = 2 ]' || { screen >&2; false; }
	keys 'quit' Enter
	wait_for 10 eval '! tmux -L "$TMUX_L" has-session 2>/dev/null'
	run_cmd cat "$PHOME/.warden_history"
	assert_output $'echo first-line\necho second-line\necho first-line\nquit'

	prompt_start
	keys Up Up Enter
	wait_screen 'first-line'
	run_cmd screen
	refute_output_contains '^[[A'
}

@test "prompt: not on a terminal, no prompt and no history" {
	run_cmd env HOME="$PHOME" bash -c "printf 'ping\n' | '$WARDEN_BIN' -s '$WSOCK'"
	assert_success
	assert_output pong
	[[ ! -e $PHOME/.warden_history ]] || _explain "history written without a terminal"
}

# complete_words LINE: what bash completion offers at the end of LINE.
complete_words() {
	# shellcheck disable=SC2034 # read by the assert helpers
	WLAST_CMD="complete: $1"
	run bash -c '
		. "$1"
		read -ra COMP_WORDS <<<"$2"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$2 COMP_POINT=${#2}
		_warden
		printf "%s\n" "${COMPREPLY[@]}"
	' _ "$WARDEN_SRC/etc/bash-completion/warden" "$1"
}

@test "bash completion: commands, options, keywords, and handles from the daemon" {
	PATH=$(dirname "$WARDEN_BIN"):$PATH
	complete_words "warden st"
	assert_output $'stop\nstream\nstdin'
	complete_words "warden re"
	assert_output resize
	complete_words "warden --js"
	assert_output --json
	complete_words "warden -s $WSOCK create --grace"
	assert_output --grace-time
	complete_words "warden -s $WSOCK destroy tab"
	assert_output tabhandle-1
	complete_words "warden --socket $WSOCK info "
	assert_output tabhandle-1
	complete_words "warden -s $WSOCK limit tabhandle-1 cp"
	assert_output $'cpu\ncpuset'
	complete_words "warden -s $WSOCK net tabhandle-1 "
	assert_output $'in\nout'
	complete_words "warden help cr"
	assert_output create
	# The socket from $WARDEN_SOCKET when there is no -s.
	WARDEN_SOCKET=$WSOCK complete_words "warden stop tab"
	assert_output tabhandle-1
}
