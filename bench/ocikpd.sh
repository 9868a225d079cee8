#!/usr/bin/env bash
# ocikpd against the exec path, as the real Go ocicrypt client sees them
# (bench/go/src/ocikp-bench, Debian's ocicrypt and grpc-go): per-request
# unwrap latency and throughput for sample (and tpm on swtpm, keychain with
# a key file, gcpkms against the fake Google services, when available), a
# 20-layer image encrypted and decrypted through ocikpd, through exec and
# with ocicrypt's built-in JWE recipient (sample, and tpm and gcpkms when
# available), and the daemon's RSS after 10,000 requests.  Prints figures beside the
# issue's targets; not a test.  ocicrypt dials a new gRPC connection for
# every call, so each gRPC figure includes a connect; the "one kept
# connection" row calls UnWrapKey directly, without that.
#
#   bench/ocikpd.sh [BUILD-DIR] [REQUESTS]   (default: the source tree, 10000)
#
# Env: EXEC_N (exec unwraps, default 300), RUNS (image rounds, default 5),
# TPM_N / TPM_EXEC_N (tpm unwraps over gRPC / exec, default 100 / 30; then a
# 20-layer image sealed to the TPM, both ways, RUNS rounds), GCP_N / GCP_EXEC_N
# (gcpkms, default 300 / 30), NOISY_N (sample unwraps, quiet and flooded,
# default 20000); the 8-in-flight sample run and the keychain gRPC run make
# REQUESTS / 5.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/tests/lib/port-pair.sh"
build=$(cd "${1:-$src}" && pwd)
reqs=${2:-10000}
exec_n=${EXEC_N:-300}
few=$(( reqs / 5 > 0 ? reqs / 5 : 1 ))	# the shorter gRPC runs
runs=${RUNS:-5}
noisy_n=${NOISY_N:-20000}
gocode=/usr/share/gocode
tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
cleanup() {
	local p
	for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
	[ -s "$tmp/tpm/pid" ] && kill "$(cat "$tmp/tpm/pid")" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

skip() { echo "bench/ocikpd.sh: skipped: $*"; exit 0; }
command -v go >/dev/null || skip "go not installed (golang-go from bookworm-backports)"
[ -d "$gocode/src/github.com/containers/ocicrypt" ] ||
	skip "ocicrypt sources not installed (golang-github-containers-ocicrypt-dev from bookworm-backports)"
[ -x "$build/ocikpd" ] || skip "no $build/ocikpd (configure without the daemon?)"
# GOPATH mode, offline: the client's own tree first, then Debian's sources.
mkdir "$tmp/gocache"
GO111MODULE=off GOPATH="$src/bench/go:$gocode" GOCACHE="$tmp/gocache" GOPROXY=off GOFLAGS='' \
	GOTOOLCHAIN=local go build -o "$tmp/ocikp-bench" ocikp-bench
B=$tmp/ocikp-bench

mkdir -m 755 "$tmp/plugins"
for m in sample tpm keychain gcpkms; do
	f="$build/plugins/$m/.libs/ocikp-$m.so"
	[ -f "$f" ] && install -m 0755 "$f" "$tmp/plugins/"
done
conf() {	# conf NAME DROP-IN-TEXT: a drop-in dir holding only that backend
	mkdir -m 755 "$tmp/conf-$1"
	printf '%s\n' "$2" > "$tmp/conf-$1/50-$1.conf"
}
# The two ocicrypt.json files for one drop-in dir: exec (ocikp per call) and
# grpc (the daemon's socket).  The provider is named ocikp in both.
providers() {	# providers NAME
	printf '{"key-providers":{"ocikp":{"cmd":{"path":"%s","args":["--provider=ocikp","--config-dir=%s","--plugin-dir=%s"]}}}}\n' \
		"$build/ocikp" "$tmp/conf-$1" "$tmp/plugins" > "$tmp/exec-$1.json"
	printf '{"key-providers":{"ocikp":{"grpc":"unix://%s"}}}\n' "$tmp/$1.sock" > "$tmp/grpc-$1.json"
}
daemon() {	# daemon NAME: ocikpd on $tmp/NAME.sock with that drop-in dir; sets DPID
	"$build/ocikpd" --provider=ocikp --listen="unix:$tmp/$1.sock" --config-dir="$tmp/conf-$1" \
		--plugin-dir="$tmp/plugins" 2> "$tmp/ocikpd-$1.log" &
	DPID=$!
	pids+=("$DPID")
	for _ in $(seq 100); do
		grep -q '^ocikpd: listening on' "$tmp/ocikpd-$1.log" && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	echo "ocikpd did not start:" >&2
	cat "$tmp/ocikpd-$1.log" >&2
	exit 1
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }	# field KEY < key=value line
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
requests() { grep -c '^ocikpd: \(Un\)\?WrapKey ' "$tmp/ocikpd-$1.log" || true; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "met" : "NOT met" }'; }
via() {	# via NAME exec|grpc ARGS...: one ocikp-bench run
	local name=$1 how=$2
	shift 2
	OCICRYPT_KEYPROVIDER_CONFIG="$tmp/$how-$name.json" "$B" "$@"
}
# CPU time (user + system) the daemon has used, in ms: a figure that holds
# on a busy machine, where wall times do not.
dcpu() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) * 1000 / t }' "/proc/$1/stat"; }
# unwrap NAME exec|grpc|rpc ARGS...: an unwrap run, plus provider_cpu_ms=;
# rpc is UnWrapKey over one kept connection, without ocicrypt's dial per call
unwrap() {
	local name=$1 how=$2 mode=unwrap c0 n0 out
	shift 2
	if [ "$how" = exec ]; then
		out=$(via "$name" exec -mode unwrap "$@")
		printf '%s provider_cpu_ms=%s\n' "$out" "$(field cpu_children_ms <<< "$out")"
		return
	fi
	[ "$how" = rpc ] && mode=rpc
	c0=$(dcpu "$DPID")
	n0=$(requests "$name")
	out=$(via "$name" grpc -mode "$mode" "$@")
	printf '%s provider_cpu_ms=%s\n' "$out" "$(awk -v a="$c0" -v b="$(dcpu "$DPID")" \
		-v n=$(($(requests "$name") - n0)) 'BEGIN { printf "%.3f", (b - a) / n }')"
}

