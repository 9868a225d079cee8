#!/usr/bin/env bash
# The exec bad-input matrix (tests/bad-input.sh, the same inputs) replayed
# through ocikpd: each case gets the gRPC status mapped from ocikp's exit
# code and, as grpc-message, exactly the line ocikp prints on stderr for the
# same request; the daemon stays up and answers a good request after them.
. "$top_srcdir/tests/lib/common.sh"
t_setup
. "$top_srcdir/tests/daemon/lib.sh"
d_built_or_skip

T_PY=$D_PY
. "$top_srcdir/tests/lib/requests.sh"	# OPTS GOOD b wrapreq unwrapreq mutate, as tests/bad-input.sh

# The cases are collected first (input file, exec outcome), then sent per
# drop-in dir to one daemon in one client run, then checked.
N=0
declare -A CONF_OF DESC_OF RC_OF ERR_OF
CD=$T_TMP/cases
mkdir -p "$CD"

# bad DESC STDIN [CONF-DIR]: a case; ocikp's exit code and line recorded.
bad() {
	local desc=$1 input=$2 conf=${3:-$C} f rpc
	N=$((N + 1))
	f="$CD/$N.json"
	printf '%s' "$input" > "$f"
	OCIKP_CONFIG_DIR=$conf "$OCIKP" < "$f" > "$CD/$N.out" 2> "$CD/$N.err"
	RC_OF[$N]=$?
	ERR_OF[$N]=$(cat "$CD/$N.err")
	DESC_OF[$N]=$desc
	CONF_OF[$N]=$conf
	# the call that matches the op, so the host's own check of it stays out
	rpc=UnWrapKey
	grep -q '^{"op":"keywrap"' "$f" && rpc=WrapKey
	printf '%s\t%s\n' "$rpc" "$f" >> "$CD/list.$(printf '%s' "$conf" | md5sum | cut -c1-12)"
}

# --- protocol JSON ---
bad "empty stdin" ""
bad "truncated JSON" '{"op":"keywrap","keywrapparams":{'
bad "not JSON at all" 'hello'
bad "trailing garbage" '{"op":"keywrap"} x'
bad "invalid UTF-8" $'{"op":"key\xffwrap"}'
bad "array instead of object" '[1,2]'
bad "op missing" '{"keywrapparams":{}}'
bad "op of the wrong type" '{"op":7}'
bad "unknown op" '{"op":"keyfrob"}'
bad "keywrapparams of the wrong type" '{"op":"keywrap","keywrapparams":"x"}'
bad "ec.Parameters of the wrong type" '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":[1]}}}'
bad "Parameters[NAME] not an array" '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"ocikp":"x"}}}}'
bad "Parameters[NAME] item not a string" "$(wrapreq 5)"
bad "empty Parameters" '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{}},"optsdata":"e30="}}'
bad "Parameters for another provider only" '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"other":["eA=="]}},"optsdata":"e30="}}'
bad "parameter bad base64" "$(wrapreq '"c2FtcGxl!!"')"
bad "parameter with a NUL byte" "$(wrapreq "\"$(printf 'sample://a\0b' | b64)\"")"
bad "optsdata missing" "$(printf '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"ocikp":["%s"]}}}}' "$(b sample://default)")"
bad "optsdata bad base64" "$(wrapreq "\"$(b sample://default)\"" 'e30')"
bad "nesting too deep" "$(printf '{"op":%s%s}' "$(printf '[%.0s' {1..100})" "$(printf ']%.0s' {1..100})")"
bad "dc.Parameters of the wrong type" "$(printf '{"op":"keyunwrap","keyunwrapparams":{"dc":{"Parameters":"x"},"annotation":"%s"}}' "$GOOD")"
bad "NUL in a string (op)" '{"op":"keyunwrap\u0000x","keyunwrapparams":{"annotation":"e30="}}'
bad "NUL in a key" '{"op\u0000":"keywrap","op":"keyunwrap"}'
zeros=$(printf '0,%.0s' {1..16384})
bad "more than 16384 values" "{\"op\":\"keywrap\",\"x\":[${zeros}0]}"
recips=$(printf '"YQ==",%.0s' {1..16384})
bad "more than 16384 recipients" "$(wrapreq "${recips}\"YQ==\"")"

