#!/bin/bash
# The vault backend's logins against the fake Vault: AppRole and
# Kubernetes and TLS certificate auth, the order of the methods and vault.auth pinning one,
# login tokens cached (0600, the state directory) until their lease ends
# less a margin, 20 execs -> one login, a 403 with a login token -> exactly
# one new login and retry, with a static token none; the namespace header
# on logins; no secret on stderr.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/vault/lib.sh"

t_setup
vault_setup
vault_isolate

KEY=vault://transit/keys/k1
OPTS='{"symkey":"bG9naW4tbGF5ZXIta2V5","cipheroptions":{}}'
(umask 077
 printf '%s\n' "$ROLE_ID" > "$T_TMP/role-id"
 printf '%s\n' "$SECRET_ID" > "$T_TMP/secret-id"
 printf 'wrong-%s\n' "$SECRET_ID" > "$T_TMP/bad-secret-id"
 printf '%s' "$K8S_JWT" > "$T_TMP/sa-token")
APPROLE=("vault.approle_role_id_file = $T_TMP/role-id" "vault.approle_secret_id_file = $T_TMP/secret-id")
vault_dropin "$C" "${APPROLE[@]}"

ANN=$(t_wrap "$OPTS" "$KEY")
OUT=$(t_unwrap "$ANN" "$KEY")
[ -n "$ANN" ] && [ "$OUT" = "$OPTS" ] && [ "$(vault_stat login_approle)" -eq 1 ] &&
	grep -q '^POST /v1/auth/approle/login ns=$' "$VAULT_DIR/requests.log"
t_ok $? "AppRole: wrap and unwrap, one login for both (execs share the cached token)"
python3 -c 'import json, sys
b = [json.loads(l) for l in open(sys.argv[1]) if "role_id" in l][0]
assert b == {"role_id": sys.argv[2], "secret_id": sys.argv[3]}, b' \
	"$VAULT_DIR/bodies.log" "$ROLE_ID" "$SECRET_ID"
t_ok $? "the login body is {role_id, secret_id} from the files, trailing newline dropped"
F=$(vault_cache_mine)
[ "$(printf '%s\n' "$F" | grep -c .)" -eq 1 ] && [ "$(stat -c %a "$F")" = 600 ] &&
	! grep -qF -e "$SECRET_ID" -e "$ROLE_ID" "$F"
t_ok $? "the login token is cached in the state directory, mode 0600, no role or secret id in it"

for i in $(seq 20); do t_unwrap "$ANN" "$KEY" > /dev/null || break; done
[ "$(vault_stat login_approle)" -eq 1 ] && [ "$(vault_stat decrypt)" -ge 21 ]
t_ok $? "20 more execs: still one login ($(vault_stat login_approle))"

vault_ctl /_revoke > /dev/null
D0=$(vault_stat denied)
OUT=$(t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ] && [ "$(vault_stat login_approle)" -eq 2 ] && [ "$(vault_stat denied)" -eq $((D0 + 1)) ]
t_ok $? "a revoked login token: one 403, exactly one new login, the retry opens it"
OUT=$(t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ] && [ "$(vault_stat login_approle)" -eq 2 ]
t_ok $? "... and the new token is the one cached"

# A token that stays refused after the new login: one login, then exit 4.
python3 - "$VAULT_DIR/config.json" "$TOK_ENC" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1])); c["approle"]["as"] = sys.argv[2]
json.dump(c, open(sys.argv[1] + ".tmp", "w")); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
PY
vault_ctl /_revoke > /dev/null
D0=$(vault_stat denied)
t_expect_fail "refused again after the new login: exit 4, no third try" 4 "HTTP 403: .*permission denied" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
[ "$(vault_stat login_approle)" -eq 3 ] && [ "$(vault_stat denied)" -eq $((D0 + 2)) ]
t_ok $? "... exactly one new login ($(vault_stat login_approle)), two decrypts refused ($(($(vault_stat denied) - D0)))"
python3 - "$VAULT_DIR/config.json" "$TOK_ALL" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1])); c["approle"]["as"] = sys.argv[2]
json.dump(c, open(sys.argv[1] + ".tmp", "w")); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
PY
vault_ctl /_revoke > /dev/null

# A static token comes first and is never replaced by a login.
L0=$(vault_stat login_approle)
VAULT_TOKEN=$TOK_NONE t_expect_fail "VAULT_TOKEN before AppRole; its 403: exit 4" 4 \
	"HTTP 403: .*permission denied" "$(t_unwrap_request ocikp "$ANN" "$KEY")"
[ "$(vault_stat login_approle)" -eq "$L0" ]
t_ok $? "... and no login for a static token's 403"

CB=$(t_conf_dir); vault_dropin "$CB" "vault.approle_role_id_file = $T_TMP/role-id" \
	"vault.approle_secret_id_file = $T_TMP/bad-secret-id"
t_expect_fail "AppRole login refused: exit 6 with Vault's text" 6 \
	"HTTP 400: invalid role or secret ID" "$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$CB"
chmod 644 "$T_TMP/secret-id"
CM=$(t_conf_dir); vault_dropin "$CM" "${APPROLE[@]}" "vault.namespace = team"
t_expect_fail "a secret_id file readable by others: refused, exit 6" 6 "AppRole secret_id file" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$CM"
chmod 600 "$T_TMP/secret-id"

