#!/bin/bash
# The vault backend through the ocikp binary against a fake Vault
# (tests/vault/fake_vault.py, TLS verified against a CA the test makes):
# Transit wrap and unwrap, the annotation keeping Vault's ciphertext
# verbatim, rotation, both key URL forms, the namespace header, the
# derivation context, every token source, Vault's errors and their exit
# codes, retries, plain http only to loopback, no secret on stderr.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/vault/lib.sh"

t_setup
vault_setup

vault_dropin "$C"
export VAULT_TOKEN=$TOK_ALL
KEY=vault://transit/keys/k1
OPTS='{"symkey":"c2VjcmV0LXZhdWx0LWxheWVyLWtleQ==","cipheroptions":{"nonce":"bm9uY2U="}}'

# --- wrap and unwrap -------------------------------------------------------------
ANN=$(t_wrap "$OPTS" "$KEY")
t_ok $? "wrap through Transit"
printf '%s' "$ANN" | base64 -d > "$T_TMP/ann.json"
python3 - "$T_TMP/ann.json" "$KEY" <<'PY'
import json, re, sys
a = json.loads(open(sys.argv[1]).read())
assert list(a) == ["key_url", "wrapped_key"], a
assert a["key_url"] == sys.argv[2], a
assert re.fullmatch(r"vault:v1:[A-Za-z0-9+/]+=*", a["wrapped_key"]), a
PY
t_ok $? "annotation is exactly {key_url, wrapped_key: vault:v1:...}"
grep '^POST ' "$VAULT_DIR/requests.log" | tail -1 | grep -qx "POST /v1/transit/encrypt/k1 ns="
t_ok $? "POST /v1/transit/encrypt/k1, no namespace header"
tail -1 "$VAULT_DIR/bodies.log" | python3 -c 'import base64, json, sys
b = json.loads(sys.stdin.read())
assert list(b) == ["plaintext"] and base64.b64decode(b["plaintext"]).decode() == sys.argv[1], b' "$OPTS"
t_ok $? "encrypt body is {\"plaintext\": base64(optsdata)}"

OUT=$(t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ]
t_ok $? "unwrap gives the optsdata back"
WK=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wrapped_key"])' "$T_TMP/ann.json")
tail -1 "$VAULT_DIR/bodies.log" | python3 -c 'import json, sys
assert json.loads(sys.stdin.read()) == {"ciphertext": sys.argv[1]}' "$WK" &&
	grep '^POST ' "$VAULT_DIR/requests.log" | tail -1 | grep -qx "POST /v1/transit/decrypt/k1 ns="
t_ok $? "decrypt sends the annotation's ciphertext verbatim (what vault write transit/decrypt takes)"
OUT=$(t_unwrap "$ANN" vault:///transit/k1)
[ "$OUT" = "$OPTS" ]
t_ok $? "the decrypt parameter may name the key as vault:///MOUNT/NAME"
OUT=$(t_unwrap "$ANN")
[ "$OUT" = "$OPTS" ]
t_ok $? "with no vault decrypt parameter the annotation's key is used"
t_expect_fail "a decrypt parameter naming another key: exit 4" 4 \
	"wrapped with vault://transit/keys/k1, but the decrypt parameter names vault://transit/keys/k2" \
	"$(t_unwrap_request ocikp "$ANN" vault://transit/keys/k2)"

# A nested mount path in both forms.
python3 - "$VAULT_DIR/config.json" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1]))
c["keys"]["team/transit/k9"] = {}
for t in c["tokens"].values():
    for op in ("encrypt", "decrypt"):
        if op in t and t[op]:
            t[op].append("team/transit/k9")
