#!/usr/bin/env bash
# Key material does not outlive its use.  The real ocikp runs with
# tests/shim/ocikp-shim.so preloaded, told the test's secrets: the layer key
# options (raw and as base64, as they travel in the protocol) and the
# backend's key (the sample key file, the keychain private key, the TPM's
# unsealed data).  The shim searches every freed block, and at exit every
# writable mapping, for them.  Also: ocikp is not dumpable.
. "$top_srcdir/tests/lib/common.sh"
LEAKY="$abs_top_builddir/tests/shim/leaky"

t_shim_or_skip
[ -x "$LEAKY" ] || { echo "1..1"; echo "not ok 1 - the control program is built ($LEAKY)"; exit 1; }

REPORT="$T_TMP/shim.report"

# ---- the control: the shim finds what it must, and only that -----------------
CTL=$(head -c 32 /dev/urandom | hex)
ctl() {	# ctl MODE: the shim's report for leaky MODE
	rm -f "$REPORT"
	OCIKP_SHIM_REPORT="$REPORT" OCIKP_SHIM_SECRETS="$CTL" LD_PRELOAD="$SHIM" "$LEAKY" "$1" "$CTL"
	cat "$REPORT" 2>/dev/null
}
ctl free-dirty | grep -q '^hit secret=0 where=free size=[0-9]* offset=0 caller=.* object=.*leaky$'
t_ok $? "control: a block freed without cleansing is reported at free(), with its caller"
ctl free-clean | grep -q '^exit dumpable=1 fds=0 .* hits=0 secrets=1$'
t_ok $? "control: a block cleansed before free() is not reported (and a plain program is dumpable)"
ctl keep | grep -q '^hit secret=0 where=exit mapping=\[heap\]'
t_ok $? "control: a live heap block holding the secret is reported at exit"
ctl stack | grep -q '^hit secret=0 where=exit mapping=\[stack\]'
t_ok $? "control: a dead stack frame holding the secret is reported at exit"

# ---- sample backend -----------------------------------------------------------
t_setup

# ---- the cleansing allocator: refused when OpenSSL allocated first ---------------
# ocikp hands OpenSSL its allocator first thing; a preloaded library that
# used OpenSSL before main makes OpenSSL refuse it: ocikp carries on and
# says so in a debug line.
"$OCIKP" --verbose list > /dev/null 2> "$T_TMP/e"
! grep -q "OpenSSL allocated before main" "$T_TMP/e"
t_ok $? "allocator: OpenSSL takes the cleansing allocator (no debug line about it)"
LD_PRELOAD="$abs_top_builddir/tests/shim/.libs/ossl-first.so" "$OCIKP" --verbose list > /dev/null 2> "$T_TMP/e"
rc=$?
[ $rc -eq 0 ] && grep -q "^ocikp: debug: OpenSSL allocated before main; its freed blocks are not cleansed$" "$T_TMP/e"
t_ok $? "allocator: OpenSSL used before main: a debug line, no failure (exit $rc)"
# Layer key options as ocicrypt writes them: the symmetric key inside.
OPTS="{\"symkey\":\"$(head -c 32 /dev/urandom | base64 -w0)\",\"cipheroptions\":{\"nonce\":\"$(head -c 12 /dev/urandom | base64 -w0)\"},\"digest\":\"\"}"
S_OPTS=$(printf '%s' "$OPTS" | hex)
S_OPTS64=$(printf '%s' "$OPTS" | base64 -w0 | hex)
S_KEY=$(hex < "$K")
ALL="$S_OPTS,$S_OPTS64,$S_KEY"

t_shim_run "$ALL" "$(t_wrap_request ocikp "$OPTS" sample://default)"
t_shim_ok "sample wrap: no key material left behind" 0 3
ANN=$(printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation)

