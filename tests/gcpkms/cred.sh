#!/bin/bash
# gcpkms-cred.c against the fake Google server: every credential type fetches
# a token from the endpoints it should (the fake's counters say which, and
# how often), the token opens Cloud KMS, and refusals map to the right
# status with a useful line.  The driver is tests/gcpkms/test-cred.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/gcpkms/lib.sh"

gcp_setup
DRV="$abs_top_builddir/tests/gcpkms/test-cred"
DEBUG="$T_TMP/debug.log"
: > "$DEBUG"

# The fake's non-zero counters, "kind=N ..." sorted.
counters() {	# (no python3 start per case: stats are flat {"kind": N, ...})
	gcp_ctl /_stats | tr -d '{}" \n' | tr ',' '\n' | awk -F: '$2 != 0 { print $1 "=" $2 }' |
		LC_ALL=C sort | paste -sd ' '
}

# run FILE|adc: reset the fake, run the driver; OUT is its line, SEEN the counters.
run() {
	gcp_ctl /_reset > /dev/null
	OUT=$(env -u GOOGLE_APPLICATION_CREDENTIALS "$DRV" "$1" 2>> "$DEBUG")
	SEEN=$(counters)
}

# case DESC FILE WANT_COUNTERS [WANT_IN_LINE]: a token that opens KMS.
case_ok() {
	run "$2"
	[[ "$OUT" == "rc=0 kms=200 "* ]] && [ "$SEEN" = "$3" ] &&
		{ [ -z "${4:-}" ] || [[ "$OUT" == *"$4"* ]]; }
	local r=$?
	[ $r -eq 0 ] || t_diag "$1: $OUT" "counters: $SEEN (want $3)"
	t_ok $r "$1: a token, and KMS takes it ($3)"
}

# case_fail DESC FILE RC WANT_IN_ERR WANT_COUNTERS
case_fail() {
	run "$2"
	[[ "$OUT" == "rc=$3 "* ]] && [[ "$OUT" == *"$4"* ]] && [ "$SEEN" = "$5" ]
	local r=$?
	[ $r -eq 0 ] || t_diag "$1: $OUT" "counters: $SEEN (want $5)"
	t_ok $r "$1: status $3, '$4'"
}

D=$GCP_DIR
case_ok "service_account" "$D/sa.json" "encrypt=1 token_jwt=1" \
	"desc=service_account $GCP_SA_EMAIL"
case_ok "authorized_user, quota project sent to KMS" "$D/au.json" "encrypt=1 token_refresh=1" \
	"quota=$GCP_QUOTA_PROJECT"
grep -q "$GCP_QUOTA_PROJECT" "$D/user-project.log" 2> /dev/null
t_ok $? "the fake saw x-goog-user-project"
case_ok "external_account, text file" "$D/ext-file.json" "encrypt=1 sts=1"
case_ok "external_account, JSON file" "$D/ext-file-json.json" "encrypt=1 sts=1"
case_ok "external_account, text URL with headers" "$D/ext-url.json" "encrypt=1 sts=1 subject=1"
case_ok "external_account, JSON URL" "$D/ext-url-json.json" "encrypt=1 sts=1 subject=1"
case_ok "external_account, impersonating" "$D/ext-imp.json" "encrypt=1 iam=1 sts=1"
case_ok "impersonated_service_account" "$D/imp.json" "encrypt=1 iam=1 token_jwt=1" \
	"desc=impersonated_service_account $GCP_TARGET_EMAIL via service_account"

case_fail "external_account, executable-sourced" "$D/ext-exec.json" 5 \
	"unsupported credential source 'executable'" ""
[ ! -e "$D/exec-ran" ]
t_ok $? "the executable never ran"

# The metadata server: no file anywhere (an empty HOME).
mkdir -p "$T_TMP/home"
HOME="$T_TMP/home" case_ok "metadata server" adc "encrypt=1 metadata=1" "desc=metadata server"

# edit SRC DST PY: DST (mode 0600) is the JSON of SRC with d changed by PY.
edit() {
	python3 -c 'import json, os, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(d).encode())' "$@"
}

# A subject token file as Kubernetes projects it: 0644, behind symlinks.
mkdir -p "$T_TMP/k8s/..2024" && cp "$D/subject-token" "$T_TMP/k8s/..2024/token" &&
	chmod 644 "$T_TMP/k8s/..2024/token" && ln -s ..2024 "$T_TMP/k8s/..data" &&
	ln -s ..data/token "$T_TMP/k8s/token"
