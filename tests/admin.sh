#!/usr/bin/env bash
# Admin commands: list, inspect, sample keygen.
. "$top_srcdir/tests/lib/common.sh"
t_setup
OPTS='{"symkey":"c2VjcmV0LXN5bWtleS1kby1ub3QtcHJpbnQ=","digest":"sha256:00"}'

t_run "" list
[ "$T_RC" -eq 0 ] && printf '%s\n' "$T_OUT" | grep -q "sample: sample:// -> $P/ocikp-sample.so \[loads: sample " &&
	printf '%s\n' "$T_OUT" | grep -q "(${C}/50-sample.conf:1)"
t_ok $? "list: scheme -> module path, loads, from which drop-in"
printf 'backend = broken\nmodule = ocikp-mock-badabi.so\nschemes = broken\n' > "$C/60-broken.conf"
t_run "" list
[ "$T_RC" -eq 0 ] && printf '%s\n' "$T_OUT" | grep -q "broken: broken:// -> .*\[refused: .*backend ABI 99"
t_ok $? "list shows a module that does not load, and why"
rm "$C/60-broken.conf"
H=$(t_conf_dir)
ln -s /dev/null "$H/50-mock.conf"
OCIKP_CONFIG_DIR="$H:$C" t_run "" list
[ "$T_RC" -eq 0 ] && printf '%s\n' "$T_OUT" | grep -qx "  masked: $H/50-mock.conf" &&
	printf '%s\n' "$T_OUT" | grep -qx "  $C/50-sample.conf" &&
	! printf '%s\n' "$T_OUT" | grep -q "$C/50-mock.conf\|^  mock:"
t_ok $? "list shows a masked drop-in, and its backend is gone"

ann=$(t_wrap "$OPTS" sample://default)
t_run "" inspect "$ann"
[ "$T_RC" -eq 0 ] && printf '%s\n' "$T_OUT" | grep -q '^format: native annotation' &&
	printf '%s\n' "$T_OUT" | grep -q '^key: sample://default' &&
	printf '%s\n' "$T_OUT" | grep -q '^scheme: sample, backend: sample'
t_ok $? "inspect a base64 annotation from an argument"
wk=$(printf '%s' "$ann" | base64 -d | t_json_field wrapped_key)
! printf '%s' "$T_OUT" | grep -qF "$wk" && ! printf '%s' "$T_OUT" | grep -q 'c2VjcmV0'
t_ok $? "inspect prints no wrapped key or secret"
printf '%s' "$ann" | base64 -d > "$T_TMP/ann.json"
t_run "" inspect "$T_TMP/ann.json"
[ "$T_RC" -eq 0 ] && printf '%s\n' "$T_OUT" | grep -q '^key: sample://default'
t_ok $? "inspect JSON from a file"
env_ann=$(t_wrap "$OPTS" sample://default mock://k)
t_run "$env_ann" inspect
[ "$T_RC" -eq 0 ] && printf '%s\n' "$T_OUT" | grep -q 'ocikp envelope, version 1, 2 recipient' &&
	printf '%s\n' "$T_OUT" | grep -q '^  key: mock://k' && printf '%s\n' "$T_OUT" | grep -q '^recipient 2:'
t_ok $? "inspect an envelope from stdin: each recipient"
t_run "$(printf '%s' "$env_ann" | base64 -d)" inspect -
t_ok "$T_RC" "inspect - reads JSON on stdin"
t_expect_fail "inspect garbage" 3 "annotation: invalid base64" "" inspect 'not base64!'
t_expect_fail "inspect too many arguments" 2 "inspect takes at most one argument" "" inspect a b

t_run "" sample keygen "$T_TMP/new.key"
[ "$T_RC" -eq 0 ] && [ "$(stat -c %a "$T_TMP/new.key")" = 600 ] && [ "$(stat -c %s "$T_TMP/new.key")" = 32 ]
t_ok $? "sample keygen writes 32 bytes, mode 0600"
t_expect_fail "sample keygen never overwrites" 6 "new.key: File exists" "" sample keygen "$T_TMP/new.key"
t_expect_fail "sample keygen usage" 3 "usage: ocikp sample keygen FILE" "" sample keygen
t_done
[ "$T_FAILED" -eq 0 ]
