#!/bin/bash
# The awskms backend through the ocikp binary against the fake AWS KMS
# (tests/awskms/fake_aws.py: TLS verified, every SigV4 signature recomputed
# and refused when wrong): key URL forms, the annotation and the other
# provider's, the region sources, credentials from the environment and the
# shared files, every KMS error and its exit code, retries, secrets kept
# off stderr.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/awskms/lib.sh"

t_setup
aws_setup
aws_isolate
aws_dropin "$C"
export AWS_ACCESS_KEY_ID=$AWS_AKID AWS_SECRET_ACCESS_KEY=$AWS_SECRET
ARN="arn:aws:kms:us-east-1:123456789012:key/$AWS_KEY1"
KEY="awskms://$ARN"
OPTS='{"symkey":"c2VjcmV0","cipheroptions":{"nonce":"bm9uY2U="}}'

# --- wrap and unwrap -----------------------------------------------------------
ANN=$(t_wrap "$OPTS" "$KEY")
t_ok $? "wrap through KMS (environment keys, SigV4 verified by the fake)"
printf '%s' "$ANN" | base64 -d > "$T_TMP/ann.json"
python3 - "$T_TMP/ann.json" "$KEY" <<'PY'
import base64, json, sys
a = json.loads(open(sys.argv[1]).read())
assert list(a) == ["key_url", "wrapped_key"], a
assert a["key_url"] == sys.argv[2], a
raw = base64.b64decode(a["wrapped_key"], validate=True)
assert base64.b64encode(raw).decode() == a["wrapped_key"] and raw[:3] == b"FK1"
PY
t_ok $? "annotation is exactly {key_url, wrapped_key: padded standard base64 of the raw CiphertextBlob}"
tail -1 "$AWS_DIR/requests.log" | grep -qx "TrentService.Encrypt $ARN $AWS_AKID content-type;host;x-amz-date;x-amz-target"
t_ok $? "Encrypt: KeyId is the ARN; content-type, host, x-amz-date, x-amz-target signed"
OUT=$(t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ]
t_ok $? "unwrap gives the optsdata back"
OUT=$(t_unwrap "$ANN")
[ "$OUT" = "$OPTS" ] && tail -1 "$AWS_DIR/requests.log" | grep -q "^TrentService.Decrypt $ARN "
t_ok $? "unwrap with no awskms decrypt parameter decrypts with the annotation's key_url"

# The other provider's annotation: its own key_url, its decrypt parameter the key.
printf '{"key_url":"%s","wrapped_key":"%s"}' "$ARN" \
	"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wrapped_key"])' "$T_TMP/ann.json")" |
	base64 -w0 > "$T_TMP/other.b64"
OUT=$(t_unwrap "$(cat "$T_TMP/other.b64")" "awskms:///alias/ocikp-test?region=us-east-1")
[ "$OUT" = "$OPTS" ] && tail -1 "$AWS_DIR/requests.log" | grep -q "^TrentService.Decrypt alias/ocikp-test "
t_ok $? "a kms-crypt annotation (bare ARN key_url: opaque_schemes = arn) opens with our URL as the decrypt parameter"
A=$(t_wrap "$OPTS" "$ARN") && printf '%s' "$A" | base64 -d | grep -q "^{\"key_url\":\"$ARN\"," &&
	OUT=$(t_unwrap "$A" "$ARN") && [ "$OUT" = "$OPTS" ]
t_ok $? "a bare ARN as the recipient, as kms-crypt takes it: wrap and unwrap"

# --- key URL forms and the region ---------------------------------------------------
for u in "awskms://arn:aws:kms:us-east-1:123456789012:alias/ocikp-test" \
	 "awskms:///alias/ocikp-test?region=us-east-1" "awskms:///$AWS_KEY1?region=us-east-1"; do
	A=$(t_wrap "$OPTS" "$u") && OUT=$(t_unwrap "$A" "$u") && [ "$OUT" = "$OPTS" ]
	t_ok $? "key URL $u: wrap and unwrap"
done
aws_dropin "$C" "awskms.region = us-east-1"
A=$(t_wrap "$OPTS" "awskms:///alias/ocikp-test")
t_ok $? "region from awskms.region"
aws_dropin "$C"
A=$(AWS_REGION=us-east-1 t_wrap "$OPTS" "awskms:///alias/ocikp-test")
t_ok $? "region from AWS_REGION"
A=$(AWS_DEFAULT_REGION=us-east-1 t_wrap "$OPTS" "awskms:///alias/ocikp-test")
t_ok $? "region from AWS_DEFAULT_REGION"
mkdir -p "$HOME/.aws"
(umask 077; printf '[default]\nregion = us-east-1\n' > "$HOME/.aws/config")
A=$(t_wrap "$OPTS" "awskms:///alias/ocikp-test")
t_ok $? "region from the default profile in ~/.aws/config"
rm -f "$HOME/.aws/config"
t_expect_fail "no region anywhere: exit 6, saying so" 6 "ocikp: awskms: no AWS region" \
	"$(t_wrap_request ocikp "$OPTS" "awskms:///alias/ocikp-test")"