edit "$D/ext-file.json" "$T_TMP/ext-k8s.json" "d['credential_source'] = {'file': '$T_TMP/k8s/token'}"
case_ok "a projected token: mode 0644, through symlinks" "$T_TMP/ext-k8s.json" "encrypt=1 sts=1"

# Client authentication at STS (HTTP Basic) does not get in the way.
edit "$D/ext-file.json" "$T_TMP/ext-client.json" "d['client_id'] = 'cid'; d['client_secret'] = 'SECRET-cs'"
case_ok "external_account with client_id/client_secret" "$T_TMP/ext-client.json" "encrypt=1 sts=1"

# A FIFO is refused without blocking.
mkfifo "$T_TMP/fifo"
edit "$D/ext-file.json" "$T_TMP/ext-fifo.json" "d['credential_source'] = {'file': '$T_TMP/fifo'}"
case_fail "a subject token FIFO" "$T_TMP/ext-fifo.json" 5 "not a regular file" ""

# Refusals.  A wrong refresh token: the OAuth error and its description.
edit "$D/au.json" "$T_TMP/au-bad.json" "d['refresh_token'] = '1//wrong-SECRET'"
case_fail "a revoked refresh token" "$T_TMP/au-bad.json" 5 \
	"token endpoint refused the credentials: invalid_grant" "token_refresh=1"
[[ "$OUT" != *SECRET* ]]
t_ok $? "the refresh token is not in the error line"

edit "$D/ext-file.json" "$T_TMP/ext-bad.json" "d['credential_source'] = {'file': '$T_TMP/bad-subject'}"
printf 'eyJ.not-the-subject.token\n' > "$T_TMP/bad-subject"
case_fail "STS refusing a subject token" "$T_TMP/ext-bad.json" 5 "STS refused the credentials: " \
	"sts=1"

TEST_TOKEN_ENDPOINT="$GCP_URL/no/such/path" case_fail "a token endpoint that is not one (404)" \
	"$D/sa.json" 5 "HTTP 404" "unknown=1"

gcp_ctl /_reset > /dev/null
gcp_ctl /_fault '{"match": "/token", "status": 503, "times": 2}' > /dev/null
OUT=$(env -u GOOGLE_APPLICATION_CREDENTIALS "$DRV" "$D/sa.json" 2>> "$DEBUG")
SEEN=$(counters)
[[ "$OUT" == "rc=0 kms=200 "* ]] && [ "$SEEN" = "encrypt=1 token_jwt=3" ]
t_ok $? "503 twice from the token endpoint: retried, then a token ($SEEN)"

gcp_ctl /_reset > /dev/null
gcp_ctl /_fault '{"match": "/token", "status": 500, "times": 1}' > /dev/null
OUT=$(env -u GOOGLE_APPLICATION_CREDENTIALS "$DRV" "$D/sa.json" 2>> "$DEBUG")
[[ "$OUT" == "rc=4 "* ]] && [[ "$OUT" == *"500"* ]]
t_ok $? "500 from the token endpoint: unavailable (${OUT%% desc=*})"

gcp_ctl /_reset > /dev/null
gcp_ctl /_fault '{"match": "/token", "malformed": true, "times": 1}' > /dev/null
OUT=$(env -u GOOGLE_APPLICATION_CREDENTIALS "$DRV" "$D/au.json" 2>> "$DEBUG")
[[ "$OUT" == "rc=4 "* ]] && [[ "$OUT" == *"malformed JSON"* ]]
t_ok $? "a malformed token answer: unavailable (${OUT##* err=})"

gcp_ctl /_reset > /dev/null
gcp_ctl /_fault '{"match": "generateAccessToken", "status": 403, "times": 1}' > /dev/null
OUT=$(env -u GOOGLE_APPLICATION_CREDENTIALS "$DRV" "$D/imp.json" 2>> "$DEBUG")
[[ "$OUT" == "rc=5 "* ]] && [[ "$OUT" == *"IAM credentials refused the credentials: PERMISSION_DENIED"* ]]
t_ok $? "IAM credentials refusing the impersonation: config (${OUT##* err=})"

