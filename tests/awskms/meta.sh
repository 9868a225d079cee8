#!/bin/bash
# awskms credentials from metadata services, against the plain http fakes in
# tests/awskms/fake_aws.py (on loopback, as the real ones are on link-local
# addresses): container credentials (ECS, EKS Pod Identity) and IMDSv2.
# Each source with exactly its calls, the chain order, the token file read
# again each time, every failure named in the line, no secret on stderr.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/awskms/lib.sh"

t_setup
aws_setup
aws_isolate
aws_state
aws_dropin "$C"
KEY="awskms://arn:aws:kms:us-east-1:123456789012:key/$AWS_KEY1"
OPTS='{"symkey":"c2VjcmV0","cipheroptions":{"nonce":"bm9uY2U="}}'
CONT="http://127.0.0.1:$AWS_FAKE_CONTAINER"
IMDS="http://127.0.0.1:$AWS_FAKE_IMDS"

# Container and IMDS credentials are cached (lib/credcache) like STS's: a
# test of the fetch itself starts with none (only this test makes these).
uncache() { rm -f "$AWS_CACHE"/container-* "$AWS_CACHE"/imds-*; }
meta() { aws_ctl /_meta "$1" > /dev/null; uncache; }
# meta_get SOURCE FIELD: the fake's own credentials for a source
meta_get() { fake_ctl "$AWS_HTTP" GET /_meta | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])' "$1" "$2"; }
reset() { aws_ctl /_reset > /dev/null; : > "$AWS_DIR/meta.log"; uncache; }
last_akid() { tail -1 "$AWS_DIR/requests.log" | cut -d' ' -f3; }
# stats NAME...: the counters, space-separated
stats() { local s n out=; s=$(aws_ctl /_stats); for n; do out="$out$(fake_num "$s" "$n") "; done; echo "${out% }"; }

CAKID=$(meta_get container akid) && CSECRET=$(meta_get container secret) &&
	CTOKEN=$(meta_get container token) && IAKID=$(meta_get imds akid) &&
	ISECRET=$(meta_get imds secret) && ITOKEN=$(meta_get imds token) && [ -n "$ITOKEN" ] ||
	aws_fail "the fake's metadata credentials"

# --- container credentials ---------------------------------------------------------
AUTH1="Bearer-$(aws_rand 16)"
meta "{\"container\": {\"auth\": \"$AUTH1\"}}"
reset
export AWS_CONTAINER_CREDENTIALS_FULL_URI="$CONT/v1/credentials" AWS_CONTAINER_AUTHORIZATION_TOKEN=$AUTH1
A=$(t_wrap "$OPTS" "$KEY") && [ "$(last_akid)" = "$CAKID" ] &&
	tail -1 "$AWS_DIR/requests.log" | grep -q "x-amz-security-token" &&
	[ "$(stats container_get container_unauthorized imds_put)" = "1 0 0" ]
t_ok $? "AWS_CONTAINER_CREDENTIALS_FULL_URI + _TOKEN: one GET with the Authorization, its session keys signed KMS"
OUT=$(t_unwrap "$A" "$KEY") && [ "$OUT" = "$OPTS" ]
t_ok $? "... and unwrap"
grep -qx "container GET /v1/credentials authorization=yes" "$AWS_DIR/meta.log"
t_ok $? "... the URI's path as given"
[ "$(stats container_get)" = 1 ]
t_ok $? "... the unwrap's credentials from the cache (one GET for both)"
A=$(AWS_CONTAINER_CREDENTIALS_FULL_URI="http://localhost:$AWS_FAKE_CONTAINER/v1/credentials" t_wrap "$OPTS" "$KEY") &&
	[ "$(last_akid)" = "$CAKID" ]
t_ok $? "plain http to localhost (a name whose addresses are all loopback)"

# EKS Pod Identity: a token file as Kubernetes projects it (0644), rotated.
TOKF="$T_TMP/eks-pod-identity-token"
printf '%s\n' "$AUTH1" > "$TOKF"
chmod 644 "$TOKF"
export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$TOKF AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong-token
reset
A=$(t_wrap "$OPTS" "$KEY") && [ "$(last_akid)" = "$CAKID" ]
t_ok $? "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (mode 0644, trailing newline) comes before _TOKEN"
AUTH2="Bearer-$(aws_rand 16)"
printf '%s' "$AUTH2" > "$TOKF.new" && mv "$TOKF.new" "$TOKF"
meta "{\"container\": {\"auth\": \"$AUTH2\"}}"
A=$(t_wrap "$OPTS" "$KEY") && [ "$(last_akid)" = "$CAKID" ] &&
	[ "$(stats container_get container_unauthorized)" = "2 0" ]
