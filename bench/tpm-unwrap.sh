#!/usr/bin/env bash
# What a TPM unwrap costs on swtpm: with the persistent EK that swtpm_setup
# makes (0x81010001), and cold, after evicting it (CreatePrimary each time);
# with and without a PCR policy.  Prints median wall time per exec of ocikp
# and the number of TPM commands one unwrap sends (counted in swtpm's log).
#
#   bench/tpm-unwrap.sh [BUILD-DIR] [RUNS]     (default: source tree, 30 runs)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src}" && pwd)
runs=${2:-30}
tmp=$(mktemp -d)
chmod 755 "$tmp"
port=$((30000 + (RANDOM % 10000) * 2))
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT

mkdir -p "$tmp/state"
swtpm_setup --tpm2 --tpmstate "$tmp/state" --create-ek-cert --overwrite >/dev/null
swtpm socket --tpm2 --tpmstate dir="$tmp/state" --server type=tcp,port=$port,bindaddr=127.0.0.1 \
	--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear \
	--daemon --pid file="$tmp/pid" --log file="$tmp/swtpm.log",level=20
sleep 0.3
tcti="swtpm:host=127.0.0.1,port=$port"
mkdir -m 755 "$tmp/plugins" "$tmp/conf"
install -m 0755 "$build/plugins/tpm/.libs/ocikp-tpm.so" "$tmp/plugins/"
printf 'backend = tpm\nmodule = ocikp-tpm.so\nschemes = tpm\ntpm.tcti = %s\n' "$tcti" > "$tmp/conf/50-tpm.conf"
export OCIKP_PLUGIN_DIR="$tmp/plugins" OCIKP_CONFIG_DIR="$tmp/conf"
cc -O2 -o "$tmp/spawn" "$src/bench/spawn.c"

request() {	# request NAME KEY-URL: writes NAME.json, an unwrap request
	local req ann
	req=$(printf '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"ocikp":["%s"]}},"optsdata":"%s"}}' \
		"$(printf '%s' "$2" | base64 -w0)" "$(printf '{"symkey":"AAAA"}' | base64 -w0)")
	ann=$(printf '%s' "$req" | "$build/ocikp" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keywrapresults"]["annotation"])')
	printf '{"op":"keyunwrap","keyunwrapparams":{"annotation":"%s"}}' "$ann" > "$tmp/$1.json"
}
request plain "$("$build/ocikp" tpm ekpub | sed -n 's/^key URL: //p')"
request pcr "$("$build/ocikp" tpm ekpub --pcrs 7 | sed -n 's/^key URL: //p')"

commands() {	# TPM commands one unwrap sends
	: > "$tmp/swtpm.log"
	"$build/ocikp" < "$tmp/$1.json" > /dev/null
	grep -c 'SWTPM_IO_Read' "$tmp/swtpm.log"
}
measure() {	# label request
	local t
	read -r t _ < <("$tmp/spawn" "$runs" "$tmp/$2.json" "$build/ocikp")
	printf '  %-34s %8.2f ms  %2d TPM commands\n' "$1" "$t" "$(commands "$2")"
}
echo "ocikp tpm unwrap on swtpm, median of $runs execs (bench/spawn)"
measure "persistent EK, no policy" plain
measure "persistent EK, PCR 7 policy" pcr
# One process serving them all, as ocikpd does (the harness of
# tests/tpm/reuse.sh, built by make check): the first unwrap sets up the
# TPM context, the later ones reuse it.  A speed claim, so here, not there.
if [ -x "$build/tests/tpm/test-reuse" ]; then
	for _ in $(seq "$runs"); do echo "$tmp/plain.json"; done |
		"$build/tests/tpm/test-reuse" > "$tmp/reuse.out"
	awk '$1 == "ok" { t[++n] = $2 } END {
		if (n < 2) { print "  one process: the harness failed"; exit }
		m = n - 1; for (i = 2; i <= n; i++) l[i - 1] = t[i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (l[j] < l[i]) { x = l[i]; l[i] = l[j]; l[j] = x }
		printf "  %-34s %8.2f ms first, %.2f ms later (median of %d)\n", "one process (as ocikpd)", t[1], l[int((m + 1) / 2)], m
	}' "$tmp/reuse.out"
fi
TPM2TOOLS_TCTI=$tcti tpm2_evictcontrol -C o -c 0x81010001 >/dev/null
TPM2TOOLS_TCTI=$tcti tpm2_evictcontrol -C o -c 0x81010016 >/dev/null
measure "cold: CreatePrimary EK, no policy" plain
measure "cold: CreatePrimary EK, PCR 7" pcr