ANNN=$(OCIKP_CONFIG_DIR="$CM" t_wrap "$OPTS" vault://transit/keys/nsk)
[ -n "$ANNN" ] && grep -q '^POST /v1/auth/approle/login ns=team$' "$VAULT_DIR/requests.log"
t_ok $? "vault.namespace goes on the login too (a login of its own)"

# Kubernetes, and vault.auth pinning a method.
CK=$(t_conf_dir); vault_dropin "$CK" "vault.kubernetes_role = image-puller" \
	"vault.kubernetes_token_file = $T_TMP/sa-token"
OUT1=$(OCIKP_CONFIG_DIR="$CK" t_unwrap "$ANN" "$KEY")
OUT2=$(OCIKP_CONFIG_DIR="$CK" t_unwrap "$ANN" "$KEY")
[ "$OUT1$OUT2" = "$OPTS$OPTS" ] && [ "$(vault_stat login_kubernetes)" -eq 1 ] &&
	python3 -c 'import json, sys
b = [json.loads(l) for l in open(sys.argv[1]) if "\"jwt\"" in l][-1]
assert b == {"role": "image-puller", "jwt": sys.argv[2]}, b' "$VAULT_DIR/bodies.log" "$K8S_JWT"
t_ok $? "Kubernetes auth: {role, jwt} to /v1/auth/kubernetes/login, one login for two execs"
CP=$(t_conf_dir); vault_dropin "$CP" "${APPROLE[@]}" "vault.kubernetes_role = image-puller" \
	"vault.kubernetes_token_file = $T_TMP/sa-token" "vault.auth = kubernetes"
L0=$(vault_stat login_approle)
OUT=$(VAULT_TOKEN=$TOK_NONE OCIKP_CONFIG_DIR="$CP" t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ] && [ "$(vault_stat login_approle)" -eq "$L0" ]
t_ok $? "vault.auth = kubernetes: neither VAULT_TOKEN nor AppRole is used"
CQ=$(t_conf_dir); vault_dropin "$CQ" "vault.auth = approle"
t_expect_fail "vault.auth = approle without its files: exit 6 saying so" 6 \
	"vault.auth = approle, but approle_role_id_file and approle_secret_id_file are not both set" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$CQ"
vault_dropin "$CQ" "vault.auth = ldap"
t_expect_fail "vault.auth = ldap: exit 6" 6 "auth must be token, approle, kubernetes or cert" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$CQ"

# TLS certificate auth, on the listener that asks for a client certificate.
vault_client_cert client ocikp-client && vault_client_cert other someone-else
t_ok $? "client certificates made"
CC=$(t_conf_dir); vault_dropin "$CC" "vault.address = https://127.0.0.1:$VAULT_MTLS" \
	"vault.client_cert = $VAULT_DIR/client.pem" "vault.client_key = $VAULT_DIR/client.key" \
	"vault.cert_role = images"
OUT1=$(OCIKP_CONFIG_DIR="$CC" t_unwrap "$ANN" "$KEY")
OUT2=$(OCIKP_CONFIG_DIR="$CC" t_unwrap "$ANN" "$KEY")
[ "$OUT1$OUT2" = "$OPTS$OPTS" ] && [ "$(vault_stat login_cert)" -eq 1 ] &&
	python3 -c 'import json, sys
b = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{") and json.loads(l) == {"name": "images"}]
assert b' "$VAULT_DIR/bodies.log"
t_ok $? "TLS certificate auth: {name} to /v1/auth/cert/login with the client certificate, one login for two execs"
vault_dropin "$CC" "vault.address = https://127.0.0.1:$VAULT_MTLS" \
	"vault.client_cert = $VAULT_DIR/other.pem" "vault.client_key = $VAULT_DIR/other.key"
t_expect_fail "a certificate Vault does not map: exit 6 with Vault's text" 6 \
	"HTTP 400: invalid certificate or no client certificate supplied" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$CC"
chmod 644 "$VAULT_DIR/other.key"
t_expect_fail "a client key readable by others: refused, exit 6" 6 "Vault client key" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$CC"
CD=$(t_conf_dir); vault_dropin "$CD" "vault.auth = cert"
t_expect_fail "vault.auth = cert without a certificate: exit 6 saying so" 6 \
	"vault.auth = cert, but client_cert and client_key are not both set" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$CD"

# A lease inside the margin is not kept: each exec logs in.
vault_ctl /_revoke > /dev/null
vault_cache_drop
vault_ctl /_lease '{"lease": 30}' > /dev/null
L0=$(vault_stat login_approle)
OUT1=$(t_unwrap "$ANN" "$KEY")
OUT2=$(t_unwrap "$ANN" "$KEY")
[ "$OUT1$OUT2" = "$OPTS$OPTS" ] && [ "$(vault_stat login_approle)" -eq $((L0 + 2)) ] &&
	[ -z "$(vault_cache_mine)" ]
t_ok $? "a lease shorter than the margin is used once, never cached"
vault_ctl /_lease '{"lease": 3600}' > /dev/null

# No secret on stderr, --verbose included.
: > "$T_TMP/all-stderr"
vault_cache_drop
vault_dropin "$CC" "vault.address = https://127.0.0.1:$VAULT_MTLS" \
	"vault.client_cert = $VAULT_DIR/client.pem" "vault.client_key = $VAULT_DIR/client.key"
for conf in "$C" "$CK" "$CB" "$CC"; do
	t_run "$(t_unwrap_request ocikp "$ANN" "$KEY")" --verbose --config-dir="$conf"
	printf '%s\n' "$T_ERR" >> "$T_TMP/all-stderr"
done
! grep -qF -e "$(sed -n 2p "$VAULT_DIR/client.key")" -e "$SECRET_ID" -e "$K8S_JWT" -e "${K8S_JWT:20:20}" -e "hvs.login" -e "$TOK_ALL" \
	"$T_TMP/all-stderr" && grep -q "approle login, POST /v1/auth/approle/login: HTTP 200" "$T_TMP/all-stderr"
t_ok $? "--verbose: the logins named, never a secret_id, a JWT or a token"

t_done
