#!/usr/bin/env bash
# ocikpd's gRPC protocol, seen by an independent client (python3-grpcio and
# raw HTTP/2 with python3-h2): the same answers as the exec path, gRPC's
# error cases, concurrency, stalls and disconnects, reloads and shutdown
# under load, logs, listeners, access control, --check, socket activation.
. "$top_srcdir/tests/lib/common.sh"
t_setup
. "$top_srcdir/tests/daemon/lib.sh"
d_built_or_skip

OPTS='{"symkey":"c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE=","digest":"sha256:00","cipheroptions":{"nonce":"AAAAAAAAAAAAAAAA"}}'
ME=$(id -u)
MYGID=$(id -g)
R=$T_TMP/req
mkdir -p "$R"

# Daemon 1: sample and mock, on a unix socket.
if ! d_start; then
	t_ok 1 "ocikpd starts"
	t_done
	exit 1
fi
D1_PID=$D_PID D1_LOG=$D_LOG D1=$D_TARGET D1_SOCK=$D_SOCK
t_ok 0 "ocikpd starts and says 'listening on $D_LISTEN'"

# --- the exec path and gRPC give the same answers ---
d_req "$R/wrap.json" "$(t_wrap_request ocikp "$OPTS" sample://default)"
d_client call --target "$D1" --rpc WrapKey --json "$R/wrap.json" --out "$T_TMP/g-wrap.out" > /dev/null
t_ok $? "WrapKey (sample) answers OK"
d_exec_answer "$T_TMP/x-wrap.out" "$(cat "$R/wrap.json")"
"$D_PY" -c '
import json, sys, base64
g, x = (json.load(open(f)) for f in sys.argv[1:3])
assert list(g) == list(x) == ["keywrapresults"], (g, x)
assert list(g["keywrapresults"]) == list(x["keywrapresults"]) == ["annotation"]
ga, xa = (json.loads(base64.b64decode(d["keywrapresults"]["annotation"])) for d in (g, x))
assert list(ga) == list(xa) == ["key_url", "wrapped_key", "wrap_type"], (ga, xa)
assert ga["key_url"] == xa["key_url"] and ga["wrap_type"] == xa["wrap_type"]
assert len(ga["wrapped_key"]) == len(xa["wrapped_key"])' "$T_TMP/g-wrap.out" "$T_TMP/x-wrap.out" 2> "$T_TMP/py.err"
t_ok $? "WrapKey's answer has the shape of ocikp's (keywrapresults.annotation, the same annotation fields)"
[ -s "$T_TMP/py.err" ] && t_diag "$(cat "$T_TMP/py.err")"
G_ANN=$(t_json_field keywrapresults.annotation < "$T_TMP/g-wrap.out")
X_ANN=$(t_json_field keywrapresults.annotation < "$T_TMP/x-wrap.out")

d_req "$R/unwrap-g.json" "$(t_unwrap_request ocikp "$G_ANN")"
d_req "$R/unwrap-x.json" "$(t_unwrap_request ocikp "$X_ANN")"
d_client call --target "$D1" --rpc UnWrapKey --json "$R/unwrap-g.json" --out "$T_TMP/g-unwrap.out" > /dev/null &&
	[ "$(t_json_field keyunwrapresults.optsdata < "$T_TMP/g-unwrap.out" | base64 -d)" = "$OPTS" ]
t_ok $? "UnWrapKey of a gRPC-made annotation gives back the optsdata"
d_exec_answer "$T_TMP/x-unwrap-g.out" "$(cat "$R/unwrap-g.json")" && cmp -s "$T_TMP/x-unwrap-g.out" "$T_TMP/g-unwrap.out"
t_ok $? "ocikp (exec) opens the gRPC-made annotation, byte-identical answer"
d_exec_answer "$T_TMP/x-unwrap-x.out" "$(cat "$R/unwrap-x.json")"
d_client call --target "$D1" --rpc UnWrapKey --json "$R/unwrap-x.json" --out "$T_TMP/g-unwrap-x.out" > /dev/null &&
	cmp -s "$T_TMP/x-unwrap-x.out" "$T_TMP/g-unwrap-x.out"