# GOOGLE_CLOUD_QUOTA_PROJECT bills another project than the file's
# quota_project_id, and a file without one.
GOOGLE_CLOUD_QUOTA_PROJECT=env-quota-proj case_ok "GOOGLE_CLOUD_QUOTA_PROJECT overrides quota_project_id" \
	"$D/au.json" "encrypt=1 token_refresh=1" "quota=env-quota-proj"
[ "$(tail -1 "$D/user-project.log")" = "encrypt env-quota-proj" ]
t_ok $? "the fake saw x-goog-user-project: env-quota-proj ($(tail -1 "$D/user-project.log"))"
GOOGLE_CLOUD_QUOTA_PROJECT=env-quota-proj case_ok "GOOGLE_CLOUD_QUOTA_PROJECT with a service account" \
	"$D/sa.json" "encrypt=1 token_jwt=1" "quota=env-quota-proj"
GOOGLE_CLOUD_QUOTA_PROJECT=$'p\r\nX-Evil: 1' case_fail "GOOGLE_CLOUD_QUOTA_PROJECT that is no project ID" \
	"$D/au.json" 5 "GOOGLE_CLOUD_QUOTA_PROJECT is not a project ID" ""

# A workforce pool: the STS exchange carries options={"userProject": ...}
# (the file's workforce_pool_user_project), which the fake requires, and
# KMS is billed to it.
WF_AUD=//iam.googleapis.com/locations/global/workforcePools/wfpool/providers/prov
edit "$D/config.json" "$D/config.json.tmp" "d['sts']['workforce_audience'] = '$WF_AUD'; d['sts']['user_project'] = 'wf-user-proj'" &&
	mv "$D/config.json.tmp" "$D/config.json"
edit "$D/ext-file.json" "$T_TMP/wf.json" "d['audience'] = '$WF_AUD'; d['workforce_pool_user_project'] = 'wf-user-proj'"
case_ok "external_account, workforce pool: options.userProject sent" "$T_TMP/wf.json" \
	"encrypt=1 sts=1" "quota=wf-user-proj"
[ "$(tail -1 "$D/user-project.log")" = "encrypt wf-user-proj" ]
t_ok $? "KMS billed to the workforce pool's user project ($(tail -1 "$D/user-project.log"))"
edit "$T_TMP/wf.json" "$T_TMP/wf-other.json" "d['workforce_pool_user_project'] = 'other-proj'"
case_fail "the fake checks userProject: another project refused" "$T_TMP/wf-other.json" 5 \
	"STS refused the credentials: invalid_request" "sts=1"
edit "$T_TMP/wf.json" "$T_TMP/wf-none.json" "del d['workforce_pool_user_project']"
case_fail "the fake checks userProject: none refused" "$T_TMP/wf-none.json" 5 \
	"STS refused the credentials: invalid_request" "sts=1"

# A URL the file names with user:password@: refused as configuration (the
# file is wrong, not the request), and the password never in a line.
edit "$D/au.json" "$T_TMP/au-userinfo.json" \
	"d['token_uri'] = d['token_uri'].replace('https://', 'https://user:PW-S3CRET@')"
case_fail "a token_uri with user:password@: configuration" "$T_TMP/au-userinfo.json" 5 \
	"user:password@ is refused" ""
! grep -q "PW-S3CRET" "$DEBUG"
t_ok $? "its password is in no debug line"

# Identities: stable per credential, distinct across them.
ids=""
for f in sa au ext-file ext-imp imp; do
	OUT=$(env -u GOOGLE_APPLICATION_CREDENTIALS "$DRV" "$D/$f.json" 2> /dev/null)
	ids="$ids $(printf '%s\n' "$OUT" | sed -n 's/.* id=\([0-9a-f]\{64\}\) err=.*/\1/p')"
done
[ "$(printf '%s\n' $ids | sort -u | wc -l)" = 5 ]
t_ok $? "five credentials, five identities"

# No secret reached a debug line.
leaks=0
for s in "$GCP_SUBJECT_TOKEN" "$GCP_AU_REFRESH" "$GCP_AU_SECRET" "BEGIN PRIVATE" "wrong-SECRET" \
	 "Bearer" "ya29"; do
	grep -qF -- "$s" "$DEBUG" && { t_diag "debug log holds $s"; leaks=1; }
done
[ -s "$DEBUG" ] && [ $leaks -eq 0 ]
t_ok $? "debug lines ($(wc -l < "$DEBUG")) hold no token, refresh token, secret or key"

t_done
[ $T_FAILED -eq 0 ]
