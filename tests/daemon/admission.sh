#!/usr/bin/env bash
# ocikpd against hostile local callers (issue 19): the allow lists see the
# caller's whole group list and act at accept, before a refused caller
# holds anything; one caller cannot take every connection or the whole
# request-byte budget; log lines escape what a caller wrote; the allow
# lists' errors name the drop-in line; an unsafe socket directory is
# refused; no key material stays in the daemon's memory after the answer.
# Callers run as uid 65534 (setpriv); the test runs as root.
. "$top_srcdir/tests/lib/common.sh"
t_setup
. "$top_srcdir/tests/daemon/lib.sh"
d_built_or_skip

if [ "$(id -u)" != 0 ] || ! command -v setpriv > /dev/null; then
	echo "1..0 # SKIP needs root and setpriv (callers run as uid 65534)"
	exit 0
fi

OPTS='{"symkey":"c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE=","digest":"sha256:00","cipheroptions":{"nonce":"AAAAAAAAAAAAAAAA"}}'
d_public_scripts
FLOOD="$D_PUB/flood.py"
NOBODY=(setpriv --reuid=65534 --regid=65534)
chmod 0711 "$T_TMP"	# the sockets in it, for uid 65534
PUB=$T_TMP/pub
mkdir -m 0755 "$PUB"
ANN=$(t_wrap "$OPTS" sample://default)
d_req "$PUB/unwrap.json" "$(t_unwrap_request ocikp "$ANN")"
chmod 0644 "$PUB/unwrap.json"
FL=$T_TMP/flood	# where flood.py, as uid 65534, says it is ready
mkdir -m 0700 "$FL"
chown 65534 "$FL"

# serve_conf LINE...: a drop-in dir with sample and those serve.* lines.
serve_conf() {
	local d
	d=$(t_conf_dir)
	cp "$C/50-sample.conf" "$d/"
	printf '%s\n' "$@" > "$d/10-serve.conf"
	echo "$d"
}

# start_open CONF-DIR: ocikpd on a socket uid 65534 may open (the mode is
# the admin's business; the allow lists are what is tested).
start_open() {
	D_CONF=$1 d_start || return 1
	chmod 0666 "$D_SOCK"
}

# call_as WHO EXPECT-CODE [CLIENT-ARGS...]: UnWrapKey as root or as uid
# 65534 (with the setpriv group options in NOBODY_GROUPS).
call_as() {
	local who=$1 code=$2
	shift 2
	if [ "$who" = root ]; then
		d_client call --target "$D_TARGET" --rpc UnWrapKey --json "$PUB/unwrap.json" \
			--expect-code "$code" --timeout "$(d_scale 20)" "$@"
	else
		"${NOBODY[@]}" "${NOBODY_GROUPS[@]}" "$D_PY" "$D_PUB/grpc_client.py" call --target "$D_TARGET" \
			--rpc UnWrapKey --json "$PUB/unwrap.json" --expect-code "$code" \
			--timeout "$(d_scale 20)" "$@"
	fi
}

# stop_ok: SIGTERM, exit 0 (under valgrind: no memory error, no leak).
stop_ok() {
	local rc=0
	d_stop || rc=$?
	[ "$rc" -eq 0 ] || t_diag "$(tail -n 20 "$D_LOG")"
	t_ok "$rc" "ocikpd $D_N: SIGTERM, exit 0 (got $rc)"
}

# flood MODE ARGS...: flood.py as uid 65534 in the background (FLOOD_PID);
# waits for its "ready" line (FLOOD_SAID).
flood() {
	local mode=$1 n
	shift
	rm -f "$FL/ready"
	"${NOBODY[@]}" --clear-groups "$D_PY" "$FLOOD" "$mode" --target "unix:$D_SOCK" \
		--ready "$FL/ready" --hold "$(d_scale 60)" "$@" 2> "$FL/err" &
	FLOOD_PID=$!
	t_at_exit "kill $FLOOD_PID 2>/dev/null"
	n=$(($(d_scale 60) * 10))
	while [ ! -s "$FL/ready" ] && [ "$n" -gt 0 ] && kill -0 "$FLOOD_PID" 2>/dev/null; do
		sleep 0.1
		n=$((n - 1))
	done
	FLOOD_SAID=$(cat "$FL/ready" 2>/dev/null)
	[ -n "$FLOOD_SAID" ] || t_diag "flood.py $mode did not get ready: $(cat "$FL/err")"
}

flood_end() {
	kill "$FLOOD_PID" 2>/dev/null
	wait "$FLOOD_PID" 2>/dev/null
	return 0
}

# --- 1. SO_PEERGROUPS: the whole list, fail closed ---
G33=$(seq -s, 3001 3033)
if start_open "$(serve_conf 'serve.allow_groups = 0')"; then
	NOBODY_GROUPS=(--groups="$G33")
	ok_if "33 supplementary groups, none allowed (serve.allow_groups = 0): refused" \
		call_as nobody UNAVAILABLE
	grep -q '^ocikpd: refused a connection: uid 65534 (gid 65534) is not allowed' "$D_LOG"
	t_ok $? "the refusal is logged once with the caller's uid"
	ok_if "root (gid 0) is still served" call_as root OK
	stop_ok
else
	t_ok 1 "daemon with serve.allow_groups = 0 starts"
fi
if start_open "$(serve_conf 'serve.allow_groups = 3033')"; then
	NOBODY_GROUPS=(--groups="$G33")
	ok_if "33 supplementary groups, the 33rd allowed: served" call_as nobody OK
	NOBODY_GROUPS=(--groups="$(seq -s, 3001 3032)")
	ok_if "32 groups, none allowed: refused" call_as nobody UNAVAILABLE
	stop_ok
else
	t_ok 1 "daemon with serve.allow_groups = 3033 starts"
fi

# --- 2. admission at accept: a refused caller holds nothing ---
if start_open "$(serve_conf 'serve.allow_users = 0')"; then
	flood conns --n 200
	[ "$FLOOD_SAID" = "open=0 refused=200" ]
	t_ok $? "a refused caller's 200 connections (each streaming a request) are all closed at accept ($FLOOD_SAID)"
	ok_if "meanwhile an allowed caller is served" call_as root OK
	flood_end
	[ "$(grep -c '^ocikpd: refused a connection' "$D_LOG")" -lt 200 ]
	t_ok $? "refusals are not a log line each ($(grep -c '^ocikpd: refused a connection' "$D_LOG") lines for 200)"
	stop_ok
else
	t_ok 1 "daemon with serve.allow_users = 0 starts"
fi
if D_CONF=$(serve_conf 'serve.allow_users = 0') d_tcp_start; then
	"$D_PY" - "$D_PORT" > "$T_TMP/tcp.out" 2>&1 <<'EOF'
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + b'\0\0\0\x04\0\0\0\0\0')
s.settimeout(10)
got = b''
while True:
    b = s.recv(4096)
    if not b:
        break
    got += b
