# Helpers for ocikpd's tests: start a daemon, talk to it with the
# independent Python client (grpc_client.py).  Source after
# tests/lib/common.sh and t_setup (which give P, C, K: plugin dir, drop-in
# dir with sample and mock, sample key), then call d_built_or_skip.
#
#   OCIKPD          the daemon (default $abs_top_builddir/ocikpd); `make check
#                   OCIKPD_WRAPPER=tests/valgrind/ocikpd-valgrind` sets it
#   D_START_WAIT    seconds d_start waits for the listening lines (default
#                   10, 60 for a wrapped daemon)
#
# D_WRAPPED is yes when OCIKPD is not the plain binary (valgrind): timing
# bounds are then multiplied by D_SCALE and memory figures mean nothing.

T_TOP=$abs_top_builddir
OCIKPD=${OCIKPD:-$T_TOP/ocikpd}
D_WRAPPED=no D_SCALE=1
[ "$OCIKPD" = "$T_TOP/ocikpd" ] || { D_WRAPPED=yes; D_SCALE=5; }
if [ "$D_WRAPPED" = yes ]; then : "${D_START_WAIT:=60}"; else : "${D_START_WAIT:=10}"; fi
D_CLIENT="$top_srcdir/tests/daemon/grpc_client.py"
D_N=0

# Debian's python3 holds grpcio and h2; a python3 earlier in PATH (pyenv,
# a venv) may not.
D_PY=
for py in /usr/bin/python3 python3; do
	if "$py" -c 'import grpc, h2.connection' 2>/dev/null; then D_PY=$py; break; fi
done

# d_built_or_skip [N-TESTS]: without ocikpd built, or without
# python3-grpcio and python3-h2, skip the test (N SKIP lines, or a plan of
# 1..0 without N) and exit; under CI that is a failure instead.
d_built_or_skip() {
	local why=""
	[ -x "$OCIKPD" ] || why="ocikpd not built (configure --enable-daemon)"
	[ -z "$why" ] && [ -z "$D_PY" ] && why="no python3 with grpcio and h2 (python3-grpcio python3-h2)"
	[ -z "$why" ] && return 0
	if [ "${CI:-}" = true ]; then t_ok 1 "$why"; t_done; exit 1; fi
	if [ -z "${1:-}" ]; then echo "1..0 # SKIP $why"; exit 0; fi
	for _ in $(seq "$1"); do t_skip "ocikpd" "$why"; done
	t_done
	exit 0
}

# d_client SUBCOMMAND ARGS...: the Python client; its output on stdout.
d_client() { "$D_PY" "$D_CLIENT" "$@"; }

# d_unwraps N JSON OPTS: N UnWrapKey calls of request JSON to the current
# daemon, each on its own connection; 0 when every one gave OPTS back.
d_unwraps() {
	local i got
	for i in $(seq "$1"); do
		d_client call --target "$D_TARGET" --rpc UnWrapKey --json "$2" \
			--timeout "$(d_scale 20)" \
			> "$T_TMP/answer" 2>&1 || { t_diag "call $i: $(cat "$T_TMP/answer")"; return 1; }
		got=$(t_json_field keyunwrapresults.optsdata < "$T_TMP/answer" | base64 -d)
		[ "$got" = "$3" ] || { t_diag "call $i: $(cat "$T_TMP/answer")"; return 1; }
	done
}

