# The local fake Vault (tests/vault/fake_vault.py) for the vault tests.
# Source it after tests/lib/common.sh.
#
# vault_setup          make $T_TMP/vault (CA, server certificate, config.json),
#                      start the fake.  SKIPs the whole test without
#                      openssl/python3/cryptography; FAILs it when the fake does
#                      not start.  Sets VAULT_DIR, VAULT_HTTPS, VAULT_HTTP,
#                      VAULT_URL, and three tokens: TOK_ALL (encrypt and
#                      decrypt on every key), TOK_ENC (encrypt only),
#                      TOK_NONE (no policy).  Keys: transit/k1, transit/k2,
#                      team/transit/nsk (namespace team), transit/derived
#                      (derived: needs a context).  Logins: AppRole ROLE_ID +
#                      SECRET_ID, Kubernetes role image-puller + K8S_JWT (both
#                      get TOK_ALL's policy); TLS certificate auth on the mtls
#                      port (VAULT_MTLS) for CN ocikp-client, role images.
# vault_dropin CONFDIR [LINE...]   a 50-vault.conf aimed at the fake
# vault_ctl PATH [JSON]            the control port (GET for /_stats)
# vault_stat KIND                  one counter of /_stats

. "$top_srcdir/tests/lib/fake.sh"

vault_fail() { fake_setup_fail vault "$*"; }

vault_rand() { fake_rand "$@"; }

vault_setup() {
	fake_require
	VAULT_DIR="$T_TMP/vault"
	{ mkdir -p "$VAULT_DIR" && chmod 700 "$VAULT_DIR"; } || vault_fail "mkdir $VAULT_DIR"
	fake_server_certs "$VAULT_DIR" "ocikp fake Vault test CA" ||
		vault_fail "certificates: $(cat "$VAULT_DIR/openssl.err")"
	TOK_ALL="hvs.$(vault_rand 12)"
	TOK_ENC="hvs.$(vault_rand 12)"
	TOK_NONE="hvs.$(vault_rand 12)"
	ROLE_ID=$(vault_rand 8)-role
	SECRET_ID=$(vault_rand 12)-secret
	K8S_JWT="eyJhbGciOiJSUzI1NiJ9.$(vault_rand 24).$(vault_rand 32)"
	export TOK_ALL TOK_ENC TOK_NONE ROLE_ID SECRET_ID K8S_JWT
	python3 - "$VAULT_DIR/config.json" <<'PY' || vault_fail "config.json"
import json, os, sys
E = os.environ
keys = ["transit/k1", "transit/k2", "team/transit/nsk", "transit/derived"]
c = {"tokens": {E["TOK_ALL"]: {"encrypt": keys, "decrypt": keys},
                E["TOK_ENC"]: {"encrypt": keys, "decrypt": []},
                E["TOK_NONE"]: {}},
     "keys": {k: {"derived": k.endswith("derived")} for k in keys},
     "approle": {"role_id": E["ROLE_ID"], "secret_id": E["SECRET_ID"], "as": E["TOK_ALL"]},
     "kubernetes": {"role": "image-puller", "jwt": E["K8S_JWT"], "as": E["TOK_ALL"]},
     "cert": {"cn": "ocikp-client", "name": "images", "as": E["TOK_ALL"]}}
c["tokens"][E["TOK_ALL"]]["encrypt"].append("transit/missing")
json.dump(c, open(sys.argv[1] + ".tmp", "w"))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
PY
	fake_start "$VAULT_DIR" "$top_srcdir/tests/vault/fake_vault.py" ||
		vault_fail "the fake did not start: $(cat "$VAULT_DIR/server.err")"
	VAULT_HTTPS=$(fake_port "$VAULT_DIR" https)
	VAULT_HTTP=$(fake_port "$VAULT_DIR" http)
	VAULT_MTLS=$(fake_port "$VAULT_DIR" mtls)
	VAULT_URL="https://127.0.0.1:$VAULT_HTTPS"
	VAULT_PID=$FAKE_PID
	# nothing from the caller's environment or home
	unset VAULT_ADDR VAULT_TOKEN VAULT_CACERT VAULT_NAMESPACE
	export HOME="$T_TMP/home"
	mkdir -p "$HOME"
}

vault_dropin() {
	local conf=$1 line
	shift
	{
		printf 'backend = vault\nmodule = ocikp-vault.so\nschemes = vault\n'
		printf 'vault.address = %s\n' "$VAULT_URL"
		printf 'vault.ca_file = %s\n' "$VAULT_DIR/ca.pem"
		for line in "$@"; do printf '%s\n' "$line"; done
	} > "$conf/50-vault.conf"
	chmod 644 "$conf/50-vault.conf"
}

vault_ctl() {
	local body=${2:-'{}'}
	case $1 in
	/_stats) fake_ctl "$VAULT_HTTP" GET "$1" ;;
	*) fake_ctl "$VAULT_HTTP" POST "$1" "$body" ;;
	esac
}
vault_stat() {
	local s
	s=$(vault_ctl /_stats) && fake_num "$s" "$1"
}

# vault_isolate: login tokens cached in VAULT_CACHE, a private
# XDG_RUNTIME_DIR for a user; root's is /run/ocikp/vault, which parallel
# tests share: there this test's files (their tokens carry the fake's pid)
# are listed by vault_cache_mine and removed at exit.
vault_isolate() {
	fake_state_dir VAULT_CACHE vault
	t_at_exit vault_cache_drop
}
vault_cache_mine() {
	local f
	for f in "$VAULT_CACHE"/login-*.json; do
		[ -f "$f" ] && grep -qF "hvs.login${VAULT_PID}x" "$f" 2> /dev/null && echo "$f"
	done
	return 0
}
vault_cache_drop() {
	local f
	for f in $(vault_cache_mine); do rm -f "$f" "${f%.json}.lock"; done
}

# vault_client_cert NAME CN: DIR/NAME.pem, DIR/NAME.key (0600), a client
# certificate signed by the fake's CA.
vault_client_cert() {
	local d=$VAULT_DIR
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$d/$1.key" -out "$d/$1.csr" 2> "$d/openssl.err" &&
	printf 'extendedKeyUsage=clientAuth\n' > "$d/$1.ext" &&
	openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/$1.ext" -out "$d/$1.pem" 2> "$d/openssl.err" &&
	chmod 600 "$d/$1.key"
}
