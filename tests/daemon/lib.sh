# ocikpd for the daemon tests: started by the test on its own socket, with
# its stderr in a log, killed at exit.  (The lead's minimal version; the
# protocol tests extend it.)

# A python3 with grpcio: Debian's, even when another python3 is first in PATH.
D_PY=python3
python3 -c 'import grpc' 2>/dev/null || D_PY=/usr/bin/python3

d_built_or_skip() {	# d_built_or_skip N-TESTS
	local why=""
	[ -x "$abs_top_builddir/ocikpd" ] || why="ocikpd not built (configure --enable-daemon)"
	[ -z "$why" ] && ! $D_PY -c 'import grpc, h2' 2>/dev/null && why="python3-grpcio or python3-h2 missing"
	[ -z "$why" ] && return 0
	if [ "${CI:-}" = true ]; then t_ok 1 "$why"; t_done; exit 1; fi
	for _ in $(seq "$1"); do t_skip "ocikpd" "$why"; done
	t_done
	exit 0
}

# d_start ARGS...: ocikpd with ARGS (and the test's --config-dir/--plugin-dir
# unless ARGS name them); waits for its listening lines.  Sets D_PID, D_LOG,
# D_TCP (HOST:PORT of a TCP listener, if any).
d_start() {
	local i args=("$@")
	D_LOG=$(mktemp "$T_TMP/ocikpd.XXXXXX.log")
	case " ${args[*]} " in *" --config-dir="*) ;; *) args+=("--config-dir=$C") ;; esac
	case " ${args[*]} " in *" --plugin-dir="*) ;; *) args+=("--plugin-dir=$P") ;; esac
	"${OCIKPD:-$abs_top_builddir/ocikpd}" "${args[@]}" 2> "$D_LOG" &
	D_PID=$!
	t_at_exit "kill $D_PID 2>/dev/null"
	for i in $(seq 100); do
		grep -q "^ocikpd: listening on" "$D_LOG" && break
		kill -0 "$D_PID" 2>/dev/null || break
		sleep 0.1
	done
	D_TCP=$(sed -n 's/^ocikpd: listening on \([^u].*\)$/\1/p' "$D_LOG" | head -1)
	grep -q "^ocikpd: listening on" "$D_LOG" || { t_diag "$(cat "$D_LOG")"; return 1; }
}
