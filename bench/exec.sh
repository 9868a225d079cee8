#!/usr/bin/env bash
# What one exec of ocikp costs, against the least any exec'd provider can:
# a trivial C program reading the same stdin, and one doing only the
# OpenSSL AES-256-GCM seal a sample wrap needs (bench/openssl-gcm.c).  The
# sample backend is used with all five backends' packaged drop-ins
# installed, as on a real system (the others' modules are not loaded for a
# sample:// key, but their drop-ins are read).  Prints the median wall time,
# the mean CPU time (user + system) and the max RSS of each, the ratios,
# and the instructions of one run (callgrind, if valgrind is installed).
# With OLD=<build dir of an earlier commit>, that build's ocikp is measured
# in the same run, the programs taking turns, so a change in the machine's
# load hits all alike.  Not a test: it only prints.
#
#   [OLD=DIR] bench/exec.sh [BUILD-DIR] [RUNS]   (default: the source tree, 300 runs)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src}" && pwd)
runs=${2:-300}
old=${OLD:+$(cd "$OLD" && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

cc -O2 -o "$tmp/trivial" "$src/bench/trivial.c"
mkdir -m 755 "$tmp/plugins" "$tmp/conf"
[ -n "$old" ] && mkdir -m 755 "$tmp/plugins-old"
for m in sample tpm keychain gcpkms kbs; do
	[ -f "$build/plugins/$m/.libs/ocikp-$m.so" ] || continue
	install -m 0755 "$build/plugins/$m/.libs/ocikp-$m.so" "$tmp/plugins/"
	[ -n "$old" ] && [ -f "$old/plugins/$m/.libs/ocikp-$m.so" ] &&
		install -m 0755 "$old/plugins/$m/.libs/ocikp-$m.so" "$tmp/plugins-old/"
	install -m 0644 "$src/plugins/$m/50-$m.conf" "$tmp/conf/"
done
"$build/ocikp" --plugin-dir="$tmp/plugins" --config-dir="$tmp/conf" sample keygen "$tmp/key" >/dev/null
sed -i "s|^sample.key_file = .*|sample.key_file = $tmp/key|" "$tmp/conf/50-sample.conf"
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

# name|plugin dir|stdin|program
rows=("trivial C program (reads stdin)|$tmp/plugins|wrap.json|$tmp/trivial"
	"empty program linked to libcrypto|$tmp/plugins|wrap.json|$tmp/libcrypto-only"
	"one AES-256-GCM seal with OpenSSL 3|$tmp/plugins|wrap.json|$tmp/openssl-gcm"
	"ocikp keywrap   (sample backend)|$tmp/plugins|wrap.json|$build/ocikp"
	"ocikp keyunwrap (sample backend)|$tmp/plugins|unwrap.json|$build/ocikp")
[ -n "$old" ] && rows+=("old: ocikp keywrap|$tmp/plugins-old|wrap.json|$old/ocikp"
	"old: ocikp keyunwrap|$tmp/plugins-old|unwrap.json|$old/ocikp")
declare -A wall cpu rss
for r in "${rows[@]}"; do wall[$r]=0; cpu[$r]=0; rss[$r]=0; done
# five rounds of runs/5, each program in turn: averages of the rounds
for _ in 1 2 3 4 5; do
	for r in "${rows[@]}"; do
		IFS='|' read -r _ plug in prog <<< "$r"
		read -r t m c < <(OCIKP_PLUGIN_DIR=$plug "$tmp/spawn" $(( (runs + 4) / 5 )) "$tmp/$in" "$prog")
		wall[$r]=$(awk -v a="${wall[$r]}" -v x="$t" 'BEGIN { print a + x / 5 }')
		cpu[$r]=$(awk -v a="${cpu[$r]}" -v x="$c" 'BEGIN { print a + x / 5 }')
		[ "$m" -gt "${rss[$r]}" ] && rss[$r]=$m
	done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
gcm=${rows[2]}
echo "per exec over $runs runs (bench/spawn: fork+exec+wait from a small C parent, programs taking turns);"
echo "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); all five backends' drop-ins installed"
echo "                                        wall p50      CPU   max RSS   / GCM seal: wall  CPU"
for r in "${rows[@]}"; do
	IFS='|' read -r name _ <<< "$r"
	printf '  %-36s %7.3f ms %6.3f ms %5d KiB        %s  %s\n' "$name" "${wall[$r]}" "${cpu[$r]}" \
		"${rss[$r]}" "$(ratio "${wall[$r]}" "${wall[$gcm]}")" "$(ratio "${cpu[$r]}" "${cpu[$gcm]}")"
done
echo "target: keywrap <= 1.10x the GCM seal"

# Instructions of one run: the figure the load cannot move.
if command -v valgrind >/dev/null; then
	line=""
	for r in "${rows[2]}" "${rows[3]}" ${old:+"${rows[5]}"}; do
		IFS='|' read -r name plug in prog <<< "$r"
		OCIKP_PLUGIN_DIR=$plug valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$prog" \
			< "$tmp/$in" > /dev/null 2> "$tmp/cg.log"
		n=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/cg.log")
		[ -z "$line" ] && base=$n
		line+=$(printf '\n  %-36s %6.2f M  %s' "$name" "$(awk -v x="$n" 'BEGIN { print x / 1e6 }')" \
			"$(ratio "$n" "$base")")
	done
	echo "instructions (callgrind), one run, and / GCM seal:$line"
fi
