#!/usr/bin/env bash
# ocikpd against hostile callers (issue 19): rapid reset (CVE-2023-44487),
# a slow serial backend backed up, zero flow-control windows, and SIGTERM
# with idle connections and headers-only streams.  The mock backend with
# mock.sleep_ms stands in for a TPM: called by one thread at a time.
# Bounds are generous (times D_SCALE): a loaded machine must pass.
. "$top_srcdir/tests/lib/common.sh"
t_setup
. "$top_srcdir/tests/daemon/lib.sh"
d_built_or_skip

OPTS='{"symkey":"c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE=","digest":"sha256:00","cipheroptions":{"nonce":"AAAAAAAAAAAAAAAA"}}'
R=$T_TMP/req
mkdir -p "$R"

# Requests: a sample unwrap, and a mock unwrap (mock://k).
d_req "$R/unwrap.json" "$(t_unwrap_request ocikp "$(t_wrap "$OPTS" sample://default)")"
d_req "$R/munwrap.json" "$(t_unwrap_request ocikp "$(t_wrap "$OPTS" mock://k)" mock://k)"
d_exec_answer "$R/unwrap.expect" "$(cat "$R/unwrap.json")"
t_ok $? "the requests are made (exec path)"

# mock_conf DIR SLEEP-MS LOG [MORE-DROP-IN-LINES]: sample plus a slow mock.
mock_conf() {
	cp "$C/50-sample.conf" "$1/"
	printf 'backend = mock\nmodule = ocikp-mock.so\nschemes = mock\nmock.sleep_ms = %s\nmock.log = %s\n%s' \
		"$2" "$3" "${4:-}" > "$1/50-mock.conf"
}
calls() { grep -c '^unwrap ' "$1" 2>/dev/null || echo 0; }

# --- 1. rapid reset: 2 connections x 990 streams of HEADERS + DATA +
# RST_STREAM, against a 15 ms serial backend.  The reset jobs do not run,
# and a sample caller meanwhile is served within its deadline.
C1=$(t_conf_dir)
MLOG1=$T_TMP/mock1.log
mock_conf "$C1" 15 "$MLOG1"
D_CONF=$C1 d_start
t_ok $? "daemon 1: sample and a 15 ms mock"
D1=$D_TARGET D1_PID=$D_PID
d_client flood --target "$D1" --json "$R/munwrap.json" --conns 2 --streams 990 \
	--hold "$(d_scale 4)" > "$T_TMP/flood.out" 2>&1 &
FLOOD=$!
sleep 0.3
ok_if "during a rapid-reset flood a sample UnWrapKey is answered within its 5 s deadline" \
	d_client load --target "$D1" --json "$R/unwrap.json" --expect-json "$R/unwrap.expect" \
	--n 10 --parallel 2 --timeout "$(d_scale 5)"
wait "$FLOOD"
t_diag "flood: $(cat "$T_TMP/flood.out")"
sleep 1
n=$(calls "$MLOG1")
# at most a connection's slots' worth each: a job reset before a worker took it never runs
[ "$n" -le 64 ]
t_ok $? "of 1,980 reset calls the mock ran $n (want <= 64)"
d_alive "$D1_PID"
t_ok $? "daemon 1 is still running"
ok_if "after the flood a mock call is answered" \
	d_client call --target "$D1" --rpc UnWrapKey --json "$R/munwrap.json" --timeout "$(d_scale 5)"
D_PID=$D1_PID d_stop
rc=$?
t_ok "$rc" "after the flood daemon 1 stops on SIGTERM with exit 0 (got $rc; under ASan or valgrind: no error, no leak)"

# --- 2. a slow serial backend backed up: 48 calls to a 500 ms mock,
# abandoned after 3 s, take one worker (its lane), not all 16: sample
# calls meanwhile are answered; the abandoned ones then stop running.
C2=$(t_conf_dir)
MLOG2=$T_TMP/mock2.log
mock_conf "$C2" 500 "$MLOG2"
D_CONF=$C2 d_start
t_ok $? "daemon 2: sample and a 500 ms mock"
D2=$D_TARGET D2_PID=$D_PID
d_client flood --target "$D2" --json "$R/munwrap.json" --conns 2 --streams 24 \
	--grpc-timeout 30S --after 3 --hold 0.5 > "$T_TMP/flood2.out" 2>&1 &
FLOOD=$!
sleep 0.5
ok_if "48 calls queued on the serial mock: 20 sample calls all answered (3 s deadline each)" \
	d_client load --target "$D2" --json "$R/unwrap.json" --expect-json "$R/unwrap.expect" \
	--n 20 --parallel 2 --timeout "$(d_scale 3)"
wait "$FLOOD"
t_diag "flood: $(cat "$T_TMP/flood2.out")"
n1=$(calls "$MLOG2")
sleep "$(d_scale 2)"
n2=$(calls "$MLOG2")
[ "$n2" -le $((n1 + 2)) ] && [ "$n2" -lt 48 ]
t_ok $? "once abandoned, their jobs stop: the mock ran $n1 calls by then, $n2 two seconds later (of 48)"

# Jobs in flight per caller uid are bounded (128): 5 connections x 30
# calls held on the serial mock by one uid get RESOURCE_EXHAUSTED beyond.
d_client flood --target "$D2" --json "$R/munwrap.json" --conns 5 --streams 30 \
	--grpc-timeout 30S --after "$(d_scale 1)" --hold 0.5 > "$T_TMP/flood3.out" 2>&1
grep -Eq 'answers=.*RESOURCE_EXHAUSTED:[0-9]' "$T_TMP/flood3.out"
t_ok $? "150 calls in flight from one uid: those beyond 128 are refused ($(cat "$T_TMP/flood3.out"))"

# --- 3. zero flow-control windows: 16 connections whose answers cannot be
# sent (SETTINGS_INITIAL_WINDOW_SIZE 0, grpc-timeout 1 s) are reset and
# closed by the deadline plus the write grace (2 s), not kept forever.
ok_if "16 zero-window connections are closed within 1 + 2 s (+ slack)" \
	d_client zero-window --target "$D2" --json "$R/unwrap.json" --conns 16 \
	--grpc-timeout 1S --max "$(d_scale 6)" --wait "$(d_scale 15)"
ok_if "then a normal caller is served" \
	d_client call --target "$D2" --rpc UnWrapKey --json "$R/unwrap.json" --timeout "$(d_scale 5)"
D_PID=$D2_PID d_stop
rc=$?
t_ok "$rc" "daemon 2 stops on SIGTERM with exit 0 (got $rc)"

# --- 4. SIGTERM with an idle connection and a headers-only stream: both
# end at once; serve.stop_timeout = 2 bounds the drain anyway (the drop-in
# timeout, 30 s, would be the bound without it).
C4=$(t_conf_dir)
cp "$C/50-sample.conf" "$C4/"
printf 'timeout = 30\nserve.stop_timeout = 2\n' > "$C4/10-serve.conf"
D_CONF=$C4 d_start
t_ok $? "daemon 4: serve.stop_timeout = 2, timeout = 30"
D4=$D_TARGET D4_PID=$D_PID
: > "$T_TMP/hold.out"
d_client hold --target "$D4" --idle 1 --partial 1 --wait "$(d_scale 40)" > "$T_TMP/hold.out" 2>&1 &
HOLD=$!
n=100
while [ "$n" -gt 0 ] && ! grep -q '^ready' "$T_TMP/hold.out"; do sleep 0.1; n=$((n - 1)); done
sleep 0.5
kill -TERM "$D4_PID"
t0=$(date +%s)
# stop_timeout is 2 s; without it the drop-in timeout (30 s) would hold
# the drain, so a bound of 2 + 2 x T_SLACK s (10 natively, at most 25)
# still tells the two apart.
bound=$(( $(d_scale 2 | cut -d. -f1) + 2 * T_SLACK ))
[ "$bound" -le 25 ] || bound=25
d_wait_exit "$D4_PID" "$bound"
rc=$?
t1=$(date +%s)
[ "$rc" -eq 0 ] && [ $((t1 - t0)) -le "$bound" ]
t_ok $? "SIGTERM with an idle connection and a headers-only stream: exit 0 (got $rc) after $((t1 - t0)) s (want <= $bound)"
wait "$HOLD"
t_diag "hold: $(tr '\n' ' ' < "$T_TMP/hold.out")"

printf 'serve.stop_timeout = 0\n' > "$C4/10-serve.conf"
"$OCIKPD" --check --config-dir="$C4" --plugin-dir="$P" > /dev/null 2> "$T_TMP/check.err"
rc=$?
[ "$rc" -eq 6 ] && grep -q 'serve.stop_timeout' "$T_TMP/check.err"
t_ok $? "serve.stop_timeout = 0 is a configuration error (exit $rc: $(head -c 200 "$T_TMP/check.err"))"

t_done
