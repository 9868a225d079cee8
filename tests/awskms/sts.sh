#!/bin/bash
# awskms credentials through STS against the fake (tests/awskms/fake_aws.py:
# the Query API with XML answers, AssumeRole's SigV4 recomputed, the form
# parameters checked exactly): web identity (EKS IRSA), profiles with
# role_arn + source_profile (chains, cycles, external_id, duration_seconds),
# the chain's order, the credential cache (20 execs -> one STS call; odd
# cache files replaced; another role's not used), expired credentials
# refreshed once, STS errors named, no secret on stderr.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/awskms/lib.sh"

t_setup
aws_setup
aws_isolate
aws_state
aws_dropin "$C" "awskms.sts_endpoint = $AWS_URL"
ARN="arn:aws:kms:us-east-1:123456789012:key/$AWS_KEY1"
KEY="awskms://$ARN"
OPTS='{"symkey":"c2VjcmV0","cipheroptions":{"nonce":"bm9uY2U="}}'

sts_n() { local n; n=$(aws_stat "$1"); echo "${n:-0}"; }
sts_last() { tail -1 "$AWS_DIR/sts.log"; }

# The token as kubelet projects it: 0644, behind the volume's ..data symlink.
TOKDIR="$T_TMP/sa/..2026_12_06"
mkdir -p "$TOKDIR"
printf '%s\n' "$AWS_WEB_TOKEN" > "$TOKDIR/token"
chmod 644 "$TOKDIR/token"
ln -s "..2026_12_06" "$T_TMP/sa/..data"
ln -s "..data/token" "$T_TMP/sa/token"

# --- web identity (EKS IRSA) ---------------------------------------------------------
export AWS_WEB_IDENTITY_TOKEN_FILE="$T_TMP/sa/token" AWS_ROLE_ARN=$AWS_ROLE_WEB \
	AWS_ROLE_SESSION_NAME=ocikp-test
ANN=$(t_wrap "$OPTS" "$KEY")
t_ok $? "web identity: wrap with credentials from AssumeRoleWithWebIdentity"
[ "$(sts_last)" = "AssumeRoleWithWebIdentity $AWS_ROLE_WEB ocikp-test web:0 - -" ] &&
	[ "$(sts_n AssumeRoleWithWebIdentity)" -eq 1 ] && [ "$(sts_n AssumeRole)" -eq 0 ] &&
	tail -1 "$AWS_DIR/requests.log" | grep -q "^TrentService.Encrypt $ARN ASIA[0-9A-F]* content-type;host;x-amz-date;x-amz-security-token;x-amz-target\$"
t_ok $? "... exactly one unsigned AssumeRoleWithWebIdentity (RoleArn, RoleSessionName, the token), then KMS with the session"
for i in $(seq 20); do
	OUT=$(t_unwrap "$ANN" "$KEY") && [ "$OUT" = "$OPTS" ] || break
done
[ "$i" -eq 20 ] && [ "$OUT" = "$OPTS" ] && [ "$(sts_n AssumeRoleWithWebIdentity)" -eq 1 ] &&
	[ "$(sts_n decrypt)" -eq 20 ]
t_ok $? "20 more execs: still exactly one STS call (the credentials cached)"
F=$(aws_cache_mine)
[ "$(printf '%s\n' "$F" | grep -c .)" -eq 1 ] && [ "$(stat -c %a "$F")" = 600 ] &&
	[ "$(stat -c %u "$F")" = "$(id -u)" ] && ! grep -qF -e "$AWS_WEB_TOKEN" -e ocikp-web "$F" &&
	case $F in */sts-[0-9a-f]*.json) true ;; *) false ;; esac
t_ok $? "one cache file, mode 0600, named by a hash, no token or role in it"

# Parallel execs with nothing cached: one takes the lock and calls STS, the
# others find its file when they get the lock.
aws_cache_drop
aws_ctl /_reset > /dev/null
# generous budgets: eight at once on a loaded machine, or under valgrind
printf 'timeout = 600\n' > "$C/10-timeout.conf"
aws_dropin "$C" "awskms.sts_endpoint = $AWS_URL" "awskms.connect_timeout = 300" "awskms.http_timeout = 600"
t_unwrap_request ocikp "$ANN" "$KEY" > "$T_TMP/par.json"
PIDS=()
for i in $(seq 8); do
	"$OCIKP" < "$T_TMP/par.json" > "$T_TMP/par.$i.out" 2> "$T_TMP/par.$i.err" &
	PIDS+=($!)
