#!/usr/bin/env bash
# The keychain backend's ECIES with a file-backed key, checked both ways
# against an independent implementation (vectors.py, python3-cryptography).
. "$top_srcdir/tests/lib/common.sh"
V="python3 $top_srcdir/tests/keychain/vectors.py"
N=21
if ! python3 -c 'import cryptography' 2>/dev/null || ! case " $OCIKP_MODULES " in *ocikp-keychain.so*) true ;; *) false ;; esac; then
	[ "${CI:-}" = true ] && { t_ok 1 "python3-cryptography and ocikp-keychain.so present"; t_done; exit 1; }
	for i in $(seq $N); do t_skip "keychain" "needs python3-cryptography and the keychain module"; done
	t_done; exit 0
fi
P=$(t_plugin_dir)
export OCIKP_PLUGIN_DIR="$P"
conf() {	# conf KEYFILE -> a drop-in dir using it
	local c
	c=$(t_conf_dir)
	printf 'backend = keychain\nmodule = ocikp-keychain.so\nschemes = keychain apple-se\nkeychain.key_file = %s\n' "$1" > "$c/50-keychain.conf"
	echo "$c"
}
PUB=$($V keygen "$T_TMP/key.pem")
export OCIKP_CONFIG_DIR=$(conf "$T_TMP/key.pem")
URL="apple-se://se?mode=encrypt&pub=$PUB"
OPTS='{"symkey":"a2V5Y2hhaW4tbGF5ZXIta2V5LTMyLWJ5dGVzLWxvbmch","digest":"sha256:00"}'
printf '%s' "$OPTS" > "$T_TMP/opts"

ann=$(t_wrap "$OPTS" "$URL")
t_ok $? "ocikp wraps for an apple-se:// recipient"
printf '%s' "$ann" | base64 -d > "$T_TMP/ann.json"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); assert list(a)==["KeyUrl","EphPub","WrappedKey","WrapType"] and a["WrapType"]=="AES-GCM" and a["KeyUrl"]==sys.argv[2]' "$T_TMP/ann.json" "$URL"
t_ok $? "annotation: KeyUrl, EphPub, WrappedKey, WrapType AES-GCM, in that order"
[ "$($V unwrap "$T_TMP/key.pem" "$T_TMP/ann.json")" = "$OPTS" ]
t_ok $? "the independent implementation opens what ocikp wrapped"
$V wrap "$URL" "$T_TMP/opts" > "$T_TMP/py.json"
[ "$(t_unwrap "$(base64 -w0 < "$T_TMP/py.json")" 'apple-se://se?mode=decrypt')" = "$OPTS" ]
t_ok $? "ocikp opens what the independent implementation wrapped"
$V wrap "$URL" "$T_TMP/opts" --zero-lead > "$T_TMP/zero.json"
[ "$(t_unwrap "$(base64 -w0 < "$T_TMP/zero.json")")" = "$OPTS" ]
t_ok $? "Go's leading-zero quirk: a wrap with Z[0] = 0 and the stripped Z opens"
ann2=$(t_wrap "$OPTS" "keychain://build-host?pub=$PUB") && [ "$(t_unwrap "$ann2")" = "$OPTS" ]
t_ok $? "keychain://TAG?pub= URLs, same maths"
t_run "" keychain create --file "$T_TMP/made.pem" --pub-out "$T_TMP/made.pub"
[ "$T_RC" -eq 0 ] && [ "$(stat -c %a "$T_TMP/made.pem")" = 600 ] && printf '%s' "$T_OUT" | grep -q '^pub=B' &&
	[ "$(base64 -w0 < "$T_TMP/made.pub" | tr '+/' '-_')" = "$(printf '%s\n' "$T_OUT" | sed -n 's/^pub=//p')" ]
t_ok $? "ocikp keychain create --file --pub-out: a 0600 PEM, the raw 65-byte point, and pub="
MADE=$(printf '%s\n' "$T_OUT" | sed -n 's/^pub=//p')
ann3=$(t_wrap "$OPTS" "apple-se://se?mode=encrypt&pub=$MADE") &&
	[ "$(OCIKP_CONFIG_DIR=$(conf "$T_TMP/made.pem") t_unwrap "$ann3")" = "$OPTS" ]
t_ok $? "a key made by ocikp keychain create round-trips"