t_ok $? "UnWrapKey opens an exec-made annotation, byte-identical to ocikp's answer"
cp "$T_TMP/x-unwrap-x.out" "$R/unwrap-x.expect"

# mock: its own answer format through both paths
d_req "$R/mwrap.json" "$(t_wrap_request ocikp "$OPTS" mock://k)"
d_client call --target "$D1" --rpc WrapKey --json "$R/mwrap.json" --out "$T_TMP/g-mwrap.out" > /dev/null &&
	d_exec_answer "$T_TMP/x-mwrap.out" "$(cat "$R/mwrap.json")" && cmp -s "$T_TMP/g-mwrap.out" "$T_TMP/x-mwrap.out"
t_ok $? "WrapKey (mock, deterministic) byte-identical to ocikp's answer"

# --- the rpc must match the op ---
ok_if "WrapKey with op keyunwrap: INVALID_ARGUMENT naming both" \
	d_client call --target "$D1" --rpc WrapKey --json "$R/unwrap-x.json" --expect-code INVALID_ARGUMENT \
	--expect-message-re '^ocikp: request: op keyunwrap sent to the WrapKey call$'
ok_if "UnWrapKey with op keywrap: INVALID_ARGUMENT" \
	d_client call --target "$D1" --rpc UnWrapKey --json "$R/wrap.json" --expect-code INVALID_ARGUMENT \
	--expect-message-re '^ocikp: request: op keywrap sent to the UnWrapKey call$'

# --- gRPC's own error cases ---
ok_if "unknown method of the service: UNIMPLEMENTED" \
	d_client method --target "$D1" --path /keyprovider.KeyProviderService/Frob
ok_if "unknown service: UNIMPLEMENTED" d_client method --target "$D1" --path /x.Y/Z
ok_if "a 2 MiB message (grpcio, no client limit): RESOURCE_EXHAUSTED" \
	d_client oversize --target "$D1"
ok_if "a length prefix of 2 MiB (raw): RESOURCE_EXHAUSTED before the body" \
	d_client oversize --target "$D1" --raw --timeout 5
ok_if "compressed flag with grpc-encoding gzip: UNIMPLEMENTED" \
	d_client compressed-flag --target "$D1" --timeout 5
ok_if "content-type text/plain: HTTP 415" d_client badct --target "$D1" --timeout 5
ok_if "a request without grpc-timeout, raw HTTP/2: OK" \
	d_client raw --target "$D1" --rpc UnWrapKey --json "$R/unwrap-x.json"
d_req "$R/op-utf8.json" '{"op":"clé 100%"}'
d_client raw --target "$D1" --rpc UnWrapKey --json "$R/op-utf8.json" --expect-code INVALID_ARGUMENT \
	--expect-message-re "^ocikp: request: unknown op 'clé 100%'\$" > "$T_TMP/pct.out" &&
	grep -Eq "raw_message=ocikp: request: unknown op 'cl%[cC]3%[aA]9 100%25'( |\$)" "$T_TMP/pct.out"
rc=$?
[ "$rc" -eq 0 ] || t_diag "$(cat "$T_TMP/pct.out")"
t_ok "$rc" "grpc-message percent-encoded on the wire (UTF-8 and '%'), the exec line once decoded"
ok_if "64 concurrent UnWrapKey calls on 8 connections, all the right answer" \
	d_client concurrent --target "$D1" --json "$R/unwrap-x.json" --expect-json "$R/unwrap-x.expect" --n 64 --channels 8
ok_if "64 concurrent UnWrapKey calls on one connection, all the right answer" \
	d_client concurrent --target "$D1" --json "$R/unwrap-x.json" --expect-json "$R/unwrap-x.expect" --n 64 --channels 1

# --- a client that goes away mid-request ---
d_client disconnect --target "$D1" > /dev/null && sleep 0.3 && d_alive "$D1_PID" &&
	d_client call --target "$D1" --rpc UnWrapKey --json "$R/unwrap-x.json" > /dev/null
t_ok $? "a client closing mid-message: the daemon stays up, the next call works"
d_client disconnect --target "$D1" --linger > /dev/null && sleep 0.3 && d_alive "$D1_PID" &&
	d_client call --target "$D1" --rpc UnWrapKey --json "$R/unwrap-x.json" > /dev/null