done
wait "${PIDS[@]}"	# not a bare wait: the fake is a child too
OK=0
for i in $(seq 8); do
	[ "$(t_json_field keyunwrapresults.optsdata < "$T_TMP/par.$i.out" | base64 -d)" = "$OPTS" ] && OK=$((OK + 1))
done
[ "$OK" -eq 8 ] && [ "$(sts_n AssumeRoleWithWebIdentity)" -eq 1 ] && [ "$(sts_n decrypt)" -eq 8 ]
t_ok $? "8 parallel execs, nothing cached: all unwrap, exactly one STS call"
[ "$OK" -eq 8 ] || t_diag "$OK unwrapped; STS calls: $(sts_n AssumeRoleWithWebIdentity)" "$(cat "$T_TMP"/par.*.err)"
rm -f "$C/10-timeout.conf"
aws_dropin "$C" "awskms.sts_endpoint = $AWS_URL"
F=$(aws_cache_mine)

# Odd cache files are not used, and replaced.
N=$(sts_n AssumeRoleWithWebIdentity)
cache_case() {	# cache_case DESC: after the file was spoiled
	A=$(t_wrap "$OPTS" "$KEY") && [ "$(sts_n AssumeRoleWithWebIdentity)" -eq $((N + 1)) ] &&
		[ "$(stat -c %a "$F")" = 600 ] && [ "$(stat -c %u "$F")" = "$(id -u)" ] &&
		python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); assert d["value"].startswith("ASIA") and d["expires_at"] > 0' "$F"
	t_ok $? "$1: not used, one new STS call, replaced"
	N=$(sts_n AssumeRoleWithWebIdentity)
}
printf '{"value": "garbage' > "$F"
cache_case "a corrupt cache file"
head -c 200000 /dev/zero | tr '\0' x > "$F"
chmod 600 "$F"
cache_case "an oversized cache file"
cp -p "$F" "$T_TMP/good.json"
chmod 644 "$F"
cache_case "a cache file readable by others"
if [ "$(id -u)" -eq 0 ]; then
	chown 65534 "$F"
	cache_case "a cache file owned by another user"
else
	t_skip "a cache file owned by another user" "needs root to chown"
fi
python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); d["expires_at"] = 1000; json.dump(d, open(sys.argv[1], "w"))' "$F"
cache_case "an expired cache entry"
python3 -c 'import json,sys; json.dump({"value": "ASIA only one field", "expires_at": 4102444800}, open(sys.argv[1], "w"))' "$F"
cache_case "a cache entry not of our form"

A=$(AWS_ROLE_ARN=$AWS_ROLE_WEB2 t_wrap "$OPTS" "$KEY") &&
	[ "$(sts_n AssumeRoleWithWebIdentity)" -eq $((N + 1)) ] &&
	[ "$(sts_last)" = "AssumeRoleWithWebIdentity $AWS_ROLE_WEB2 ocikp-test web:0 - -" ] &&
	[ "$(aws_cache_mine | grep -c .)" -eq 2 ]
t_ok $? "another role: the first role's cache is not used (a file of its own)"
N=$(sts_n AssumeRoleWithWebIdentity)
A=$(AWS_ROLE_SESSION_NAME=other-session t_wrap "$OPTS" "$KEY") &&
	[ "$(sts_n AssumeRoleWithWebIdentity)" -eq $((N + 1)) ]
t_ok $? "another session name: another identity, another STS call"

# --- expired credentials -----------------------------------------------------------
aws_cache_drop
A=$(t_wrap "$OPTS" "$KEY")
aws_ctl /_reset > /dev/null
aws_ctl /_expire > /dev/null
OUT=$(t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ] && [ "$(sts_n expired)" -eq 1 ] && [ "$(sts_n AssumeRoleWithWebIdentity)" -eq 1 ] &&
	[ "$(sts_n decrypt)" -eq 1 ]
