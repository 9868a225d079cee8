#!/bin/bash
# The gcpkms backend through the ocikp binary against the fake Google
# services (tests/gcpkms/fake_gcp.py, TLS verification on, a CA the test
# makes): wrap and unwrap, the annotation, the fixture Cloud KMS made, key
# URL checks, --kmsURI, every failure path and its exit code, retries, the
# token cache across execs.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/gcpkms/lib.sh"
. "$top_srcdir/tests/daemon/lib.sh"

t_setup
gcp_setup || { echo "1..1"; echo "not ok 1 - fake Google services: $(cat "$GCP_DIR/server.err" 2>/dev/null)"; exit 1; }
gcp_isolate

gcp_dropin "$C" "gcpkms.credentials = $GCP_DIR/sa.json"
KEY="gcpkms://$GCP_KEY"
OPTS='{"symkey":"c2VjcmV0","cipheroptions":{"nonce":"bm9uY2U="}}'

# --- wrap and unwrap ---------------------------------------------------------
ANN=$(t_wrap "$OPTS" "$KEY")
t_ok $? "wrap through Cloud KMS (service account credentials)"
printf '%s' "$ANN" | base64 -d > "$T_TMP/ann.json"
python3 - "$T_TMP/ann.json" "$KEY" <<'PY'
import base64, json, sys
raw = open(sys.argv[1]).read()
a = json.loads(raw)
assert list(a) == ["key_url", "wrapped_key", "wrap_type"], a
assert a["key_url"] == sys.argv[2] and a["wrap_type"] == "AES", a
assert base64.b64encode(base64.b64decode(a["wrapped_key"], validate=True)).decode() == a["wrapped_key"]
PY
t_ok $? "annotation is exactly {key_url, wrapped_key (standard base64), wrap_type: AES}"
OUT=$(t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ]
t_ok $? "unwrap gives the optsdata back"
OUT=$(t_unwrap "$ANN")
[ "$OUT" = "$OPTS" ]
t_ok $? "unwrap with no gcpkms decrypt parameter uses the annotation's key"

# A pinned version: the annotation keeps the URL given; unwrap decrypts on the key.
ANNV=$(t_wrap "$OPTS" "$KEY/cryptoKeyVersions/1")
OUT=$(t_unwrap "$ANNV" "$KEY")
[ -n "$ANNV" ] && [ "$OUT" = "$OPTS" ] &&
	printf '%s' "$ANNV" | base64 -d | grep -q "\"key_url\":\"$KEY/cryptoKeyVersions/1\"" &&
	grep '^decrypt ' "$GCP_DIR/requests.log" | tail -1 | grep -q "/v1/$GCP_KEY:decrypt\$"
t_ok $? "wrap with .../cryptoKeyVersions/1: URL kept; unwrap decrypts on the cryptoKey"

# The annotation real Cloud KMS made for the other provider's README: routed
# by its key_url, and its exact ciphertext sent to :decrypt.
FIX="$OCIKP_FIXTURES/gcpkms/upstream-readme-annotation.json"
FKEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key_url"])' "$FIX")
FCT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wrapped_key"])' "$FIX")
python3 - "$GCP_DIR/config.json" "${FKEY#gcpkms://}" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1]))
c["keys"].append(sys.argv[2])
json.dump(c, open(sys.argv[1] + ".tmp", "w"))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
PY
gcp_known "$FCT" "$(printf fixture-plaintext | base64 -w0)" "${FKEY#gcpkms://}"
OUT=$(t_unwrap "$(base64 -w0 < "$FIX")" "$FKEY")
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["ciphertext"] == sys.argv[2]' \
	"$GCP_DIR/last-decrypt.json" "$FCT" &&
	grep '^decrypt ' "$GCP_DIR/requests.log" | tail -1 | grep -q "/v1/${FKEY#gcpkms://}:decrypt\$" &&
	[ "$OUT" = "fixture-plaintext" ]
t_ok $? "the upstream README annotation: routed, parsed, its exact ciphertext decrypted"

# --- key URLs ------------------------------------------------------------------
t_expect_fail "unwrap naming another key: exit 4, naming both" 4 \
	"ocikp: gcpkms: wrapped with gcpkms://$GCP_KEY, but the decrypt parameter names gcpkms://$GCP_KEY2" \
	"$(t_unwrap_request ocikp "$ANN" "gcpkms://$GCP_KEY2")"
t_expect_fail "wrap: a malformed key URL is bad input" 3 "ocikp: gcpkms: key URL must be gcpkms://projects/P" \
	"$(t_wrap_request ocikp "$OPTS" "gcpkms://projects/p/keyRings/r")"
