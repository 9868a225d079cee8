#!/usr/bin/env bash
# The pkcs11 backend on real SoftHSM2 tokens (tests/pkcs11/lib.sh): round
# trips for RSA-2048/3072 (RSA-OAEP-256, RSA-OAEP) and P-256/P-384, wrap
# with pub= and no token, PINs, missing tokens and keys, bad URIs, a
# planted module-path, parallel unwraps.
. "$top_srcdir/tests/pkcs11/lib.sh"
OPTS='{"symkey":"c2VjcmV0IGxheWVyIGtleSwgMzIgYnl0ZXMhISE=","cipheroptions":{}}'
b64d() { printf '%s' "$1" | base64 -d; }
field() { b64d "$1" | t_json_field "$2"; }
one_line() { [ "$(printf '%s' "$T_ERR" | grep -c '')" -eq 1 ]; }

p11_token t1 1234
p11_token t2 5678
p11_keypair t1 1234 rsa:2048 01 rsa
p11_keypair t1 1234 rsa:3072 02 rsa3072
p11_keypair t1 1234 EC:prime256v1 03 ec256
p11_keypair t1 1234 EC:secp384r1 04 ec384
p11_keypair t2 5678 rsa:2048 11 rsa	# the same label on another token
PIN1=$(p11_pin_file 1234)
PIN2=$(p11_pin_file 5678)
DC1="pkcs11:token=t1?pin-source=file:$PIN1"

# ---- list and pub ------------------------------------------------------------------------
t_run "" pkcs11 list
[ "$T_RC" -eq 0 ] && printf '%s' "$T_OUT" | grep -q '^token: t1 ' &&
	printf '%s' "$T_OUT" | grep -q 'key: pkcs11:token=t1;object=ec384;id=%04;type=private (EC 384)' &&
	printf '%s' "$T_OUT" | grep -q 'key: pkcs11:token=t2;object=rsa;id=%11;type=private (RSA 2048)'
t_ok $? "pkcs11 list: both tokens, their keys with URIs"
! printf '%s' "$T_OUT" | grep -q 1234
t_ok $? "pkcs11 list shows no PIN"

# ---- round trips ---------------------------------------------------------------------------
round_trip() {	# round_trip DESC WRAP-URL ALG
	local desc=$1 url=$2 alg=$3 ann hdr
	ann=$(t_wrap "$OPTS" "$url")
	t_ok $? "$desc: wraps ($url)"
	hdr=$(field "$ann" wrapped_key | cut -d. -f1 | tr '_-' '/+' | base64 -d 2>/dev/null)
	printf '%s' "$hdr" | grep -q "\"alg\":\"$alg\"" && [ "$(field "$ann" wrap_type)" = JWE ]
	t_ok $? "$desc: a compact JWE, alg $alg"
	[ "$(t_unwrap "$ann" "$DC1")" = "$OPTS" ]
	t_ok $? "$desc: unwraps on the token"
	LAST_ANN=$ann
}
round_trip "RSA-2048" "pkcs11:token=t1;object=rsa;type=private" RSA-OAEP-256
RSA_ANN=$LAST_ANN
[ "$(field "$RSA_ANN" key_url)" = "pkcs11:token=t1;object=rsa;type=private" ] &&
	[ "$(field "$RSA_ANN" key_id)" = 01 ]
t_ok $? "key_url as given, key_id the CKA_ID in hex"
round_trip "RSA-2048, alg=RSA-OAEP" "pkcs11:token=t1;object=rsa?alg=RSA-OAEP" RSA-OAEP
[ "$(field "$LAST_ANN" key_url)" = "pkcs11:token=t1;object=rsa" ]
t_ok $? "alg= is not recorded in key_url"
round_trip "RSA-3072" "pkcs11:token=t1;id=%02" RSA-OAEP-256
round_trip "P-256" "pkcs11:token=t1;object=ec256" ECDH-ES+A256KW
round_trip "P-384" "pkcs11:token=t1;object=ec384;type=public" ECDH-ES+A256KW
EC_ANN=$LAST_ANN