t_ok $? "cached credentials expired at KMS: dropped, fetched once more, the call retried once"
aws_ctl /_reset > /dev/null
aws_ctl /_fault '{"code": "ExpiredTokenException", "message": "The security token included in the request is expired", "times": 5}' > /dev/null
t_expect_fail "still expired after the refresh: exit 6, naming it" 6 "KMS Decrypt: ExpiredTokenException" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
[ "$(sts_n faults)" -eq 2 ] && [ "$(sts_n AssumeRoleWithWebIdentity)" -eq 1 ]
t_ok $? "... one refresh (one STS call), two KMS attempts, no more"
aws_ctl /_reset > /dev/null
aws_ctl /_fault '{"code": "ExpiredTokenException", "message": "The security token included in the request is expired", "times": 5}' > /dev/null
AWS_ACCESS_KEY_ID=$AWS_TAKID AWS_SECRET_ACCESS_KEY=$AWS_TSECRET AWS_SESSION_TOKEN=$AWS_TTOKEN \
	t_expect_fail "expired session keys from the environment: no refresh, exit 6" 6 "ExpiredTokenException" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
[ "$(sts_n faults)" -eq 1 ] && [ "$(sts_n AssumeRoleWithWebIdentity)" -eq 0 ]
t_ok $? "... one KMS call, no STS call"
aws_ctl /_reset > /dev/null

# --- STS errors ----------------------------------------------------------------------
aws_cache_drop
printf 'not-the-token\n' > "$T_TMP/badtok"
AWS_WEB_IDENTITY_TOKEN_FILE=$T_TMP/badtok t_expect_fail "a token STS refuses: exit 6 on wrap, STS's code and message" 6 \
	"ocikp: awskms: STS AssumeRoleWithWebIdentity: InvalidIdentityToken: Couldn't retrieve verification key" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
AWS_WEB_IDENTITY_TOKEN_FILE=$T_TMP/badtok t_expect_fail "... and exit 6 on unwrap" 6 "InvalidIdentityToken" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
AWS_WEB_IDENTITY_TOKEN_FILE=$T_TMP/nope t_expect_fail "a missing token file: exit 6 naming it" 6 "web identity token file $T_TMP/nope" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
aws_ctl /_sts_fault '{"code": "Throttling", "message": "Rate exceeded", "times": 2}' > /dev/null
A=$(t_wrap "$OPTS" "$KEY") && [ "$(sts_n sts_faults)" -eq 2 ] && [ "$(sts_n AssumeRoleWithWebIdentity)" -eq 1 ]
t_ok $? "STS Throttling twice, then credentials: retried"
aws_ctl /_reset > /dev/null
aws_cache_drop
aws_ctl /_sts_fault '{"code": "Throttling", "message": "Rate exceeded", "times": 100}' > /dev/null
t_expect_fail "STS throttling every time: exit 5, naming it" 5 "STS AssumeRoleWithWebIdentity: Throttling: Rate exceeded" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
[ "$(sts_n sts_faults)" -eq 3 ]
t_ok $? "... after exactly 3 attempts"
aws_ctl /_reset > /dev/null
RAW=$(printf '<?xml version="1.0" encoding="EUC-JP"?><ErrorResponse><Error><Code>AccessDenied</Code><Message>\377\376\000R</Message></Error></ErrorResponse>' | base64 -w0)
aws_ctl /_sts_fault "{\"raw_b64\": \"$RAW\", \"status\": 403, \"times\": 10}" > /dev/null
t_expect_fail "an STS answer libxml2 cannot decode: exit 6, one line (libxml2 says nothing)" 6 "STS AssumeRoleWithWebIdentity: HTTP 403" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
aws_ctl /_reset > /dev/null
aws_ctl /_sts_fault '{"code": "InternalFailure", "status": 500, "times": 100}' > /dev/null
t_expect_fail "STS HTTP 500 every time: exit 5" 5 "STS AssumeRoleWithWebIdentity" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
aws_ctl /_reset > /dev/null