AWS_REGION=us-east-1 t_expect_fail "the region in the URL wins: eu-west-1 has no such key (NotFound on wrap: 3)" 3 \
	"NotFoundException: Key 'alias/ocikp-test' does not exist" \
	"$(t_wrap_request ocikp "$OPTS" "awskms:///alias/ocikp-test?region=eu-west-1")"
for u in "awskms://$AWS_KEY1" "awskms://arn:aws:kms:us-east-1:12345:key/$AWS_KEY1" \
	 "awskms://arn:aws:s3:us-east-1:123456789012:key/$AWS_KEY1" "awskms:///alias/a?region=US_EAST" \
	 "awskms:///alias/a b?region=us-east-1" "awskms:///alias/x?regio=us-east-1" "awskms:///key/$AWS_KEY1"; do
	t_expect_fail "malformed key URL $u: exit 3" 3 "ocikp: awskms: key URL must be awskms://arn:aws:kms:" \
		"$(t_wrap_request ocikp "$OPTS" "$u")"
done

# --- credentials ---------------------------------------------------------------------
A=$(AWS_ACCESS_KEY_ID=$AWS_TAKID AWS_SECRET_ACCESS_KEY=$AWS_TSECRET AWS_SESSION_TOKEN=$AWS_TTOKEN \
	t_wrap "$OPTS" "$KEY") &&
	tail -1 "$AWS_DIR/requests.log" | grep -q " $AWS_TAKID content-type;host;x-amz-date;x-amz-security-token;x-amz-target\$"
