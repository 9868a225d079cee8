#!/bin/bash
# gcpkms through ocikpd keeps its HTTPS connections: the fake Google
# services count the TLS connections they accept.
#   10 unwraps through one ocikpd: one TLS connection (two at most, should
#   a second be made at once), not one per call;
#   the fake closing every connection right after its answer (no
#   "Connection: close" said): 5 more unwraps all succeed, on new
#   connections;
#   the daemon stops cleanly (fini closes the kept connections).
# Behaviour only: no timing is asserted.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/gcpkms/lib.sh"
. "$top_srcdir/tests/daemon/lib.sh"
set -u

t_setup
gcp_setup || { echo "1..1"; echo "not ok 1 - fake Google services: $(cat "$GCP_DIR/server.err" 2>/dev/null)"; exit 1; }
gcp_isolate
d_built_or_skip 4
gcp_dropin "$C" "gcpkms.credentials = $GCP_DIR/sa.json"
KEY="gcpkms://$GCP_KEY"
OPTS='{"symkey":"c2VjcmV0","cipheroptions":{"nonce":"bm9uY2U="}}'

ANN=$(t_wrap "$OPTS" "$KEY")
[ -n "$ANN" ] || { t_ok 1 "wrap by exec"; t_diag "$T_ERR"; t_done; exit 1; }
d_req "$T_TMP/unwrap.json" "$(t_unwrap_request ocikp "$ANN")"

unwraps() { d_unwraps "$1" "$T_TMP/unwrap.json" "$OPTS"; }
stats() { { gcp_ctl /_stats; gcp_ctl /_conns; } | python3 -c 'import json, sys
d = {}
for line in sys.stdin:
    d.update(json.loads(line))
print(d["decrypt"], d["tls_handshakes"], d["tls_resumed"], d["token_jwt"])'; }

d_start || { t_ok 1 "ocikpd starts"; t_done; exit 1; }
gcp_ctl /_reset > /dev/null
unwraps 10
R=$?
read -r DEC HS RES TOK <<< "$(stats)"
[ $R -eq 0 ] && [ "$DEC" -eq 10 ] && [ "$HS" -ge 1 ] && [ "$HS" -le 2 ]
t_ok $? "10 unwraps through one ocikpd: $DEC decrypts over $HS TLS connection(s) ($TOK token request(s))"

gcp_ctl /_reset > /dev/null
gcp_ctl /_conn '{"close":true}' > /dev/null
unwraps 5
R=$?
read -r DEC HS RES TOK <<< "$(stats)"
[ $R -eq 0 ] && [ "$DEC" -eq 5 ]
t_ok $? "the fake closing each connection after its answer: 5 unwraps still succeed ($HS connections, $RES resumed)"
[ $R -eq 0 ] || t_diag "$(tail -20 "$D_LOG")"
gcp_ctl /_conn '{"close":false}' > /dev/null

# A new connection resumes the TLS session of an earlier one.
[ "$HS" -ge 4 ] && [ "$RES" -ge 1 ]
t_ok $? "new connections resume the kept TLS session ($RES of $HS)"

d_stop
t_ok $? "ocikpd stops with exit 0, its kept connections closed"
t_done