# SETTINGS, then GOAWAY (type 7) with its reason
i = got.find(b'\x07\0\0\0\0\0')
print('goaway' if i > 0 else 'no goaway', got[i + 14:].decode(errors='replace') if i > 0 else got)
EOF
	grep -q '^goaway .*TCP connection is unknown' "$T_TMP/tcp.out"
	t_ok $? "TCP with an allow list set: closed at accept with a GOAWAY saying why ($(cat "$T_TMP/tcp.out"))"
	stop_ok
else
	t_ok 1 "TCP daemon with serve.allow_users = 0 starts"
fi

# --- 3. shares: one caller cannot take every connection or byte ---
if start_open "$(serve_conf)"; then
	flood conns --n 128
	case $FLOOD_SAID in
	"open=64 refused=64") t_ok 0 "one uid gets half of the 128 connections ($FLOOD_SAID)" ;;
	*) t_ok 1 "one uid gets half of the 128 connections ($FLOOD_SAID)" ;;
	esac
	ok_if "another uid is served while it holds them" call_as root OK
	flood_end
	flood bytes --total $((64 * 1024 * 1024))
	# 64 streams of 1 MiB: the 32 beyond its half are answered RESOURCE_EXHAUSTED
	refused=${FLOOD_SAID##*refused=}
	case $FLOOD_SAID in
	sent=*) [ "$refused" -ge 32 ] ;;
	*) false ;;
	esac
	t_ok $? "one uid streaming 64 MiB of unfinished requests holds at most half ($FLOOD_SAID)"
	ok_if "another uid is served while it holds its bytes" call_as root OK
	flood_end
	stop_ok
