#!/usr/bin/env bash
# What the pkcs11 backend costs on SoftHSM2 against the sample backend:
# wrap and unwrap per exec (medians), and unwrap through ocikpd (one kept
# gRPC connection, tests/daemon/grpc_client.py batch: mean per request, the
# Python client's own time included).  RSA-2048 (SoftHSM refuses OAEP with
# SHA-256: raw RSA on the token, OAEP decoding in ocikp) and P-256 (ECDH on
# the token).  Not a test: it only prints.
#
#   bench/pkcs11.sh [BUILD-DIR] [RUNS]     (default: the source tree, 100 runs)
#
# Needs root: like tests/pkcs11/lib.sh it runs in a private mount namespace
# where p11-kit sees only a SoftHSM of its own.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src}" && pwd)
runs=${2:-100}
skip() { echo "bench/pkcs11.sh: skipped: $*"; exit 0; }
softhsm=$(sed -n 's/^module:[[:space:]]*//p' /usr/share/p11-kit/modules/softhsm2.module 2>/dev/null || true)
[ -n "$softhsm" ] && [ -f "$softhsm" ] || skip "SoftHSM2 not installed"
command -v pkcs11-tool >/dev/null || skip "pkcs11-tool (opensc) not installed"
[ -f "$build/plugins/pkcs11/.libs/ocikp-pkcs11.so" ] || skip "not built with --enable-pkcs11"
if [ -z "${BENCH_ISOLATED:-}" ]; then
	[ "$(id -u)" -eq 0 ] || skip "needs root (a private mount namespace)"
	BENCH_ISOLATED=1 exec unshare -m --propagation private "$BASH" "$0" "$@"
fi
tmp=$(mktemp -d)
chmod 755 "$tmp"
dpid=
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -m 755 "$tmp/plugins" "$tmp/conf" "$tmp/mods" "$tmp/tokens"
printf 'module: %s\n' "$softhsm" > "$tmp/mods/softhsm2.module"
mount --bind "$tmp/mods" /usr/share/p11-kit/modules
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$tmp/tokens" > "$tmp/softhsm2.conf"
export SOFTHSM2_CONF="$tmp/softhsm2.conf"
softhsm2-util --init-token --free --label bench --so-pin 000000 --pin 1234 >/dev/null
for k in "rsa:2048 01 rsa" "EC:prime256v1 02 ec"; do
	set -- $k
	pkcs11-tool --module "$softhsm" --token-label bench --login --pin 1234 --keypairgen \
		--key-type "$1" --id "$2" --label "$3" >/dev/null 2>&1
done
printf 1234 > "$tmp/pin"
chmod 600 "$tmp/pin"
install -m 0755 "$build/plugins/sample/.libs/ocikp-sample.so" \
	"$build/plugins/pkcs11/.libs/ocikp-pkcs11.so" "$tmp/plugins/"
"$build/ocikp" --plugin-dir="$tmp/plugins" --config-dir="$tmp/conf" sample keygen "$tmp/key" >/dev/null
printf 'backend = sample\nmodule = ocikp-sample.so\nschemes = sample\nsample.key_file = %s\n' \
	"$tmp/key" > "$tmp/conf/50-sample.conf"
printf 'backend = pkcs11\nmodule = ocikp-pkcs11.so\nopaque_schemes = pkcs11\n' > "$tmp/conf/50-pkcs11.conf"
export OCIKP_PLUGIN_DIR="$tmp/plugins" OCIKP_CONFIG_DIR="$tmp/conf"

b64() { base64 -w0; }
opts=$(printf '{"symkey":"%s","cipheroptions":{}}' "$(head -c 32 /dev/urandom | b64)")
requests() {	# requests NAME WRAP-URL DEC-URL: $tmp/NAME.wrap.json, .unwrap.json
	local ann dc=""
	printf '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"ocikp":["%s"]},"DecryptConfig":{"Parameters":{}}},"optsdata":"%s"},"keyunwrapparams":{"dc":null,"annotation":null}}' \
		"$(printf '%s' "$2" | b64)" "$(printf '%s' "$opts" | b64)" > "$tmp/$1.wrap.json"
	ann=$("$build/ocikp" < "$tmp/$1.wrap.json" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["keywrapresults"]["annotation"])')
	[ -n "$3" ] && dc="\"$(printf '%s' "$3" | b64)\""
	printf '{"op":"keyunwrap","keywrapparams":{"ec":null,"optsdata":null},"keyunwrapparams":{"dc":{"Parameters":{"ocikp":[%s]}},"annotation":"%s"}}' \
		"$dc" "$ann" > "$tmp/$1.unwrap.json"
}
dec="pkcs11:token=bench?pin-source=file:$tmp/pin"
requests sample sample://default ""
requests rsa "pkcs11:token=bench;object=rsa" "$dec"
requests ec "pkcs11:token=bench;object=ec" "$dec"

median_ms() {	# median_ms FILE: ocikp < FILE, $runs times
	local i t0 t1
	for i in $(seq "$runs"); do
		t0=$(date +%s%N)
		"$build/ocikp" < "$1" > /dev/null
		t1=$(date +%s%N)
		echo $(( (t1 - t0) / 1000 ))
	done | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] / 1000 }'
}

echo "per exec, median of $runs (ms):"
printf '  %-22s %8s %8s\n' backend wrap unwrap
for n in sample rsa ec; do
	case $n in sample) label=sample ;; rsa) label="pkcs11 RSA-2048" ;; ec) label="pkcs11 P-256" ;; esac
	printf '  %-22s %8s %8s\n' "$label" "$(median_ms "$tmp/$n.wrap.json")" "$(median_ms "$tmp/$n.unwrap.json")"
done

py=
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import grpc' 2>/dev/null; then py=$p; break; fi
done
if [ ! -x "$build/ocikpd" ] || [ -z "$py" ]; then
	echo "through ocikpd: skipped (ocikpd not built, or no python3-grpcio)"
	exit 0
fi
"$build/ocikpd" --listen="unix:$tmp/grpc.sock" 2> "$tmp/ocikpd.log" &
dpid=$!
for _ in $(seq 100); do grep -q '^ocikpd: listening' "$tmp/ocikpd.log" && break; sleep 0.1; done
echo "through ocikpd, unwrap, one kept connection, mean of $runs (ms):"
for n in sample rsa ec; do
	for _ in $(seq "$runs"); do printf 'UnWrapKey\t%s\n' "$tmp/$n.unwrap.json"; done > "$tmp/$n.cases"
	t0=$(date +%s%N)
	"$py" "$src/tests/daemon/grpc_client.py" batch --target "unix:$tmp/grpc.sock" \
		--cases "$tmp/$n.cases" > "$tmp/$n.out"
	t1=$(date +%s%N)
	ok=$(grep -c '^code=OK' "$tmp/$n.out" || true)
	printf '  %-22s %8.2f  (%s of %s OK)\n' "$n" "$(awk -v d=$((t1 - t0)) -v n="$runs" 'BEGIN { print d / n / 1e6 }')" "$ok" "$runs"
done
