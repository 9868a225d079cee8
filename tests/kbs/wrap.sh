#!/bin/bash
# The kbs backend's wrap and unwrap through the ocikp binary, with offline
# key files (no KBS): CoCo parameter strings and kbs:// key URLs, the v1
# annotation decrypted independently with Python's `cryptography` (so it is
# what a CoCo guest reads), v1 and v2 packets, kid forms, CoCo's own
# fixture with the sample KEK, and every refusal's exit code and line.
. "$top_srcdir/tests/lib/common.sh"

python3 -c 'import cryptography' 2> /dev/null || { echo "1..0 # SKIP python3 cryptography not found"; exit 0; }
t_setup
OFF="$T_TMP/offline.json"
kbs_dropin() {	# kbs_dropin [LINE...]: the kbs drop-in, offline keys in $OFF
	{
		printf 'backend = kbs\nmodule = ocikp-kbs.so\nschemes = kbs kbs+*\n'
		printf 'kbs.offline_files = %s\n' "$OFF"
		for l in "$@"; do printf '%s\n' "$l"; done
	} > "$C/50-kbs.conf"
}
kbs_dropin
unset OFFLINE_FS_KBC_EXTRA_FILE_PATH

kek() {	# kek NAME: a 32-byte KEK file, mode 0600
	head -c 32 /dev/urandom > "$T_TMP/$1"
	chmod 600 "$T_TMP/$1"
	echo "$T_TMP/$1"
}
# offline PATH=KEKFILE...: the offline_fs JSON file $OFF
offline() {
	python3 - "$OFF" "$@" <<-'EOF'
	import base64, json, os, sys
	m = {}
	for a in sys.argv[2:]:
	    p, f = a.split("=", 1)
	    m[p] = base64.b64encode(open(f, "rb").read()).decode()
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
	os.write(fd, json.dumps(m).encode())
	os.close(fd)
	EOF
}
ann_json() { printf '%s' "$1" | base64 -d; }
ann_b64() { printf '%s' "$1" | base64 -w0; }

OPTS='{"symkey":"c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE=","cipheroptions":{"nonce":"bm9uY2U="}}'
K1=$(kek k1)
K2=$(kek k2)
offline "default/image-kek/1=$K1" "default/image-kek/2=$K1" "default/k/3=$K1" "default/ctr/1=$K1"

# --- round trips ----------------------------------------------------------------
ANN=$(t_wrap "$OPTS" "kbs:///default/image-kek/1?keypath=$K1")
t_ok $? "wrap: key URL, A256GCM by default"
ann_json "$ANN" | python3 -c '
import base64, json, sys
t = sys.stdin.read()
a = json.loads(t)
assert list(a) == ["kid", "wrapped_data", "iv", "wrap_type"], list(a)
assert t == json.dumps(a, separators=(",", ":")), "not compact"
assert a["kid"] == "kbs:///default/image-kek/1" and a["wrap_type"] == "A256GCM"
assert len(base64.b64decode(a["iv"], validate=True)) == 12
'
t_ok $? "annotation: compact v1 in serde's key order, 12-byte iv"
OUT=$(t_unwrap "$ANN")
[ "$OUT" = "$OPTS" ]
t_ok $? "unwrap from the offline key file (GCM)"

# Python decrypts what ocikp wrapped: the guest's view of the annotation.
decrypt() {	# decrypt KEKFILE < annotation-json
	python3 -c '
import base64, json, sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
a = json.load(sys.stdin)
kek = open(sys.argv[1], "rb").read()
iv = base64.b64decode(a["iv"]); data = base64.b64decode(a["wrapped_data"])
if a["wrap_type"] == "A256GCM":
    assert len(iv) == 12
    out = AESGCM(kek).decrypt(iv, data, None)
else:
    assert a["wrap_type"] == "A256CTR" and len(iv) == 16
    d = Cipher(algorithms.AES(kek), modes.CTR(iv)).decryptor()
    out = d.update(data) + d.finalize()
sys.stdout.write(out.decode())
' "$1"
}
[ "$(ann_json "$ANN" | decrypt "$K1")" = "$OPTS" ]
t_ok $? "A256GCM annotation opened by Python cryptography (AESGCM, 12-byte iv, tag appended)"