# --- recipients and routing ---
bad "unknown scheme on wrap" "$(wrapreq "\"$(b nope://x)\"")"
bad "recipient without a scheme" "$(wrapreq "\"$(b Enabled)\"")"
bad "scheme with / and .." "$(wrapreq "\"$(b ../../lib/x://y)\"")"
bad "sample URL with a path" "$(wrapreq "\"$(b sample://a/b)\"")"
bad "key URL not valid UTF-8 (the generator's cause)" "$(wrapreq "\"$(printf 'mock://a\377b' | b64)\"")"
bad "sample key not on this machine (wrap)" "$(wrapreq "\"$(b sample://other)\"")"
# lines that grpc-message must percent-encode: UTF-8, '%'
bad "unknown op in UTF-8 (grpc-message percent-encoded)" '{"op":"clé-ü"}'
bad "unknown op with a % (grpc-message percent-encoded)" '{"op":"a%20b%zz"}'

# --- annotations ---
bad "annotation missing" '{"op":"keyunwrap","keyunwrapparams":{"dc":null}}'
bad "annotation bad base64" "$(unwrapreq 'e30')"
bad "annotation not JSON" "$(unwrapreq "$(b 'not json')")"
bad "annotation a JSON array" "$(unwrapreq "$(b '[]')")"
bad "annotation without key URL" "$(unwrapreq "$(b '{"wrapped_key":"AA=="}')")"
bad "annotation key shadowing key_url with a NUL" "$(unwrapreq "$(mutate 'a["key_url\0"]="zzz://x"')")"
bad "annotation for an unknown scheme" "$(unwrapreq "$(b '{"key_url":"zzz://k"}')")"
bad "envelope with zero recipients" "$(unwrapreq "$(b '{"ocikp":1,"recipients":[]}')")"
bad "envelope of an unknown version" "$(unwrapreq "$(b '{"ocikp":2,"recipients":[{}]}')")"
bad "wrap_type not AES" "$(unwrapreq "$(mutate 'a["wrap_type"]="DES"')")"
bad "wrapped_key bad base64" "$(unwrapreq "$(mutate 'a["wrapped_key"]="@@@@"')")"
bad "wrapped_key too short" "$(unwrapreq "$(mutate 'a["wrapped_key"]="AAAA"')")"
bad "corrupted wrapped_key" "$(unwrapreq "$(mutate 'import base64
w=bytearray(base64.b64decode(a["wrapped_key"])); w[20]^=1; a["wrapped_key"]=base64.b64encode(bytes(w)).decode()')")"
bad "key name not on this machine (unwrap)" "$(unwrapreq "$(mutate 'a["key_url"]="sample://other"')")"
# the mock's failure modes: unavailable, internal
CM=$(t_conf_dir)
cp "$C/50-sample.conf" "$CM/"
printf 'backend = mock\nmodule = ocikp-mock.so\nschemes = mock\nmock.fail = unavailable\n' > "$CM/50-mock.conf"
t_run "$(t_wrap_request ocikp "$OPTS" mock://k)"
MANN=$(printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation)
bad "backend unavailable" "$(t_unwrap_request ocikp "$MANN" mock://k)" "$CM"
CI_=$(t_conf_dir)
cp "$C/50-sample.conf" "$CI_/"
printf 'backend = mock\nmodule = ocikp-mock.so\nschemes = mock\nmock.fail = internal\n' > "$CI_/50-mock.conf"
bad "backend internal failure" "$(t_unwrap_request ocikp "$MANN" mock://k)" "$CI_"

# --- keys and configuration (a daemon per drop-in dir) ---
K2=$(t_sample_key)
C2=$(t_conf_dir); printf 'sample.key_file = %s\n' "$K2" > "$C2/50-sample.conf"
bad "wrong key" "$(unwrapreq "$GOOD")" "$C2"
C3=$(t_conf_dir); printf 'sample.key_file = %s\n' "$T_TMP/absent.key" > "$C3/50-sample.conf"
bad "unreadable key file" "$(unwrapreq "$GOOD")" "$C3"
K3=$(t_sample_key); chmod 644 "$K3"
C4=$(t_conf_dir); printf 'sample.key_file = %s\n' "$K3" > "$C4/50-sample.conf"
bad "key file readable by others" "$(unwrapreq "$GOOD")" "$C4"
K4="$T_TMP/short.key"; head -c 16 /dev/urandom > "$K4"; chmod 600 "$K4"
C5=$(t_conf_dir); printf 'sample.key_file = %s\n' "$K4" > "$C5/50-sample.conf"
bad "key file of the wrong length" "$(unwrapreq "$GOOD")" "$C5"
C7=$(t_conf_dir)
bad "no key file configured" "$(unwrapreq "$GOOD")" "$C7"

# The gRPC code for an ocikp exit code (and its line, for 4).
want_codes() {	# want_codes RC LINE : prints the codes accepted
	case $1 in
	1) echo INTERNAL ;;
	3) echo INVALID_ARGUMENT ;;
	4) case $2 in
	   *'wrong key'*) echo PERMISSION_DENIED ;;
	   *) echo "NOT_FOUND PERMISSION_DENIED" ;;
	   esac ;;
	5) echo UNAVAILABLE ;;
	6) echo FAILED_PRECONDITION ;;
	*) echo "exit-$1" ;;
	esac
}