# --- profiles: role_arn + source_profile -> AssumeRole ---------------------------------
unset AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN AWS_ROLE_SESSION_NAME
mkdir -p "$HOME/.aws"
(umask 077; cat > "$HOME/.aws/config" <<EOF
[profile src]
aws_access_key_id = $AWS_AKID
aws_secret_access_key = $AWS_SECRET
[profile ra]
role_arn = $AWS_ROLE_A
source_profile = src
role_session_name = ocikp-ra
[profile rb]
role_arn = $AWS_ROLE_B
source_profile = ra
[profile rx]
role_arn = $AWS_ROLE_X
source_profile = src
external_id = $AWS_EXTERNAL_ID
duration_seconds = 1800
[profile rxbad]
role_arn = $AWS_ROLE_X
source_profile = src
[profile none]
role_arn = $AWS_ROLE_NONE
source_profile = src
[profile self]
role_arn = $AWS_ROLE_A
source_profile = self
aws_access_key_id = $AWS_AKID
aws_secret_access_key = $AWS_SECRET
[profile c1]
role_arn = $AWS_ROLE_A
source_profile = c2
[profile c2]
role_arn = $AWS_ROLE_A
source_profile = c1
[profile wi]
role_arn = $AWS_ROLE_WEB
web_identity_token_file = $T_TMP/sa/token
[profile cs]
role_arn = $AWS_ROLE_A
credential_source = Ec2InstanceMetadata
[profile l1]
role_arn = $AWS_ROLE_A
source_profile = l2
[profile l2]
role_arn = $AWS_ROLE_A
source_profile = l3
[profile l3]
role_arn = $AWS_ROLE_A
source_profile = l4
[profile l4]
role_arn = $AWS_ROLE_A
source_profile = l5
[profile l5]
role_arn = $AWS_ROLE_A
source_profile = l6
[profile l6]
role_arn = $AWS_ROLE_A
source_profile = src
EOF
)
BAD=$(sts_n bad_signature)
A=$(AWS_PROFILE=ra t_wrap "$OPTS" "$KEY") && [ "$(sts_last)" = "AssumeRole $AWS_ROLE_A ocikp-ra $AWS_AKID - -" ] &&
	[ "$(sts_n AssumeRole)" -eq 1 ] && [ "$(sts_n bad_signature)" -eq "$BAD" ] &&
	tail -1 "$AWS_DIR/requests.log" | grep -q " ASIA[0-9A-F]* content-type;host;x-amz-date;x-amz-security-token;x-amz-target\$"
t_ok $? "role_arn + source_profile: one AssumeRole signed (SigV4, service sts) by the source's keys"
A=$(AWS_PROFILE=rb t_wrap "$OPTS" "$KEY") && [ "$(sts_n AssumeRole)" -eq 2 ] &&
	sts_last | grep -q "^AssumeRole $AWS_ROLE_B ocikp-awskms ASIA[0-9A-F]* - -\$"
t_ok $? "a chain rb -> ra -> src: ra's session (cached) signs rb's AssumeRole: one call more"
A=$(AWS_PROFILE=rb t_wrap "$OPTS" "$KEY") && [ "$(sts_n AssumeRole)" -eq 2 ]
t_ok $? "... and again: cached, no call"
A=$(AWS_PROFILE=rx t_wrap "$OPTS" "$KEY") &&
	[ "$(sts_last)" = "AssumeRole $AWS_ROLE_X ocikp-awskms $AWS_AKID $AWS_EXTERNAL_ID 1800" ]
t_ok $? "external_id and duration_seconds go as ExternalId and DurationSeconds"
AWS_PROFILE=rxbad t_expect_fail "no ExternalId where the trust wants one: exit 6, STS's AccessDenied" 6 \
	"STS AssumeRole: AccessDenied: ExternalId does not match" "$(t_wrap_request ocikp "$OPTS" "$KEY")"
AWS_PROFILE=none t_expect_fail "a role the source may not assume: exit 6 on wrap" 6 \
	"STS AssumeRole: AccessDenied: User: arn:aws:iam::123456789012:user/$AWS_AKID is not authorized" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
AWS_PROFILE=none t_expect_fail "... and exit 6 on unwrap" 6 "STS AssumeRole: AccessDenied" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
N=$(sts_n AssumeRole)
A=$(AWS_PROFILE=self t_wrap "$OPTS" "$KEY") && [ "$(sts_n AssumeRole)" -eq $((N + 1)) ] &&
	[ "$(sts_last)" = "AssumeRole $AWS_ROLE_A ocikp-awskms $AWS_AKID - -" ]
t_ok $? "source_profile naming the profile itself: its own keys sign"
N=$(sts_n AssumeRole)
AWS_PROFILE=c1 t_expect_fail "a source_profile cycle: exit 6, saying so" 6 "source_profile makes a cycle" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
AWS_PROFILE=l1 t_expect_fail "six roles chained: exit 6, saying so" 6 "more than 5 roles chained" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
AWS_PROFILE=cs t_expect_fail "credential_source: refused, saying so" 6 "credential_source is not supported" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
[ "$(sts_n AssumeRole)" -eq "$N" ]
t_ok $? "... none of those called STS"
N=$(sts_n AssumeRoleWithWebIdentity)
A=$(AWS_PROFILE=wi t_wrap "$OPTS" "$KEY") && [ "$(sts_n AssumeRoleWithWebIdentity)" -eq $((N + 1)) ] &&
	[ "$(sts_last)" = "AssumeRoleWithWebIdentity $AWS_ROLE_WEB ocikp-awskms web:0 - -" ]