t_ok $? "session credentials: x-amz-security-token sent and signed"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
t_expect_fail "no credentials anywhere: exit 6" 6 "ocikp: awskms: no AWS credentials" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
(umask 077
 printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n[other]\naws_access_key_id=%s\naws_secret_access_key=%s\naws_session_token = %s\n' \
	"$AWS_AKID" "$AWS_SECRET" "$AWS_TAKID" "$AWS_TSECRET" "$AWS_TTOKEN" > "$HOME/.aws/credentials")
A=$(t_wrap "$OPTS" "$KEY") && tail -1 "$AWS_DIR/requests.log" | grep -q " $AWS_AKID "
t_ok $? "~/.aws/credentials [default]"
A=$(AWS_PROFILE=other t_wrap "$OPTS" "$KEY") && tail -1 "$AWS_DIR/requests.log" | grep -q " $AWS_TAKID "
t_ok $? "AWS_PROFILE=other: its keys and session token"
A=$(AWS_ACCESS_KEY_ID=$AWS_DENIED_AKID AWS_SECRET_ACCESS_KEY=$AWS_DENIED_SECRET t_wrap "$OPTS" "$KEY")
[ $? -ne 0 ] && grep -q AccessDenied "$T_TMP/stderr"
t_ok $? "the environment comes before the shared files"
aws_dropin "$C" "awskms.profile = other"
A=$(AWS_ACCESS_KEY_ID=$AWS_DENIED_AKID AWS_SECRET_ACCESS_KEY=$AWS_DENIED_SECRET t_wrap "$OPTS" "$KEY") &&
	tail -1 "$AWS_DIR/requests.log" | grep -q " $AWS_TAKID "
t_ok $? "awskms.profile pins the shared files: the environment's keys unused"
cp -p "$HOME/.aws/credentials" "$T_TMP/creds"
mv "$HOME/.aws/credentials" "$T_TMP/moved"
aws_dropin "$C" "awskms.credentials_file = $T_TMP/creds"
A=$(t_wrap "$OPTS" "$KEY") && tail -1 "$AWS_DIR/requests.log" | grep -q " $AWS_AKID "
t_ok $? "awskms.credentials_file"
A=$(AWS_SHARED_CREDENTIALS_FILE=$T_TMP/creds AWS_PROFILE=other t_wrap "$OPTS" "$KEY")
[ $? -eq 0 ] && tail -1 "$AWS_DIR/requests.log" | grep -q " $AWS_AKID "
t_ok $? "the drop-in's file before AWS_SHARED_CREDENTIALS_FILE; AWS_PROFILE unused when pinned"
aws_dropin "$C"
A=$(AWS_SHARED_CREDENTIALS_FILE=$T_TMP/creds AWS_PROFILE=other t_wrap "$OPTS" "$KEY") &&
	tail -1 "$AWS_DIR/requests.log" | grep -q " $AWS_TAKID "
t_ok $? "AWS_SHARED_CREDENTIALS_FILE with AWS_PROFILE"
chmod 644 "$T_TMP/creds"
AWS_SHARED_CREDENTIALS_FILE=$T_TMP/creds t_expect_fail "a credentials file readable by others is refused: exit 6" 6 "AWS credentials file" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
(umask 077; printf '[profile cfg]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion = us-east-1\n[profile proc]\ncredential_process = touch %s/ran\n[profile role]\nrole_arn = arn:aws:iam::123456789012:role/r\n' \
	"$AWS_AKID" "$AWS_SECRET" "$T_TMP" > "$HOME/.aws/config")
A=$(AWS_PROFILE=cfg t_wrap "$OPTS" "awskms:///alias/ocikp-test") && tail -1 "$AWS_DIR/requests.log" | grep -q " $AWS_AKID "
t_ok $? "~/.aws/config [profile cfg]: its keys and its region"
AWS_PROFILE=proc t_expect_fail "credential_process is refused, saying so, and never run" 6 \
	"credential_process is not supported" "$(t_wrap_request ocikp "$OPTS" "$KEY")"
[ ! -e "$T_TMP/ran" ]
t_ok $? "the credential_process command did not run"
AWS_PROFILE=role t_expect_fail "a role_arn profile without source_profile: exit 6, saying so" 6 "role_arn needs source_profile" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
rm -f "$HOME/.aws/config"

# --- KMS errors ------------------------------------------------------------------
export AWS_ACCESS_KEY_ID=$AWS_AKID AWS_SECRET_ACCESS_KEY=$AWS_SECRET
BAD=$(aws_stat bad_signature)
AWS_SECRET_ACCESS_KEY=x$AWS_SECRET t_expect_fail "a wrong secret: the fake refuses the signature, exit 6" 6 \
	"ocikp: awskms: KMS Encrypt: InvalidSignatureException: The request signature we calculated" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
[ "$(aws_stat bad_signature)" -eq $((BAD + 1)) ]
t_ok $? "... refused once (no retry of a credentials error)"
AWS_ACCESS_KEY_ID=AKIAUNKNOWN0000 t_expect_fail "an unknown access key: UnrecognizedClientException, exit 6" 6 "UnrecognizedClientException" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
AWS_ACCESS_KEY_ID=$AWS_DENIED_AKID AWS_SECRET_ACCESS_KEY=$AWS_DENIED_SECRET t_expect_fail "AccessDenied on wrap: exit 6" 6 "KMS Encrypt: AccessDeniedException: User: " \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
AWS_ACCESS_KEY_ID=$AWS_DENIED_AKID AWS_SECRET_ACCESS_KEY=$AWS_DENIED_SECRET t_expect_fail "AccessDenied on unwrap: exit 4" 4 "KMS Decrypt: AccessDeniedException" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
t_expect_fail "NotFound on wrap: exit 3" 3 "KMS Encrypt: NotFoundException" \
	"$(t_wrap_request ocikp "$OPTS" "awskms:///alias/nope?region=us-east-1")"
t_expect_fail "NotFound on unwrap: exit 4" 4 "KMS Decrypt: NotFoundException" \
	"$(t_unwrap_request ocikp "$ANN" "awskms:///alias/nope?region=us-east-1")"
t_expect_fail "another key named on unwrap: IncorrectKeyException, exit 4" 4 "KMS Decrypt: IncorrectKeyException" \
	"$(t_unwrap_request ocikp "$ANN" "awskms:///$AWS_KEY2?region=us-east-1")"
TAMPER=$(python3 -c 'import base64,json,sys
a = json.load(open(sys.argv[1])); b = bytearray(base64.b64decode(a["wrapped_key"])); b[-1] ^= 1
a["wrapped_key"] = base64.b64encode(b).decode(); print(base64.b64encode(json.dumps(a).encode()).decode())' "$T_TMP/ann.json")
t_expect_fail "a tampered CiphertextBlob: InvalidCiphertextException, exit 4" 4 "KMS Decrypt: InvalidCiphertextException" \
	"$(t_unwrap_request ocikp "$TAMPER" "$KEY")"
aws_ctl /_fault '{"code": "InvalidKeyUsageException", "message": "not ENCRYPT_DECRYPT"}' > /dev/null
t_expect_fail "InvalidKeyUsage on wrap: exit 3" 3 "InvalidKeyUsageException: not ENCRYPT_DECRYPT" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
aws_ctl /_reset > /dev/null
aws_ctl /_fault '{"code": "ThrottlingException", "message": "Rate exceeded", "times": 2}' > /dev/null
OUT=$(t_unwrap "$ANN" "$KEY")
[ "$OUT" = "$OPTS" ] && [ "$(aws_stat faults)" -eq 2 ] && [ "$(aws_stat decrypt)" -eq 1 ]
t_ok $? "ThrottlingException twice, then an answer: retried, unwrapped"
aws_ctl /_reset > /dev/null
aws_ctl /_fault '{"code": "ThrottlingException", "message": "Rate exceeded", "times": 100}' > /dev/null
t_expect_fail "throttled every time: exit 5, naming it" 5 "KMS Decrypt: ThrottlingException: Rate exceeded" \
	"$(t_unwrap_request ocikp "$ANN" "$KEY")"
[ "$(aws_stat faults)" -eq 3 ]
t_ok $? "... after exactly 3 attempts"
aws_ctl /_reset > /dev/null
aws_ctl /_fault '{"code": "KMSInternalException", "status": 500, "times": 100}' > /dev/null
t_expect_fail "KMSInternalException (HTTP 500) every time: exit 5" 5 "KMS Encrypt: KMSInternalException" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
aws_ctl /_reset > /dev/null
printf '{"key_url":"%s","wrapped_key":"A*AA"}' "$KEY" | base64 -w0 > "$T_TMP/bad.b64"
t_expect_fail "unwrap: bad base64 in wrapped_key: exit 3" 3 "wrapped_key" \
	"$(t_unwrap_request ocikp "$(cat "$T_TMP/bad.b64")" "$KEY")"

# --- options ---------------------------------------------------------------------
aws_dropin "$C" "awskms.encryption_context = purpose=ocikp,team=a b"
AC=$(t_wrap "$OPTS" "$KEY") && OUT=$(t_unwrap "$AC" "$KEY") && [ "$OUT" = "$OPTS" ] &&
	python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["EncryptionContext"] == {"purpose": "ocikp", "team": "a b"}' \
		"$AWS_DIR/last-request.json"
t_ok $? "awskms.encryption_context goes on Encrypt and Decrypt"
aws_dropin "$C"
t_expect_fail "... and without it that image does not open: exit 4" 4 "InvalidCiphertextException" \
	"$(t_unwrap_request ocikp "$AC" "$KEY")"
printf 'backend = awskms\nmodule = ocikp-awskms.so\nschemes = awskms\nawskms.kms_endpoint = http://127.0.0.1:%s\n' \
	"$AWS_HTTP" > "$C/50-awskms.conf"
t_expect_fail "plain http:// endpoint without allow_insecure_http: refused, exit 6" 6 "" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
aws_dropin "$C" "awskms.kms_endpoint = $AWS_URL/x"
# (a second kms_endpoint line: the host's handling of duplicates aside, a path is refused)
printf 'backend = awskms\nmodule = ocikp-awskms.so\nschemes = awskms\nawskms.kms_endpoint = %s/path\n' "$AWS_URL" > "$C/50-awskms.conf"
t_expect_fail "an endpoint with a path: exit 6" 6 "option awskms.kms_endpoint must be" \
	"$(t_wrap_request ocikp "$OPTS" "$KEY")"
aws_dropin "$C"

# --- secrets never on stderr ------------------------------------------------------
OCIKP_DEBUG=1 AWS_ACCESS_KEY_ID=$AWS_TAKID AWS_SECRET_ACCESS_KEY=$AWS_TSECRET AWS_SESSION_TOKEN=$AWS_TTOKEN \
	t_run "$(t_wrap_request ocikp "$OPTS" "$KEY")" --verbose
E1=$T_ERR
OCIKP_DEBUG=1 AWS_SECRET_ACCESS_KEY=x t_run "$(t_unwrap_request ocikp "$ANN" "$KEY")" --verbose
E2=$T_ERR
! printf '%s\n%s' "$E1" "$E2" | grep -qF -e "$AWS_TSECRET" -e "$AWS_TTOKEN" -e "$AWS_SECRET" -e "Signature=" &&
	printf '%s' "$E1" | grep -q "AWS credentials from environment (temporary)"
t_ok $? "--verbose: no secret key, session token or signature on stderr"

t_done
