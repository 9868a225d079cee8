# The local fake Google Cloud (tests/gcpkms/fake_gcp.py) for the gcpkms tests.
# Source it after tests/lib/common.sh.
#
# gcp_setup            make $T_TMP/gcp (CA, server certificate, service-account
#                      key, config.json), start the fake, write the credential
#                      files.  Before any TAP line: it SKIPs the whole test
#                      without openssl/python3/cryptography, and FAILs it when
#                      the fake does not start.  Exports:
#   GCP_DIR            the directory (see fake_gcp.py for what the server keeps there)
#   GCP_HTTPS GCP_HTTP ports: every API over TLS; metadata server + control
#   GCP_URL            https://127.0.0.1:$GCP_HTTPS
#   GCP_KEY GCP_KEY2   two key names the fake knows (projects/.../cryptoKeys/K)
#   GCP_SA_EMAIL       the service account of sa.json (and imp.json's source)
#   GCP_TARGET_EMAIL   the service account impersonated by imp.json/ext-imp.json
#   GCP_SUBJECT_TOKEN  the external-account subject token the STS accepts
#   GCP_QUOTA_PROJECT  au.json's quota_project_id
# Credential files in $GCP_DIR, mode 0600: sa.json au.json ext-file.json
# ext-file-json.json ext-url.json ext-url-json.json ext-imp.json imp.json
# ext-exec.json (its command would create $GCP_DIR/exec-ran: must never run).
#
# gcp_dropin CONFDIR [LINE...]   a 50-gcpkms.conf aimed at the fake
# gcp_ctl PATH [JSON]            POST to the control port (GET for /_stats, /_conns); prints the answer
# gcp_stat KIND                  one counter of /_stats
# gcp_known CT_B64 PT_B64 [KEY]  the fake decrypts CT_B64 to PT_B64 (on KEY, or any key)

. "$top_srcdir/tests/lib/fake.sh"

gcp_fail() { fake_setup_fail gcp "$*"; }

# gcp_json FILE PYTHON-EXPR [FILE EXPR...]: write each FILE (mode 0600) as the
# JSON of its expression, in one python3 run (they are slow to start); the
# expressions see os.environ as E and read files with rd().
gcp_json() {
	(umask 077; python3 -c 'import json, os, sys
E = os.environ
def rd(p):
    with open(p) as f:
        return f.read()
a = sys.argv[1:]
for path, expr in zip(a[::2], a[1::2]):
    with open(path + ".tmp", "w") as f:
        json.dump(eval(expr), f, indent=1)
    os.rename(path + ".tmp", path)' "$@")
}

gcp_rand() { fake_rand "$@"; }

gcp_certs() {
	local d=$GCP_DIR
	fake_server_certs "$d" "ocikp fake GCP test CA" &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/sa.key" 2> "$d/openssl.err" &&
	openssl pkey -in "$d/sa.key" -pubout -out "$d/sa.pub" 2> "$d/openssl.err"
}

gcp_setup() {
	fake_require

	GCP_DIR="$T_TMP/gcp"
	{ mkdir -p "$GCP_DIR" && chmod 700 "$GCP_DIR"; } || gcp_fail "mkdir $GCP_DIR"
	gcp_certs || gcp_fail "certificates: $(cat "$GCP_DIR/openssl.err")"

	GCP_KEY=projects/fake-project/locations/global/keyRings/ring/cryptoKeys/key1
	GCP_KEY2=projects/fake-project/locations/europe-west1/keyRings/ring/cryptoKeys/key2
	GCP_SA_EMAIL=wrapper@fake-project.iam.gserviceaccount.com
	GCP_TARGET_EMAIL=target@fake-project.iam.gserviceaccount.com
	GCP_SA_KID=$(gcp_rand 20)
	GCP_SUBJECT_TOKEN="eyJhbGciOiJSUzI1NiJ9.$(gcp_rand 24).$(gcp_rand 32)"
	GCP_SUBJECT_HDR=$(gcp_rand 8)
	GCP_AU_ID="$(gcp_rand 6).apps.googleusercontent.com"
	GCP_AU_SECRET=$(gcp_rand 12)
	GCP_AU_REFRESH="1//$(gcp_rand 24)"
	GCP_QUOTA_PROJECT=fake-quota-project
	GCP_AUDIENCE=//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/prov
	export GCP_DIR GCP_KEY GCP_KEY2 GCP_SA_EMAIL GCP_TARGET_EMAIL GCP_SA_KID GCP_SUBJECT_TOKEN \
		GCP_SUBJECT_HDR GCP_AU_ID GCP_AU_SECRET GCP_AU_REFRESH GCP_QUOTA_PROJECT GCP_AUDIENCE

	gcp_json "$GCP_DIR/config.json" '{
 "service_accounts": {E["GCP_SA_EMAIL"]: rd(E["GCP_DIR"] + "/sa.pub"),
                      E["GCP_TARGET_EMAIL"]: rd(E["GCP_DIR"] + "/sa.pub")},
 "service_account_key_ids": {E["GCP_SA_EMAIL"]: E["GCP_SA_KID"]},
 "authorized_users": [{"client_id": E["GCP_AU_ID"], "client_secret": E["GCP_AU_SECRET"],
                       "refresh_token": E["GCP_AU_REFRESH"]}],
 "sts": {"audience": E["GCP_AUDIENCE"], "subject_tokens": [E["GCP_SUBJECT_TOKEN"]]},
 "subject_headers": {"X-Subject-Auth": E["GCP_SUBJECT_HDR"]},
 "keys": [E["GCP_KEY"], E["GCP_KEY2"]],
 "known_ciphertexts": {},
 "token_ttl": 3600}' || gcp_fail "config.json"

	fake_start "$GCP_DIR" "$top_srcdir/tests/gcpkms/fake_gcp.py" ||
		gcp_fail "the fake did not start: $(cat "$GCP_DIR/server.err")"
	GCP_PID=$FAKE_PID
	GCP_HTTPS=$(fake_port "$GCP_DIR" https)
	GCP_HTTP=$(fake_port "$GCP_DIR" http)
	GCP_URL="https://127.0.0.1:$GCP_HTTPS"
	export GCP_HTTPS GCP_HTTP GCP_URL GCP_PID
	gcp_creds || gcp_fail "credential files"
}