t_ok $? "a client resetting the connection mid-message: the daemon stays up, the next call works"

# --- SIGHUP ---
d_client load --target "$D1" --json "$R/unwrap-x.json" --expect-json "$R/unwrap-x.expect" \
	--duration 4 --parallel 2 > "$T_TMP/hup.load" 2>&1 &
LOAD=$!
sleep 0.7
for i in 1 2 3 4 5; do kill -HUP "$D1_PID"; sleep 0.4; done
wait "$LOAD"
rc=$?
[ "$rc" -eq 0 ] || t_diag "$(cat "$T_TMP/hup.load")"
t_ok "$rc" "5 SIGHUPs under load (2 clients, 4 s): no call fails ($(head -1 "$T_TMP/hup.load"))"
n=$(grep -c '^ocikpd: configuration reloaded' "$D1_LOG")
[ "$n" -eq 5 ]
t_ok $? "one 'configuration reloaded' line per SIGHUP ($n)"

# hup: SIGHUP and wait (5 s at most) for one more reload line.
hup() {
	local before n=50
	before=$(grep -c '^ocikpd: configuration reloaded' "$D1_LOG")
	kill -HUP "$D1_PID"
	while [ "$n" -gt 0 ] && [ "$(grep -c '^ocikpd: configuration reloaded' "$D1_LOG")" -le "$before" ]; do
		sleep 0.1; n=$((n - 1))
	done
	[ "$n" -gt 0 ]
}
printf 'backend = sample\nenabled = no\n' > "$C/90-off.conf"
d_client call --target "$D1" --rpc WrapKey --json "$R/wrap.json" > /dev/null
t_ok $? "a drop-in added without SIGHUP changes nothing yet"
hup && d_client call --target "$D1" --rpc WrapKey --json "$R/wrap.json" --expect-code INVALID_ARGUMENT \
	--expect-message-re "no backend for scheme 'sample'" > "$T_TMP/off.out"
rc=$?
[ "$rc" -eq 0 ] || t_diag "$(cat "$T_TMP/off.out")"
t_ok "$rc" "after SIGHUP, 'enabled = no' for sample takes effect (wrap refused)"
rm -f "$C/90-off.conf"
hup && d_client call --target "$D1" --rpc WrapKey --json "$R/wrap.json" > /dev/null
t_ok $? "the drop-in removed and SIGHUP: sample wraps again"
d_alive "$D1_PID"
t_ok $? "the daemon is still the same process after the reloads"

# --- logs: one line per request, the caller's uid, no secret ---
grep -Eq "^ocikpd: UnWrapKey backend=sample status=OK ms=[0-9.]+ uid=$ME gid=$MYGID\$" "$D1_LOG"
t_ok $? "a log line per request: rpc, backend, status, ms, uid=$ME gid=$MYGID"
grep -Eq "^ocikpd: WrapKey .*status=INVALID_ARGUMENT .*uid=$ME gid=$MYGID.*: ocikp: request: op keyunwrap sent to the WrapKey call\$" "$D1_LOG"
t_ok $? "a failed request's log line carries the status and the error line"
"$D_PY" - "$D1_LOG" "$K" "$OPTS" <<'EOF'
import sys, base64, binascii
log = open(sys.argv[1], 'rb').read()
key = open(sys.argv[2], 'rb').read()
opts = sys.argv[3].encode()
secrets = [key, base64.b64encode(key), binascii.hexlify(key), opts,
           base64.b64encode(opts), b'c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE=',
           b'secret-layer-key']
hits = [s[:16] for s in secrets if s in log]
if hits:
    sys.exit('secret in the log: %r' % hits)
EOF
t_ok $? "the log holds neither the key, the optsdata nor the layer key (any encoding)"

