#!/usr/bin/env bash
# What a network backend's wrap and unwrap cost against its local fake
# (tests/BACKEND/fake_*.py, TLS on loopback), for each credential source
# the fake serves: per exec of `ocikp` (median wall and CPU time of RUNS
# execs, a request file on stdin), then unwraps through ocikpd against
# exec as the Go ocicrypt client sees them (bench/go/src/ocikp-bench; when
# go and Debian's ocicrypt sources are installed), and how many credential
# fetches 20 unwrap execs (a 20-layer image) cost.  Prints figures; not a
# test.  The CPU figures hold on a busy machine, the wall ones less so.
#
#   bench/kms.sh gcpkms|awskms|vault [BUILD-DIR] [RUNS]   (default: the source tree, 30)
#
# Env: GRPC_N (unwraps through ocikpd, default 300), EXEC_N (through exec
# with ocicrypt, default 30).
set -uo pipefail
backend=${1:?usage: bench/kms.sh gcpkms|awskms|vault [BUILD-DIR] [RUNS]}
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${2:-$src}" && pwd)
runs=${3:-30}
grpc_n=${GRPC_N:-300}
exec_n=${EXEC_N:-30}
top_srcdir=$src abs_top_builddir=$build
OCIKP="$build/ocikp" OCIKP_MODULES="$build/plugins/$backend/.libs/ocikp-$backend.so"
[ -f "$OCIKP_MODULES" ] || { echo "bench/kms.sh: no $OCIKP_MODULES (configure --enable-$backend)"; exit 0; }
. "$src/tests/lib/common.sh"
. "$src/tests/$backend/lib.sh"
P=$(t_plugin_dir)
C=$(t_conf_dir)
export OCIKP_PLUGIN_DIR="$P" OCIKP_CONFIG_DIR="$C"

# Per backend: set-up (the fake, the drop-in, KEY), SOURCES ("label:function"
# pairs; the function selects the source, in this shell's environment and
# the drop-in), EACH (run before every exec: a cache drop for a cold
# figure, else :) and fetches (the fake's count of credential fetches).
case $backend in
gcpkms)
	gcp_setup > /dev/null
	gcp_isolate
	gcp_dropin "$C" "gcpkms.credentials = $GCP_DIR/sa.json"
	KEY="gcpkms://$GCP_KEY"
	warm() { EACH=:; }
	cold() { EACH=gcp_cache_drop; }
	SOURCES=("service account, token cache warm:warm" "service account, token cache cold:cold")
	fetches() { gcp_stat token_jwt; }
	;;
awskms)
	aws_setup
	aws_isolate
	aws_dropin "$C"
	KEY="awskms://arn:aws:kms:us-east-1:123456789012:key/$AWS_KEY1"
	meta_off() {
		unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_CONTAINER_CREDENTIALS_FULL_URI \
			AWS_EC2_METADATA_SERVICE_ENDPOINT
		export AWS_EC2_METADATA_DISABLED=true
		EACH=:
	}
	env_keys() { meta_off; export AWS_ACCESS_KEY_ID=$AWS_AKID AWS_SECRET_ACCESS_KEY=$AWS_SECRET; }
	container() {
		meta_off
		export AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$AWS_FAKE_CONTAINER/v1/credentials"
	}
	imds() {
		meta_off
		unset AWS_EC2_METADATA_DISABLED
		export AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$AWS_FAKE_IMDS"
	}
	SOURCES=("environment keys:env_keys" "container credentials (1 GET):container"
		 "IMDSv2 (PUT + 2 GETs):imds")
	fetches() { local s; s=$(aws_ctl /_stats); echo $(( $(fake_num "$s" container_get) + $(fake_num "$s" imds_put) )); }
	;;
vault)
	vault_setup
	vault_isolate
	(umask 077; printf '%s\n' "$ROLE_ID" > "$T_TMP/role-id"; printf '%s\n' "$SECRET_ID" > "$T_TMP/secret-id")
	KEY=vault://transit/keys/k1
	token() { vault_dropin "$C"; export VAULT_TOKEN=$TOK_ALL; EACH=:; }
	approle() {
		unset VAULT_TOKEN
		vault_dropin "$C" "vault.approle_role_id_file = $T_TMP/role-id" \
			"vault.approle_secret_id_file = $T_TMP/secret-id"
		EACH=:
	}
	approle_cold() { approle; EACH=vault_cache_drop; }
	SOURCES=("static token (VAULT_TOKEN):token" "AppRole, login cached:approle"
		 "AppRole, login every exec:approle_cold")
	fetches() { vault_stat login_approle; }
	;;
*)
	echo "bench/kms.sh: backend gcpkms, awskms or vault" >&2
	exit 2
	;;
esac

opts=$(printf '{"symkey":"%s","cipheroptions":{"nonce":"%s"}}' \
	"$(head -c 32 /dev/urandom | base64 -w0)" "$(head -c 16 /dev/urandom | base64 -w0)")

