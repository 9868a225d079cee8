#!/bin/bash
# The KBS client against the local KBS (tests/kbs/fake_kbs.py).  First the C
# driver tests/kbs/test-rcar on kbs_rcar_fetch (it drives the server's
# faults and reads its counters itself), then the same through the ocikp
# binary: an image key unwrapped from the KBS in one handshake, a missing
# KEK, a KEK that does not open the annotation, a broken KBS.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/kbs/lib.sh"

kbs_require
kbs_setup "" ||
	{ echo "1..1"; echo "not ok 1 - fake KBS: $(cat "$KBS_DIR/server.err" 2>/dev/null)"; exit 1; }
"$abs_top_builddir/tests/kbs/test-rcar" "$KBS_DIR" > "$T_TMP/tap"
rc=$?
grep -v '^1\.\.' "$T_TMP/tap"
T_NUM=$(grep -cE '^(not )?ok ' "$T_TMP/tap")
T_FAILED=$(grep -c '^not ok ' "$T_TMP/tap")

# --- through the binary -------------------------------------------------------
kbs_ctl /_reset '{}' > /dev/null
t_setup
kbs_dropin "$C" "kbs.sources = kbs"
OPTS='{"symkey":"c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE=","cipheroptions":{}}'
ANN=$(t_wrap "$OPTS" "keypath=$KBS_DIR/kek1.bin::keyid=kbs:///default/key/1")
t_ok $? "wrap for kbs:///default/key/1 (the KEK the KBS holds)"
# ann_kid KID: the annotation with another kid, base64
ann_kid() {
	printf '%s' "$ANN" | base64 -d | python3 -c '
import base64, json, sys
a = json.load(sys.stdin)
a["kid"] = sys.argv[1]
sys.stdout.write(base64.b64encode(json.dumps(a, separators=(",", ":")).encode()).decode())' "$1"
}
before=$(kbs_stat auth)
OUT=$(t_unwrap "$ANN")
[ "$OUT" = "$OPTS" ] && [ "$(kbs_stat auth)" -eq $((before + 1)) ] &&
	[ "$(kbs_stat attest)" -eq $((before + 1)) ]
t_ok $? "unwrap from the KBS: the optsdata, in one RCAR handshake"
t_expect_fail "a KEK the KBS does not hold: exit 4, both possibilities said" 4 \
	"no KEK for kbs:///default/key/nokey at https://127\.0\.0\.1:$KBS_HTTPS, or this machine may not have it: 401" \
	"$(t_unwrap_request ocikp "$(ann_kid kbs:///default/key/nokey)")"
t_expect_fail "the KBS's KEK for another kid does not open it: exit 4" 4 "." \
	"$(t_unwrap_request ocikp "$(ann_kid kbs:///default/key/2)")"
kbs_ctl /_fault '{"match":"GET /kbs/v0/resource/","status":500,"times":1}' > /dev/null
t_expect_fail "the KBS answers 500: exit 5" 5 "HTTP 500" "$(t_unwrap_request ocikp "$ANN")"
kbs_ctl /_config '{"deny":["default/key/1"]}' > /dev/null
t_expect_fail "the KBS's policy denies the KEK: exit 4" 4 "may not have it: 401 Access denied" \
	"$(t_unwrap_request ocikp "$ANN")"
t_done
[ $rc -eq 0 ] && [ "$T_FAILED" -eq 0 ]