# --- deadlines (daemon 2: mock sleeps 1 s, deaf to the deadline) ---
C2=$(t_conf_dir)
cp "$C/50-sample.conf" "$C2/"
MLOG=$T_TMP/mock2.log
printf 'backend = mock\nmodule = ocikp-mock.so\nschemes = mock\nmock.sleep_ms = 1000\nmock.log = %s\n' "$MLOG" > "$C2/50-mock.conf"
D_CONF=$C2 d_start
t_ok $? "a second daemon, the mock sleeping 1 s"
D2_PID=$D_PID D2=$D_TARGET
MANN=$(t_json_field keywrapresults.annotation < "$T_TMP/g-mwrap.out")
d_req "$R/munwrap.json" "$(t_unwrap_request ocikp "$MANN" mock://k)"
ok_if "grpc-timeout 300m on a 1 s backend call: the server's DEADLINE_EXCEEDED within 0.2-1 s" \
	d_client raw --target "$D2" --rpc UnWrapKey --json "$R/munwrap.json" --grpc-timeout 300m \
	--expect-code DEADLINE_EXCEEDED --min 0.2 --max "$(d_scale 1.0)" --timeout "$(d_scale 5)"
ok_if "the grpcio client sees DEADLINE_EXCEEDED too" \
	d_client call --target "$D2" --rpc UnWrapKey --json "$R/munwrap.json" --timeout 0.3 --expect-code DEADLINE_EXCEEDED
sleep 1.5
d_exec_answer "$R/munwrap.expect" "$(cat "$R/munwrap.json")" --config-dir="$C2"
ok_if "the slow backend answers a call with time enough" \
	d_client call --target "$D2" --rpc UnWrapKey --json "$R/munwrap.json" --timeout 10

# A slow backend call holds neither the accept loop nor other backends.
calls=$(grep -c '' "$MLOG")
d_client call --target "$D2" --rpc UnWrapKey --json "$R/munwrap.json" --timeout 10 > "$T_TMP/slow.out" 2>&1 &
SLOW=$!
n=100
while [ "$n" -gt 0 ] && [ "$(grep -c '' "$MLOG")" -le "$calls" ]; do sleep 0.1; n=$((n - 1)); done
ok_if "while the mock sleeps in a call, a sample call on a new connection is answered within 0.5 s" \
	d_client raw --target "$D2" --rpc UnWrapKey --json "$R/unwrap-x.json" --max "$(d_scale 0.5)"
wait "$SLOW"
t_ok $? "... and the slow call gets its answer too"

# --- SIGTERM: the call running finishes, the two waiting for the serial
# backend are refused (UNAVAILABLE, not started: safe to retry), exit 0 ---
sleep 1
calls=$(grep -c '' "$MLOG")
d_client concurrent --target "$D2" --json "$R/munwrap.json" --expect-json "$R/munwrap.expect" \
	--n 3 --channels 3 --timeout 20 --allow-refused > "$T_TMP/term.out" 2>&1 &
CONC=$!
# the first of them in the backend (the others queued behind it: the mock
# is called by one thread at a time)
n=100
while [ "$n" -gt 0 ] && [ "$(grep -c '' "$MLOG")" -le "$calls" ]; do sleep 0.1; n=$((n - 1)); done
sleep 0.3
kill -TERM "$D2_PID"
t0=$(date +%s)
d_wait_exit "$D2_PID" "$(d_scale 15)"
rc=$?
t1=$(date +%s)
t_ok "$rc" "SIGTERM with 3 slow calls in flight: exit 0 (after $((t1 - t0)) s, want <= 15)"
wait "$CONC"
rc=$?
[ "$rc" -eq 0 ] || t_diag "$(cat "$T_TMP/term.out")"
t_ok "$rc" "of the 3 calls in flight at SIGTERM the running one got its answer, the others UNAVAILABLE 'safe to retry' ($(head -1 "$T_TMP/term.out"))"
[ ! -e "${D2#unix:}" ]
t_ok $? "the socket file is removed at exit"

# SIGTERM under a steady load: every call either answered or refused at
# connect (the daemon gone), none cut off.  A stream refused by GOAWAY
# (REFUSED_STREAM, "GOAWAY received") or UNAVAILABLE "safe to retry" was
# not processed: the client retries it, and only other errors fail.
D_CONF=$C2 d_start
D3_PID=$D_PID D3=$D_TARGET
d_client load --target "$D3" --json "$R/unwrap-x.json" --expect-json "$R/unwrap-x.expect" \
	--duration 8 --parallel 2 --until-gone > "$T_TMP/term2.load" 2>&1 &