# median LABEL REQUEST-FILE: wall and CPU (user + system) of one exec, RUNS times
median() {
	local i
	TIMEFORMAT='%R %U %S'
	for i in $(seq "$runs"); do
		$EACH
		{ time "$OCIKP" < "$2" > /dev/null 2>&1; } 2>&1 | tail -1
	done > "$T_TMP/times"
	printf '  %-44s wall %7.1f ms   cpu %6.1f ms\n' "$1" \
		"$(awk '{ print $1 * 1000 }' "$T_TMP/times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')" \
		"$(awk '{ print ($2 + $3) * 1000 }' "$T_TMP/times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
}

echo "ocikp $backend against its fake on loopback (TLS), median of $runs execs; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${SOURCES[@]}"; do
	label=${s%:*}
	${s##*:}
	t_wrap_request ocikp "$opts" "$KEY" > "$T_TMP/wrap.json"
	ann=$("$OCIKP" < "$T_TMP/wrap.json" | t_json_field keywrapresults.annotation)
	[ -n "$ann" ] || { echo "  $label: the wrap failed: $("$OCIKP" < "$T_TMP/wrap.json" 2>&1 >/dev/null)"; continue; }
	t_unwrap_request ocikp "$ann" "$KEY" > "$T_TMP/unwrap.json"
	median "wrap, $label" "$T_TMP/wrap.json"
	median "unwrap, $label" "$T_TMP/unwrap.json"
	$EACH
	f0=$(fetches)
	for layer in $(seq 20); do
		"$OCIKP" < "$T_TMP/unwrap.json" > /dev/null 2>&1 || echo "  layer $layer failed" >&2
	done
	echo "  a 20-layer image (20 unwrap execs), $label: $(( $(fetches) - f0 )) credential fetch(es)"
done

# --- through ocikpd, against exec, with the Go ocicrypt client --------------------
gocode=/usr/share/gocode
if ! command -v go > /dev/null || [ ! -d "$gocode/src/github.com/containers/ocicrypt" ] || [ ! -x "$build/ocikpd" ]; then
	echo "  ocikpd: skipped (needs go, Debian's ocicrypt sources and $build/ocikpd)"
	exit 0
fi
mkdir -p "$T_TMP/gocache"
GO111MODULE=off GOPATH="$src/bench/go:$gocode" GOCACHE="$T_TMP/gocache" GOPROXY=off GOFLAGS='' \
	GOTOOLCHAIN=local go build -o "$T_TMP/ocikp-bench" ocikp-bench || exit 1
printf '{"key-providers":{"ocikp":{"cmd":{"path":"%s","args":["--provider=ocikp","--config-dir=%s","--plugin-dir=%s"]}}}}\n' \
	"$OCIKP" "$C" "$P" > "$T_TMP/exec.json"
printf '{"key-providers":{"ocikp":{"grpc":"unix://%s"}}}\n' "$T_TMP/d.sock" > "$T_TMP/grpc.json"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
row() {	# row LABEL LINE
	printf '  %-44s %8.3f %8.3f %8.0f %8.3f\n' "$1" "$(field p50_ms <<< "$2")" "$(field p99_ms <<< "$2")" \
		"$(field rps <<< "$2")" "$(field cpu_client_ms <<< "$2")"
}
echo
echo "unwrap through ocicrypt (Go)                   p50 ms   p99 ms    req/s  client CPU ms"
for s in "${SOURCES[@]}"; do
	label=${s%:*}
	${s##*:}
	[ "$EACH" = : ] || continue	# a cold cache: the exec figures above say it
	: > "$T_TMP/ocikpd.log"
	"$build/ocikpd" --provider=ocikp --listen="unix:$T_TMP/d.sock" --config-dir="$C" \
		--plugin-dir="$P" 2> "$T_TMP/ocikpd.log" &
	dpid=$!
	for _ in $(seq 100); do
		grep -q '^ocikpd: listening on' "$T_TMP/ocikpd.log" && break
		sleep 0.05
	done
	f0=$(fetches)
	g=$(OCICRYPT_KEYPROVIDER_CONFIG="$T_TMP/grpc.json" "$T_TMP/ocikp-bench" -mode unwrap -n "$grpc_n" -key "ocikp:$KEY")
	gf=$(( $(fetches) - f0 ))
	kill "$dpid"
	wait "$dpid" 2> /dev/null
	f0=$(fetches)
	e=$(OCICRYPT_KEYPROVIDER_CONFIG="$T_TMP/exec.json" "$T_TMP/ocikp-bench" -mode unwrap -n "$exec_n" -key "ocikp:$KEY")
	ef=$(( $(fetches) - f0 ))
	row "$label, ocikpd, $grpc_n" "$g"
	row "$label, exec, $exec_n" "$e"
	printf '  %-44s %s and %s credential fetches\n' "" "$gf" "$ef"
done
