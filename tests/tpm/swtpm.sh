#!/usr/bin/env bash
# Our own wraps on a fresh swtpm: RSA and ECC EKs, PCR policies, the EK as a
# certificate, and every failure path.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/tpm/lib.sh"
N=42
tpm_tools_or_skip $N
tpm_setup a
OPTS='{"symkey":"bGF5ZXIta2V5LW9mLTMyLWJ5dGVzLWZvci10ZXN0cyEh","digest":"sha256:00"}'
url_of() { t_run "" tpm ekpub "$@"; printf '%s\n' "$T_OUT" | sed -n 's/^key URL: //p'; }
b() { printf '%s' "$1" | base64 -w0; }

RSA=$(url_of); ECC=$(url_of --ecc)
[ -n "$RSA" ] && [ -n "$ECC" ]
t_ok $? "ocikp tpm ekpub gives ready key URLs for the RSA and the ECC EK"
RSA23=$(url_of --pcrs 16,23)
printf '%s' "$RSA23" | grep -q '&pcrs=' && ! printf '%s' "$RSA23" | grep -q '+'
t_ok $? "ekpub --pcrs adds pcrs=, '+' written %2B so Go's ParseQuery reads it too"

for kind in RSA ECC; do
	url=${!kind}
	ann=$(t_wrap "$OPTS" "$url") && [ "$(t_unwrap "$ann" 'tpm://ek?mode=decrypt')" = "$OPTS" ]
	t_ok $? "$kind EK: wrap, then unwrap on the TPM"
	printf '%s' "$ann" | base64 -d | python3 -c '
import json, sys, base64
a = json.load(sys.stdin)
assert list(a) == ["key_url", "session_key", "wrapped_key", "wrap_type"] and a["wrap_type"] == "AES"
assert a["key_url"] == sys.argv[1]
assert len(base64.b64decode(a["wrapped_key"])) == 12 + len(sys.argv[2]) + 16' "$url" "$OPTS"
	t_ok $? "$kind EK: annotation fields and sizes as ocicrypt-tpm-keyprovider writes them"
done
ann23=$(t_wrap "$OPTS" "$RSA23") && [ "$(t_unwrap "$ann23")" = "$OPTS" ]
t_ok $? "PCR 16+23 policy: opens while the PCRs hold their values"
ECC7=$(url_of --ecc --pcrs 7)
annE7=$(t_wrap "$OPTS" "$ECC7") && [ "$(t_unwrap "$annE7")" = "$OPTS" ]
t_ok $? "ECC EK with a PCR 7 policy"
TPM2TOOLS_TCTI=$TCTI_a tpm2_pcrextend 16:sha256=$(printf '%064d' 7) >/dev/null
t_expect_fail "PCR 16 extended after wrap: PCR error naming PCR 16" 4 \
	"ocikp: tpm: PCR values differ from the policy \(PCR 16\)" "$(t_unwrap_request ocikp "$ann23")"
tpm_clean "$TCTI_a"
t_ok $? "no transient objects or sessions left"

# Sealed to another TPM's EK (the fixtures' EKs): this TPM cannot import it.
for k in rsa ecc; do
	pem="$OCIKP_FIXTURES/tpm/ek-$k.pem"
	if [ ! -f "$pem" ]; then	# no fixtures: any other key of the same kind will do
		pem="$T_TMP/other-$k.pem"
		if [ $k = rsa ]; then openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null
		else openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null
		fi | openssl pkey -pubout -out "$pem"
	fi
	other="tpm://ek?mode=encrypt&pub=$(base64 -w0 < "$pem")"
	annO=$(t_wrap "$OPTS" "$other")
	t_expect_fail "wrapped for another TPM's $k EK" 4 "ocikp: tpm: sealed to a different TPM" \
		"$(t_unwrap_request ocikp "$annO")"
done
tpm_clean "$TCTI_a"
t_ok $? "no transient objects or sessions left after import failures"

# Corrupted annotations fail cleanly.
mutate() {	# mutate PYTHON on `a` and `blob` (bytearray of session_key)
	printf '%s' "${MUT_ANN:-$ann23}" | base64 -d | python3 -c 'import json,sys,base64
a=json.load(sys.stdin); blob=bytearray(base64.b64decode(a["session_key"]))
exec(sys.argv[1])
a["session_key"]=base64.b64encode(bytes(blob)).decode()
sys.stdout.write(base64.b64encode(json.dumps(a).encode()).decode())' "$1"
}
t_expect_fail "session_key not a protobuf" 3 "session_key: not a valid ImportBlob" \
	"$(t_unwrap_request ocikp "$(mutate 'blob=bytearray(b"\xff\xff\xff")')")"
