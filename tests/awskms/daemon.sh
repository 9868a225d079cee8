#!/bin/bash
# awskms through ocikpd: the module stays loaded, so its HTTPS connections
# are kept (the fake counts TLS connections): 10 unwraps over one or two
# connections, every one signed afresh and accepted; a wrap; a KMS error
# mapped as by exec; the daemon stops cleanly (fini frees the pool); STS
# credentials served from memory.
# Behaviour only: no timing is asserted.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/awskms/lib.sh"
. "$top_srcdir/tests/daemon/lib.sh"
set -u

t_setup
aws_setup
aws_isolate
d_built_or_skip 4
aws_dropin "$C"
export AWS_ACCESS_KEY_ID=$AWS_AKID AWS_SECRET_ACCESS_KEY=$AWS_SECRET
KEY="awskms://arn:aws:kms:us-east-1:123456789012:key/$AWS_KEY1"
OPTS='{"symkey":"c2VjcmV0","cipheroptions":{"nonce":"bm9uY2U="}}'

ANN=$(t_wrap "$OPTS" "$KEY")
[ -n "$ANN" ] || { t_ok 1 "wrap by exec"; t_diag "$T_ERR"; t_done; exit 1; }
d_req "$T_TMP/unwrap.json" "$(t_unwrap_request ocikp "$ANN" "$KEY")"

d_start || { t_ok 1 "ocikpd starts"; t_done; exit 1; }
aws_ctl /_reset > /dev/null
d_unwraps 10 "$T_TMP/unwrap.json" "$OPTS"
R=$?
DEC=$(aws_stat decrypt)
HS=$(aws_stat tls_handshakes)
[ $R -eq 0 ] && [ "$DEC" -eq 10 ] && [ "$HS" -ge 1 ] && [ "$HS" -le 2 ]
t_ok $? "10 unwraps through one ocikpd: $DEC decrypts over $HS TLS connection(s)"
[ $R -eq 0 ] || t_diag "$(tail -20 "$D_LOG")"

aws_ctl /_fault '{"code": "AccessDeniedException", "message": "denied here"}' > /dev/null
d_req "$T_TMP/unwrap2.json" "$(t_unwrap_request ocikp "$ANN" "$KEY")"
OUT=$(d_client call --target "$D_TARGET" --rpc UnWrapKey --json "$T_TMP/unwrap2.json" --timeout "$(d_scale 20)" 2>&1)
printf '%s' "$OUT" | grep -q "AccessDeniedException: denied here"
t_ok $? "a KMS error through ocikpd names KMS's code and message"
[ $? -eq 0 ] || t_diag "$OUT"

d_stop
t_ok $? "ocikpd stops with exit 0, its kept connections closed"

# STS credentials through ocikpd: the memory copy serves (the file removed).
aws_state
aws_dropin "$C" "awskms.sts_endpoint = $AWS_URL"
printf '%s\n' "$AWS_WEB_TOKEN" > "$T_TMP/token"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
export AWS_WEB_IDENTITY_TOKEN_FILE="$T_TMP/token" AWS_ROLE_ARN=$AWS_ROLE_WEB
d_start || { t_ok 1 "ocikpd starts again"; t_done; exit 1; }
aws_ctl /_reset > /dev/null
d_unwraps 1 "$T_TMP/unwrap.json" "$OPTS" && [ -n "$(aws_cache_mine)" ] && aws_cache_drop &&
	d_unwraps 5 "$T_TMP/unwrap.json" "$OPTS" && [ "$(aws_stat AssumeRoleWithWebIdentity)" -eq 1 ] &&
	[ "$(aws_stat decrypt)" -eq 6 ] && [ -z "$(aws_cache_mine)" ]
t_ok $? "web identity through ocikpd: one STS call for 6 unwraps, the memory copy serving with the file gone"
[ $? -eq 0 ] || t_diag "$(tail -20 "$D_LOG")"
d_stop
t_ok $? "ocikpd stops with exit 0 (the credentials freed)"
t_done
