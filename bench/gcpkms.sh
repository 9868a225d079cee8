#!/usr/bin/env bash
# What a gcpkms wrap and unwrap cost per exec against the fake Google
# services (tests/gcpkms/fake_gcp.py, TLS on loopback), with the token
# cache warm (the normal case: one token per hour) and cold (every exec
# signs a JWT and asks the token endpoint, as a provider without a cache
# does); and how many token requests a 20-layer image costs.  Prints
# medians; not a test.
#
#   bench/gcpkms.sh [BUILD-DIR] [RUNS]     (default: the source tree, 30 runs)
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src}" && pwd)
runs=${2:-30}
top_srcdir=$src abs_top_builddir=$build
OCIKP="$build/ocikp" OCIKP_MODULES="$build/plugins/gcpkms/.libs/ocikp-gcpkms.so"
. "$src/tests/lib/common.sh"
. "$src/tests/gcpkms/lib.sh"
gcp_setup > /dev/null
gcp_isolate
P=$(t_plugin_dir)
C=$(t_conf_dir)
gcp_dropin "$C" "gcpkms.credentials = $GCP_DIR/sa.json"
export OCIKP_PLUGIN_DIR="$P" OCIKP_CONFIG_DIR="$C"

opts=$(printf '{"symkey":"%s","cipheroptions":{"nonce":"%s"}}' \
	"$(head -c 32 /dev/urandom | base64 -w0)" "$(head -c 16 /dev/urandom | base64 -w0)")
t_wrap_request ocikp "$opts" "gcpkms://$GCP_KEY" > "$T_TMP/wrap.json"
ann=$("$OCIKP" < "$T_TMP/wrap.json" | t_json_field keywrapresults.annotation)
t_unwrap_request ocikp "$ann" "gcpkms://$GCP_KEY" > "$T_TMP/unwrap.json"

# median LABEL REQUEST cold|warm: wall and CPU (user + system) time of one
# exec, RUNS times; the CPU figure holds on a busy machine, the wall one not.
median() {
	local i
	TIMEFORMAT='%R %U %S'
	for i in $(seq "$runs"); do
		[ "$3" = cold ] && gcp_cache_drop
		{ time "$OCIKP" < "$T_TMP/$2.json" > /dev/null 2>&1; } 2>&1 | tail -1
	done > "$T_TMP/times"
	printf '  %-28s wall %7.1f ms   cpu %6.1f ms\n' "$1" \
		"$(awk '{ print $1 * 1000 }' "$T_TMP/times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')" \
		"$(awk '{ print ($2 + $3) * 1000 }' "$T_TMP/times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
}
echo "ocikp gcpkms against the fake Google services on loopback, median of $runs execs"
median "wrap, token cache warm" wrap warm
median "wrap, token cache cold" wrap cold
median "unwrap, token cache warm" unwrap warm
median "unwrap, token cache cold" unwrap cold

gcp_cache_drop
gcp_ctl /_reset > /dev/null
for layer in $(seq 20); do
	"$OCIKP" < "$T_TMP/unwrap.json" > /dev/null || echo "layer $layer failed" >&2
done
echo "  a 20-layer image (20 unwrap execs): $(gcp_stat token_jwt) token request(s), $(gcp_stat decrypt) decrypts"
