#!/bin/bash
# awskms end to end through the real ocicrypt library (tests/go): a layer
# encrypted and decrypted with AWS KMS (the fake, SigV4 verified) under our
# provider name and under kms-crypt's (its parameter a bare ARN), and a
# layer made under one name opened under the other.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/awskms/lib.sh"

t_setup
aws_setup
aws_isolate
export AWS_ACCESS_KEY_ID=$AWS_AKID AWS_SECRET_ACCESS_KEY=$AWS_SECRET
ARN="arn:aws:kms:us-east-1:123456789012:key/$AWS_KEY1"
KEY="awskms://$ARN"
C1=$(t_conf_dir)
aws_dropin "$C1"

t_e2e "ocicrypt encrypts and decrypts a layer through ocikp and AWS KMS" ocikp "$C1" \
	-enc "ocikp:$KEY" -dec "ocikp:awskms:///alias/ocikp-test?region=us-east-1" -size 100000 \
	-dump "$T_TMP/ours"
python3 - "$T_TMP/ours/ann.keys.provider.ocikp" "$KEY" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
assert list(a) == ["key_url", "wrapped_key"] and a["key_url"] == sys.argv[2], a
PY
t_ok $? "ocicrypt stored the kms-crypt annotation format under ...keys.provider.ocikp"

t_e2e "as kms-crypt, a bare ARN the parameter: encrypt and decrypt" kms-crypt "$C1" \
	-enc "kms-crypt:$ARN" -dec "kms-crypt:$ARN" -dump "$T_TMP/theirs"
python3 - "$T_TMP/theirs/ann.keys.provider.kms-crypt" "$ARN" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
assert a["key_url"] == sys.argv[2], a
PY
t_ok $? "... stored under ...keys.provider.kms-crypt with the ARN as key_url, as kms-crypt does"
mkdir -p "$T_TMP/moved"
cp -r "$T_TMP/theirs/." "$T_TMP/moved/"
mv "$T_TMP/moved/ann.keys.provider.kms-crypt" "$T_TMP/moved/ann.keys.provider.ocikp"
t_e2e "a layer wrapped as kms-crypt opens as ocikp with an awskms:// URL" ocikp "$C1" \
	-from "$T_TMP/moved" -dec "ocikp:$KEY"
t_done
[ "$T_FAILED" -eq 0 ]