t_expect_fail "wrap: a key URL with a query is refused" 3 "ocikp: gcpkms: key URL must be" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY?x=1")"
t_expect_fail "unwrap: wrap_type other than AES" 3 "wrap_type must be \"AES\"" \
	"$(t_unwrap_request ocikp "$(printf '{"key_url":"%s","wrapped_key":"AAAA","wrap_type":"RSA"}' "$KEY" | base64 -w0)" "$KEY")"
t_expect_fail "unwrap: bad base64 in wrapped_key" 3 "wrapped_key" \
	"$(t_unwrap_request ocikp "$(printf '{"key_url":"%s","wrapped_key":"A*AA","wrap_type":"AES"}' "$KEY" | base64 -w0)" "$KEY")"

# --kmsURI (gcpkms.kms_uri) replaces the key of every request, with a warning.
C2=$(t_conf_dir); cp "$C"/*.conf "$C2/"
t_run "$(t_wrap_request kmscrypt "$OPTS" "gcpkms://$GCP_KEY2")" --provider=kmscrypt --config-dir="$C2" --kmsURI="$KEY"
WARN=$(printf '%s' "$T_ERR" | grep -c "warning: gcpkms: the request names another gcpkms key")
AK=$(printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation | base64 -d | t_json_field key_url)
[ "$T_RC" -eq 0 ] && [ "$WARN" -eq 1 ] && [ "$AK" = "$KEY" ]
t_ok $? "--kmsURI= replaces the request's key (one warning line; annotation names the kmsURI key)"

# --- KMS errors ------------------------------------------------------------------
gcp_ctl /_fault '{"match":":encrypt","status":403,"times":1,"body":"{\"error\":{\"code\":403,\"message\":\"Permission '"'"'cloudkms.cryptoKeyVersions.useToEncrypt'"'"' denied on resource\",\"status\":\"PERMISSION_DENIED\"}}"}'
t_expect_fail "wrap: 403 names the KMS status and message, exit 6" 6 \
	"^ocikp: gcpkms: PERMISSION_DENIED: Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
gcp_ctl /_fault '{"match":":decrypt","status":403,"times":1,"body":"{\"error\":{\"code\":403,\"message\":\"Permission '"'"'cloudkms.cryptoKeyVersions.useToDecrypt'"'"' denied\",\"status\":\"PERMISSION_DENIED\"}}"}'
t_expect_fail "unwrap: 403 is exit 4 (this identity cannot open it)" 4 \
	"^ocikp: gcpkms: PERMISSION_DENIED: Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
t_expect_fail "wrap: a key KMS does not know is 404 NOT_FOUND, exit 3" 3 "^ocikp: gcpkms: NOT_FOUND" \
	"$(t_wrap_request ocikp "$OPTS" "${KEY%/*}/nosuch")"
gcp_ctl /_fault '{"match":":decrypt","status":404,"times":1,"body":"<html>Not Found</html>"}'
t_expect_fail "unwrap: 404 with a proxy's HTML page is exit 4 naming the HTTP status" 4 "^ocikp: gcpkms: KMS answered HTTP 404" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"

# --- retries -----------------------------------------------------------------------
gcp_ctl /_reset
gcp_ctl /_fault '{"match":":decrypt","status":503,"times":2}'
OUT=$(t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ] && [ "$(gcp_stat decrypt)" -eq 3 ]
t_ok $? "503 twice, then success: three decrypt requests, the key comes back"
gcp_ctl /_reset
gcp_ctl /_fault '{"match":":decrypt","status":429,"times":1,"retry_after":"1"}'
S=$(date +%s%N); OUT=$(t_unwrap "$ANN" "$KEY"); E=$(( ($(date +%s%N) - S) / 1000000 ))
[ "$OUT" = "$OPTS" ] && [ "$E" -ge 900 ] && [ "$(gcp_stat decrypt)" -eq 2 ]
t_ok $? "429 with Retry-After: 1 waits about a second (${E} ms), then succeeds"
gcp_ctl /_reset
gcp_ctl /_fault '{"match":":decrypt","status":500,"times":5}'
S=$(date +%s%N)
t_expect_fail "500: no retry, exit 5" 5 "^ocikp: gcpkms: .*500" "$(t_unwrap_request ocikp "$ANN" "$KEY")"
E=$(( ($(date +%s%N) - S) / 1000000 ))
[ "$(gcp_stat decrypt)" -eq 1 ] && [ "$E" -lt "$(t_slack 2500)" ]
t_ok $? "500 is answered at once: one request, ${E} ms"
gcp_ctl /_reset
C3=$(t_conf_dir); gcp_dropin "$C3" "gcpkms.credentials = $GCP_DIR/sa.json" "gcpkms.http_timeout = 2"
gcp_ctl /_fault '{"match":":decrypt","hang":120,"times":1}'
S=$(date +%s)
t_expect_fail "a hung server: bounded by http_timeout, exit 5" 5 "^ocikp: gcpkms: " \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$C3"
E=$(( $(date +%s) - S ))
# http_timeout 2 s, with T_SLACK for a loaded machine: far below the hang
[ "$E" -lt $((2 + $(t_slack 3))) ]
t_ok $? "the hung request ended in ${E} s"
gcp_ctl /_reset

# --- integrity and malformed answers ------------------------------------------------
gcp_ctl /_fault '{"match":":encrypt","bad_crc":true,"times":1}'
t_expect_fail "wrap: a ciphertextCrc32c that does not match: exit 5" 5 "integrity check failed" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
gcp_ctl /_fault '{"match":":decrypt","bad_crc":true,"times":1}'
t_expect_fail "unwrap: a plaintextCrc32c that does not match: exit 5" 5 "integrity check failed" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
gcp_ctl /_fault '{"match":":decrypt","malformed":true,"times":1}'
t_expect_fail "unwrap: malformed JSON from KMS: exit 5" 5 "^ocikp: gcpkms: KMS answer" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
gcp_ctl /_fault '{"match":":decrypt","oversize":true,"times":1}'
t_expect_fail "unwrap: an answer over 64 KiB: exit 5" 5 "^ocikp: gcpkms: " \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"

# --- the token cache across execs -----------------------------------------------------
gcp_ctl /_reset
# Another identity, so this starts with an empty cache: sa.json's key, the
# second service account's address.
python3 - "$GCP_DIR/sa.json" "$GCP_DIR/sa2.json" "$GCP_TARGET_EMAIL" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1]))
c["client_email"] = sys.argv[3]
del c["private_key_id"]
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, json.dumps(c).encode())
os.close(fd)
PY
C4=$(t_conf_dir); gcp_dropin "$C4" "gcpkms.credentials = $GCP_DIR/sa2.json"
ok=0
for i in $(seq 20); do
	OUT=$(OCIKP_CONFIG_DIR="$C4" t_unwrap "$ANN" "$KEY")
	[ "$OUT" = "$OPTS" ] || ok=1
done
[ $ok -eq 0 ] && [ "$(gcp_stat token_jwt)" -eq 1 ] && [ "$(gcp_stat decrypt)" -eq 20 ]
t_ok $? "20 execs: 20 decrypts, exactly 1 token request ($(gcp_stat token_jwt))"
F=$(gcp_cache_mine | grep -E '^token-[0-9a-f]{64}\.json$' | head -1)
[ -n "$F" ] && [ "$(stat -c %a "$GCP_CACHE/$F")" = 600 ]
t_ok $? "the cache file is 0600 and named by a hash only"

gcp_ctl /_revoke
OUT=$(OCIKP_CONFIG_DIR="$C4" t_unwrap "$ANN" "$KEY")
# (one refresh is the behaviour; how many 401s the fake counted before it
# may include a request a loaded machine's client timed out and sent again)
[ "$OUT" = "$OPTS" ] && [ "$(gcp_stat token_jwt)" -eq 2 ] && [ "$(gcp_stat unauthorized)" -ge 1 ]
R=$?
t_ok $R "KMS answers 401 once: the cached token is dropped, one refresh, success"
[ $R -eq 0 ] || t_diag "stats: $(gcp_ctl /_stats)" "$T_ERR"

gcp_ctl /_reset
gcp_ctl /_ttl '{"ttl":305}'
C5=$(t_conf_dir); gcp_dropin "$C5" "gcpkms.credentials = $GCP_DIR/au.json"
OUT1=$(OCIKP_CONFIG_DIR="$C5" t_unwrap "$ANN" "$KEY")
OUT2=$(OCIKP_CONFIG_DIR="$C5" t_unwrap "$ANN" "$KEY")
N1=$(gcp_stat token_refresh)
sleep 6
OUT3=$(OCIKP_CONFIG_DIR="$C5" t_unwrap "$ANN" "$KEY")
[ "$OUT1$OUT2$OUT3" = "$OPTS$OPTS$OPTS" ] && [ "$N1" -eq 1 ] && [ "$(gcp_stat token_refresh)" -eq 2 ]
t_ok $? "a token within 5 minutes of expiry is renewed once (token requests: $N1, then $(gcp_stat token_refresh))"
gcp_ctl /_ttl '{"ttl":3600}'

# The token endpoint refusing the credentials: exit 6 with its reason.
gcp_ctl /_fault '{"match":"/token","status":400,"times":1,"body":"{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}"}'
C6=$(t_conf_dir); gcp_dropin "$C6" "gcpkms.credentials = $GCP_DIR/imp.json"
t_expect_fail "the token endpoint refuses the credentials: exit 6 with its error" 6 \
	"^ocikp: gcpkms: .*invalid_grant.*Invalid JWT Signature" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$C6"

# 408 (a request timeout, from KMS or a proxy) is retried like 503, then
# exit 5 on either side, never the 3 or 4 of a KMS refusal.
gcp_ctl /_reset
gcp_ctl /_fault '{"match":":decrypt","status":408,"times":1}'
OUT=$(t_unwrap "$ANN" "$KEY")
# (a 401 first, when an earlier test revoked the cached token, is not ours)
[ "$OUT" = "$OPTS" ] && [ "$(gcp_stat decrypt)" -ge $((2 + $(gcp_stat unauthorized))) ]
t_ok $? "unwrap: a 408 is retried, the key comes back ($(gcp_stat decrypt) requests)"
gcp_ctl /_fault '{"match":":encrypt","status":408,"times":4}'
t_expect_fail "wrap: 408 for good: exit 5 after 4 attempts" 5 "HTTP 408 after 4 attempts" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
gcp_ctl /_fault '{"match":":decrypt","status":408,"times":4}'
t_expect_fail "unwrap: 408 for good: exit 5 after 4 attempts" 5 "HTTP 408 after 4 attempts" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
gcp_ctl /_reset

# A 4 KiB access token (federated ones are long) is cached like any other:
# one token request for 5 wraps.
gcp_cache_drop
gcp_ctl /_token_len '{"len":4096}'
ok=0
for i in $(seq 5); do
	[ -n "$(OCIKP_CONFIG_DIR="$C4" t_wrap "$OPTS" "$KEY")" ] || ok=1
done
[ $ok -eq 0 ] && [ "$(gcp_stat token_jwt)" -eq 1 ] && [ "$(gcp_stat encrypt)" -eq 5 ]
t_ok $? "a 4 KiB token: 5 wraps, 1 token request ($(gcp_stat token_jwt))"
gcp_ctl /_token_len '{"len":0}'
gcp_ctl /_reset

# SSLKEYLOGFILE would have libcurl write the TLS secrets of the token and
# KMS connections: ocikp clears it.
ANNK=$(SSLKEYLOGFILE="$T_TMP/keylog" t_wrap "$OPTS" "$KEY")
[ -n "$ANNK" ] && [ ! -e "$T_TMP/keylog" ]
t_ok $? "SSLKEYLOGFILE set: the wrap works, no key log written"

# ocikpd too: cleared before its threads start and its modules load.
if [ -x "$OCIKPD" ] && [ -n "$D_PY" ]; then
	d_req "$T_TMP/dwrap.json" "$(t_wrap_request ocikp "$OPTS" "$KEY")"
	SSLKEYLOGFILE="$T_TMP/keylog-d" d_start &&
		d_client call --target "$D_TARGET" --rpc WrapKey --json "$T_TMP/dwrap.json" \
			> "$T_TMP/dwrap.out" && [ ! -e "$T_TMP/keylog-d" ]
	R=$?
	t_ok $R "ocikpd: SSLKEYLOGFILE set, a wrap through gcpkms, no key log written"
	[ $R -eq 0 ] || t_diag "$(cat "$T_TMP/dwrap.out" "$D_LOG" 2> /dev/null)"
	d_stop > /dev/null
else
	t_skip "ocikpd clears SSLKEYLOGFILE" "ocikpd or python3-grpcio not here"
fi

# A credentials file whose token_uri holds user:password@: exit 6 (the file
# is wrong), and --verbose never prints the password.
python3 - "$GCP_DIR/au.json" "$GCP_DIR/au-userinfo.json" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1]))
c["token_uri"] = c["token_uri"].replace("https://", "https://user:PW-S3CRET@")
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, json.dumps(c).encode())
os.close(fd)
PY
C9=$(t_conf_dir); gcp_dropin "$C9" "gcpkms.credentials = $GCP_DIR/au-userinfo.json"
t_run "$(t_wrap_request ocikp "$OPTS" "$KEY")" --config-dir="$C9" --verbose
[ "$T_RC" -eq 6 ] && printf '%s' "$T_ERR" | grep -q "user:password@ is refused" &&
	! printf '%s' "$T_ERR" | grep -q "PW-S3CRET"
R=$?
t_ok $R "token_uri with user:password@: exit 6, the password in no line (exit $T_RC)"
[ $R -eq 0 ] || t_diag "$T_ERR"

# No credentials anywhere and no metadata server: one line saying what was
# looked for.
C7=$(t_conf_dir)
printf 'backend = gcpkms\nmodule = ocikp-gcpkms.so\nschemes = gcpkms\ngcpkms.metadata_host = 127.0.0.1:1\n' \
	> "$C7/50-gcpkms.conf"
t_expect_fail "no credentials and no metadata server: exit 5 naming where ADC looked" 5 \
	"^ocikp: gcpkms: no credentials: no gcpkms.credentials .*GOOGLE_APPLICATION_CREDENTIALS.*metadata server at 127.0.0.1:1 did not answer" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$C7"

t_done
[ "$T_FAILED" -eq 0 ]
