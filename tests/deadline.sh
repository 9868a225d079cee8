#!/usr/bin/env bash
# The request's time budget (drop-in `timeout`): a backend deaf to it is
# ended by the backstop, one that listens says why itself, a backend's own
# timeout only shortens it, and a stdin never closed is bounded too.
. "$top_srcdir/tests/lib/common.sh"
t_setup
OPTS='{"symkey":"c2VjcmV0","digest":"sha256:00"}'
REQ=$(t_wrap_request ocikp "$OPTS" mock://k)

# A drop-in dir with the mock backend; "timeout = N" lines go first (global),
# then the mock section with the extra lines given.
conf() {	# conf GLOBAL-LINES MOCK-LINES : prints the dir
	local d
	d=$(t_conf_dir)
	printf '%s' "$1" > "$d/10-global.conf"
	printf 'backend = mock\nmodule = ocikp-mock.so\nschemes = mock\n%s' "$2" > "$d/50-mock.conf"
	echo "$d"
}

# timed DIR ARGS... : runs ocikp on $REQ like t_run; T_MS is the wall time.
timed() {
	local dir=$1 t0
	shift
	printf '%s' "$REQ" > "$T_TMP/stdin"
	t0=$(date +%s%N)
	OCIKP_CONFIG_DIR="$dir" "$OCIKP" "$@" < "$T_TMP/stdin" > "$T_TMP/stdout" 2> "$T_TMP/stderr"
	T_RC=$?
	T_MS=$((($(date +%s%N) - t0) / 1000000))
	T_OUT=$(cat "$T_TMP/stdout")
	T_ERR=$(cat "$T_TMP/stderr")
}

# one_line RC ERE MIN-MS MAX-MS: the outcome of the last timed run; MAX-MS
# is for an idle machine, scaled by T_SLACK (the mock sleeps far longer).
one_line() {
	local lines
	lines=$(printf '%s' "$T_ERR" | grep -c '' || true)
	if [ "$T_RC" -eq "$1" ] && [ -z "$T_OUT" ] && [ "$lines" -eq 1 ] &&
	   printf '%s' "$T_ERR" | grep -Eq -- "$2" && [ "$T_MS" -ge "$3" ] && [ "$T_MS" -lt "$(t_slack "$4")" ]; then
		return 0
	fi
	t_diag "want exit $1, one line /$2/, $3..$(t_slack "$4") ms" "got exit $T_RC, $T_MS ms, stdout [${T_OUT:0:100}]" "stderr [$T_ERR]"
	return 1
}

# A backend that sleeps through the deadline: the backstop ends the
# process one grace second after it, naming the backend and the timeout.
timed "$(conf 'timeout = 1
' 'mock.sleep_ms = 120000
')"
one_line 5 "^ocikp: mock: timed out: no answer within the time budget of 1 s \(drop-in 'timeout'\)$" 1000 3000
t_ok $? "deaf backend: exit 5 within timeout + grace, one line naming the backend and the timeout, no stdout"

# A backend that waits only until the deadline reports its own failure.
timed "$(conf 'timeout = 1
' 'mock.sleep_ms = 120000
mock.honour_deadline = yes
')"
one_line 5 "^ocikp: mock: mock gave up: the deadline came after [0-9]+ of 120000 ms$" 500 1900
t_ok $? "backend that honours the deadline: its own message, not the backstop's"

# The backend's own timeout (in its section) shortens the request's.
timed "$(conf 'timeout = 5
' 'timeout = 1
mock.sleep_ms = 120000
')"
one_line 5 "^ocikp: mock: timed out: no answer within the time budget of 1 s" 1000 3000
t_ok $? "a backend's own timeout shortens the budget (1 s of 5): ended after it, named"

# deadline_ms as a backend sees it: positive, at most the budget.
left() {	# left GLOBAL-LINES MOCK-LINES : prints deadline_ms of one wrap
	local d
	d=$(conf "$1" "$2mock.log = $T_TMP/log
")
	rm -f "$T_TMP/log"
	timed "$d"
	[ "$T_RC" -eq 0 ] && awk '$1 == "wrap" { print $3 }' "$T_TMP/log"
}
ms=$(left '' '')
[ -n "$ms" ] && [ "$ms" -gt 0 ] && [ "$ms" -le 60000 ]
t_ok $? "deadline_ms without a timeout: 0 < $ms <= 60000 (the default)"
ms=$(left 'timeout = 2
' '')
[ -n "$ms" ] && [ "$ms" -gt 0 ] && [ "$ms" -le 2000 ]
t_ok $? "deadline_ms with timeout = 2: 0 < $ms <= 2000"
ms=$(left 'timeout = 3
' 'timeout = 1
')
[ -n "$ms" ] && [ "$ms" -gt 0 ] && [ "$ms" -le 1000 ]
t_ok $? "deadline_ms with the backend's timeout = 1 under a global 3: 0 < $ms <= 1000"
ms=$(left 'timeout = 1
' 'timeout = 5
')
[ -n "$ms" ] && [ "$ms" -gt 0 ] && [ "$ms" -le 1000 ]
t_ok $? "a backend's timeout never lengthens the budget (5 under a global 1): $ms <= 1000"

# A writer that never closes stdin: the same budget ends the read.
d=$(conf 'timeout = 1
' '')
python3 - "$OCIKP" "$d" "$REQ" > "$T_TMP/stdin.out" <<'PY'
import os, subprocess, sys, time
env = dict(os.environ, OCIKP_CONFIG_DIR=sys.argv[2])
# t0 before the start: ocikp's budget runs from its own start, which a busy
# machine may put well before Popen returns
t0 = time.monotonic()
p = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, env=env)
p.stdin.write(sys.argv[3][:40].encode())
p.stdin.flush()
try:
    p.wait(timeout=120)  # stdin still open (communicate would close it)
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
ms = int((time.monotonic() - t0) * 1000)
out, err = p.stdout.read(), p.stderr.read()
print(p.returncode)
print(ms)
print(len(out))
print(err.decode().rstrip("\n"))
PY
{ read -r rc; read -r ms; read -r n; err=$(cat); } < "$T_TMP/stdin.out"
[ "$rc" = 5 ] && [ "$ms" -ge 1000 ] && [ "$ms" -lt "$(t_slack 3000)" ] && [ "$n" = 0 ] &&
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
	printf '%s' "$err" | grep -Eq "^ocikp: request: stdin not closed within the time budget"
t_ok $? "stdin never closed: exit 5 after the budget, one line naming the cause ($rc, $ms ms)"
t_done
[ "$T_FAILED" -eq 0 ]
