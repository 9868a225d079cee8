#!/usr/bin/env bash
# The exec protocol as ocicrypt speaks it (SPEC.md §1), on the sample backend.
. "$top_srcdir/tests/lib/common.sh"
t_setup
OPTS='{"symkey":"c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE=","digest":"sha256:00","cipheroptions":{"nonce":"AAAAAAAAAAAAAAAA"}}'

ann=$(t_wrap "$OPTS" sample://default)
t_ok $? "keywrap answers with an annotation"
json=$(printf '%s' "$ann" | base64 -d)
printf '%s' "$json" | python3 -c '
import json,sys,base64
a=json.load(sys.stdin)
assert list(a)==["key_url","wrapped_key","wrap_type"], a
assert a["key_url"]=="sample://default" and a["wrap_type"]=="AES"
assert len(base64.b64decode(a["wrapped_key"]))==12+len(sys.argv[1])+16' "$OPTS"
t_ok $? "annotation is the native sample JSON (key_url, wrapped_key=nonce|ct|tag, wrap_type)"
t_run "$(t_wrap_request ocikp "$OPTS" sample://default)"
printf '%s' "$T_OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert list(d)==["keywrapresults"] and list(d["keywrapresults"])==["annotation"]'
t_ok $? "keywrap answer has exactly keywrapresults.annotation"

out=$(t_unwrap "$ann")
[ "$out" = "$OPTS" ]
t_ok $? "keyunwrap returns the exact optsdata"
t_run "$(t_unwrap_request ocikp "$ann")"
printf '%s' "$T_OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert list(d)==["keyunwrapresults"] and list(d["keyunwrapresults"])==["optsdata"]'
t_ok $? "keyunwrap answer has exactly keyunwrapresults.optsdata"

ann2=$(t_wrap "$OPTS" sample://default)
[ "$ann" != "$ann2" ]
t_ok $? "two wraps of the same optsdata differ (random nonce)"

# Unknown fields ignored, nulls accepted where ocicrypt sends them.
req=$(printf '{"future":{"x":[1,2.5e3,true,null]},"op":"keyunwrap","keywrapparams":{"ec":null,"optsdata":null},"keyunwrapparams":{"dc":{"Parameters":null},"annotation":"%s","extra":1}}' "$ann")
t_run "$req"
[ "$T_RC" -eq 0 ] && [ -z "$T_ERR" ]
t_ok $? "unknown fields ignored, null dc.Parameters accepted"
t_run "$(printf '{"op":"keyunwrap","keyunwrapparams":{"dc":null,"annotation":"%s"}}' "$ann")"
t_ok "$T_RC" "null dc and missing keywrapparams accepted on unwrap"

# Only Parameters[NAME] is read; other providers' values are ignored.
list=$(printf sample://default | b64)
req=$(printf '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"other":["%s"],"tpm":["bm90IGEga2V5"],"mine":["%s"]},"DecryptConfig":{"Parameters":{"pkcs11-pin":["c2VjcmV0"]}}},"optsdata":"%s"},"keyunwrapparams":{"dc":null,"annotation":null}}' \
	"$(printf 'garbage' | b64)" "$list" "$(printf '%s' "$OPTS" | b64)")
t_run "$req" --provider=mine
t_ok "$T_RC" "--provider=mine reads only Parameters[mine]"
t_run "$req" --provider mine
t_ok "$T_RC" "--provider NAME (two arguments) works too"
t_run "$req" --provider=other
[ "$T_RC" -eq 3 ] && [ -z "$T_OUT" ]
t_ok $? "--provider=other reads Parameters[other] (garbage: refused)"
t_run "$req"
[ "$T_RC" -eq 3 ] && printf '%s' "$T_ERR" | grep -q "no recipients for provider 'ocikp'"
t_ok $? "default provider name is ocikp"

# Go's json encodes []byte as standard padded base64; '+' and '/' appear.
OPTS_BIN=$(head -c 300 /dev/urandom | base64 -w0)
ann=$(t_wrap "$OPTS_BIN" sample://default) && [ "$(t_unwrap "$ann")" = "$OPTS_BIN" ]
t_ok $? "300-byte optsdata round trip"

# Seed providers' flags are accepted, so an admin swaps only the binary.
t_run "$(t_wrap_request ocikp "$OPTS" sample://default)" --tpmPath=/dev/tpmrm0 --adc=/x.json --kmsURI=gcpkms://x
t_ok "$T_RC" "--tpmPath= --adc= --kmsURI= accepted"
# Each becomes the option its backend reads: the mock, loaded under that
# backend's name, logs the value it sees.
for m in tpm:tpm_path:--tpmPath=/dev/tpmrm0 gcpkms:credentials:--adc=/x.json \
	gcpkms:kms_uri:--kmsURI=gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k; do
	be=${m%%:*}; rest=${m#*:}; opt=${rest%%:*}; flag=${rest#*:}
	C3=$(t_conf_dir)
	printf 'backend = %s\nmodule = ocikp-mock.so\nschemes = mock\n%s.log = %s\n%s.log_option = %s\n' \
		"$be" "$be" "$T_TMP/compat.log" "$be" "$opt" > "$C3/50-$be.conf"
	rm -f "$T_TMP/compat.log"
	t_run "$(t_wrap_request ocikp "$OPTS" mock://k)" --config-dir="$C3" "$flag"
	[ "$T_RC" -eq 0 ] && [ "$(grep '^option ' "$T_TMP/compat.log")" = "option $opt ${flag#*=}" ]
	t_ok $? "${flag%%=*}= sets $be.$opt"
done

# The embedded default: with no drop-in for it, sample:// still routes.
C2=$(t_conf_dir)
printf 'sample.key_file = %s\n' "$K" > "$C2/10-key.conf"
t_run "$(t_unwrap_request ocikp "$ann")" --config-dir="$C2"
[ "$T_RC" -eq 0 ] && [ "$(printf '%s' "$T_OUT" | t_json_field keyunwrapresults.optsdata | base64 -d)" = "$OPTS_BIN" ]
t_ok $? "built-in sample backend used when no drop-in defines it"

t_run "" --version
[ "$T_RC" -eq 0 ] && printf '%s' "$T_OUT" | grep -Eq '^ocikp [0-9]'
t_ok $? "--version"
t_run "" --help
[ "$T_RC" -eq 0 ] && printf '%s' "$T_OUT" | grep -q 'exit codes' && printf '%s' "$T_OUT" | grep -q '6 configuration'
t_ok $? "--help documents the exit codes"
t_done
[ "$T_FAILED" -eq 0 ]