else
	t_ok 1 "daemon without allow lists starts"
fi

# --- 4. allow-list errors: the drop-in line, never the value ---
for key in allow_users allow_groups; do
	d=$(serve_conf '# who may call' "serve.$key = 0, no-such-name-xyzzy")
	"$OCIKPD" --config-dir="$d" --plugin-dir="$P" --listen="unix:$T_TMP/never.sock" \
		> /dev/null 2> "$T_TMP/idlist.err"
	rc=$?
	[ "$rc" -eq 6 ] && [ "$(grep -c '' "$T_TMP/idlist.err")" -eq 1 ] &&
		grep -q "10-serve.conf:2: serve.$key: entry 2 is no" "$T_TMP/idlist.err" &&
		! grep -q xyzzy "$T_TMP/idlist.err"
	t_ok $? "serve.$key naming nobody: exit 6 (got $rc), one line naming file:line and not the value: $(cat "$T_TMP/idlist.err")"
done

# --- the socket's directory: nobody else may swap the file ---
sockdir_case() {	# sockdir_case DESC MODE OWNER EXPECT-EXIT GREP
	local dir=$T_TMP/sockdir.$RANDOM rc=0
	mkdir "$dir"
	chmod "$2" "$dir"
	chown "$3" "$dir"
	timeout "$(d_scale 10)" "$OCIKPD" --config-dir="$C" --plugin-dir="$P" \
		--listen="unix:$dir/grpc.sock" > /dev/null 2> "$dir.err" &
	local pid=$!
	if [ "$4" -eq 0 ]; then
		local n=$(($(d_scale 10) * 10))
		while [ "$n" -gt 0 ] && ! grep -q '^ocikpd: listening on ' "$dir.err" 2>/dev/null; do
			sleep 0.1
			n=$((n - 1))
		done
		grep -q '^ocikpd: listening on ' "$dir.err" || rc=1
		kill -TERM "$pid"
		wait "$pid" || rc=1
	else
		wait "$pid" || rc=$?
		[ "$rc" -eq "$4" ] && [ "$(grep -c '' "$dir.err")" -eq 1 ] && grep -q "$5" "$dir.err" &&
			[ ! -e "$dir/grpc.sock" ] && rc=0
	fi
	[ "$rc" -eq 0 ] || t_diag "exit $rc: $(cat "$dir.err")"
	t_ok "$rc" "$1: $(head -n 1 "$dir.err")"
}
sockdir_case "socket directory mode 0777 (no sticky bit): refused, exit 5" 0777 0 5 \
	'is writable by others (mode 0777) without the sticky bit'
sockdir_case "socket directory mode 0775: refused, exit 5" 0775 0 5 'writable by others'
sockdir_case "socket directory owned by uid 65534: refused, exit 5" 0755 65534 5 \
	'belongs to uid 65534'
sockdir_case "socket directory mode 1777 (sticky, as /tmp): served" 1777 0 0 ''
sockdir_case "socket directory mode 0755, root's: served" 0755 0 0 ''

