#!/bin/bash
# kbs through ocikpd against the local KBS (tests/kbs/fake_kbs.py): the
# attested session is kept while its token lives, the connections too.
#   10 unwraps: one RCAR handshake, 10 resource GETs, one or two TLS
#   connections;
#   the KBS drops every session (an expired or revoked token): the next
#   unwrap makes one new handshake and succeeds, the ones after it reuse it;
#   a 403 to the kept session: the same;
#   tokens living less than the keeping margin (30 s): a handshake per call;
#   ocikpd --verbose never writes the session id or the token, and stops
#   with exit 0; after fini the session's cookie is nowhere in memory (the
#   shim, the module kept loaded by tests/gcpkms/test-memcache).
# Behaviour only: no timing is asserted.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/kbs/lib.sh"
. "$top_srcdir/tests/daemon/lib.sh"
set -u

kbs_require
t_setup
d_built_or_skip 9
kbs_setup || { t_ok 1 "the local KBS starts: $(cat "$KBS_DIR/server.err")"; t_done; exit 1; }
printf 'backend = kbs\nmodule = ocikp-kbs.so\nschemes = kbs kbs+*\nkbs.url = https://127.0.0.1:%s\nkbs.ca_file = %s\nkbs.sources = kbs\n' \
	"$KBS_HTTPS" "$KBS_DIR/ca.pem" > "$C/50-kbs.conf"
OPTS='{"symkey":"c2VjcmV0","cipheroptions":{"nonce":"bm9uY2U="}}'

ANN=$(t_wrap "$OPTS" "keypath=$KBS_DIR/kek1.bin::keyid=kbs:///default/key/1")
[ -n "$ANN" ] || { t_ok 1 "wrap by exec"; t_diag "$T_ERR"; t_done; exit 1; }
d_req "$T_TMP/unwrap.json" "$(t_unwrap_request ocikp "$ANN")"

unwraps() { d_unwraps "$1" "$T_TMP/unwrap.json" "$OPTS"; }
conns() { kbs_ctl /_conns | python3 -c 'import json, sys; print(json.load(sys.stdin)["tls_handshakes"])'; }
diag() { t_diag "stats: $(kbs_ctl /_stats)" "$(grep -i 'rcar\|resource' "$D_LOG" | tail -12)"; }

d_start --verbose || { t_ok 1 "ocikpd starts"; t_done; exit 1; }
kbs_ctl /_reset > /dev/null
unwraps 10
R=$?
AUTH=$(kbs_stat auth) GETS=$(kbs_stat resource_get) HS=$(conns)
[ $R -eq 0 ] && [ "$AUTH" -eq 1 ] && [ "$GETS" -eq 10 ]
t_ok $? "10 unwraps through one ocikpd: $AUTH RCAR handshake(s), $GETS resource GETs"
[ $R -eq 0 ] && [ "$AUTH" -eq 1 ] || diag
[ $R -eq 0 ] && [ "$HS" -ge 1 ] && [ "$HS" -le 2 ]
t_ok $? "...over $HS TLS connection(s)"

# Sessions dropped, the token key rotated: the kept cookie answers 401.
kbs_ctl /_expire '{}' > /dev/null
unwraps 1 && [ "$(kbs_stat auth)" -eq 2 ] && unwraps 3 && [ "$(kbs_stat auth)" -eq 2 ]
t_ok $? "the KBS expires the session: one new handshake, success, then reused ($(kbs_stat auth) handshakes)"
[ "$(kbs_stat auth)" -eq 2 ] || diag

# A 403 to the kept session (a token the KBS revoked): dropped, one new
# handshake, success.
A0=$(kbs_stat auth)
kbs_ctl /_fault '{"match": "GET /kbs/v0/resource/default/key/1", "status": 403, "times": 1}' > /dev/null
unwraps 1 && [ "$(kbs_stat auth)" -eq $((A0 + 1)) ]
t_ok $? "a 403 to the kept session: one new handshake, success ($(kbs_stat auth) handshakes)"

# Secrets: the live session's id and token nowhere in the --verbose log.
kbs_ctl /_secrets > "$T_TMP/secrets.json"
python3 - "$T_TMP/secrets.json" "$D_LOG" <<'PY'
import json, sys
secrets = json.load(open(sys.argv[1]))
log = open(sys.argv[2], errors="replace").read()
assert secrets, "no live session"
assert "RCAR session kept" in log, "no debug line about the kept session"
bad = [s[:12] for s in secrets if s in log]
assert not bad, "in the log: %s" % bad
PY
t_ok $? "ocikpd --verbose: the kept session's id and token never in its log"

# Tokens that live less than the margin are not kept: a handshake per call.
kbs_ctl /_config '{"session_ttl": 20}' > /dev/null
kbs_ctl /_expire '{}' > /dev/null
A0=$(kbs_stat auth)
unwraps 3 && [ "$(kbs_stat auth)" -eq $((A0 + 3)) ]
t_ok $? "a token living 20 s: not kept, one handshake per unwrap ($((A0 + 3)) wanted, $(kbs_stat auth))"

d_stop
t_ok $? "ocikpd stops with exit 0, the kept session wiped"

# The module kept loaded as ocikpd keeps it (host/pool.c, the gcpkms
# harness): a session made and kept by the unwrap, then fini; the shim
# looks for its id (the cookie) in every freed block and in all writable
# memory at exit: fini wiped the kept session and the connection buffers.
HARNESS="$abs_top_builddir/tests/gcpkms/test-memcache"
SHIM_RC=0
t_shim || SHIM_RC=$?
[ -x "$HARNESS" ] || { SHIM_RC=77; T_SHIM_WHY="no tests/gcpkms/test-memcache (gcpkms not built)"; }
if [ "$SHIM_RC" -eq 0 ] && ldd "$HARNESS" 2> /dev/null | grep -q libasan; then
	SHIM_RC=77 T_SHIM_WHY="an ASan build"
fi
if [ "$SHIM_RC" -eq 0 ]; then
	SID=$(head -c 16 /dev/urandom | hex)
	kbs_ctl /_config "{\"session_ttl\": 300, \"session_id\": \"$SID\"}" > /dev/null
	A0=$(kbs_stat auth)
	REPORT="$T_TMP/shim.report"
	OCIKP_TEST_BACKEND=kbs OCIKP_SHIM_REPORT="$REPORT" OCIKP_SHIM_SECRETS="$(printf '%s' "$SID" | hex)" \
		LD_PRELOAD="$SHIM" "$HARNESS" "$C" "$P" "keypath=$KBS_DIR/kek1.bin::keyid=kbs:///default/key/1" 1 \
		> "$T_TMP/stdout" 2> "$T_TMP/stderr"
	T_RC=$?
	T_ERR=$(cat "$T_TMP/stdout" "$T_TMP/stderr")
	[ "$(kbs_stat auth)" -eq $((A0 + 1)) ]
	t_ok $? "under the shim: one unwrap made one attested session"
	t_shim_ok "after fini the kept session's cookie is nowhere in memory nor in a freed block" 0 1
elif [ "$SHIM_RC" -eq 77 ]; then
	t_skip "after fini the kept session is wiped" "$T_SHIM_WHY"
else
	t_ok 1 "after fini the kept session is wiped: $T_SHIM_WHY"
fi
t_done