t_shim_run "$ALL" "$(t_unwrap_request ocikp "$ANN")"
t_shim_ok "sample unwrap: no key material left behind (the answer was written, then cleansed)" 0 3
[ "$(printf '%s' "$T_OUT" | t_json_field keyunwrapresults.optsdata | base64 -d)" = "$OPTS" ]
t_ok $? "sample unwrap under the shim returns the options"

# The same drop-in, another key: wrong key.
C2=$(t_conf_dir)
K2=$(t_sample_key)
sed "s|^sample.key_file = .*|sample.key_file = $K2|" "$C/50-sample.conf" > "$C2/50-sample.conf"
t_shim_run "$ALL,$(hex < "$K2")" "$(t_unwrap_request ocikp "$ANN")" --config-dir="$C2"
t_shim_ok "wrong sample key (exit 4): neither key left behind" 4 4

t_shim_run "$ALL" "$(t_wrap_request ocikp "$OPTS" nosuch://x)"
t_shim_ok "wrap to an unknown scheme (exit 3): options not left behind" 3 3
t_shim_run "$ALL" "$(t_wrap_request ocikp "$OPTS" sample://default | head -c -40)"
t_shim_ok "truncated request holding the options (exit 3)" 3 3
t_shim_run "$ALL" "$(t_wrap_request ocikp "$OPTS" sample://default | sed 's/"optsdata":"/"optsdata":"!!/')"
t_shim_ok "options with bad base64 (exit 3)" 3 3
big=$(t_wrap_request ocikp "$OPTS" sample://default)
big="$big$(head -c 1100000 /dev/zero | tr '\0' ' ')"
t_shim_run "$ALL" "$big"
t_shim_ok "oversized request holding the options (exit 3)" 3 3
t_shim_run "$ALL" "$(t_wrap_request ocikp "$OPTS" sample://default nosuch://x)"
t_shim_ok "two recipients, the second failing (exit non-zero): options not left behind" \
	"$T_RC" 3
[ "$T_RC" -ne 0 ]
t_ok $? "  ...and that wrap did fail (exit $T_RC)"
t_shim_run "$ALL" "$(t_wrap_request ocikp "$OPTS" mock://m sample://default)"
t_shim_ok "envelope of two recipients: wrap" 0 3
ENV=$(printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation)
t_shim_run "$ALL" "$(t_unwrap_request ocikp "$ENV")"
t_shim_ok "envelope of two recipients: unwrap" 0 3

# ---- sample keygen: the new key file's bytes ---------------------------------
K3="$T_TMP/keygen.key"
t_shim_run "" "" sample keygen "$K3"
t_shim_run "$(hex < "$K3")" "$(t_wrap_request ocikp "$OPTS" sample://default)" \
	--config-dir="$(d=$(t_conf_dir); sed "s|^sample.key_file = .*|sample.key_file = $K3|" "$C/50-sample.conf" > "$d/50-sample.conf"; echo "$d")"
t_shim_ok "a wrap with a key made by 'sample keygen': key not left behind" 0 1

# ---- keychain backend (key file store): the P-256 private key -----------------
if [[ " $OCIKP_MODULES " == *ocikp-keychain.so* ]]; then
	CK=$(t_conf_dir)
	KF="$T_TMP/keychain.key"
	printf 'backend = keychain\nmodule = ocikp-keychain.so\nschemes = keychain apple-se\nkeychain.key_file = %s\n' \
		"$KF" > "$CK/50-keychain.conf"
	priv_of() {	# the private scalar of a PEM key file, as hex
		openssl pkey -in "$1" -outform DER 2>/dev/null | openssl asn1parse -inform DER 2>/dev/null |
			sed -n 's/.*\[HEX DUMP\]://p' | head -1 | tr 'A-F' 'a-f'
	}
	t_run "" --config-dir="$CK" keychain create --file "$KF"
	PUB="apple-se://se?mode=encrypt&pub=$(printf '%s\n' "$T_OUT" | sed -n 's/^pub=//p')"
	# The scalar big-endian (DER) and native-endian (a BIGNUM's limbs).
	rev() { printf '%s' "$1" | fold -w2 | tac | tr -d '\n'; }
	PRIV=$(priv_of "$KF")
	[ ${#PRIV} -eq 64 ] || t_diag "could not read the private scalar from $KF"
	PRIV="$PRIV,$(rev "$PRIV")"
	t_shim_run "$S_OPTS,$S_OPTS64,$PRIV" "$(t_wrap_request ocikp "$OPTS" "$PUB")" --config-dir="$CK"
	t_shim_ok "keychain wrap" 0 4
	KANN=$(printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation)
	t_shim_run "$S_OPTS,$S_OPTS64,$PRIV" "$(t_unwrap_request ocikp "$KANN")" --config-dir="$CK"
	# OpenSSL is held to the rule too: it allocates through ocikp's
	# cleansing allocator, so the copies its PEM decoder and its P-256
	# multiplication free (that one holds the scalar native-endian) are wiped.
	t_shim_ok "keychain unwrap: neither the options nor the private key left behind, by ocikp or by libcrypto" 0 4

	KF2="$T_TMP/keychain2.key"
	sed "s|^keychain.key_file = .*|keychain.key_file = $KF2|" "$CK/50-keychain.conf" > "$C2/50-keychain.conf"
	rm -f "$C2/50-sample.conf"
	t_run "" --config-dir="$C2" keychain create --file "$KF2"
	PRIV2=$(priv_of "$KF2")
	PRIV2="$PRIV2,$(rev "$PRIV2")"
	t_shim_run "$S_OPTS,$S_OPTS64,$PRIV2" "$(t_unwrap_request ocikp "$KANN")" --config-dir="$C2"
	t_shim_ok "keychain unwrap with another key (exit 4): that key not left behind" 4 4
else
	for _ in 1 2 3; do t_skip "keychain under the shim" "keychain backend not built"; done
fi

# ---- tpm backend on a swtpm: the unsealed options -------------------------------
if [[ " $OCIKP_MODULES " == *ocikp-tpm.so* ]] && command -v swtpm > /dev/null; then
	. "$top_srcdir/tests/tpm/lib.sh"
	saved_conf=$OCIKP_CONFIG_DIR
	tpm_setup s
	t_run "" tpm ekpub
	URL=$(printf '%s\n' "$T_OUT" | sed -n 's/^key URL: //p')
	t_shim_run "$S_OPTS,$S_OPTS64" "$(t_wrap_request ocikp "$OPTS" "$URL")"
	t_shim_ok "tpm wrap" 0 2
	TANN=$(printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation)
	t_shim_run "$S_OPTS,$S_OPTS64" "$(t_unwrap_request ocikp "$TANN")"
	t_shim_ok "tpm unwrap on swtpm: the unsealed options not left behind" 0 2
	TPM2TOOLS_TCTI=$TCTI_s tpm2_pcrextend 23:sha256=$(printf '%064d' 1) > /dev/null
	t_run "" tpm ekpub --pcrs 23
	URL23=$(printf '%s\n' "$T_OUT" | sed -n 's/^key URL: //p')
	TPM2TOOLS_TCTI=$TCTI_s tpm2_pcrextend 23:sha256=$(printf '%064d' 2) > /dev/null
	t_shim_run "$S_OPTS,$S_OPTS64" "$(t_wrap_request ocikp "$OPTS" "$URL23")"
	T23=$(printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation)
	t_shim_run "$S_OPTS,$S_OPTS64" "$(t_unwrap_request ocikp "$T23")"
	t_shim_ok "tpm unwrap failing on a PCR mismatch (exit 4)" 4 2
	export OCIKP_CONFIG_DIR=$saved_conf
elif [ "${CI:-}" = true ]; then
	t_ok 1 "tpm under the shim: backend or swtpm missing"
else
	for _ in 1 2 3; do t_skip "tpm under the shim" "tpm backend or swtpm missing"; done
fi
t_done
[ "$T_FAILED" -eq 0 ]