# --- 5. log lines: what a caller wrote is escaped as ocikp inspect does ---
if D_CONF=$C d_start; then
	# an op the daemon quotes back: ESC, a C0 control, DEL, C1 (CSI), U+2028
	# and a bidi override
	d_req "$T_TMP/badurl.json" '{"op":"de\u001b[31mX\u0001\u007f\u009b\u2028\u202eZ"}'
	d_client call --target "$D_TARGET" --rpc WrapKey --json "$T_TMP/badurl.json" > "$T_TMP/badurl.out" 2>&1
	line=$(grep '^ocikpd: WrapKey ' "$D_LOG" | tail -n 1)
	! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]\|\xc2[\x80-\x9f]\|\xe2\x80[\xa8-\xae]' "$D_LOG"
	t_ok $? "no control, C1, separator or bidi character reaches the log"
	case $line in
	*'de\x1b[31mX\x01\x7f\u009b\u2028\u202eZ'*) t_ok 0 "the log line escapes them as inspect does" ;;
	*) t_diag "log line: $line" "answer: $(cat "$T_TMP/badurl.out")"; t_ok 1 "the log line escapes them as inspect does" ;;
	esac
	stop_ok
else
	t_ok 1 "daemon for the log test starts"
fi

# --- secrets: nothing of the key material stays in ocikpd's memory ---
# A layer key of its own, searched for raw, as base64, and in the optsdata
# (raw JSON and base64) after WrapKey and UnWrapKey were answered.
KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
SOPTS='{"symkey":"'$KEY'","digest":"sha256:00","cipheroptions":{"nonce":"AAAAAAAAAAAAAAAA"}}'
SECRETS="$(printf '%s' "$KEY" | base64 -d | hex),$(printf '%s' "$KEY" | hex),$(printf '%s' "$SOPTS" | hex)"
SECRETS="$SECRETS,$(printf '%s' "$SOPTS" | base64 | tr -d '\n' | hex)"
if D_CONF=$C d_start; then
	d_req "$T_TMP/swrap.json" "$(t_wrap_request ocikp "$SOPTS" sample://default)"
	d_client call --target "$D_TARGET" --rpc WrapKey --json "$T_TMP/swrap.json" \
		--out "$T_TMP/swrap.out" > /dev/null
	t_ok $? "WrapKey of a fresh layer key through ocikpd"
	SANN=$(t_json_field keywrapresults.annotation < "$T_TMP/swrap.out")
	d_req "$T_TMP/sunwrap.json" "$(t_unwrap_request ocikp "$SANN")"
	d_client call --target "$D_TARGET" --rpc UnWrapKey --json "$T_TMP/sunwrap.json" \
		--out "$T_TMP/sunwrap.out" > /dev/null &&
		[ "$(t_json_field keyunwrapresults.optsdata < "$T_TMP/sunwrap.out" | base64 -d)" = "$SOPTS" ]
	t_ok $? "UnWrapKey gives it back"
	# WrapKey again, last: its request is what a connection thread read last
	d_client call --target "$D_TARGET" --rpc WrapKey --json "$T_TMP/swrap.json" > /dev/null
	t_ok $? "WrapKey again"
	rm -f "$T_TMP"/s*wrap.*
	sleep 1	# the connections' ends, on the daemon's side too
	# ASan's heap is a reservation of terabytes (and its quarantine keeps
	# freed blocks on purpose): the scan is the native build's, as the
	# shim's are.
	if ldd "$OCIKPD" 2>/dev/null | grep -q libasan || [ "$D_WRAPPED" = yes ]; then
		t_skip "ocikpd's memory holds no key after the answers" "ASan or a wrapped daemon"
	else
		"$D_PY" "$top_srcdir/tests/daemon/memscan.py" "$D_PID" "$SECRETS" > "$T_TMP/memscan.out" 2>&1
		rc=$?
		[ "$rc" -eq 0 ] || t_diag "$(head -n 20 "$T_TMP/memscan.out")"
		t_ok "$rc" "after the answers, ocikpd's memory holds neither the key nor the optsdata (raw or base64): $(tail -n 1 "$T_TMP/memscan.out")"
	fi
	stop_ok
else
	t_ok 1 "daemon for the secrets test starts"
fi

t_done