LOAD=$!
sleep 1.5
kill -TERM "$D3_PID"
d_wait_exit "$D3_PID" "$(d_scale 10)"
t_ok $? "SIGTERM under load: exit 0 within 10 s"
wait "$LOAD"
rc=$?
[ "$rc" -eq 0 ] || t_diag "$(cat "$T_TMP/term2.load")"
t_ok "$rc" "SIGTERM under load: no call failed but those refused unprocessed or after the exit ($(head -1 "$T_TMP/term2.load"))"

# --- a client that stalls (daemon 4: drop-in timeout = 2) ---
C4=$(t_conf_dir)
cp "$C/50-sample.conf" "$C4/"
printf 'timeout = 2\n' > "$C4/10-timeout.conf"
D_CONF=$C4 d_start
D4=$D_TARGET D4_PID=$D_PID
d_client stall --target "$D4" --wait "$(d_scale 8)" --close-wait "$(d_scale 3)" --min 1.5 --max "$(d_scale 4.5)" > "$T_TMP/stall.out"
rc=$?
t_diag "stall: $(tr '\n' ' ' < "$T_TMP/stall.out")"
t_ok "$rc" "a stream stalled mid-message is ended 1.5-4.5 s in (drop-in timeout = 2)"
grep -Eq 'status=DEADLINE_EXCEEDED' "$T_TMP/stall.out"
t_ok $? "... with DEADLINE_EXCEEDED"
grep -Eq 'closed=' "$T_TMP/stall.out"
t_ok $? "... and the connection, left without a stream, is closed"
d_alive "$D4_PID" && d_client call --target "$D4" --rpc UnWrapKey --json "$R/unwrap-x.json" > /dev/null
t_ok $? "after the stall the daemon serves the next call"

# --- TCP ---
if d_tcp_start; then
	D5_LOG=$D_LOG
	ok_if "TCP listener on 127.0.0.1:0 (port $D_PORT) answers UnWrapKey" \
		d_client call --target "$D_TARGET" --rpc UnWrapKey --json "$R/unwrap-x.json"
	grep -Eq '^ocikpd: UnWrapKey backend=sample status=OK ms=[0-9.]+ uid=- gid=-$' "$D5_LOG"
	t_ok $? "over TCP the log says uid=- gid=-"
else
	t_ok 1 "TCP listener on 127.0.0.1:0"
	t_ok 1 "over TCP the log says uid=- gid=-"
fi

timeout 10 "$OCIKPD" --listen=0.0.0.0:0 --config-dir="$C" --plugin-dir="$P" 2> "$T_TMP/remote.err"
rc=$?
[ "$rc" -eq 6 ] && [ "$(grep -c '' "$T_TMP/remote.err")" -eq 1 ] && grep -Eq '^ocikpd?: .*serve.allow_remote' "$T_TMP/remote.err"
t_ok $? "--listen=0.0.0.0:0 without serve.allow_remote: exit 6 (got $rc), one line: $(head -c 200 "$T_TMP/remote.err")"
C6=$(t_conf_dir)
cp "$C/50-sample.conf" "$C6/"
printf 'serve.allow_remote = yes\n' > "$C6/10-serve.conf"
if D_CONF=$C6 d_start --listen=0.0.0.0:0; then
	t_ok 0 "--listen=0.0.0.0:0 with serve.allow_remote = yes: listening on $D_LISTEN"
	grep -qi 'authenticat' "$D_LOG"
	t_ok $? "... with a warning that the protocol has no authentication"
	d_stop
else
	t_ok 1 "--listen=0.0.0.0:0 with serve.allow_remote = yes"
	t_ok 1 "... with a warning"
fi