json.dump(c, open(sys.argv[1] + ".tmp", "w")); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
PY
ANN9=$(t_wrap "$OPTS" vault:///team/transit/k9)
OUT=$(t_unwrap "$ANN9" vault://team/transit/keys/k9)
[ -n "$ANN9" ] && [ "$OUT" = "$OPTS" ] &&
	grep -q "^POST /v1/team/transit/encrypt/k9 ns=\$" "$VAULT_DIR/requests.log"
t_ok $? "a nested mount (team/transit): both URL forms name the same key"

# --- rotation -----------------------------------------------------------------------
vault_ctl /_rotate '{"key":"transit/k1"}' > /dev/null
ANN2=$(t_wrap "$OPTS" "$KEY")
printf '%s' "$ANN2" | base64 -d | grep -q '"wrapped_key":"vault:v2:'
t_ok $? "after a rotation wrap gets a v2 ciphertext"
OUT1=$(t_unwrap "$ANN" "$KEY")
OUT2=$(t_unwrap "$ANN2" "$KEY")
[ "$OUT1$OUT2" = "$OPTS$OPTS" ]
t_ok $? "after a rotation both the v1 and the v2 annotation unwrap"
vault_ctl /_min_decrypt '{"key":"transit/k1","version":2}' > /dev/null
t_expect_fail "a version below min_decryption_version: exit 4 with Vault's text" 4 \
	"HTTP 400: ciphertext or signature version is disallowed by policy \\(too old\\)" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
vault_ctl /_min_decrypt '{"key":"transit/k1","version":1}' > /dev/null

# --- namespace, context ---------------------------------------------------------------
CN=$(t_conf_dir); vault_dropin "$CN" "vault.namespace = team"
ANNN=$(OCIKP_CONFIG_DIR="$CN" t_wrap "$OPTS" vault://transit/keys/nsk)
OUT=$(OCIKP_CONFIG_DIR="$CN" t_unwrap "$ANNN")
[ -n "$ANNN" ] && [ "$OUT" = "$OPTS" ] &&
	[ "$(grep -c '^POST /v1/transit/[a-z]*crypt/nsk ns=team$' "$VAULT_DIR/requests.log")" -eq 2 ]
t_ok $? "vault.namespace goes in X-Vault-Namespace on encrypt and decrypt"
t_expect_fail "the namespaced key without the namespace: exit 4 (permission denied)" 4 \
	"HTTP 403: .*permission denied" "$(t_unwrap_request ocikp "$ANNN")"
OUT=$(VAULT_NAMESPACE=team t_unwrap "$ANNN")
[ "$OUT" = "$OPTS" ]
t_ok $? "VAULT_NAMESPACE is the fallback of vault.namespace"

t_expect_fail "a derived key without vault.context: exit 3 with Vault's text" 3 \
	"HTTP 400: missing 'context' for key derivation" \
	"$(t_wrap_request ocikp "$OPTS" vault://transit/keys/derived)"
CX=$(t_conf_dir); vault_dropin "$CX" "vault.context = images/prod"
ANNX=$(OCIKP_CONFIG_DIR="$CX" t_wrap "$OPTS" vault://transit/keys/derived)
python3 -c 'import base64, json, sys
b = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert base64.b64decode(b["context"]) == b"images/prod", b' "$VAULT_DIR/bodies.log"
t_ok $? "vault.context is sent base64 as context"
OUT=$(OCIKP_CONFIG_DIR="$CX" t_unwrap "$ANNX")
[ "$OUT" = "$OPTS" ]
t_ok $? "a derived key: unwrap with the same context"

# --- token sources --------------------------------------------------------------------
unset VAULT_TOKEN
t_expect_fail "no token anywhere: exit 6 naming the sources" 6 \
	"no Vault token: set VAULT_TOKEN, vault.token_file or ~/.vault-token" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
(umask 077; printf '%s\n' "$TOK_ALL" > "$HOME/.vault-token")
OUT=$(t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ]
t_ok $? "~/.vault-token (the CLI's file, trailing newline)"
chmod 644 "$HOME/.vault-token"
t_expect_fail "~/.vault-token readable by others: refused, exit 6" 6 "Vault token file" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
rm -f "$HOME/.vault-token"
(umask 077; printf '%s' "$TOK_ALL" > "$T_TMP/token")
CT=$(t_conf_dir); vault_dropin "$CT" "vault.token_file = $T_TMP/token"
OUT=$(OCIKP_CONFIG_DIR="$CT" t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ]
t_ok $? "vault.token_file"
VAULT_TOKEN=$TOK_NONE OCIKP_CONFIG_DIR="$CT" t_expect_fail \
	"VAULT_TOKEN comes before vault.token_file (a token without policy: exit 4)" 4 \
	"HTTP 403: .*permission denied" "$(t_unwrap_request ocikp "$ANN" "$KEY")"
N=$(grep -c '' "$VAULT_DIR/requests.log")
VAULT_TOKEN=$'hvs.a\nX-Evil: 1' t_expect_fail "a token with a line break: exit 6" 6 \
	"the Vault token from VAULT_TOKEN is empty or holds characters" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
[ "$(grep -c '' "$VAULT_DIR/requests.log")" -eq "$N" ]
t_ok $? "... refused before any request"
export VAULT_TOKEN=$TOK_ALL

# --- Vault's errors -------------------------------------------------------------------
VAULT_TOKEN=$TOK_ENC t_expect_fail "unwrap, permission denied (encrypt-only token): exit 4 with Vault's text" 4 \
	"^ocikp: vault: Vault answered HTTP 403: 1 error occurred: \\* permission denied\$" "$(t_unwrap_request ocikp "$ANN" "$KEY")"
VAULT_TOKEN=$TOK_NONE t_expect_fail "wrap, permission denied: exit 6" 6 \
	"HTTP 403: .*permission denied" "$(t_wrap_request ocikp "$OPTS" "$KEY")"
t_expect_fail "wrap with a key Vault does not have: exit 3 with Vault's text" 3 \
	"HTTP 400: encryption key not found" "$(t_wrap_request ocikp "$OPTS" vault://transit/keys/missing)"
BAD=$(printf '{"key_url":"%s","wrapped_key":"vault:v1:%s"}' "$KEY" "$(head -c 40 /dev/urandom | base64 -w0)" | base64 -w0)
t_expect_fail "a ciphertext Transit cannot open: exit 4 with Vault's text" 4 \
	"HTTP 400: cipher: message authentication failed" "$(t_unwrap_request ocikp "$BAD" "$KEY")"

vault_ctl /_reset > /dev/null
vault_ctl /_seal '{"sealed":true}' > /dev/null
t_expect_fail "a sealed Vault: exit 5 with \"Vault is sealed\"" 5 \
	"HTTP 503: Vault is sealed" "$(t_unwrap_request ocikp "$ANN" "$KEY")"
S=$(vault_stat sealed)
[ "$S" -ge 2 ] && [ "$S" -le 4 ]
t_ok $? "a sealed Vault is asked again, at most 4 times ($S)"
vault_ctl /_seal '{"sealed":false}' > /dev/null
vault_ctl /_reset > /dev/null
vault_ctl /_fault '{"status":503,"times":1,"body":"{\"errors\":[\"Vault is sealed\"]}"}' > /dev/null
OUT=$(t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ] && [ "$(vault_stat fault)" -eq 1 ] && [ "$(vault_stat decrypt)" -eq 1 ]
t_ok $? "unsealed while retrying: the retry opens it"
vault_ctl /_fault '{"status":429,"times":4}' > /dev/null
t_expect_fail "429 (a standby or rate limit) for good: exit 5" 5 \
	"HTTP 429: fault injected" "$(t_wrap_request ocikp "$OPTS" "$KEY")"
vault_ctl /_fault '{"status":500,"times":1,"body":"{\"errors\":[\"internal error\"]}"}' > /dev/null
t_expect_fail "500: exit 5 with Vault's text" 5 "HTTP 500: internal error" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
vault_ctl /_fault '{"status":502,"times":1,"body":"<html>bad gateway</html>"}' > /dev/null
t_expect_fail "a proxy's HTML 502: exit 5, the status alone" 5 "Vault answered HTTP 502\$" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
vault_ctl /_fault '{"status":200,"times":1,"body":"{\"data\":{\"ciphertext\":\"v1:abc\"}}"}' > /dev/null
t_expect_fail "an answer without a vault:vN: ciphertext: exit 5" 5 \
	"Vault answer: no ciphertext" "$(t_wrap_request ocikp "$OPTS" "$KEY")"
vault_ctl /_reset > /dev/null

# --- key URLs and annotations -------------------------------------------------------
for u in vault://transit/k1 vault:///k1 vault://../keys/k1 vault://transit/keys/a/b \
	 "vault://transit/keys/k1?x=1" vault:///transit/ vault://transit/keys/ "vault:///tr ansit/k1"; do
	t_expect_fail "key URL $u refused: exit 3" 3 \
		"key URL must be vault://MOUNT/keys/NAME or vault:///MOUNT/NAME" \
		"$(t_wrap_request ocikp "$OPTS" "$u")"
done
BAD=$(printf '{"key_url":"%s","wrapped_key":"%s"}' "$KEY" "$(head -c 40 /dev/urandom | base64 -w0)" | base64 -w0)
t_expect_fail "an annotation whose wrapped_key is not vault:vN:...: exit 3" 3 \
	"wrapped_key must be a Transit ciphertext" "$(t_unwrap_request ocikp "$BAD" "$KEY")"

# --- transport ------------------------------------------------------------------------
CH=$(t_conf_dir); vault_dropin "$CH" "vault.address = http://127.0.0.1:$VAULT_HTTP"
t_expect_fail "plain http:// without allow_insecure_http: exit 6" 6 "plain http:// is refused" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$CH"
vault_dropin "$CH" "vault.address = http://127.0.0.1:$VAULT_HTTP" "vault.allow_insecure_http = yes"
OUT=$(OCIKP_CONFIG_DIR="$CH" t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ]
t_ok $? "vault.allow_insecure_http = yes: plain http:// to loopback"
vault_dropin "$CH" "vault.address = http://192.0.2.1:8200" "vault.allow_insecure_http = yes"
t_expect_fail "allow_insecure_http to a non-loopback host: refused, exit 6" 6 \
	"plain http:// only to a loopback or link-local address" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$CH"
CA=$(t_conf_dir)
printf 'backend = vault\nmodule = ocikp-vault.so\nschemes = vault\n' > "$CA/50-vault.conf"
OUT=$(VAULT_ADDR=$VAULT_URL VAULT_CACERT=$VAULT_DIR/ca.pem OCIKP_CONFIG_DIR="$CA" t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ]
t_ok $? "VAULT_ADDR and VAULT_CACERT stand in for vault.address and vault.ca_file"
VAULT_ADDR=$VAULT_URL t_expect_fail "VAULT_ADDR without the fake's CA: the certificate does not verify, exit 6" 6 "certificate" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$CA"

# --- no secret on stderr, --verbose included -------------------------------------------
: > "$T_TMP/all-stderr"
for t in "$TOK_ALL" "$TOK_ENC"; do
	VAULT_TOKEN=$t t_run "$(t_wrap_request ocikp "$OPTS" "$KEY")" --verbose
	printf '%s\n' "$T_ERR" >> "$T_TMP/all-stderr"
	VAULT_TOKEN=$t t_run "$(t_unwrap_request ocikp "$ANN" "$KEY")" --verbose
	printf '%s\n' "$T_ERR" >> "$T_TMP/all-stderr"
done
OCIKP_CONFIG_DIR="$CT" VAULT_TOKEN= t_run "$(t_unwrap_request ocikp "$ANN" "$KEY")" --verbose
printf '%s\n' "$T_ERR" >> "$T_TMP/all-stderr"
SYM=c2VjcmV0LXZhdWx0LWxheWVyLWtleQ
! grep -qF -e "$TOK_ALL" -e "$TOK_ENC" -e "${TOK_ALL#hvs.}" -e "$SYM" -e "$(printf '%s' "$OPTS" | base64 -w0 | head -c 40)" \
	-e "secret-vault-layer-key" -e "${WK#vault:v1:}" "$T_TMP/all-stderr" &&
	grep -q "POST /v1/transit/decrypt/k1: HTTP 200" "$T_TMP/all-stderr"
t_ok $? "--verbose: debug lines name the call, never a token, the key or a ciphertext"

t_done