# One daemon per drop-in dir, all its cases in one client run.
declare -A GOT_OF
for list in "$CD"/list.*; do
	first=$(head -1 "$list" | cut -f2)
	first=${first##*/}
	conf=${CONF_OF[${first%.json}]}
	if ! D_CONF=$conf d_start; then
		t_diag "no daemon for $conf"
		continue
	fi
	d_client batch --target "$D_TARGET" --cases "$list" > "$list.got" 2> "$list.err"
	[ -s "$list.err" ] && t_diag "$(head -5 "$list.err")"
	i=0
	while IFS=$'\t' read -r _ f; do
		i=$((i + 1))
		f=${f##*/}
		GOT_OF[${f%.json}]=$(sed -n "${i}p" "$list.got")
	done < "$list"
	[ "$conf" = "$C" ] && { MAIN_PID=$D_PID; MAIN_TARGET=$D_TARGET; }
	[ "$conf" = "$C" ] || d_stop || t_diag "daemon for $conf: SIGTERM did not end it with 0"
done

for ((i = 1; i <= N; i++)); do
	desc=${DESC_OF[$i]} rc=${RC_OF[$i]} err=${ERR_OF[$i]} got=${GOT_OF[$i]:-}
	codes=$(want_codes "$rc" "$err")
	code=${got%% *}
	code=${code#code=}
	msg=${got#* message=}
	pass=1
	for c in $codes; do [ "$code" = "$c" ] && pass=0; done
	lines=$(printf '%s' "$err" | grep -c '' || true)
	if [ "$rc" -eq 0 ] || [ "$lines" -ne 1 ]; then
		pass=1
		t_diag "exec path: exit $rc with $lines stderr lines (the matrix expects a failure, one line)"
	fi
	[ "$pass" -eq 0 ] && [ "$msg" != "$err" ] && pass=1
	[ "$pass" -eq 0 ] || t_diag "want ${codes// /|} message [$err]" "got [$got]"
	t_ok "$pass" "$desc: exit $rc -> ${code:-nothing} with ocikp's line"
done

# A request over 1 MiB is refused by the gRPC layer, not by the JSON parser.
big=$(head -c 1100000 /dev/zero | tr '\0' ' ')
printf '{"op":"keywrap"%s}' "$big" > "$CD/big.json"
d_client call --target "$MAIN_TARGET" --rpc WrapKey --json "$CD/big.json" --expect-code RESOURCE_EXHAUSTED > "$T_TMP/big.out"
rc=$?
[ "$rc" -eq 0 ] || t_diag "$(cat "$T_TMP/big.out")"
t_ok "$rc" "stdin over 1 MiB: RESOURCE_EXHAUSTED"

d_alive "$MAIN_PID" && d_client call --target "$MAIN_TARGET" --rpc UnWrapKey \
	--json <(t_unwrap_request ocikp "$GOOD") --out "$T_TMP/good.out" > /dev/null &&
	[ "$(t_json_field keyunwrapresults.optsdata < "$T_TMP/good.out" | base64 -d)" = "$OPTS" ]
t_ok $? "after the whole matrix the daemon is up and answers a good request"
D_PID=$MAIN_PID
d_stop
t_ok $? "and exits 0 on SIGTERM"

# ocikpd's own command line
timeout 10 "$OCIKPD" --frobnicate > "$T_TMP/usage.out" 2>&1 < /dev/null
rc=$?
[ "$rc" -eq 2 ] && [ "$(grep -c '' "$T_TMP/usage.out")" -eq 1 ] && grep -q "frobnicate" "$T_TMP/usage.out"
t_ok $? "ocikpd --frobnicate: exit 2 (got $rc), one line naming it"
"$OCIKPD" --listen=nowhere --config-dir="$C" --plugin-dir="$P" > "$T_TMP/usage.out" 2>&1 &
pid=$!
d_wait_exit "$pid" 10
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$(grep -c '' "$T_TMP/usage.out")" -eq 1 ]
t_ok $? "ocikpd --listen=nowhere: refused (exit $rc), one line: $(head -c 200 "$T_TMP/usage.out")"
[ "$rc" -eq 124 ] && kill -KILL "$pid"
t_done
[ "$T_FAILED" -eq 0 ]
