#!/usr/bin/env bash
# The bad-input matrix: each case must give its exit code, nothing on stdout
# and exactly one stderr line naming the cause.
. "$top_srcdir/tests/lib/common.sh"
t_setup
. "$top_srcdir/tests/lib/requests.sh"	# OPTS GOOD b wrapreq unwrapreq mutate

# --- protocol JSON ---
t_expect_fail "empty stdin" 3 'request: empty$' ""
t_expect_fail "truncated JSON" 3 'request: malformed JSON' '{"op":"keywrap","keywrapparams":{'
t_expect_fail "not JSON at all" 3 'request: malformed JSON' 'hello'
t_expect_fail "trailing garbage" 3 'request: malformed JSON' '{"op":"keywrap"} x'
t_expect_fail "invalid UTF-8" 3 'request: malformed JSON' $'{"op":"key\xffwrap"}'
t_expect_fail "array instead of object" 3 'request: not a JSON object' '[1,2]'
t_expect_fail "op missing" 3 'request: op missing' '{"keywrapparams":{}}'
t_expect_fail "op of the wrong type" 3 'request: op must be a string' '{"op":7}'
t_expect_fail "unknown op" 3 "request: unknown op 'keyfrob'" '{"op":"keyfrob"}'
t_expect_fail "keywrapparams of the wrong type" 3 'keywrapparams must be an object' '{"op":"keywrap","keywrapparams":"x"}'
t_expect_fail "ec.Parameters of the wrong type" 3 'ec.Parameters must be an object' '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":[1]}}}'
t_expect_fail "Parameters[NAME] not an array" 3 'Parameters.ocikp must be an array' '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"ocikp":"x"}}}}'
t_expect_fail "Parameters[NAME] item not a string" 3 'Parameters.ocikp\[0\] must be a base64 string' "$(wrapreq 5)"
t_expect_fail "empty Parameters" 3 "no recipients for provider 'ocikp'" '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{}},"optsdata":"e30="}}'
t_expect_fail "Parameters for another provider only" 3 "no recipients for provider 'ocikp'" '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"other":["eA=="]}},"optsdata":"e30="}}'
t_expect_fail "parameter bad base64" 3 'Parameters.ocikp\[0\]: invalid base64' "$(wrapreq '"c2FtcGxl!!"')"
t_expect_fail "parameter with a NUL byte" 3 'contains a NUL byte' "$(wrapreq "\"$(printf 'sample://a\0b' | b64)\"")"
t_expect_fail "optsdata missing" 3 'keywrapparams.optsdata missing' "$(printf '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"ocikp":["%s"]}}}}' "$(b sample://default)")"
t_expect_fail "optsdata bad base64" 3 'keywrapparams.optsdata: invalid base64' "$(wrapreq "\"$(b sample://default)\"" 'e30')"
t_expect_fail "nesting too deep" 3 'nested deeper than' "$(printf '{"op":%s%s}' "$(printf '[%.0s' {1..100})" "$(printf ']%.0s' {1..100})")"
big=$(head -c 1100000 /dev/zero | tr '\0' ' ')
t_expect_fail "stdin over 1 MiB" 3 'request: larger than 1048576 bytes' "{\"op\":\"keywrap\"$big}"
t_expect_fail "dc.Parameters of the wrong type" 3 'dc.Parameters must be an object' "$(printf '{"op":"keyunwrap","keyunwrapparams":{"dc":{"Parameters":"x"},"annotation":"%s"}}' "$GOOD")"
t_expect_fail "NUL in a string (op)" 3 'request: a JSON string or key holds a NUL' '{"op":"keyunwrap\u0000x","keyunwrapparams":{"annotation":"e30="}}'
t_expect_fail "NUL in a key" 3 'request: a JSON string or key holds a NUL' '{"op\u0000":"keywrap","op":"keyunwrap"}'
zeros=$(printf '0,%.0s' {1..16384})
t_expect_fail "more than 16384 values" 3 'request: JSON holds more than 16384 values' "{\"op\":\"keywrap\",\"x\":[${zeros}0]}"
recips=$(printf '"YQ==",%.0s' {1..16384})
t_expect_fail "more than 16384 recipients" 3 'request: JSON holds more than 16384 values' "$(wrapreq "${recips}\"YQ==\"")"

# --- recipients and routing ---
t_expect_fail "unknown scheme on wrap" 3 "no backend for scheme 'nope'" "$(wrapreq "\"$(b nope://x)\"")"
t_expect_fail "recipient without a scheme" 3 'recipient is not a key URL' "$(wrapreq "\"$(b Enabled)\"")"
t_expect_fail "scheme with / and .." 3 'recipient is not a key URL' "$(wrapreq "\"$(b ../../lib/x://y)\"")"
t_expect_fail "sample URL with a path" 3 'sample: key URL must be sample://NAME' "$(wrapreq "\"$(b sample://a/b)\"")"
t_expect_fail "key URL not valid UTF-8 (the generator's cause)" 3 '^ocikp: mock: cannot write JSON: a string is not valid UTF-8$' "$(wrapreq "\"$(printf 'mock://a\377b' | b64)\"")"
t_expect_fail "sample key not on this machine (wrap)" 3 "sample: no sample key named 'other'" "$(wrapreq "\"$(b sample://other)\"")"