# tpm_start: swtpm on a free port pair, the tpm drop-in and providers, once;
# tpm_ok=yes and tpm_url, else tpm_why.
tpm_ok=no tpm_why="needs swtpm, swtpm_setup and ocikp-tpm.so" tpm_url=
tpm_start() {
	local port
	[ "$tpm_ok" = yes ] && return 0
	command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null &&
		[ -f "$tmp/plugins/ocikp-tpm.so" ] || return 1
	mkdir -p "$tmp/tpm/state"
	swtpm_setup --tpm2 --tpmstate "$tmp/tpm/state" --create-ek-cert --overwrite > "$tmp/tpm/setup.log" 2>&1
	port=$(port_pair)
	swtpm socket --tpm2 --tpmstate dir="$tmp/tpm/state" --server type=tcp,port="$port",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear \
		--daemon --pid file="$tmp/tpm/pid"
	for _ in $(seq 50); do [ -s "$tmp/tpm/pid" ] && break; sleep 0.1; done
	conf tpm "$(printf 'backend = tpm\nmodule = ocikp-tpm.so\nschemes = tpm\ntpm.tcti = swtpm:host=127.0.0.1,port=%s' "$port")"
	providers tpm
	tpm_url=$("$build/ocikp" --config-dir="$tmp/conf-tpm" --plugin-dir="$tmp/plugins" tpm ekpub | sed -n 's/^key URL: //p')
	[ -n "$tpm_url" ] || { tpm_why="swtpm started, but no EK key URL"; return 1; }
	tpm_ok=yes
}

