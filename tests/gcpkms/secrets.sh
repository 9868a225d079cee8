#!/bin/bash
# What a gcpkms exec leaves in memory, under the LD_PRELOAD shim
# (tests/shim/ocikp-shim.c; see tests/secrets.sh): the layer key options,
# the access token (from the cache and in libcurl's header copies), the
# service account's private key, an authorized user's refresh token and
# client secret must be in no freed block and nowhere in writable memory at
# exit, on success and on failure.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/gcpkms/lib.sh"
t_shim_or_skip
t_setup
gcp_setup || { echo "1..1"; echo "not ok 1 - fake Google services: $(cat "$GCP_DIR/server.err" 2>/dev/null)"; exit 1; }
gcp_isolate
# lib.sh exports the credentials' secrets for its own scripts: ocikp must
# not inherit them in its environment (the shim would find them there).
export -n GCP_AU_SECRET GCP_AU_REFRESH GCP_AU_ID GCP_SUBJECT_TOKEN GCP_SUBJECT_HDR
gcp_dropin "$C" "gcpkms.credentials = $GCP_DIR/sa.json"
KEY="gcpkms://$GCP_KEY"
OPTS="{\"symkey\":\"$(head -c 32 /dev/urandom | base64 -w0)\"}"
ANN=$(t_wrap "$OPTS" "$KEY")
[ -n "$ANN" ] || { t_ok 1 "wrap for the setup: $T_ERR"; t_done; exit 1; }

# The cached token, and a line of the service account's private key (the
# middle of its base64, as it sits in the JSON file and in the PEM).
TOKEN=$(for f in $(gcp_cache_mine); do python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$GCP_CACHE/$f"; done | head -1)
PEMLINE=$(sed -n 3p "$GCP_DIR/sa.key")
[ -n "$TOKEN" ] && [ ${#PEMLINE} -ge 60 ]
t_ok $? "setup: the cached token and a private key line to search for"
S_OPTS=$(printf '%s' "$OPTS" | hex)
S_TOKEN=$(printf '%s' "$TOKEN" | hex)
S_PEM=$(printf '%s' "$PEMLINE" | hex)

t_shim_run "$S_OPTS,$S_TOKEN,$S_PEM" "$(t_unwrap_request ocikp "$ANN" "$KEY")"
t_shim_ok "unwrap, token from the cache: no options, token or key left behind" 0 3
t_shim_run "$S_OPTS,$S_TOKEN,$S_PEM" "$(t_wrap_request ocikp "$OPTS" "$KEY")"
t_shim_ok "wrap, token from the cache: likewise" 0 3

# Cold: the JWT is signed with the private key, a new token fetched.
gcp_cache_drop
t_shim_run "$S_OPTS,$S_PEM" "$(t_unwrap_request ocikp "$ANN" "$KEY")"
t_shim_ok "unwrap with a JWT grant (cold cache): no options or key left behind" 0 2

# authorized_user: the refresh token and client secret.
C2=$(t_conf_dir)
gcp_dropin "$C2" "gcpkms.credentials = $GCP_DIR/au.json"
S_AU="$(printf '%s' "$GCP_AU_REFRESH" | hex),$(printf '%s' "$GCP_AU_SECRET" | hex)"
t_shim_run "$S_OPTS,$S_AU" "$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$C2"
t_shim_ok "unwrap as an authorized user: no refresh token or client secret left behind" 0 3

# Failures: KMS refuses (403), and the token endpoint refuses.
gcp_ctl /_fault '{"match":":decrypt","status":403,"times":1}' > /dev/null
t_shim_run "$S_OPTS,$S_TOKEN,$S_PEM" "$(t_unwrap_request ocikp "$ANN" "$KEY")"
t_shim_ok "KMS answers 403 (exit 4): nothing left behind" 4 3
gcp_cache_drop
gcp_ctl /_fault '{"match":"/token","status":400,"times":1,"body":"{\"error\":\"invalid_grant\"}"}' > /dev/null
t_shim_run "$S_OPTS,$S_AU" "$(t_unwrap_request ocikp "$ANN" "$KEY")" --config-dir="$C2"
t_shim_ok "the token endpoint refuses (exit 6): no refresh token or secret left behind" 6 3
t_done
[ "$T_FAILED" -eq 0 ]
