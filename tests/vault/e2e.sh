#!/bin/bash
# vault end to end through the real ocicrypt library (tests/go): a layer
# encrypted and decrypted with Transit (the fake Vault), with a static
# token and with an AppRole login (one login for the whole run), and the
# annotation ocicrypt stores holding Transit's ciphertext verbatim.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/vault/lib.sh"

t_setup
vault_setup
vault_isolate
KEY=vault://transit/keys/k1

C1=$(t_conf_dir)
vault_dropin "$C1"
VAULT_TOKEN=$TOK_ALL t_e2e "ocicrypt encrypts and decrypts a layer through ocikp and Vault Transit" ocikp "$C1" \
	-enc "ocikp:$KEY" -dec "ocikp:$KEY" -size 100000 -dump "$T_TMP/ours"
if [ -f "$T_TMP/ours/ann.keys.provider.ocikp" ]; then
	python3 - "$T_TMP/ours/ann.keys.provider.ocikp" "$KEY" "$VAULT_DIR/bodies.log" <<'PY'
import json, re, sys
a = json.load(open(sys.argv[1]))
assert list(a) == ["key_url", "wrapped_key"] and a["key_url"] == sys.argv[2], a
assert re.fullmatch(r"vault:v1:[A-Za-z0-9+/]+=*", a["wrapped_key"]), a
sent = [json.loads(l) for l in open(sys.argv[3]) if "ciphertext" in l]
assert {"ciphertext": a["wrapped_key"]} in sent, sent
PY
	t_ok $? "ocicrypt stored {key_url, wrapped_key: vault:v1:...}; decrypt sent that ciphertext verbatim"
else
	t_skip "the annotation ocicrypt stored" "no e2e client"
fi

(umask 077
 printf '%s\n' "$ROLE_ID" > "$T_TMP/role-id"
 printf '%s\n' "$SECRET_ID" > "$T_TMP/secret-id")
C2=$(t_conf_dir)
vault_dropin "$C2" "vault.approle_role_id_file = $T_TMP/role-id" \
	"vault.approle_secret_id_file = $T_TMP/secret-id"
t_e2e "through ocicrypt with an AppRole login" ocikp "$C2" \
	-enc "ocikp:$KEY" -dec "ocikp:$KEY" -size 1000
if [ -x "${E2E:-}" ]; then
	[ "$(vault_stat login_approle)" -eq 1 ]
	t_ok $? "one AppRole login for the whole run ($(vault_stat login_approle))"
fi
t_done
[ "$T_FAILED" -eq 0 ]
