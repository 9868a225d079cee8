#!/usr/bin/env bash
# Annotations made by ocicrypt-tpm-keyprovider v1.0.0 against the swtpm state
# stored beside them (tests/fixtures/tpm, a copy of the project's shared fixtures): ocikp must open them.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/tpm/lib.sh"
N=9
tpm_tools_or_skip $N
FX="$OCIKP_FIXTURES/tpm"
[ -d "$FX/state" ] || { t_ok 1 "fixtures at $FX"; t_done; exit 1; }
tpm_setup fx "$FX/state"

opens() {	# opens NAME: the fixture opens to its exact optsdata
	local out
	out=$(t_unwrap "$(base64 -w0 < "$FX/$1.annotation.json")" tpm://ek?mode=decrypt) &&
		[ "$out" = "$(cat "$FX/$1.optsdata.json")" ]
}
opens rsa-nopcr
t_ok $? "rsa-nopcr (RSA EK, no policy) opens to its optsdata"
opens ecc-nopcr
t_ok $? "ecc-nopcr (ECC EK) opens: the EK type is taken from the blob"
opens rsa-pcr23-zero
t_ok $? "rsa-pcr23-zero opens while PCR 23 is zero"
tpm_clean "$TCTI_fx"
t_ok $? "no transient objects or sessions left after success"
t_expect_fail "rsa-pcr23-wrong: PCR error, nothing on stdout" 4 "ocikp: tpm: PCR values differ from the policy \(PCR 23\)" \
	"$(t_unwrap_request ocikp "$(base64 -w0 < "$FX/rsa-pcr23-wrong.annotation.json")")"
TPM2TOOLS_TCTI=$TCTI_fx tpm2_pcrextend 23:sha256=$(printf '%064d' 1) >/dev/null
t_expect_fail "rsa-pcr23-zero after tpm2_pcrextend 23: PCR error" 4 "PCR values differ from the policy \(PCR 23\)" \
	"$(t_unwrap_request ocikp "$(base64 -w0 < "$FX/rsa-pcr23-zero.annotation.json")")"
tpm_clean "$TCTI_fx"
t_ok $? "no transient objects or sessions left after the failures"
t_expect_fail "the upstream README example is for another TPM" 4 "sealed to a different TPM" \
	"$(t_unwrap_request ocikp "$(base64 -w0 < "$FX/upstream-readme-example.annotation.json")")"
t_run "" tpm ekpub
[ "$T_RC" -eq 0 ] && [ "$(printf '%s\n' "$T_OUT" | sed -n '/BEGIN/,/END/p')" = "$(cat "$FX/ek-rsa.pem")" ]
t_ok $? "ocikp tpm ekpub prints the same RSA EK as the fixture's ek-rsa.pem"
t_done
[ "$T_FAILED" -eq 0 ]
