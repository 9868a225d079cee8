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
# (kbs.allow_replace: the wrap registers again the KEK the KBS holds)
kbs_dropin "$C" "kbs.sources = kbs" "kbs.allow_replace = yes"
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

# --- kbs+<plugin>:// kids (guest-components resource_uri) --------------------------
kbs_ctl /_config '{"deny": [], "resource_plugins": ["default"]}' > /dev/null
[ "$(t_unwrap "$(ann_kid kbs+default:///default/key/1)")" = "$OPTS" ] &&
	grep -q "GET /kbs/v0/default/default/key/1$" "$KBS_DIR/requests.log"
t_ok $? "a kbs+default:/// kid: routed to kbs, fetched from /kbs/v0/default/<path>"
[ "$(t_unwrap "$(ann_kid 'kbs+resource:///default/key/1?v=2')")" = "$OPTS" ] &&
	grep -q "GET /kbs/v0/resource/default/key/1$" "$KBS_DIR/requests.log"
t_ok $? "a kbs+resource:/// kid with a query: fetched from /kbs/v0/resource/<path>"
t_expect_fail "a kbs+<plugin> the KBS does not have: exit 4 naming the 404" 4 \
	"no KEK for kbs\\+pkcs11:///default/key/1 at https://127\\.0\\.0\\.1:$KBS_HTTPS: 404 Plugin pkcs11 not found" \
	"$(t_unwrap_request ocikp "$(ann_kid kbs+pkcs11:///default/key/1)")"

# --- packets too short to open: refused before any KBS request --------------------
# ann_raw WRAPPED-B64 IV-BYTES TYPE: a packet for kbs:///default/key/1, base64
ann_raw() {
	python3 -c '
import base64, json, sys
a = {"kid": "kbs:///default/key/1", "wrapped_data": sys.argv[1],
     "iv": base64.b64encode(bytes(int(sys.argv[2]))).decode(), "wrap_type": sys.argv[3]}
sys.stdout.write(base64.b64encode(json.dumps(a).encode()).decode())' "$@"
}
kbs_ctl /_reset '{}' > /dev/null
short_fail() {	# short_fail DESC ERE WRAPPED-B64 IV-BYTES TYPE
	t_expect_fail "$1: exit 3" 3 "$2" "$(t_unwrap_request ocikp "$(ann_raw "$3" "$4" "$5")")"
}
short_fail "A256GCM wrapped_data of only the tag" "wrapped_data too short for A256GCM \\(16 bytes" \
	"$(head -c 16 /dev/zero | base64)" 12 A256GCM
short_fail "A256GCM wrapped_data of the tag and one byte" "too short for A256GCM \\(17 bytes, at least 18" \
	"$(head -c 17 /dev/zero | base64)" 12 A256GCM
short_fail "A256CTR wrapped_data empty" "too short for A256CTR \\(0 bytes" "" 16 A256CTR
short_fail "A256CTR wrapped_data of one byte" "too short for A256CTR \\(1 bytes" "AA==" 16 A256CTR
short_fail "wrapped_data not base64" "wrapped_data: invalid base64" "AAA" 12 A256GCM
short_fail "iv of the wrong length" "iv must be 12 bytes" "$(head -c 40 /dev/zero | base64)" 16 A256GCM
[ "$(kbs_stat auth)" = 0 ] && [ "$(kbs_stat resource_get)" = 0 ] && [ "$(kbs_stat other)" = 0 ]
t_ok $? "... and the KBS saw no request for any of them"
t_done
[ $rc -eq 0 ] && [ "$T_FAILED" -eq 0 ]