t_ok $? "role_arn + web_identity_token_file in a profile: AssumeRoleWithWebIdentity"

# --- the chain's order ------------------------------------------------------------------
aws_cache_drop
aws_ctl /_reset > /dev/null
A=$(AWS_ACCESS_KEY_ID=$AWS_AKID AWS_SECRET_ACCESS_KEY=$AWS_SECRET AWS_WEB_IDENTITY_TOKEN_FILE=$T_TMP/sa/token \
	AWS_ROLE_ARN=$AWS_ROLE_WEB AWS_PROFILE=ra t_wrap "$OPTS" "$KEY") &&
	[ "$(sts_n AssumeRoleWithWebIdentity)" -eq 0 ] && [ "$(sts_n AssumeRole)" -eq 0 ]
t_ok $? "environment keys come first: no STS call"
A=$(AWS_WEB_IDENTITY_TOKEN_FILE=$T_TMP/sa/token AWS_ROLE_ARN=$AWS_ROLE_WEB AWS_PROFILE=ra t_wrap "$OPTS" "$KEY") &&
	[ "$(sts_n AssumeRoleWithWebIdentity)" -eq 1 ] && [ "$(sts_n AssumeRole)" -eq 0 ]
t_ok $? "web identity before the shared files"
aws_dropin "$C" "awskms.sts_endpoint = $AWS_URL" "awskms.profile = ra"
A=$(AWS_ACCESS_KEY_ID=$AWS_AKID AWS_SECRET_ACCESS_KEY=$AWS_SECRET AWS_WEB_IDENTITY_TOKEN_FILE=$T_TMP/sa/token \
	AWS_ROLE_ARN=$AWS_ROLE_WEB t_wrap "$OPTS" "$KEY") &&
	[ "$(sts_n AssumeRoleWithWebIdentity)" -eq 1 ] && [ "$(sts_n AssumeRole)" -eq 1 ]
t_ok $? "awskms.profile pins the shared files: neither the environment's keys nor its web identity"
(umask 077; printf '[irsa]\nrole_arn = %s\nweb_identity_token_file = %s\nrole_session_name = ocikp\n' \
	"$AWS_ROLE_WEB" "$T_TMP/sa/token" > "$T_TMP/irsa.ini")
aws_dropin "$C" "awskms.sts_endpoint = $AWS_URL" "awskms.profile = irsa" "awskms.credentials_file = $T_TMP/irsa.ini"
A=$(AWS_ACCESS_KEY_ID=$AWS_AKID AWS_SECRET_ACCESS_KEY=$AWS_SECRET t_wrap "$OPTS" "$KEY") &&
	[ "$(sts_last)" = "AssumeRoleWithWebIdentity $AWS_ROLE_WEB ocikp web:0 - -" ]
t_ok $? "the README's IRSA drop-in: a pinned credentials file whose profile names the role and token file"
aws_dropin "$C" "awskms.sts_endpoint = $AWS_URL"

# --- secrets never on stderr -------------------------------------------------------------
aws_cache_drop
OCIKP_DEBUG=1 AWS_WEB_IDENTITY_TOKEN_FILE=$T_TMP/sa/token AWS_ROLE_ARN=$AWS_ROLE_WEB \
	t_run "$(t_wrap_request ocikp "$OPTS" "$KEY")" --verbose
E1=$T_ERR
OCIKP_DEBUG=1 AWS_PROFILE=rb t_run "$(t_unwrap_request ocikp "$ANN" "$KEY")" --verbose
E2=$T_ERR
for f in $(aws_cache_mine); do
	python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["value"].split("\n")[1:]))' "$f"
done > "$T_TMP/secrets"
[ "$(grep -c . "$T_TMP/secrets")" -ge 4 ] &&
	! printf '%s\n%s' "$E1" "$E2" | grep -qF -e "$AWS_WEB_TOKEN" -e "$AWS_SECRET" -e "Signature=" -f "$T_TMP/secrets" &&
	printf '%s' "$E1" | grep -q "AWS credentials from web identity via STS"
t_ok $? "--verbose: no web token, secret key, session token or signature on stderr"

t_done