t_expect_fail "session_key bad base64" 3 "annotation: session_key: invalid base64" \
	"$(t_unwrap_request ocikp "$(mutate 'pass' | base64 -d | sed 's/"session_key": "/"session_key": "!/' | base64 -w0)")"
t_expect_fail "outer HMAC flipped" 4 "sealed to a different TPM" \
	"$(t_unwrap_request ocikp "$(mutate 'blob[6]^=1')")"
t_expect_fail "encSensitive flipped" 4 "sealed to a different TPM" \
	"$(t_unwrap_request ocikp "$(mutate 'blob[60]^=1')")"
MUT_ANN=$ann	# no PCR policy: the TPM part succeeds
t_expect_fail "wrapped_key flipped" 4 "wrapped_key does not open with the unsealed key" \
	"$(t_unwrap_request ocikp "$(mutate 'import base64 as B; w=bytearray(B.b64decode(a["wrapped_key"])); w[15]^=1; a["wrapped_key"]=B.b64encode(bytes(w)).decode()')")"
tpm_clean "$TCTI_a"
t_ok $? "no transient objects or sessions left after corrupted input"

# Bad parameters.
PUB=$(printf '%s' "$RSA" | sed 's/.*pub=//')
t_expect_fail "PCR index over 23" 3 "pcrs: PCR index 24 out of range" \
	"$(t_wrap_request ocikp "$OPTS" "tpm://ek?mode=encrypt&pub=$PUB&pcrs=$(b "24=$(printf '%064d' 0)")")"
t_expect_fail "PCR value not hex" 3 "pcrs: PCR 7: not hex" \
	"$(t_wrap_request ocikp "$OPTS" "tpm://ek?mode=encrypt&pub=$PUB&pcrs=$(b "7=zz$(printf '%062d' 0)")")"
t_expect_fail "PCR value of the wrong length" 3 "pcrs: PCR 7: 40 hex digits, SHA-256 needs 64" \
	"$(t_wrap_request ocikp "$OPTS" "tpm://ek?mode=encrypt&pub=$PUB&pcrs=$(b "7=$(printf '%040d' 0)")")"
t_expect_fail "no pub=" 3 "key URL needs pub=" "$(t_wrap_request ocikp "$OPTS" "tpm://ek?mode=encrypt")"
t_expect_fail "pub= not a key" 3 "pub: not a PEM public key or an EK certificate" \
	"$(t_wrap_request ocikp "$OPTS" "tpm://ek?mode=encrypt&pub=$(b 'hello')")"
t_expect_fail "mode=decrypt on wrap" 3 "wrapping needs mode=encrypt" \
	"$(t_wrap_request ocikp "$OPTS" "tpm://ek?mode=decrypt&pub=$PUB")"
# Found by fuzz/tpm_url: an empty value crashed (strcmp on NULL).
t_expect_fail "empty mode= on wrap" 3 "key URL has mode=; wrapping needs mode=encrypt" \
	"$(t_wrap_request ocikp "$OPTS" "tpm://ek?mode=&pub=$PUB")"
t_expect_fail "empty pub= on wrap" 3 "pub: not a PEM public key or an EK certificate" \
	"$(t_wrap_request ocikp "$OPTS" "tpm://ek?mode=encrypt&pub=")"
t_expect_fail "empty pcrs= on wrap: an error, not a key without PCR policy" 3 "pcrs: empty" \
	"$(t_wrap_request ocikp "$OPTS" "tpm://ek?mode=encrypt&pub=$PUB&pcrs=")"

# No TPM: the error names the TCTI it tried.
t_expect_fail "no TPM behind the TCTI" 5 "no TPM at TCTI 'swtpm:host=127.0.0.1,port=1'" \
	"$(t_unwrap_request ocikp "$ann23")" --config-dir="$(tpm_conf swtpm:host=127.0.0.1,port=1)"
t_expect_fail "--tpmPath= of the seed's ocicrypt.json is honoured" 5 "no TPM at TCTI 'device:$T_TMP/no-tpm'" \
	"$(t_unwrap_request ocikp "$ann23")" --tpmPath="$T_TMP/no-tpm"