ANN=$(t_wrap "$OPTS" "keypath=$K1::keyid=kbs:///default/ctr/1::algorithm=A256CTR")
t_ok $? "wrap: CoCo parameter string, algorithm=A256CTR"
grep -q "A256CTR has no integrity" "$T_TMP/stderr"
t_ok $? "wrap A256CTR warns"
ann_json "$ANN" | python3 -c 'import json,sys,base64; a=json.load(sys.stdin); assert a["wrap_type"]=="A256CTR" and len(base64.b64decode(a["iv"]))==16'
t_ok $? "A256CTR annotation has a 16-byte iv"
[ "$(ann_json "$ANN" | decrypt "$K1")" = "$OPTS" ]
t_ok $? "A256CTR annotation opened by Python cryptography (the iv as the whole counter block)"
OUT=$(t_unwrap "$ANN")
[ "$OUT" = "$OPTS" ] && grep -q "no integrity" "$T_TMP/stderr"
t_ok $? "unwrap A256CTR, with a warning"

# A CTR annotation Python made, with a counter that wraps past 2^64 (the
# whole 128-bit block counts, not a 64-bit half).
CTR_EXT=$(python3 -c '
import base64, json, sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
kek = open(sys.argv[1], "rb").read()
iv = bytes(8) + b"\xff" * 8
e = Cipher(algorithms.AES(kek), modes.CTR(iv)).encryptor()
d = e.update(sys.argv[2].encode()) + e.finalize()
print(base64.b64encode(json.dumps({"kid": "kbs:///default/ctr/1", "wrapped_data": base64.b64encode(d).decode(),
    "iv": base64.b64encode(iv).decode(), "wrap_type": "A256CTR"}).encode()).decode())
' "$K1" "$OPTS")
[ "$(t_unwrap "$CTR_EXT")" = "$OPTS" ]
t_ok $? "unwrap a Python-made A256CTR annotation whose counter carries past 64 bits"

# Under CoCo's provider name, as ocicrypt sends it with --provider=attestation-agent.
t_run "$(t_wrap_request attestation-agent "$OPTS" "keypath=$K1::keyid=kbs:///default/image-kek/1")" \
	--provider=attestation-agent
AA=$(printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation 2> /dev/null)
[ "$T_RC" -eq 0 ] && [ "$(ann_json "$AA" | decrypt "$K1")" = "$OPTS" ]
t_ok $? "wrap under the provider name attestation-agent"
t_run "$(t_unwrap_request attestation-agent "$AA")" --provider=attestation-agent
[ "$T_RC" -eq 0 ] && [ "$(printf '%s' "$T_OUT" | t_json_field keyunwrapresults.optsdata | base64 -d)" = "$OPTS" ]
t_ok $? "unwrap under the provider name attestation-agent"

# --- v2 packets -------------------------------------------------------------------
V1=$(t_wrap "$OPTS" "keypath=$K1::keyid=kbs:///default/image-kek/2")
v2() {	# v2 V1-B64 PYTHON-STATEMENTS: the packet, changed, base64
	ann_json "$1" | python3 -c '
import base64, json, sys
a = json.load(sys.stdin)
a.update({"version": "0.1.0", "provider": "kbs", "provider_settings": {}, "annotations": {}})
exec(sys.argv[1])
print(base64.b64encode(json.dumps(a).encode()).decode())' "$2"
}
[ "$(t_unwrap "$(v2 "$V1" pass)")" = "$OPTS" ]
t_ok $? "unwrap a v2 packet (version 0.1.0, provider kbs)"
t_expect_fail "v2 from another provider: exit 4" 4 "unsupported provider 'vault'" \
	"$(t_unwrap_request ocikp "$(v2 "$V1" 'a["provider"]="vault"')")"
t_expect_fail "v2 version 0.2.0: exit 3" 3 "version must be" \
	"$(t_unwrap_request ocikp "$(v2 "$V1" 'a["version"]="0.2.0"')")"
t_expect_fail "v2 provider_settings null: exit 3" 3 "provider_settings must be an object" \
	"$(t_unwrap_request ocikp "$(v2 "$V1" 'a["provider_settings"]=None')")"

# --- kid forms --------------------------------------------------------------------
kid_of() { ann_json "$1" | t_json_field kid; }
ANN=$(t_wrap "$OPTS" "keypath=$K1::keyid=/default/k/3")
[ "$(kid_of "$ANN")" = "kbs:///default/k/3" ]
t_ok $? "bare keyid /r/t/g written as kbs:///r/t/g"
ANN=$(t_wrap "$OPTS" "keypath=$K1::keyid=kbs.example:8080/default/k/3")
[ "$(kid_of "$ANN")" = "kbs://kbs.example:8080/default/k/3" ]
t_ok $? "bare keyid host:port/r/t/g written as kbs://host:port/r/t/g"
[ "$(t_unwrap "$ANN")" = "$OPTS" ]
t_ok $? "a kbs://host:port kid opens from the offline file by its path"
ANN=$(t_wrap "$OPTS" "kbs://10.1.2.3:50000/default/k/3?keypath=$K1")
[ "$(kid_of "$ANN")" = "kbs://10.1.2.3:50000/default/k/3" ]
t_ok $? "key URL with an address kept as the kid"
ANN=$(t_wrap "$OPTS" "keypath=$K1")
kid_of "$ANN" | grep -Eqx 'kbs:///default/image-kek/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
t_ok $? "no keyid: kbs:///default/image-kek/<uuid4>"
# What upstream writes: a bare kid.  The host routes it here, the path finds it.
BARE=$(ann_json "$V1" | python3 -c 'import base64,json,sys; a=json.load(sys.stdin); a["kid"]="/default/image-kek/2"; print(base64.b64encode(json.dumps(a,separators=(",",":")).encode()).decode())')
[ "$(t_unwrap "$BARE")" = "$OPTS" ]
t_ok $? "unwrap an upstream annotation with a bare /r/t/g kid"

# kbs+<plugin>:// (guest-components resource_uri): accepted as the guest
# accepts it; written as kbs:// (older guests parse nothing else).
ANN=$(t_wrap "$OPTS" "kbs+resource:///default/image-kek/1?keypath=$K1")
[ "$(kid_of "$ANN")" = "kbs:///default/image-kek/1" ]
t_ok $? "key URL kbs+resource:///...: routed to kbs, the kid written as kbs:///"
ANN=$(t_wrap "$OPTS" "keypath=$K1::keyid=kbs+resource://kbs.example:8080/default/k/3")
[ "$(kid_of "$ANN")" = "kbs://kbs.example:8080/default/k/3" ]
t_ok $? "keyid kbs+resource://host:port/...: written as kbs://host:port/..."
t_expect_fail "keyid kbs+pkcs11:///...: exit 3, no kid older guests cannot parse" 3 \
	"kbs\\+pkcs11:///default/k/3: only the KBS's resource plugin is written" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K1::keyid=kbs+pkcs11:///default/k/3")"
t_expect_fail "key URL kbs+pkcs11:///...: exit 3" 3 "only the KBS's resource plugin is written" \
	"$(t_wrap_request ocikp "$OPTS" "kbs+pkcs11:///default/k/3?keypath=$K1")"
with_kid() {	# with_kid ANN-B64 KID: the annotation with another kid, base64
	ann_json "$1" | python3 -c 'import base64,json,sys; a=json.load(sys.stdin); a["kid"]=sys.argv[1]; print(base64.b64encode(json.dumps(a,separators=(",",":")).encode()).decode())' "$2"
}
[ "$(t_unwrap "$(with_kid "$V1" kbs+resource:///default/image-kek/2)")" = "$OPTS" ]
t_ok $? "unwrap a kbs+resource:/// kid from the offline file"
[ "$(t_unwrap "$(with_kid "$V1" kbs+default:///default/image-kek/2)")" = "$OPTS" ]
t_ok $? "unwrap a kbs+default:/// kid from the offline file, by its path (as offline_fs does)"

# --- CoCo's fixture and the sample KEK ---------------------------------------------
FIX=$(base64 -w0 < "$OCIKP_FIXTURES/kbs/sample_kbc_annotation.json")
FIX_OPTS=$(cat "$OCIKP_FIXTURES/kbs/sample_kbc_optsdata.json")
t_expect_fail "the fixture is refused without kbs.allow_sample: exit 4" 4 \
	"no KEK for kbs:///default/key/1 \(tried: offline, kbs \(no kbs.url\)\)" "$(t_unwrap_request ocikp "$FIX")"
kbs_dropin "kbs.sources = sample" 
t_expect_fail "sample listed but not allowed: exit 4" 4 "tried: sample \(not allowed\)" \
	"$(t_unwrap_request ocikp "$FIX")"
kbs_dropin "kbs.allow_sample = yes"
OUT=$(t_unwrap "$FIX")
[ "$OUT" = "$FIX_OPTS" ]
t_ok $? "CoCo's fixture opens with the sample KEK when kbs.allow_sample = yes"
grep -q "public sample KEK" "$T_TMP/stderr"
t_ok $? "the sample KEK warns each use"
[ "$(t_unwrap "$V1")" = "$OPTS" ] && ! grep -q "sample KEK" "$T_TMP/stderr"
t_ok $? "allowed sample comes after the offline keys (not tried when they open it)"
SAMPLE=$(t_wrap "$OPTS" "sample=true")
[ "$(kid_of "$SAMPLE")" = "kbs:///default/test-key/1" ] && grep -q "sample KEK" "$T_TMP/stderr"
t_ok $? "wrap sample=true: upstream's sample kid, a warning"
[ "$(t_unwrap "$SAMPLE")" = "$OPTS" ]
t_ok $? "sample=true annotation opens with allow_sample"
kbs_dropin "kbs.allow_sample = maybe"
t_expect_fail "kbs.allow_sample = maybe: exit 6" 6 "allow_sample must be yes or no" \
	"$(t_unwrap_request ocikp "$FIX")"
kbs_dropin "kbs.sources = offline, tpm"
t_expect_fail "unknown source: exit 6" 6 "sources: 'tpm' is unknown" "$(t_unwrap_request ocikp "$FIX")"
kbs_dropin

# --- wrong KEK, tampering -----------------------------------------------------------
ANN=$(t_wrap "$OPTS" "keypath=$K2::keyid=kbs:///default/image-kek/1")
t_expect_fail "wrong KEK (GCM): exit 4" 4 "the KEK for kbs:///default/image-kek/1 from offline does not open" \
	"$(t_unwrap_request ocikp "$ANN")"
ANN=$(t_wrap "$OPTS" "keypath=$K2::keyid=kbs:///default/ctr/1::algorithm=A256CTR")
t_expect_fail "wrong KEK (CTR, caught by the optsdata check): exit 4" 4 "does not open" \
	"$(t_unwrap_request ocikp "$ANN")"
TAMPER=$(ann_json "$V1" | python3 -c '
import base64, json, sys
a = json.load(sys.stdin)
d = bytearray(base64.b64decode(a["wrapped_data"])); d[3] ^= 1
a["wrapped_data"] = base64.b64encode(d).decode()
print(base64.b64encode(json.dumps(a).encode()).decode())')
t_expect_fail "tampered wrapped_data: exit 4" 4 "does not open" "$(t_unwrap_request ocikp "$TAMPER")"
ANN=$(t_wrap "$OPTS" "keypath=$K1::keyid=kbs:///default/nowhere/1")
t_expect_fail "a kid no source has: exit 4 naming it and the sources" 4 \
	"no KEK for kbs:///default/nowhere/1 \(tried: offline, kbs" "$(t_unwrap_request ocikp "$ANN")"

# --- bad parameters: exit 3, one line, nothing on stdout ------------------------------
wrap_fail() {	# wrap_fail DESC ERE PARAM
	t_expect_fail "$1" 3 "$2" "$(t_wrap_request ocikp "$OPTS" "$3")"
}
head -c 31 /dev/urandom > "$T_TMP/short.key"; chmod 600 "$T_TMP/short.key"
head -c 32 /dev/urandom > "$T_TMP/open.key"; chmod 644 "$T_TMP/open.key"
wrap_fail "field without '='" "expected key=value" "keypath=$K1::keyid"
wrap_fail "unknown key" "'colour': unknown" "keypath=$K1::colour=blue"
wrap_fail "unknown algorithm" "algorithm: must be A256GCM or A256CTR" "keypath=$K1::algorithm=A128GCM"
wrap_fail "key given twice" "keypath: given twice" "keypath=$K1::keypath=$K2"
wrap_fail "31-byte key file" "short.key: must hold exactly 32 bytes" "keypath=$T_TMP/short.key"
wrap_fail "33-byte key file" "larger than 32 bytes" "keypath=$OFF"
wrap_fail "world-readable key file" "open.key: accessible by group or others" "keypath=$T_TMP/open.key"
wrap_fail "missing key file" "nokey: No such file" "keypath=$T_TMP/nokey"
wrap_fail "relative key path" "not an absolute path" "keypath=k1"
wrap_fail "unparsable keyid" "key id must be kbs:///" "keypath=$K1::keyid=kbs:///a/b"
wrap_fail "sample=yes" "sample: must be true or false" "sample=yes"
wrap_fail "no keypath and no KBS registration" "random KEK needs KBS registration" "keyid=kbs:///a/b/c"
wrap_fail "key URL: unknown parameter" "'mode': unknown" "kbs:///a/b/c?keypath=$K1&mode=x"
wrap_fail "key URL: unknown algorithm" "must be A256GCM or A256CTR" "kbs:///a/b/c?keypath=$K1&algorithm=A256CBC"
wrap_fail "key URL: 31-byte key file" "must hold exactly 32 bytes" "kbs:///a/b/c?keypath=$T_TMP/short.key"
wrap_fail "key URL: bad path" "key id must be" "kbs:///a/b/c/d?keypath=$K1"

t_done
