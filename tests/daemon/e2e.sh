#!/usr/bin/env bash
# ocikpd through the real ocicrypt (Debian's 1.1.9 with its grpc-go): the Go
# client with a `grpc` key-provider entry, over the unix socket and over
# 127.0.0.1, for the sample, tpm (swtpm) and keychain (key file) backends;
# and the same layers opened through exec and through gRPC both ways.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/tpm/lib.sh"
. "$top_srcdir/tests/daemon/lib.sh"
N=13
d_built_or_skip $N
tpm_tools_or_skip $N
if ! t_e2e_client; then
	if [ "${CI:-}" = true ]; then t_ok 1 "build the Go ocicrypt client: ${T_E2E_WHY:-}"; t_done; exit 1; fi
	for _ in $(seq $N); do t_skip "ocicrypt over gRPC" "${T_E2E_WHY:-}"; done
	t_done; exit 0
fi
t_setup	# sample + mock drop-ins in $C, modules in $P
tpm_start a || { t_ok 1 "start swtpm"; t_done; exit 1; }
printf 'backend = tpm\nmodule = ocikp-tpm.so\nschemes = tpm\ntpm.tcti = %s\n' "$TCTI_a" > "$C/50-tpm.conf"
$D_PY "$top_srcdir/tests/keychain/vectors.py" keygen "$T_TMP/kc.pem" > "$T_TMP/kc.pub"
printf 'backend = keychain\nmodule = ocikp-keychain.so\nschemes = keychain apple-se\nkeychain.key_file = %s\n' \
	"$T_TMP/kc.pem" > "$C/50-keychain.conf"
KC="apple-se://se?mode=encrypt&pub=$(cat "$T_TMP/kc.pub")"
TPMURL=$("$OCIKP" tpm ekpub --ecc --pcrs 7 | sed -n 's/^key URL: //p')
[ -n "$TPMURL" ]
t_ok $? "a TPM key URL (ECC EK, PCR 7) from ocikp tpm ekpub"

d_start --listen="unix:$T_TMP/grpc.sock" --listen=127.0.0.1:0
t_ok $? "ocikpd starts on a unix socket and an ephemeral loopback port"
printf '{"key-providers":{"ocikp":{"grpc":"unix://%s"}}}\n' "$T_TMP/grpc.sock" > "$T_TMP/unix.json"
printf '{"key-providers":{"ocikp":{"grpc":"%s"}}}\n' "$D_TCP" > "$T_TMP/tcp.json"
t_keyprovider_config "$T_TMP/exec.json" ",\"--config-dir=$C\",\"--plugin-dir=$P\"" ocikp
run() {	# run CONFIG ARGS...
	local cfg=$1
	shift
	OCICRYPT_KEYPROVIDER_CONFIG="$T_TMP/$cfg.json" "$E2E" "$@" > "$T_TMP/e2e.out" 2>&1
	local rc=$?
	[ $rc -eq 0 ] || t_diag "$(cat "$T_TMP/e2e.out")"
	return $rc
}

run unix -enc ocikp:sample://default -dec ocikp:sample://default -dump "$T_TMP/s-grpc"
t_ok $? "sample over unix:///...: ocicrypt encrypts and decrypts through ocikpd"
run tcp -enc ocikp:sample://default -dec ocikp:sample://default
t_ok $? "sample over 127.0.0.1:PORT"
run exec -from "$T_TMP/s-grpc" -dec ocikp:sample://default
t_ok $? "sample: a layer encrypted through gRPC opens through exec"
run exec -enc ocikp:sample://default -dec ocikp:sample://default -dump "$T_TMP/s-exec" &&
	run unix -from "$T_TMP/s-exec" -dec ocikp:sample://default
t_ok $? "sample: a layer encrypted through exec opens through gRPC"

run unix -enc "ocikp:$TPMURL" -dec "ocikp:tpm://ek?mode=decrypt" -dump "$T_TMP/t-grpc"
t_ok $? "tpm (swtpm, ECC EK, PCR 7) through ocikpd"
run exec -from "$T_TMP/t-grpc" -dec "ocikp:tpm://ek?mode=decrypt"
t_ok $? "tpm: the gRPC layer opens through exec"
run exec -enc "ocikp:$TPMURL" -dump "$T_TMP/t-exec" -dec "ocikp:tpm://ek?mode=decrypt" &&
	run tcp -from "$T_TMP/t-exec" -dec "ocikp:tpm://ek?mode=decrypt"
t_ok $? "tpm: the exec layer opens through gRPC (TCP)"

run unix -enc "ocikp:$KC" -dec "ocikp:apple-se://se?mode=decrypt" -dump "$T_TMP/k-grpc" &&
	run exec -from "$T_TMP/k-grpc" -dec "ocikp:apple-se://se?mode=decrypt"
t_ok $? "keychain (key file) through ocikpd; the layer opens through exec too"

run unix -from "$T_TMP/s-grpc" -dec ocikp:sample://default -enc ocikp:nosuch://x \
	-expect-enc-fail "ocikp: no backend for scheme 'nosuch'"
t_ok $? "an unknown scheme: ocicrypt reports ocikp's line, as over exec"

grep -q "UnWrapKey backend=tpm status=OK" "$D_LOG" && grep -q "UnWrapKey backend=keychain status=OK" "$D_LOG" &&
	grep -q "WrapKey backend=sample status=OK .* uid=$(id -u) gid=" "$D_LOG"
t_ok $? "one log line per request: rpc, backend, status, duration, peer uid"
d_stop
t_ok $? "SIGTERM: ocikpd exits 0 (under valgrind or ASan: no memory error, no leak)"
t_done
[ "$T_FAILED" -eq 0 ]