# The credential files, one of each type, once the ports are known.
gcp_creds() {
	local d=$GCP_DIR
	(umask 077
	 printf '%s\n' "$GCP_SUBJECT_TOKEN" > "$d/subject-token"
	 printf '{"token": "%s"}\n' "$GCP_SUBJECT_TOKEN" > "$d/subject-token.json"
	 printf '#!/bin/sh\ntouch "%s/exec-ran"\necho "{}"\n' "$d" > "$d/exec-subject.sh"
	 chmod 700 "$d/exec-subject.sh") || return 1
	local sa='{"type": "service_account", "project_id": "fake-project",
 "private_key_id": E["GCP_SA_KID"], "private_key": rd(E["GCP_DIR"] + "/sa.key"),
 "client_email": E["GCP_SA_EMAIL"], "client_id": "100000000000000000001",
 "auth_uri": "https://accounts.google.com/o/oauth2/auth",
 "token_uri": E["GCP_URL"] + "/token",
 "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
 "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/wrapper",
 "universe_domain": "googleapis.com"}'
	local ext='{"type": "external_account", "audience": E["GCP_AUDIENCE"],
 "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
 "token_url": E["GCP_URL"] + "/v1/token", "universe_domain": "googleapis.com"}'
	local imp='E["GCP_URL"] + "/v1/projects/-/serviceAccounts/" + E["GCP_TARGET_EMAIL"] + ":generateAccessToken"'
	local hdrs='{"X-Subject-Auth": E["GCP_SUBJECT_HDR"]}'
	local fmt='{"type": "json", "subject_token_field_name": "token"}'
	gcp_json "$d/sa.json" "$sa" \
		"$d/au.json" '{"type": "authorized_user", "client_id": E["GCP_AU_ID"],
 "client_secret": E["GCP_AU_SECRET"], "refresh_token": E["GCP_AU_REFRESH"],
 "quota_project_id": E["GCP_QUOTA_PROJECT"], "token_uri": E["GCP_URL"] + "/token",
 "universe_domain": "googleapis.com"}' \
		"$d/ext-file.json" "dict($ext, credential_source={\"file\": E[\"GCP_DIR\"] + \"/subject-token\"})" \
		"$d/ext-file-json.json" "dict($ext, credential_source={\"file\": E[\"GCP_DIR\"] + \"/subject-token.json\", \"format\": $fmt})" \
		"$d/ext-url.json" "dict($ext, credential_source={\"url\": E[\"GCP_URL\"] + \"/subject\", \"headers\": $hdrs})" \
		"$d/ext-url-json.json" "dict($ext, credential_source={\"url\": E[\"GCP_URL\"] + \"/subject.json\", \"headers\": $hdrs, \"format\": $fmt})" \
		"$d/ext-imp.json" "dict($ext, credential_source={\"file\": E[\"GCP_DIR\"] + \"/subject-token\"}, service_account_impersonation_url=$imp)" \
		"$d/ext-exec.json" "dict($ext, credential_source={\"executable\": {\"command\": E[\"GCP_DIR\"] + \"/exec-subject.sh\", \"timeout_millis\": 5000}})" \
		"$d/imp.json" "{\"type\": \"impersonated_service_account\", \"service_account_impersonation_url\": $imp, \"delegates\": [], \"source_credentials\": $sa}"
}