# ---- pub=: a wrap URL that needs no token ----------------------------------------------------
t_run "" pkcs11 pub "pkcs11:token=t1;object=ec256"
PUB=$(printf '%s' "$T_OUT" | head -1)
[ "$T_RC" -eq 0 ] && [[ "$PUB" == "pkcs11:token=t1;object=ec256;id=%03?pub="* ]]
t_ok $? "pkcs11 pub prints a wrap URL with id= and pub="
ann=$(SOFTHSM2_CONF=/nonexistent t_wrap "$OPTS" "$PUB")
t_ok $? "wrap with pub= and no token at all"
[ "$(field "$ann" key_url)" = "pkcs11:token=t1;object=ec256;id=%03" ] && [ "$(field "$ann" key_id)" = 03 ]
t_ok $? "pub= is not recorded in key_url; key_id from id="
[ "$(t_unwrap "$ann" "$DC1")" = "$OPTS" ]
t_ok $? "what pub= sealed opens on the token"

# ---- PINs --------------------------------------------------------------------------------------
[ "$(t_unwrap "$RSA_ANN" "pkcs11:token=t1?pin-value=1234")" = "$OPTS" ]
t_ok $? "pin-value= works"
printf 'pkcs11.pin_file = %s\n' "$PIN1" > "$C/60-pin.conf"
[ "$(t_unwrap "$RSA_ANN")" = "$OPTS" ]
t_ok $? "no decryption URL: key_url and the drop-in's pkcs11.pin_file"
relabelled=$(b64d "$RSA_ANN" | python3 -c 'import json,sys; a=json.load(sys.stdin); a["key_url"]="pkcs11:token=t1;object=renamed;type=private"; print(json.dumps(a))' | base64 -w0)
[ "$(t_unwrap "$relabelled")" = "$OPTS" ]
t_ok $? "the label plays no part in unwrap (a renamed key still opens): CKA_ID finds it"
rm "$C/60-pin.conf"
t_run "$(t_unwrap_request ocikp "$RSA_ANN")"
[ "$T_RC" -eq 6 ] && one_line && printf '%s' "$T_ERR" | grep -q "needs a PIN"
t_ok $? "no PIN anywhere: exit 6, says so"
BAD=$(p11_pin_file nOtThEpIn)  # a PIN no debug line could contain by chance
t_run "$(t_unwrap_request ocikp "$RSA_ANN" "pkcs11:token=t1?pin-source=file:$BAD")"
[ "$T_RC" -eq 6 ] && one_line && printf '%s' "$T_ERR" | grep -q "wrong PIN" &&
	! printf '%s' "$T_ERR" | grep -q nOtThEpIn
t_ok $? "wrong PIN: exit 6, one line, never the PIN"
t_run "$(t_unwrap_request ocikp "$RSA_ANN" "pkcs11:token=t1?pin-value=nOtThEpIn")" --verbose
[ "$T_RC" -eq 6 ] && ! printf '%s' "$T_ERR" | grep -q nOtThEpIn
t_ok $? "nor under --verbose"
[ "$(t_unwrap "$RSA_ANN" "$DC1")" = "$OPTS" ]
t_ok $? "the right PIN still works after wrong ones"

# ---- tokens and keys ----------------------------------------------------------------------------
t_run "$(t_unwrap_request ocikp "$RSA_ANN" "pkcs11:token=nope?pin-value=1234")"
[ "$T_RC" -eq 5 ] && one_line
t_ok $? "a decryption URL naming a token that is not there: exit 5"
t_run "$(t_unwrap_request ocikp "$RSA_ANN" "pkcs11:token=t2?pin-source=file:$PIN2")"
[ "$T_RC" -eq 4 ] && one_line
t_ok $? "the other token (a key labelled rsa, another CKA_ID): exit 4"
other=$(b64d "$RSA_ANN" | python3 -c 'import json,sys; a=json.load(sys.stdin); a["key_id"]="ff"; print(json.dumps(a))' | base64 -w0)
t_run "$(t_unwrap_request ocikp "$other" "$DC1")"
[ "$T_RC" -eq 4 ] && one_line
t_ok $? "no key with that CKA_ID: exit 4"
t2ann=$(t_wrap "$OPTS" "pkcs11:token=t2;object=rsa")
[ "$(t_unwrap "$t2ann" "pkcs11:token=t2?pin-source=file:$PIN2")" = "$OPTS" ]
t_ok $? "the same label on the second token: its own key, found by CKA_ID"
swapped=$(b64d "$t2ann" | python3 -c 'import json,sys; a=json.load(sys.stdin); a["key_id"]="01"; print(json.dumps(a))' | base64 -w0)
t_run "$(t_unwrap_request ocikp "$swapped" "$DC1")"
[ "$T_RC" -eq 4 ] && one_line
t_ok $? "a JWE for another key, given a key_id on this token: exit 4"
t_expect_fail "a label on two tokens, no token=: ambiguous" 3 "matches 2 public keys" \
	"$(t_wrap_request ocikp "$OPTS" "pkcs11:object=rsa")"