# d_public_scripts: the Python clients copied where a caller of another
# uid can run them (the build tree may be in a 0700 directory, as CI's
# ASan copy is); sets D_PUB to that directory, readable by all.
d_public_scripts() {
	D_PUB=$T_TMP/pub-py
	mkdir -p "$D_PUB"
	cp "$top_srcdir"/tests/daemon/*.py "$D_PUB/"
	chmod 0755 "$D_PUB"; chmod 0644 "$D_PUB"/*.py
	chmod go+x "$T_TMP"
}

# The process state of PID ("Z" for a zombie), empty once it is gone.
d_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null; }

d_alive() { local s; s=$(d_state "$1"); [ -n "$s" ] && [ "$s" != Z ]; }

# d_wait_exit PID SECONDS: waits for our child PID to end; returns its exit
# status, or 124 if it is still running after SECONDS.
d_wait_exit() {
	local pid=$1 n=$(($2 * 10))
	while [ "$n" -gt 0 ] && d_alive "$pid"; do sleep 0.1; n=$((n - 1)); done
	d_alive "$pid" && return 124
	wait "$pid"
}

# d_kill PID: TERM, then KILL after 5 s (the at-exit handler).
d_kill() {
	d_alive "$1" || { wait "$1" 2>/dev/null; return 0; }
	kill -TERM "$1" 2>/dev/null
	d_wait_exit "$1" 5 >/dev/null 2>&1
	[ $? -eq 124 ] && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# d_start ARGS...: runs ocikpd in the background, stderr to a log of its
# own, and waits D_START_WAIT seconds at most for one "listening on" line
# per --listen.
# Without a --listen in ARGS it listens on a fresh unix socket (D_SOCK);
# without --config-dir / --plugin-dir it gets $D_CONF / $D_PLUG (default
# $C / $P, from t_setup).  Sets D_PID, D_LOG, D_LISTEN (the first listener
# as printed), D_TARGET (that, as the client's target), D_TCP (the first TCP
# listener's HOST:PORT, if any).  Returns 1, with the log as a diagnostic,
# if the daemon died or did not say so in time.  Must run in the test's own
# shell (not in $(...)): the daemon is its child.
d_start() {
	local args=("$@") want=0 n=$((D_START_WAIT * 10)) a
	D_N=$((D_N + 1))
	D_LOG="$T_TMP/ocikpd.$D_N.log"
	for a in "${args[@]+"${args[@]}"}"; do
		case $a in --listen=*) want=$((want + 1)) ;; esac
	done
	if [ "$want" -eq 0 ]; then
		D_SOCK="$T_TMP/grpc.sock"
		[ "$D_N" -gt 1 ] && D_SOCK="$T_TMP/grpc-$D_N.sock"
		args+=("--listen=unix:$D_SOCK")
		want=1
	fi
	case " ${args[*]} " in *" --config-dir="*) ;; *) args+=("--config-dir=${D_CONF:-$C}") ;; esac
	case " ${args[*]} " in *" --plugin-dir="*) ;; *) args+=("--plugin-dir=${D_PLUG:-$P}") ;; esac
	"$OCIKPD" "${args[@]}" 2> "$D_LOG" &
	D_PID=$!
	t_at_exit "d_kill $D_PID"
	while [ "$n" -gt 0 ]; do
		[ "$(grep -c '^ocikpd: listening on ' "$D_LOG")" -ge "$want" ] && break
		d_alive "$D_PID" || break
		sleep 0.1
		n=$((n - 1))
	done
	if [ "$(grep -c '^ocikpd: listening on ' "$D_LOG")" -lt "$want" ]; then
		t_diag "ocikpd did not start (pid $D_PID): $(cat "$D_LOG")"
		return 1
	fi
	D_LISTEN=$(sed -n 's/^ocikpd: listening on //p' "$D_LOG" | head -1)
	D_TARGET=$D_LISTEN
	D_TCP=$(sed -n 's/^ocikpd: listening on \([^u].*\)$/\1/p' "$D_LOG" | head -1)
}

# d_tcp_start ARGS...: ocikpd on 127.0.0.1, a free port; D_PORT, D_TARGET.
d_tcp_start() {
	d_start --listen=127.0.0.1:0 "$@" || return 1
	D_PORT=${D_TCP##*:}
	case $D_PORT in
	'' | *[!0-9]*) t_diag "no port in 'listening on $D_LISTEN'"; return 1 ;;
	esac
	D_TARGET="127.0.0.1:$D_PORT"
}

d_log() { echo "$D_LOG"; }

# d_scale X: X (seconds, may be fractional) times D_SCALE.
# ok_if DESC CMD...: one TAP line for a command; its output as diagnostics
# when it fails.
ok_if() {
	local desc=$1 rc=0
	shift
	"$@" > "$T_TMP/ok_if.out" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || t_diag "$desc: $*" "$(cat "$T_TMP/ok_if.out")"
	t_ok "$rc" "$desc"
}

d_scale() { awk -v x="$1" -v s="$D_SCALE" 'BEGIN { print x * s }'; }

# d_stop [SECONDS]: SIGTERM to the current daemon; returns its exit status
# (124 if it did not exit within SECONDS, default 10, and is then killed).
d_stop() {
	local rc=0
	kill -TERM "$D_PID" 2>/dev/null
	d_wait_exit "$D_PID" "${1:-$(d_scale 10)}" || rc=$?
	[ "$rc" -eq 124 ] && kill -KILL "$D_PID" 2>/dev/null
	return "$rc"
}

# d_rss_kb PID / d_fds PID: resident memory (kB) and open descriptors.
d_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
d_fds() { ls "/proc/$1/fd" | wc -l; }

# Requests as files, for the client.  d_req FILE JSON-TEXT
d_req() { printf '%s' "$2" > "$1"; }

# d_exec_answer FILE STDIN ARGS...: what `ocikp` answers (exact stdout) for
# the request, with the drop-ins $D_CONF/$C and plugins $D_PLUG/$P.
d_exec_answer() {
	local f=$1 input=$2
	shift 2
	t_run "$input" --config-dir="${D_CONF:-$C}" --plugin-dir="${D_PLUG:-$P}" "$@"
	cp "$T_TMP/stdout" "$f"
	[ "$T_RC" -eq 0 ]
}
