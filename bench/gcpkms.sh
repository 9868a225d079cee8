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
if [ "$(id -u)" -ne 0 ]; then
	export XDG_RUNTIME_DIR="$T_TMP/xdg"
	mkdir -m 700 "$XDG_RUNTIME_DIR"
	cache="$XDG_RUNTIME_DIR/ocikp/gcpkms"
else
	cache=/run/ocikp/gcpkms
fi
before=$(ls "$cache" 2>/dev/null | sort)
mine() { comm -13 <(printf '%s\n' "$before") <(ls "$cache" 2>/dev/null | sort); }
drop() { mine | while read -r f; do [ -n "$f" ] && rm -f "$cache/$f"; done; }
t_at_exit drop
P=$(t_plugin_dir)
C=$(t_conf_dir)
gcp_dropin "$C" "gcpkms.credentials = $GCP_DIR/sa.json"
export OCIKP_PLUGIN_DIR="$P" OCIKP_CONFIG_DIR="$C"

opts=$(printf '{"symkey":"%s","cipheroptions":{"nonce":"%s"}}' \
	"$(head -c 32 /dev/urandom | base64 -w0)" "$(head -c 16 /dev/urandom | base64 -w0)")
t_wrap_request ocikp "$opts" "gcpkms://$GCP_KEY" > "$T_TMP/wrap.json"
ann=$("$OCIKP" < "$T_TMP/wrap.json" | t_json_field keywrapresults.annotation)
t_unwrap_request ocikp "$ann" "gcpkms://$GCP_KEY" > "$T_TMP/unwrap.json"

# median LABEL REQUEST cold|warm: wall time of one exec, RUNS times.
median() {
	local i s e
	for i in $(seq "$runs"); do
		[ "$3" = cold ] && drop
		s=$(date +%s%N)
		"$OCIKP" < "$T_TMP/$2.json" > /dev/null || { echo "$1: ocikp failed" >&2; return 1; }
		e=$(date +%s%N)
		echo $(( (e - s) / 1000 ))
	done | sort -n | awk -v l="$1" '{ a[NR] = $1 } END { printf "  %-36s %7.2f ms\n", l, a[int((NR + 1) / 2)] / 1000 }'
}
echo "ocikp gcpkms against the fake Google services on loopback, median of $runs execs"
median "wrap, token cache warm" wrap warm
median "wrap, token cache cold" wrap cold
median "unwrap, token cache warm" unwrap warm
median "unwrap, token cache cold" unwrap cold

drop
gcp_ctl /_reset > /dev/null
for layer in $(seq 20); do
	"$OCIKP" < "$T_TMP/unwrap.json" > /dev/null || echo "layer $layer failed" >&2
done
echo "  a 20-layer image (20 unwrap execs): $(gcp_stat token_jwt) token request(s), $(gcp_stat decrypt) decrypts"