# gcp_dropin CONFDIR [LINE...]: the gcpkms drop-in aimed at the fake.
gcp_dropin() {
	local conf=$1 line
	shift
	{
		printf 'backend = gcpkms\nmodule = ocikp-gcpkms.so\nschemes = gcpkms\n'
		printf 'gcpkms.kms_endpoint = %s\n' "$GCP_URL"
		printf 'gcpkms.ca_file = %s\n' "$GCP_DIR/ca.pem"
		printf 'gcpkms.metadata_host = 127.0.0.1:%s\n' "$GCP_HTTP"
		for line in "$@"; do printf '%s\n' "$line"; done
	} > "$conf/50-gcpkms.conf"
	chmod 644 "$conf/50-gcpkms.conf"
}

# gcp_ctl PATH [JSON]: talk to the control port; prints the answer body.
gcp_ctl() {
	local body=${2:-'{}'}
	case $1 in
	/_stats | /_conns) fake_ctl "$GCP_HTTP" GET "$1" ;;
	*) fake_ctl "$GCP_HTTP" POST "$1" "$body" ;;
	esac
}
gcp_stat() {
	local s
	s=$(gcp_ctl /_stats) && fake_num "$s" "$1"
}
gcp_known() {
	GCP_CT=$1 GCP_PT=$2 GCP_FOR=${3:-} python3 -c 'import json, os
p = os.environ["GCP_DIR"] + "/config.json"
with open(p) as f:
    c = json.load(f)
v = os.environ["GCP_PT"]
if os.environ["GCP_FOR"]:
    v = {"plaintext": v, "key": os.environ["GCP_FOR"]}
c.setdefault("known_ciphertexts", {})[os.environ["GCP_CT"]] = v
with open(p + ".tmp", "w") as f:
    json.dump(c, f, indent=1)
os.rename(p + ".tmp", p)'
}

# gcp_isolate: the environment of an ocikp run under test.  No ADC from the
# caller (GOOGLE_APPLICATION_CREDENTIALS unset, an empty HOME), and the token
# cache in GCP_CACHE: a private XDG_RUNTIME_DIR for a user; root's is
# /run/ocikp/gcpkms, which parallel tests share.  There each test's
# identities are its own (they name its fake's port), and its files are
# told apart by the fake's tokens, which carry the fake's pid:
# gcp_cache_mine lists them, gcp_cache_drop removes them (also at exit).
gcp_isolate() {
	unset GOOGLE_APPLICATION_CREDENTIALS
	export HOME="$T_TMP/home"
	mkdir -p "$HOME"
	fake_state_dir GCP_CACHE gcpkms
	t_at_exit gcp_cache_drop
}

gcp_cache_mine() {
	local f
	for f in "$GCP_CACHE"/token-*.json; do
		[ -f "$f" ] && grep -qF "ya29.fake$GCP_PID-" "$f" 2> /dev/null && basename "$f"
	done
	return 0
}

gcp_cache_drop() {
	local f
	for f in $(gcp_cache_mine); do rm -f "$GCP_CACHE/$f" "$GCP_CACHE/${f%.json}.lock"; done
}