# --- annotations ---
t_expect_fail "annotation missing" 3 'keyunwrapparams.annotation missing' '{"op":"keyunwrap","keyunwrapparams":{"dc":null}}'
t_expect_fail "annotation bad base64" 3 'keyunwrapparams.annotation: invalid base64' "$(unwrapreq 'e30')"
t_expect_fail "annotation not JSON" 3 'annotation: malformed JSON' "$(unwrapreq "$(b 'not json')")"
t_expect_fail "annotation a JSON array" 3 'annotation: not a JSON object' "$(unwrapreq "$(b '[]')")"
t_expect_fail "annotation without key URL" 3 'annotation: no key URL' "$(unwrapreq "$(b '{"wrapped_key":"AA=="}')")"
t_expect_fail "annotation key shadowing key_url with a NUL" 3 'annotation: a JSON string or key holds a NUL' "$(unwrapreq "$(mutate 'a["key_url\0"]="zzz://x"')")"
t_expect_fail "annotation for an unknown scheme" 4 "no backend for scheme 'zzz'" "$(unwrapreq "$(b '{"key_url":"zzz://k"}')")"
t_expect_fail "envelope with zero recipients" 3 'envelope has no recipients' "$(unwrapreq "$(b '{"ocikp":1,"recipients":[]}')")"
t_expect_fail "envelope of an unknown version" 3 'unsupported ocikp envelope version' "$(unwrapreq "$(b '{"ocikp":2,"recipients":[{}]}')")"
t_expect_fail "wrap_type not AES" 3 'sample: annotation: wrap_type must be "AES"' "$(unwrapreq "$(mutate 'a["wrap_type"]="DES"')")"
t_expect_fail "wrapped_key bad base64" 3 'sample: annotation: wrapped_key: invalid base64' "$(unwrapreq "$(mutate 'a["wrapped_key"]="@@@@"')")"
t_expect_fail "wrapped_key too short" 3 'sample: wrapped key too short' "$(unwrapreq "$(mutate 'a["wrapped_key"]="AAAA"')")"
t_expect_fail "corrupted wrapped_key" 4 "sample: wrong key" "$(unwrapreq "$(mutate 'import base64
w=bytearray(base64.b64decode(a["wrapped_key"])); w[20]^=1; a["wrapped_key"]=base64.b64encode(bytes(w)).decode()')")"
t_expect_fail "key name not on this machine (unwrap)" 4 "wrapped for sample key 'other', this machine has 'default'" "$(unwrapreq "$(mutate 'a["key_url"]="sample://other"')")"

# --- keys and configuration ---
K2=$(t_sample_key)
C2=$(t_conf_dir); printf 'sample.key_file = %s\n' "$K2" > "$C2/50-sample.conf"
t_expect_fail "wrong key" 4 "sample: wrong key: sample key 'default' does not open" "$(unwrapreq "$GOOD")" --config-dir="$C2"
C3=$(t_conf_dir); printf 'sample.key_file = %s\n' "$T_TMP/absent.key" > "$C3/50-sample.conf"
t_expect_fail "unreadable key file" 6 "sample: key file .*absent.key: No such file" "$(unwrapreq "$GOOD")" --config-dir="$C3"
K3=$(t_sample_key); chmod 644 "$K3"
C4=$(t_conf_dir); printf 'sample.key_file = %s\n' "$K3" > "$C4/50-sample.conf"
t_expect_fail "key file readable by others" 6 "accessible by group or others \(mode 644" "$(unwrapreq "$GOOD")" --config-dir="$C4"
K4="$T_TMP/short.key"; head -c 16 /dev/urandom > "$K4"; chmod 600 "$K4"
C5=$(t_conf_dir); printf 'sample.key_file = %s\n' "$K4" > "$C5/50-sample.conf"
t_expect_fail "key file of the wrong length" 6 "must hold exactly 32 bytes" "$(unwrapreq "$GOOD")" --config-dir="$C5"
C6=$(t_conf_dir); printf 'backend = sample\nmodule = ocikp-sample.so\nschemes = sample\nthis line is wrong\n' > "$C6/50-sample.conf"
t_expect_fail "malformed drop-in line" 6 "50-sample.conf:4: expected 'key = value'" "$(unwrapreq "$GOOD")" --config-dir="$C6"
C7=$(t_conf_dir)
t_expect_fail "no key file configured" 6 "sample: no key file: set sample.key_file" "$(unwrapreq "$GOOD")" --config-dir="$C7"

# --- usage ---
t_expect_fail "unknown option" 2 "unknown option '--frobnicate'" "" --frobnicate
t_expect_fail "empty provider name" 2 "provider needs a name" "" --provider=
t_expect_fail "unknown command" 2 "unknown command or backend 'frob'" "" frob
t_expect_fail "backend command without subcommand" 2 "sample: missing subcommand" "" sample
t_done
[ "$T_FAILED" -eq 0 ]