# gcp_start: the fake Google services (tests/gcpkms/fake_gcp.py, TLS on
# loopback) with a service account credential, once; gcp_ok=yes, else gcp_why.
gcp_ok=no gcp_why="needs ocikp-gcpkms.so, openssl and python3's cryptography"
gcp_start() {
	[ "$gcp_ok" = yes ] && return 0
	[ -f "$tmp/plugins/ocikp-gcpkms.so" ] && command -v openssl >/dev/null &&
		python3 -c 'import cryptography' 2>/dev/null || return 1
	# the tests' set-up, in a subshell-free way: its at-exit list joins ours
	top_srcdir=$src abs_top_builddir=$build
	. "$src/tests/lib/common.sh"
	. "$src/tests/gcpkms/lib.sh"
	trap 'cleanup; t_cleanup' EXIT
	gcp_setup > /dev/null || return 1
	gcp_isolate
	mkdir -m 755 "$tmp/conf-gcpkms"
	gcp_dropin "$tmp/conf-gcpkms" "gcpkms.credentials = $GCP_DIR/sa.json"
	providers gcpkms
	gcp_ok=yes
}
gcp_pair_conns() { GCP_HS=$(gcp_conns tls_handshakes); GCP_RES=$(gcp_conns tls_resumed); }
gcp_conns() { gcp_ctl /_conns | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

echo "ocikpd against exec through Go ocicrypt (Debian's ocicrypt and grpc-go); $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# --- sample ---------------------------------------------------------------
head -c 32 /dev/urandom > "$tmp/sample.key"
chmod 600 "$tmp/sample.key"
conf sample "$(printf 'backend = sample\nmodule = ocikp-sample.so\nschemes = sample\nsample.key_file = %s' "$tmp/sample.key")"
providers sample
daemon sample
spid=$DPID
rss0=$(rss_kib "$spid")
K=ocikp:sample://default
g=$(unwrap sample grpc -n "$reqs" -key $K)
rss1=$(rss_kib "$spid")
nreq=$(requests sample)
# The daemon's own time for those unwraps (its log's ms=, request in to answer out).
read -r d50 d99 < <(grep '^ocikpd: UnWrapKey ' "$tmp/ocikpd-sample.log" | tail -n "$reqs" |
	sed 's/.* ms=\([^ ]*\).*/\1/' | sort -n |
	awk '{ a[NR] = $1 } END { printf "%.2f %.2f\n", a[int((NR + 1) / 2)], a[int(NR * 0.99 + 0.99)] }')
gp=$(unwrap sample grpc -n "$few" -parallel 8 -key $K)
gr=$(unwrap sample rpc -n "$few" -key $K)
e=$(unwrap sample exec -n "$exec_n" -key $K)
echo
echo "sample unwrap (one DecryptLayer =          wall time                   CPU ms per request"
echo "  one UnWrapKey)                            p50 ms   p99 ms    req/s    client  provider"
urow() {	# urow LABEL LINE
	printf '  %-38s %9.3f %8.3f %8.0f %9.3f %9.3f\n' "$1" "$(field p50_ms <<< "$2")" "$(field p99_ms <<< "$2")" \
		"$(field rps <<< "$2")" "$(field cpu_client_ms <<< "$2")" "$(field provider_cpu_ms <<< "$2")"
}
urow "gRPC (ocikpd), $reqs requests" "$g"
urow "gRPC (ocikpd), $few, 8 in flight" "$gp"
urow "gRPC, one kept connection, $few" "$gr"
urow "exec (ocikp), $exec_n requests" "$e"
printf '  %-38s %9.2f %8.2f\n' "ocikpd itself (ms= in its log)" "$d50" "$d99"
printf '  gRPC p50 / exec p50 %.2f; target gRPC p50 <= 0.5 ms: %s\n' \
	"$(ratio "$(field p50_ms <<< "$g")" "$(field p50_ms <<< "$e")")" "$(verdict "$(field p50_ms <<< "$g")" 0.5)"
printf '  ocikpd VmRSS %d KiB at start, %d KiB after %d requests; target <= 8192 KiB: %s\n' \
	"$rss0" "$rss1" "$nreq" "$(verdict "$rss1" 8192)"

c0=$(dcpu "$spid")
ig=$(via sample grpc -mode image -runs "$runs" -key $K)
# the daemon's CPU per round; the untimed first round is in it too
ig="$ig provider_cpu_ms=$(awk -v a="$c0" -v b="$(dcpu "$spid")" -v r="$runs" 'BEGIN { printf "%.1f", (b - a) / (r + 1) }')"
ie=$(via sample exec -mode image -runs "$runs" -key $K)
ie="$ie provider_cpu_ms=$(field cpu_children_ms <<< "$ie")"
ij=$("$B" -mode image -runs "$runs" -jwe -jwe-key rsa)
ic=$("$B" -mode image -runs "$runs" -jwe -jwe-key ec)
jt=$(field total_ms <<< "$ij")
echo
echo "20-layer image (1 KiB layers),           wall time, median of $runs             CPU ms per image"
echo "  encrypted, then decrypted              encrypt   decrypt     total  / JWE RSA    client provider"
irow() {	# irow LABEL LINE
	printf '  %-36s %9.1f %9.1f %9.1f %9s %10.1f %8.1f\n' "$1" "$(field encrypt_ms <<< "$2")" \
		"$(field decrypt_ms <<< "$2")" "$(field total_ms <<< "$2")" "$(ratio "$(field total_ms <<< "$2")" "$jt")" \
		"$(field cpu_client_ms <<< "$2")" "$(field provider_cpu_ms <<< "$2")"
}
irow "sample via ocikpd (gRPC)" "$ig"
irow "sample via exec" "$ie"
kill "$spid"; wait "$spid" 2>/dev/null || true
# image_rows NAME KEY: the same image through that backend's daemon and exec
image_rows() {
	local g e c0
	daemon "$1"
	c0=$(dcpu "$DPID")
	g=$(via "$1" grpc -mode image -runs "$runs" -key "$2")
	g="$g provider_cpu_ms=$(awk -v a="$c0" -v b="$(dcpu "$DPID")" -v r="$runs" 'BEGIN { printf "%.1f", (b - a) / (r + 1) }')"
	kill "$DPID"; wait "$DPID" 2>/dev/null || true
	e=$(via "$1" exec -mode image -runs "$runs" -key "$2")
	e="$e provider_cpu_ms=$(field cpu_children_ms <<< "$e")"
	irow "$1 via ocikpd (gRPC)" "$g"
	irow "$1 via exec" "$e"
}
if tpm_start; then image_rows tpm "ocikp:$tpm_url"; else echo "  tpm: skipped: $tpm_why"; fi
if gcp_start; then image_rows gcpkms "ocikp:gcpkms://$GCP_KEY"; else echo "  gcpkms: skipped: $gcp_why"; fi
irow "JWE, RSA-2048 (built into ocicrypt)" "$ij"
irow "JWE, EC P-256 (built into ocicrypt)" "$ic"
printf '  target ocikpd <= 1.1x JWE (RSA-2048): %s; exec / ocikpd %s\n' \
	"$(verdict "$(ratio "$(field total_ms <<< "$ig")" "$jt")" 1.1)" \
	"$(ratio "$(field total_ms <<< "$ie")" "$(field total_ms <<< "$ig")")"

# --- noisy neighbour: sample unwrap while another client floods ------------
# The flood (tests/daemon/hostile.py, raw HTTP/2): rapid reset (2 x 990
# streams reset at once, again and again), 16 zero-window connections at a
# time, and 48 calls backed up on a 15 ms serial backend (the test mock
# standing in for a TPM).  The sample caller uses one kept connection.
noisy() {
	local py=/usr/bin/python3 mock="$build/tests/mock/.libs/ocikp-mock.so" hc="$src/tests/daemon/grpc_client.py"
	local q n fl=() p
	if ! "$py" -c 'import h2.connection' 2>/dev/null; then
		echo "  noisy neighbour: skipped: needs python3-h2"; return
	fi
	if [ ! -f "$mock" ]; then
		echo "  noisy neighbour: skipped: needs the test mock (make check builds $mock)"; return
	fi
	install -m 0755 "$mock" "$tmp/plugins/"
	conf noisy "$(printf 'backend = sample\nmodule = ocikp-sample.so\nschemes = sample\nsample.key_file = %s\n\nbackend = mock\nmodule = ocikp-mock.so\nschemes = mock\nmock.sleep_ms = 15' "$tmp/sample.key")"
	providers noisy
	req() {	# req URL [DC-PARAM]: an unwrap request for a key wrapped to URL (exec)
		local url=$1
		shift
		printf '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"ocikp":["%s"]},"DecryptConfig":{"Parameters":{}}},"optsdata":"%s"},"keyunwrapparams":{"dc":null,"annotation":null}}' \
			"$(printf %s "$url" | base64 -w0)" "$(printf 0123456789abcdef0123456789abcdef | base64 -w0)" |
			"$build/ocikp" --config-dir="$tmp/conf-noisy" --plugin-dir="$tmp/plugins" |
			"$py" -c 'import json, sys
ann = json.load(sys.stdin)["keywrapresults"]["annotation"]
print(json.dumps({"op": "keyunwrap", "keywrapparams": {"ec": None, "optsdata": None},
                  "keyunwrapparams": {"dc": {"Parameters": {"ocikp": sys.argv[1:]}}, "annotation": ann}}))' "$@"
	}
	req mock://k "$(printf mock://k | base64 -w0)" > "$tmp/munwrap.json"
	req sample://default > "$tmp/sunwrap.json"
	daemon noisy
	q=$(unwrap noisy rpc -n "$noisy_n" -key $K)
	n=unix:$tmp/noisy.sock
	: > "$tmp/flooding"
	( while [ -e "$tmp/flooding" ]; do "$py" "$hc" flood --target "$n" --json "$tmp/munwrap.json" \
		--conns 2 --streams 990 --hold 0.5 > /dev/null 2>&1; done ) & fl+=($!)
	( while [ -e "$tmp/flooding" ]; do "$py" "$hc" zero-window --target "$n" --json "$tmp/sunwrap.json" \
		--conns 16 --grpc-timeout 2S --wait 8 > /dev/null 2>&1; done ) & fl+=($!)
	( while [ -e "$tmp/flooding" ]; do "$py" "$hc" flood --target "$n" --json "$tmp/munwrap.json" \
		--conns 2 --streams 24 --grpc-timeout 30S --after 5 --hold 0 > /dev/null 2>&1; done ) & fl+=($!)
	pids+=("${fl[@]}")
	sleep 2	# the flood under way, the lane backed up
	p=$(unwrap noisy rpc -n "$noisy_n" -key $K)
	rm -f "$tmp/flooding"
	urow "quiet, one kept connection, $noisy_n" "$q"
	urow "while flooded, one kept connection" "$p"
	printf '  noisy p99 / quiet p99 %s; target <= 2: %s (mock calls run: %s)\n' \
		"$(ratio "$(field p99_ms <<< "$p")" "$(field p99_ms <<< "$q")")" \
		"$(verdict "$(ratio "$(field p99_ms <<< "$p")" "$(field p99_ms <<< "$q")")" 2)" \
		"$(grep -c 'backend=mock status=OK' "$tmp/ocikpd-noisy.log" || true)"
	for p in "${fl[@]}"; do wait "$p" 2>/dev/null || true; done
	kill "$DPID"; wait "$DPID" 2>/dev/null || true
}
echo
echo "noisy neighbour: sample unwrap            wall time                   CPU ms per request"
echo "  while another client floods               p50 ms   p99 ms    req/s    client  provider"
noisy

# unwrap_pair NAME KEY GRPC-N EXEC-N [TARGET-RATIO]: gRPC against exec
unwrap_pair() {
	local g e r
	daemon "$1"
	g=$(unwrap "$1" grpc -n "$3" -key "$2")
	${PAIR_HOOK:-:}	# a backend's own figures of the gRPC run
	e=$(unwrap "$1" exec -n "$4" -key "$2")
	r=$(ratio "$(field p50_ms <<< "$g")" "$(field p50_ms <<< "$e")")
	PAIR_G=$g
	urow "$1: gRPC (ocikpd), $3 requests" "$g"
	urow "$1: exec (ocikp), $4 requests" "$e"
	printf '  %s: gRPC p50 / exec p50 %s' "$1" "$r"
	[ -n "${5:-}" ] && printf '; target <= %s: %s' "$5" "$(verdict "$r" "$5")"
	printf '; ocikpd VmRSS %d KiB\n' "$(rss_kib "$DPID")"
	kill "$DPID"; wait "$DPID" 2>/dev/null || true
}
echo
echo "other backends, unwrap                      wall time                   CPU ms per request"
echo "                                            p50 ms   p99 ms    req/s    client  provider"

# --- tpm on swtpm -----------------------------------------------------------
if [ "$tpm_ok" = yes ]; then
	unwrap_pair tpm "ocikp:$tpm_url" "${TPM_N:-100}" "${TPM_EXEC_N:-30}" 0.6
else
	echo "  tpm: skipped: $tpm_why"
fi

# --- gcpkms against the fake Google services ----------------------------------
if [ "$gcp_ok" = yes ]; then
	gcp_ctl /_reset > /dev/null
	PAIR_HOOK=gcp_pair_conns
	unwrap_pair gcpkms "ocikp:gcpkms://$GCP_KEY" "${GCP_N:-300}" "${GCP_EXEC_N:-30}"
	PAIR_HOOK=
	printf '  gcpkms: target gRPC p50 <= 2 ms: %s; the gRPC run made %s TLS connection(s) to the fake (%s resumed)\n' \
		"$(verdict "$(field p50_ms <<< "$PAIR_G")" 2)" "$GCP_HS" "$GCP_RES"
else
	echo "  gcpkms: skipped: $gcp_why"
fi

# --- keychain with a key file -----------------------------------------------
if [ -f "$tmp/plugins/ocikp-keychain.so" ]; then
	conf keychain "$(printf 'backend = keychain\nmodule = ocikp-keychain.so\nschemes = keychain apple-se\nkeychain.key_file = %s' "$tmp/keychain.pem")"
	providers keychain
	pub=$("$build/ocikp" --config-dir="$tmp/conf-keychain" --plugin-dir="$tmp/plugins" \
		keychain create --file "$tmp/keychain.pem" | sed -n 's/^pub=//p')
	unwrap_pair keychain "ocikp:keychain://bench?pub=$pub" "$few" "$exec_n"
else
	echo "  keychain: skipped: needs ocikp-keychain.so"
fi