# --- serve.allow_users / allow_groups ---
other=$((ME == 4242 ? 4243 : 4242))
allow_case() {	# allow_case DESC LINE EXPECT-CODE
	local d
	d=$(t_conf_dir)
	cp "$C/50-sample.conf" "$d/"
	printf '%s\n' "$2" > "$d/10-serve.conf"
	if D_CONF=$d d_start; then
		ok_if "$1" d_client call --target "$D_TARGET" --rpc UnWrapKey --json "$R/unwrap-x.json" --expect-code "$3"
		d_stop
	else
		t_ok 1 "$1 (daemon did not start)"
	fi
}
# a refused caller is closed at accept (a GOAWAY): the client says UNAVAILABLE
allow_case "serve.allow_users = $other (another uid): refused (UNAVAILABLE)" "serve.allow_users = $other" UNAVAILABLE
allow_case "serve.allow_users = $other $ME: OK" "serve.allow_users = $other $ME" OK
allow_case "serve.allow_users = $(id -un) (by name): OK" "serve.allow_users = $(id -un)" OK
allow_case "serve.allow_groups = $other only: refused (UNAVAILABLE)" "serve.allow_groups = $other" UNAVAILABLE
allow_case "serve.allow_groups = $MYGID: OK" "serve.allow_groups = $MYGID" OK
grep -Eq '^ocikpd: refused a connection: uid '"$ME"' ' "$T_TMP"/ocikpd.*.log
t_ok $? "a refused caller is logged with its uid"

# --- the socket's mode ---
mode=$(stat -c '%a %G' "$D1_SOCK")
if getent group ocikp > /dev/null; then
	[ "$mode" = "660 ocikp" ]
	t_ok $? "group ocikp exists: socket mode 0660, group ocikp ($mode)"
else
	[ "${mode%% *}" = 600 ]
	t_ok $? "no group ocikp: socket mode 0600 ($mode)"
	grep -i 'warning' "$D1_LOG" | grep -q ocikp
	t_ok $? "... and a warning saying so"
fi

# --- --check ---
"$OCIKPD" --check --config-dir="$C" --plugin-dir="$P" > "$T_TMP/check.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && grep -Eq '^ocikpd: configuration ok \([0-9]+ backends?[,)]' "$T_TMP/check.out"
t_ok $? "--check: exit 0 (got $rc), 'configuration ok (N backends)': $(head -c 200 "$T_TMP/check.out")"
C7=$(t_conf_dir)
printf 'backend = sample\nmodule = ocikp-sample.so\nschemes = sample\nthis line is wrong\n' > "$C7/50-sample.conf"
"$OCIKPD" --check --config-dir="$C7" --plugin-dir="$P" > "$T_TMP/check.out" 2>&1
rc=$?
[ "$rc" -eq 6 ] && [ "$(grep -c '' "$T_TMP/check.out")" -eq 1 ] &&
	grep -q "50-sample.conf:4: expected 'key = value'" "$T_TMP/check.out"
t_ok $? "--check with a broken drop-in: exit 6 (got $rc), the error line: $(head -c 200 "$T_TMP/check.out")"

# --- socket activation ---
if command -v systemd-socket-activate > /dev/null; then
	ACT=$T_TMP/act.sock
	systemd-socket-activate -l "$ACT" "$OCIKPD" --config-dir="$C" --plugin-dir="$P" \
		2> "$T_TMP/act.log" &
	APID=$!
	t_at_exit "d_kill $APID"
	n=100
	while [ "$n" -gt 0 ] && [ ! -S "$ACT" ]; do sleep 0.1; n=$((n - 1)); done
	ok_if "socket activation (systemd-socket-activate): a call over the passed socket works" \
		d_client call --target "unix:$ACT" --rpc UnWrapKey --json "$R/unwrap-x.json"
	grep -q "^ocikpd: listening on .*act.sock" "$T_TMP/act.log"
	t_ok $? "... and the daemon names the socket it was given: $(grep 'listening' "$T_TMP/act.log")"
	kill -TERM "$APID"
	d_wait_exit "$APID" 10
	t_ok $? "... SIGTERM: exit 0"
else
	t_skip "socket activation" "no systemd-socket-activate"
fi

# --- the first daemon served everything above without a restart ---
d_alive "$D1_PID" && d_client call --target "$D1" --rpc UnWrapKey --json "$R/unwrap-x.json" > /dev/null
t_ok $? "daemon 1 still serves after all of it"
D_PID=$D1_PID
d_stop
t_ok $? "daemon 1: SIGTERM, exit 0"
t_done
[ "$T_FAILED" -eq 0 ]