mutate() {	# mutate PYTHON on `a` (the ocikp annotation)
	python3 -c 'import json,sys,base64
a=json.load(open(sys.argv[2])); exec(sys.argv[1])
sys.stdout.write(base64.b64encode(json.dumps(a).encode()).decode())' "$1" "$T_TMP/ann.json"
}
t_expect_fail "another key, named by the URL: not mine, before decrypting" 4 \
	"ocikp: keychain: wrapped for a different key" "$(t_unwrap_request ocikp "$ann3")"
t_expect_fail "another key, URL without pub=: wrong key" 4 "ocikp: keychain: wrong key" \
	"$(t_unwrap_request ocikp "$(mutate 'a["KeyUrl"]="apple-se://se?mode=encrypt"')")" --config-dir="$(conf "$T_TMP/made.pem")"
t_expect_fail "tampered WrappedKey" 4 "wrong key: this key does not open WrappedKey" \
	"$(t_unwrap_request ocikp "$(mutate 'w=bytearray(base64.b64decode(a["WrappedKey"])); w[14]^=1; a["WrappedKey"]=base64.b64encode(bytes(w)).decode()')")"
# Found by fuzz/keychain_annotation (UBSan: offset applied to a NULL pointer).
t_expect_fail "empty WrappedKey: too short, one line" 3 "wrapped key too short \\(0 bytes\\)" \
	"$(t_unwrap_request ocikp "$(mutate 'a["WrappedKey"]=""')")"
t_expect_fail "EphPub off the curve" 3 "EphPub is not a P-256 point on the curve" \
	"$(t_unwrap_request ocikp "$(mutate 'e=bytearray(base64.b64decode(a["EphPub"])); e[40]^=1; a["EphPub"]=base64.b64encode(bytes(e)).decode()')")"
t_expect_fail "EphPub of the wrong length" 3 "EphPub is 64 bytes, want 65" \
	"$(t_unwrap_request ocikp "$(mutate 'a["EphPub"]=base64.b64encode(base64.b64decode(a["EphPub"])[:64]).decode()')")"
t_expect_fail "WrapType not AES-GCM" 3 'WrapType must be "AES-GCM"' \
	"$(t_unwrap_request ocikp "$(mutate 'a["WrapType"]="AES"')")"
t_expect_fail "pub= not on the curve" 3 "pub: not a P-256 point on the curve" \
	"$(t_wrap_request ocikp "$OPTS" "apple-se://se?mode=encrypt&pub=$(python3 -c 'import base64; print(base64.urlsafe_b64encode(b"\x04"+b"\x01"*64).decode())')")"
t_expect_fail "pub= of the wrong length" 3 "pub: 3 bytes, want the 65-byte" \
	"$(t_wrap_request ocikp "$OPTS" "apple-se://se?mode=encrypt&pub=AAAA")"
t_expect_fail "empty mode= (an empty value is a string, not NULL)" 3 "key URL has mode=; wrapping needs mode=encrypt" \
	"$(t_wrap_request ocikp "$OPTS" "apple-se://se?mode=&pub=AAAA")"
chmod 644 "$T_TMP/key.pem"
t_expect_fail "key file readable by others" 6 "accessible by group or others \(mode 644, want 600\)" \
	"$(t_unwrap_request ocikp "$ann")"
C=$(t_conf_dir); printf 'backend = keychain\nmodule = ocikp-keychain.so\nschemes = keychain apple-se\n' > "$C/50-keychain.conf"
env -u DBUS_SESSION_BUS_ADDRESS OCIKP_CONFIG_DIR="$C" "$OCIKP" < <(t_unwrap_request ocikp "$ann") > "$T_TMP/o" 2> "$T_TMP/e"
[ $? -eq 5 ] && [ ! -s "$T_TMP/o" ] && grep -q "no D-Bus session" "$T_TMP/e" && [ "$(wc -l < "$T_TMP/e")" -eq 1 ]
t_ok $? "no D-Bus session and no key file: one line saying so, exit 5"

chmod 600 "$T_TMP/key.pem"
t_e2e "ocicrypt end to end with the provider name apple-se" apple-se "$OCIKP_CONFIG_DIR" \
	-enc "apple-se:$URL" -dec "apple-se:apple-se://se?mode=decrypt"
t_done
[ "$T_FAILED" -eq 0 ]
