#!/usr/bin/env bash
# The pkcs11 backend end to end on SoftHSM2 (tests/pkcs11/lib.sh): the real
# ocicrypt (the Go client) encrypts and decrypts layers with pkcs11: URIs
# through exec and through ocikpd, and a layer made one way opens the other.
. "$top_srcdir/tests/pkcs11/lib.sh"
. "$top_srcdir/tests/daemon/lib.sh"
N=7
d_built_or_skip $N
if ! t_e2e_client; then
	if [ "${CI:-}" = true ]; then t_ok 1 "build the Go ocicrypt client: ${T_E2E_WHY:-}"; t_done; exit 1; fi
	for _ in $(seq $N); do t_skip "ocicrypt with pkcs11" "${T_E2E_WHY:-}"; done
	t_done; exit 0
fi
p11_token t1 1234
p11_keypair t1 1234 rsa:2048 01 rsa
p11_keypair t1 1234 EC:prime256v1 02 ec
PIN=$(p11_pin_file 1234)
DEC="ocikp:pkcs11:token=t1?pin-source=file:$PIN"

t_keyprovider_config "$T_TMP/exec.json" ",\"--config-dir=$C\",\"--plugin-dir=$P\"" ocikp
run() {	# run CONFIG ARGS...
	local cfg=$1
	shift
	OCICRYPT_KEYPROVIDER_CONFIG="$T_TMP/$cfg.json" "$E2E" "$@" > "$T_TMP/e2e.out" 2>&1
	local rc=$?
	[ $rc -eq 0 ] || t_diag "$(cat "$T_TMP/e2e.out")"
	return $rc
}
run exec -enc "ocikp:pkcs11:token=t1;object=rsa;type=private" -dec "$DEC" -dump "$T_TMP/r-exec"
t_ok $? "RSA through exec: ocicrypt encrypts and decrypts a layer"
run exec -enc "ocikp:pkcs11:token=t1;object=ec" -dec "$DEC" -dump "$T_TMP/e-exec"
t_ok $? "P-256 through exec"

d_start --listen="unix:$T_TMP/grpc.sock"
t_ok $? "ocikpd starts"
printf '{"key-providers":{"ocikp":{"grpc":"unix://%s"}}}\n' "$T_TMP/grpc.sock" > "$T_TMP/unix.json"
run unix -enc "ocikp:pkcs11:token=t1;object=ec" -dec "$DEC" -dump "$T_TMP/e-grpc"
t_ok $? "P-256 through ocikpd"
run unix -from "$T_TMP/r-exec" -dec "$DEC" && run exec -from "$T_TMP/e-grpc" -dec "$DEC"
t_ok $? "a layer made through exec opens through ocikpd, and the other way"
run unix -from "$T_TMP/r-exec" -dec "ocikp:pkcs11:token=t1?pin-value=0000" \
	-expect-dec-fail "wrong PIN"
t_ok $? "a wrong PIN through ocikpd: ocicrypt reports ocikp's line"
d_stop
t_ok $? "SIGTERM: ocikpd exits 0 (the token's module finalized)"
t_done
[ "$T_FAILED" -eq 0 ]