t_expect_fail "no such object" 4 "no public key on the token matches" \
	"$(t_wrap_request ocikp "$OPTS" "pkcs11:token=t1;object=nope")"
altered=$(b64d "$EC_ANN" | python3 -c '
import json,sys
a=json.load(sys.stdin); p=a["wrapped_key"].split(".")
c=list(p[3]); c[5]="A" if c[5]!="A" else "B"; p[3]="".join(c); a["wrapped_key"]=".".join(p)
print(json.dumps(a))' | base64 -w0)
t_run "$(t_unwrap_request ocikp "$altered" "$DC1")"
[ "$T_RC" -eq 4 ] && one_line
t_ok $? "an altered JWE: exit 4"
broken=$(b64d "$EC_ANN" | python3 -c 'import json,sys; a=json.load(sys.stdin); a["wrapped_key"]="a.b.c"; print(json.dumps(a))' | base64 -w0)
t_expect_fail "a wrapped_key that is not a JWE: exit 3" 3 "not a usable JWE" \
	"$(t_unwrap_request ocikp "$broken" "$DC1")"

# ---- bad URIs: exit 3, one line ------------------------------------------------------------------
bad_uri() {	# bad_uri DESC URI STDERR-RE
	t_expect_fail "bad URI: $1" 3 "$3" "$(t_wrap_request ocikp "$OPTS" "$2")"
}
bad_uri "duplicate attribute" "pkcs11:token=t1;token=t2;object=rsa" "given twice"
bad_uri "duplicate query attribute" "pkcs11:token=t1?alg=RSA-OAEP&alg=RSA-OAEP-256" "given twice"
bad_uri "unknown path attribute" "pkcs11:token=t1;colour=red" "unknown path attribute 'colour'"
bad_uri "unknown query attribute" "pkcs11:token=t1?colour=red" "unknown query attribute"
bad_uri "a query attribute in the path" "pkcs11:token=t1;pin-value=1" "unknown path attribute"
bad_uri "bad percent-encoding" "pkcs11:token=t%1" "bad percent-encoding"
bad_uri "no '='" "pkcs11:token" "without '='"
bad_uri "empty attribute" "pkcs11:token=t1;;object=rsa" "empty attribute"
bad_uri "type=secret-key" "pkcs11:token=t1;type=secret-key" "type must be"
bad_uri "alg=A128KW" "pkcs11:token=t1;object=rsa?alg=A128KW" "alg must be"
bad_uri "alg= on an EC key" "pkcs11:token=t1;object=ec256?alg=RSA-OAEP" "alg= is for RSA keys"
bad_uri "pin-source and pin-value" "pkcs11:token=t1?pin-value=1&pin-source=file:/x" "together"
bad_uri "pub= without id=" "pkcs11:token=t1?pub=AAAA" "pub= needs id="
bad_uri "pub= not a key" "pkcs11:id=%01?pub=AAAA" "not a DER SubjectPublicKeyInfo"
t_expect_fail "bad decryption URL: exit 3" 3 "given twice" \
	"$(t_unwrap_request ocikp "$RSA_ANN" "pkcs11:token=t1;token=t1?pin-value=1234")"

# ---- module-path: only registered modules, never loaded --------------------------------------
cat > "$T_TMP/planted.c" <<EOC
#include <stdio.h>
__attribute__((constructor)) static void planted(void)
{
	FILE *f = fopen("$T_TMP/planted-ran", "w");
	if (f) fclose(f);
}
EOC
if cc -shared -fPIC -o "$T_TMP/planted.so" "$T_TMP/planted.c" 2> /dev/null; then
	t_expect_fail "module-path of an unregistered library: exit 3" 3 "not a module p11-kit has registered" \
		"$(t_wrap_request ocikp "$OPTS" "pkcs11:token=t1;object=rsa?module-path=$T_TMP/planted.so")"
	[ ! -e "$T_TMP/planted-ran" ]
	t_ok $? "its constructor never ran"
else
	t_skip "module-path of an unregistered library" "no C compiler"
	t_skip "its constructor never ran" "no C compiler"
fi
[ "$(t_unwrap "$RSA_ANN" "pkcs11:token=t1?module-path=$P11_SOFTHSM&pin-source=file:$PIN1")" = "$OPTS" ]
t_ok $? "module-path of the registered module selects it"
[ "$(t_unwrap "$RSA_ANN" "pkcs11:token=t1?module-name=softhsm2&pin-source=file:$PIN1")" = "$OPTS" ]
t_ok $? "module-name selects it"
t_run "$(t_unwrap_request ocikp "$RSA_ANN" "pkcs11:token=t1?module-name=other&pin-source=file:$PIN1")"
[ "$T_RC" -eq 5 ]
t_ok $? "module-name of no registered module: no token (exit 5)"

# ---- the JWE opens with an independent implementation, given the private key ----------
# keys made by openssl and imported, so Python's cryptography can have them too
import_key() {	# import_key NAME ID GENPKEY-ARGS...
	local name=$1 id=$2
	shift 2
	openssl genpkey "$@" -out "$T_TMP/$name.pem" 2> /dev/null &&
	openssl pkey -in "$T_TMP/$name.pem" -outform DER -out "$T_TMP/$name.der" &&
	openssl pkey -in "$T_TMP/$name.pem" -pubout -outform DER -out "$T_TMP/$name.pub.der" &&
	pkcs11-tool --module "$P11_SOFTHSM" --token-label t1 --login --pin 1234 --write-object \
		"$T_TMP/$name.der" --type privkey --id "$id" --label "$name" --usage-decrypt \
		--usage-derive > /dev/null 2>&1 &&
	pkcs11-tool --module "$P11_SOFTHSM" --token-label t1 --login --pin 1234 --write-object \
		"$T_TMP/$name.pub.der" --type pubkey --id "$id" --label "$name" > /dev/null 2>&1
}
for k in "imp-rsa 21 -algorithm RSA -pkeyopt rsa_keygen_bits:2048" \
	 "imp-p384 22 -algorithm EC -pkeyopt ec_paramgen_curve:P-384"; do
	set -- $k
	name=$1
	if ! import_key "$@"; then
		t_ok 1 "$name: imported into SoftHSM"
		continue
	fi
	ann=$(t_wrap "$OPTS" "pkcs11:token=t1;object=$name")
	printf '{"sealed":[{"form":"compact","jwe":"%s"}]}' "$(field "$ann" wrapped_key)" > "$T_TMP/sealed.json"
	opened=$(python3 "$top_srcdir/tests/jwe/jwe_vectors.py" "$T_TMP/$name.pem" "$T_TMP/sealed.json" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["opened"][0])')
	[ "$opened" = "$(printf '%s' "$OPTS" | od -An -tx1 | tr -d ' \n')" ]
	t_ok $? "$name: Python's cryptography opens the annotation's JWE with the private key"
	[ "$(t_unwrap "$ann" "$DC1")" = "$OPTS" ]
	t_ok $? "$name: and so does the token"
done

# ---- a locked PIN (SoftHSM never locks: an interposer answers CKR_PIN_LOCKED) ---------------
LOCKED="$abs_top_builddir/tests/pkcs11/.libs/p11-locked.so"
if [ -f "$LOCKED" ]; then
	mv "$P11_MODS/softhsm2.module" "$T_TMP/softhsm2.module.off"
	printf 'module: %s\n' "$LOCKED" > "$P11_MODS/locked.module"
	OCIKP_TEST_P11_REAL=$P11_SOFTHSM t_run "$(t_unwrap_request ocikp "$RSA_ANN" "$DC1")"
	[ "$T_RC" -eq 6 ] && one_line && printf '%s' "$T_ERR" | grep -q "the PIN is locked"
	t_ok $? "a locked PIN: exit 6, saying so"
	rm "$P11_MODS/locked.module"
	mv "$T_TMP/softhsm2.module.off" "$P11_MODS/softhsm2.module"
else
	t_skip "a locked PIN" "tests/pkcs11/p11-locked.so not built"
fi

# ---- 20 parallel unwraps (the state lock around token access) ------------------------------
req=$(t_unwrap_request ocikp "$RSA_ANN" "$DC1")
printf '%s' "$req" > "$T_TMP/req"
pids=()
for i in $(seq 20); do
	"$OCIKP" < "$T_TMP/req" > "$T_TMP/par.$i" 2> "$T_TMP/par.$i.err" & pids+=($!)
done
good=0
for i in $(seq 20); do
	wait "${pids[$((i - 1))]}" && grep -q optsdata "$T_TMP/par.$i" && good=$((good + 1))
done
[ "$good" -eq 20 ]
t_ok $? "20 parallel unwraps all succeed ($good did)"
t_done