t_ok $? "the token file rotated between two calls: the new token sent, read again"
meta "{\"container\": {\"auth\": \"not-$AUTH2\"}}"
t_expect_fail "a token the agent refuses: exit 6, the agent's code and message in the line" 6 \
	"GET 127.0.0.1:$AWS_FAKE_CONTAINER/v1/credentials: HTTP 401: AccessDenied: Unable to authorize the request" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
meta "{\"container\": {\"auth\": \"$AUTH2\", \"mode\": \"500\"}}"
t_expect_fail "the agent answers 500: exit 5, named" 5 \
	"GET 127.0.0.1:$AWS_FAKE_CONTAINER/v1/credentials: HTTP 500: InternalError: the agent is overloaded" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
meta '{"container": {"mode": "bad"}}'
t_expect_fail "an answer that is not credentials: exit 5, named" 5 "container credentials answer: no SecretAccessKey" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
meta '{"container": {"mode": "ok"}}'
reset
AWS_CONTAINER_CREDENTIALS_FULL_URI="http://192.0.2.10:$AWS_FAKE_CONTAINER/v1/credentials" \
	t_expect_fail "full URI: plain http to a host that is not loopback is refused: exit 6" 6 \
	"AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http:// to 192.0.2.10 refused" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
AWS_CONTAINER_CREDENTIALS_FULL_URI="http://169.254.169.254/v1/credentials" \
	t_expect_fail "... nor to a link-local address other than ECS's and EKS's" 6 \
	"plain http:// to 169.254.169.254 refused" "$(t_wrap_request ocikp "$OPTS" "$KEY")"
[ "$(stats container_get)" = 0 ]
t_ok $? "... with no request sent"
AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=v2/credentials t_expect_fail "a relative URI not starting with /: exit 6" 6 \
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with /" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
printf 'x\r\nX-Injected: 1' > "$TOKF"
uncache
t_expect_fail "a token file with a line break: refused, exit 6" 6 "the authorization token holds a control character" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
printf '%s' "$AUTH2" > "$TOKF"

# --- the chain order -----------------------------------------------------------------
unset AWS_EC2_METADATA_DISABLED
export AWS_EC2_METADATA_SERVICE_ENDPOINT=$IMDS
reset
A=$(AWS_ACCESS_KEY_ID=$AWS_AKID AWS_SECRET_ACCESS_KEY=$AWS_SECRET t_wrap "$OPTS" "$KEY") &&
	[ "$(last_akid)" = "$AWS_AKID" ] && [ "$(stats container_get imds_put)" = "0 0" ]