# The EK as its certificate (DER from NV, as tpm2_getekcertificate reads it),
# checked against the swtpm local CA when verify_ek_ca is set.
TPM2TOOLS_TCTI=$TCTI_a tpm2_nvread 0x01c00002 -o "$T_TMP/ek-cert.der" >/dev/null 2>&1
openssl x509 -inform DER -in "$T_TMP/ek-cert.der" -noout >/dev/null 2>&1
t_ok $? "the swtpm EK certificate reads from NV 0x01c00002"
CERT_URL="tpm://ek?mode=encrypt&pub=$(base64 -w0 < "$T_TMP/ek-cert.der")"
annC=$(t_wrap "$OPTS" "$CERT_URL") && [ "$(t_unwrap "$annC")" = "$OPTS" ]
t_ok $? "pub= as a DER EK certificate"
openssl x509 -inform DER -in "$T_TMP/ek-cert.der" -out "$T_TMP/ek-cert.pem"
annP=$(t_wrap "$OPTS" "tpm://ek?mode=encrypt&pub=$(base64 -w0 < "$T_TMP/ek-cert.pem")") && [ "$(t_unwrap "$annP")" = "$OPTS" ]
t_ok $? "pub= as a PEM EK certificate"
CA_DIR=$(sed -n 's/^statedir *= *//p' /etc/swtpm-localca.conf 2>/dev/null)
cat "${CA_DIR:-/var/lib/swtpm-localca}"/*.pem > "$T_TMP/ca.pem" 2>/dev/null
annV=$(OCIKP_CONFIG_DIR=$(tpm_conf "$TCTI_a" "tpm.verify_ek_ca = $T_TMP/ca.pem") t_wrap "$OPTS" "$CERT_URL")
t_ok $? "verify_ek_ca: an EK certificate from the swtpm local CA is accepted"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other-ca \
	-keyout "$T_TMP/other.key" -out "$T_TMP/other-ca.pem" -days 1 >/dev/null 2>&1
t_expect_fail "verify_ek_ca: an EK certificate from another CA is refused" 4 "EK certificate does not chain to" \
	"$(t_wrap_request ocikp "$OPTS" "$CERT_URL")" --config-dir="$(tpm_conf "$TCTI_a" "tpm.verify_ek_ca = $T_TMP/other-ca.pem")"
t_expect_fail "verify_ek_ca: a bare public key is refused" 3 "pub= must be an EK certificate" \
	"$(t_wrap_request ocikp "$OPTS" "$RSA")" --config-dir="$(tpm_conf "$TCTI_a" "tpm.verify_ek_ca = $T_TMP/ca.pem")"

# Without the persistent EKs, unwrap recreates the EK from the TCG template.
TPM2TOOLS_TCTI=$TCTI_a tpm2_evictcontrol -C o -c 0x81010001 >/dev/null 2>&1
TPM2TOOLS_TCTI=$TCTI_a tpm2_evictcontrol -C o -c 0x81010016 >/dev/null 2>&1
[ -z "$(TPM2TOOLS_TCTI=$TCTI_a tpm2_getcap handles-persistent)" ] &&
	[ "$(t_unwrap "$annC")" = "$OPTS" ] && [ "$(t_unwrap "$annE7")" = "$OPTS" ]
t_ok $? "no persistent EK: CreatePrimary from the TCG templates (RSA and ECC)"
tpm_clean "$TCTI_a"
t_ok $? "the created EKs are flushed too"

# A TPM that stops answering ends at the backend's time budget.  The device
# TCTI waits for an answer within it (the counting TCTI bounds every
# receive); the swtpm TCTI blocks earlier, on its control socket, so there
# the host's backstop ends it: either way one line and exit 5.
pid=$(cat "$T_TMP/tpm-a/pid")
kill -STOP "$pid"
start=$(date +%s%N)
t_expect_fail "a TPM that never answers: exit 5 at the time budget" 5 \
	"^ocikp: tpm: .*time budget" \
	"$(t_unwrap_request ocikp "$annC" 'tpm://ek?mode=decrypt')" --config-dir="$(tpm_conf "$TCTI_a" "timeout = 1")"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
kill -CONT "$pid"
# The backstop fires at 2 s; the upper end only says it did not wait for
# the TPM, with T_SLACK for a loaded machine.
[ "$ms" -ge 900 ] && [ "$ms" -lt "$(t_slack 2000)" ]
t_ok $? "... after about a second ($ms ms)"
sleep 0.5
tpm_clean "$TCTI_a" 2>/dev/null || TPM2TOOLS_TCTI=$TCTI_a tpm2_flushcontext -t >/dev/null 2>&1
[ "$(t_unwrap "$annC")" = "$OPTS" ]
t_ok $? "the TPM opens the key again once it answers"

# Through the real ocicrypt.
t_e2e "ocicrypt end to end, provider name tpm, ECC+PCR and RSA recipients" tpm "$OCIKP_CONFIG_DIR" \
	-enc "tpm:$ECC7" -enc "tpm:$RSA" -dec "tpm:tpm://ek?mode=decrypt"
t_done
[ "$T_FAILED" -eq 0 ]
