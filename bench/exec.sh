#!/usr/bin/env bash
# What one exec of ocikp costs, against the least any exec'd provider can:
# a trivial C program reading the same stdin.  Prints medians, the ratio and
# ocikp's max RSS.  Not a test: it only prints.
#
#   bench/exec.sh [BUILD-DIR] [RUNS]      (default: the source tree, 300 runs)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src}" && pwd)
runs=${2:-300}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

cc -O2 -o "$tmp/trivial" "$src/bench/trivial.c"
mkdir -m 755 "$tmp/plugins" "$tmp/conf"
install -m 0755 "$build/plugins/sample/.libs/ocikp-sample.so" "$tmp/plugins/"
"$build/ocikp" --plugin-dir="$tmp/plugins" --config-dir="$tmp/conf" sample keygen "$tmp/key" >/dev/null
printf 'backend = sample\nmodule = ocikp-sample.so\nschemes = sample\nsample.key_file = %s\n' \
	"$tmp/key" > "$tmp/conf/50-sample.conf"
export OCIKP_PLUGIN_DIR="$tmp/plugins" OCIKP_CONFIG_DIR="$tmp/conf"

opts=$(printf '{"symkey":"%s","digest":"sha256:%s","cipheroptions":{"nonce":"%s"}}' \
	"$(head -c 32 /dev/urandom | base64 -w0)" "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	"$(head -c 12 /dev/urandom | base64 -w0)")
printf '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"ocikp":["%s"]},"DecryptConfig":{"Parameters":{}}},"optsdata":"%s"},"keyunwrapparams":{"dc":null,"annotation":null}}' \
	"$(printf sample://default | base64 -w0)" "$(printf '%s' "$opts" | base64 -w0)" > "$tmp/wrap.json"
ann=$("$build/ocikp" < "$tmp/wrap.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keywrapresults"]["annotation"])')
printf '{"op":"keyunwrap","keywrapparams":{"ec":null,"optsdata":null},"keyunwrapparams":{"dc":{"Parameters":{}},"annotation":"%s"}}' "$ann" > "$tmp/unwrap.json"

cc -O2 -o "$tmp/spawn" "$src/bench/spawn.c"
# A C program that only links libcrypto: what the sample backend's one
# dependency costs to load, whatever ocikp itself does.
printf 'int main(void) { return 0; }\n' > "$tmp/empty.c"
cc -O2 -o "$tmp/libcrypto-only" "$tmp/empty.c" -Wl,--no-as-needed $(pkg-config --libs libcrypto)
cc -O2 -o "$tmp/openssl-gcm" "$src/bench/openssl-gcm.c" $(pkg-config --libs libcrypto)

measure() { "$tmp/spawn" "$runs" "$@"; }
read -r t_triv r_triv c_triv < <(measure "$tmp/wrap.json" "$tmp/trivial")
read -r t_cry r_cry c_cry < <(measure "$tmp/wrap.json" "$tmp/libcrypto-only")
read -r t_gcm r_gcm c_gcm < <(measure "$tmp/wrap.json" "$tmp/openssl-gcm")
read -r t_wrap r_wrap c_wrap < <(measure "$tmp/wrap.json" "$build/ocikp")
read -r t_unwrap r_unwrap c_unwrap < <(measure "$tmp/unwrap.json" "$build/ocikp")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "median wall time per exec over $runs runs (bench/spawn: fork+exec+wait from a small C parent)"
printf '  trivial C program (reads stdin)      %7.3f ms  max RSS %5d KiB  CPU %6.3f ms\n' "$t_triv" "$r_triv" "$c_triv"
printf '  empty program linked to libcrypto    %7.3f ms  max RSS %5d KiB  CPU %6.3f ms\n' "$t_cry" "$r_cry" "$c_cry"
printf '  one AES-256-GCM seal with OpenSSL 3   %7.3f ms  max RSS %5d KiB  CPU %6.3f ms\n' "$t_gcm" "$r_gcm" "$c_gcm"
printf '  ocikp keywrap   (sample backend)     %7.3f ms  max RSS %5d KiB  CPU %6.3f ms\n' "$t_wrap" "$r_wrap" "$c_wrap"
printf '  ocikp keyunwrap (sample backend)     %7.3f ms  max RSS %5d KiB  CPU %6.3f ms\n' "$t_unwrap" "$r_unwrap" "$c_unwrap"
echo "ratios: keywrap/trivial $(ratio "$t_wrap" "$t_triv"), keyunwrap/trivial $(ratio "$t_unwrap" "$t_triv");" \
	"keywrap/openssl-gcm $(ratio "$t_wrap" "$t_gcm"), keyunwrap/openssl-gcm $(ratio "$t_unwrap" "$t_gcm")"
