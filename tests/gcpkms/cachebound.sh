#!/bin/bash
# A token cache file whose expires_at sits at the limits of a 64-bit
# integer (strtoll takes both; the least one overflowed the arithmetic on
# it, issue 24) or beyond any token's lifetime: ocikp ignores it, fetches
# one token and writes a sane file in its place.  The planted token is
# never sent to KMS (no 401): a file taken as good would send it.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/gcpkms/lib.sh"

t_setup
gcp_setup || { echo "1..1"; echo "not ok 1 - fake Google services: $(cat "$GCP_DIR/server.err" 2>/dev/null)"; exit 1; }
gcp_isolate

gcp_dropin "$C" "gcpkms.credentials = $GCP_DIR/sa.json"
KEY="gcpkms://$GCP_KEY"
OPTS='{"symkey":"c2VjcmV0"}'

t_run "$(t_wrap_request ocikp "$OPTS" "$KEY")"
F=$(gcp_cache_mine | head -1)
[ "$T_RC" -eq 0 ] && [ -n "$F" ]
t_ok $? "a first wrap writes the token cache file (exit $T_RC)"

# The file holds the fake's token, and an expiry from now to a day ahead.
sane() {
	python3 - "$GCP_CACHE/$F" "$GCP_PID" <<'PY'
import json, sys, time
c = json.load(open(sys.argv[1]))
now = time.time()
assert c["access_token"].startswith("ya29.fake%s-" % sys.argv[2]), c
assert "planted" not in c["access_token"], c
assert now < c["expires_at"] <= now + 86400 + 60, c
PY
}

for exp in -9223372036854775808 9223372036854775807 -1 99999999999; do
	gcp_ctl /_reset > /dev/null
	# (the fake's pid in the token: gcp_cache_drop finds the file)
	(umask 077; printf '{"v":1,"access_token":"ya29.fake%s-planted","expires_at":%s}\n' \
		"$GCP_PID" "$exp" > "$GCP_CACHE/.plant-$GCP_PID" && mv -f "$GCP_CACHE/.plant-$GCP_PID" "$GCP_CACHE/$F")
	t_run "$(t_wrap_request ocikp "$OPTS" "$KEY")"
	[ "$T_RC" -eq 0 ] && [ "$(gcp_stat token_jwt)" -eq 1 ] &&
		[ "$(gcp_stat unauthorized)" -eq 0 ] && sane
	R=$?
	t_ok $R "expires_at $exp: ignored and replaced, exit 0, one token fetch ($(gcp_stat token_jwt)), no 401 ($(gcp_stat unauthorized))"
	[ $R -eq 0 ] || t_diag "exit $T_RC: $T_ERR"
done

t_done
[ "$T_FAILED" -eq 0 ]