t_ok $? "the environment comes before container credentials and IMDS (neither asked)"
A=$(t_wrap "$OPTS" "$KEY") && [ "$(last_akid)" = "$CAKID" ] && [ "$(stats container_get imds_put)" = "1 0" ]
t_ok $? "container credentials come before IMDS (not asked)"
mkdir -p "$HOME/.aws"
(umask 077; printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AWS_AKID" "$AWS_SECRET" \
	> "$HOME/.aws/credentials")
A=$(t_wrap "$OPTS" "$KEY") && [ "$(last_akid)" = "$AWS_AKID" ] && [ "$(stats container_get)" = 1 ]
t_ok $? "the shared files come before container credentials"
rm -f "$HOME/.aws/credentials"
aws_dropin "$C" "awskms.profile = default"
reset
t_expect_fail "a drop-in pinning a profile: no container credentials nor IMDS, exit 6" 6 "no AWS credentials" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
[ "$(stats container_get imds_put)" = "0 0" ]
t_ok $? "... neither asked"
aws_dropin "$C"
unset AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE

# --- IMDSv2 --------------------------------------------------------------------------
reset
A=$(t_wrap "$OPTS" "$KEY") && [ "$(last_akid)" = "$IAKID" ] &&
	[ "$(stats imds_put imds_role_list imds_creds imds_unauthorized imds_v1)" = "1 1 1 0 0" ]
t_ok $? "IMDSv2: exactly a token PUT, the role list and the role's credentials; no tokenless GET"
OUT=$(t_unwrap "$A" "$KEY") && [ "$OUT" = "$OPTS" ] &&
	[ "$(stats imds_put imds_role_list imds_creds)" = "1 1 1" ]
t_ok $? "... unwrap: the credentials from the cache, no IMDS call"
for i in $(seq 20); do t_unwrap "$A" "$KEY" > /dev/null || break; done
[ "$i" = 20 ] && [ "$(stats imds_put imds_role_list imds_creds)" = "1 1 1" ]
t_ok $? "20 more execs: still one IMDS acquisition"
F=$(ls "$AWS_CACHE"/imds-*.json 2> /dev/null)
[ "$(echo "$F" | grep -c .)" = 1 ] && [ "$(stat -c %a "$F")" = 600 ] &&
	! grep -qF "$ISECRET" <<< "$F"
t_ok $? "... cached in one imds-HASH.json, mode 0600"
printf 'imds PUT /latest/api/token\nimds GET /latest/meta-data/iam/security-credentials/ token=live\nimds GET /latest/meta-data/iam/security-credentials/ocikp-instance-role token=live\n' |
	cmp -s - <(head -3 "$AWS_DIR/meta.log")
t_ok $? "... in that order, the GETs with a live token"
meta '{"imds": {"ttl_cap": 1}}'
reset
A=$(t_wrap "$OPTS" "$KEY") && sleep 2 && uncache && B=$(t_wrap "$OPTS" "$KEY") &&
	[ "$(stats imds_put imds_creds imds_unauthorized)" = "2 2 0" ]
t_ok $? "a token that lives one second: each acquisition takes a fresh one"
meta '{"imds": {"ttl_cap": 21600}}'
reset
A=$(AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1 t_wrap "$OPTS" "$KEY")
[ $? -ne 0 ] && grep -q "no AWS credentials" "$T_TMP/stderr"
t_ok $? "IMDS not there (connection refused): not a source, the chain ends"
aws_dropin "$C" "awskms.imds_endpoint = $IMDS"
A=$(AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1 t_wrap "$OPTS" "$KEY") && [ "$(last_akid)" = "$IAKID" ]
t_ok $? "awskms.imds_endpoint before AWS_EC2_METADATA_SERVICE_ENDPOINT"
aws_dropin "$C"
reset
AWS_EC2_METADATA_DISABLED=true t_expect_fail "AWS_EC2_METADATA_DISABLED=true: IMDS off, exit 6" 6 "no AWS credentials" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
[ "$(stats imds_put)" = 0 ]
t_ok $? "... not asked"
meta '{"imds": {"mode": "refuse_put"}}'
t_expect_fail "the token PUT refused (403): exit 5, named, never IMDSv1" 5 \
	"PUT 127.0.0.1:$AWS_FAKE_IMDS/latest/api/token: HTTP 403: IMDSv2 token refused" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
meta '{"imds": {"mode": "put_405"}}'
t_expect_fail "the token PUT answered 405: exit 5, named" 5 "PUT .*/latest/api/token: HTTP 405: IMDSv2 token refused" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
[ "$(stats imds_put imds_role_list imds_v1)" = "2 0 0" ]
t_ok $? "... one PUT each, no GET at all"
meta '{"imds": {"mode": "500"}}'
reset
t_expect_fail "the role's credentials answer 500: exit 5, named" 5 \
	"GET 127.0.0.1:$AWS_FAKE_IMDS/latest/meta-data/iam/security-credentials/ocikp-instance-role: HTTP 500" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
[ "$(stats imds_put imds_creds)" = "1 1" ]
t_ok $? "... one attempt (IMDS is a probe: no retries)"
meta '{"imds": {"mode": "503"}}'
reset
t_expect_fail "503 on the role's credentials: exit 5, named" 5 "ocikp-instance-role: HTTP 503" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
[ "$(stats imds_put imds_creds)" = "1 1" ]
t_ok $? "... not retried either (one attempt where lib/http would make four)"
meta '{"imds": {"mode": "bad"}}'
t_expect_fail "a truncated credentials answer: exit 5, named" 5 "IMDS credentials answer" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
meta '{"imds": {"mode": "fail"}}'
t_expect_fail "Code other than Success: exit 5, IMDS's code and message" 5 \
	"IMDS credentials answer: Code AssumeRoleUnauthorizedAccess: EC2 cannot assume the role" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
meta '{"imds": {"mode": "no_role"}}'
t_expect_fail "no instance profile (404 on the role list): exit 6, saying so" 6 \
	"HTTP 404: no IAM role attached to this instance" "$(t_wrap_request ocikp "$OPTS" "$KEY")"
meta '{"imds": {"mode": "ok"}}'

# --- secrets never on stderr ------------------------------------------------------------
OCIKP_DEBUG=1 t_run "$(t_wrap_request ocikp "$OPTS" "$KEY")" --verbose
E1=$T_ERR
[ "$T_RC" -eq 0 ] && printf '%s' "$E1" | grep -q "AWS credentials from IMDS role ocikp-instance-role (temporary)"
t_ok $? "--verbose: IMDS named as the source"
OCIKP_DEBUG=1 AWS_CONTAINER_CREDENTIALS_FULL_URI="$CONT/v1/credentials" AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$TOKF \
	t_run "$(t_wrap_request ocikp "$OPTS" "$KEY")" --verbose
E2=$T_ERR
[ "$T_RC" -eq 0 ] && printf '%s' "$E2" | grep -q "AWS credentials from container credentials (temporary)" &&
	! printf '%s\n%s' "$E1" "$E2" | grep -qF -e "$ISECRET" -e "$ITOKEN" -e "$CSECRET" -e "$CTOKEN" \
		-e "$AUTH2" -e "X-aws-ec2-metadata-token:" -e "Signature="
t_ok $? "--verbose: no secret key, session token, authorization or IMDS token on stderr"

t_done
