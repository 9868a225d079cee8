# Shared helpers for ocikp's shell tests.  Source it; every test prints TAP.
#
# The Makefile exports:
#   OCIKP          the built ocikp binary
#   OCIKP_MODULES  the built backend modules (.so), space separated
#   top_srcdir, abs_top_builddir
#   OCIKP_FIXTURES tests/fixtures: annotations made by the other providers
set -u

T_NUM=0
T_FAILED=0
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ocikp-test.XXXXXX")
chmod 755 "$T_TMP"
trap 't_cleanup' EXIT
T_CLEANUPS=()

t_cleanup() {
	local c
	for c in "${T_CLEANUPS[@]+"${T_CLEANUPS[@]}"}"; do eval "$c" || true; done
	rm -rf "$T_TMP"
}

# Register a command to run at exit (e.g. killing a server).
t_at_exit() { T_CLEANUPS+=("$1"); }

t_plan() { echo "1..$1"; }
t_done() { echo "1..$T_NUM"; }

t_ok() {	# t_ok COND-STATUS DESCRIPTION
	T_NUM=$((T_NUM + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T_NUM - $2"
	else echo "not ok $T_NUM - $2"; T_FAILED=$((T_FAILED + 1)); fi
}

t_skip() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $1 # SKIP ${2:-}"; }

t_diag() { printf '# %s\n' "$@" >&2; }

# A fresh plugin dir holding copies of the built modules, mode 0755 files in
# a 0755 dir, as the loader demands.  Prints its path.
t_plugin_dir() {
	local d m
	d=$(mktemp -d "$T_TMP/plugins.XXXXXX")
	chmod 755 "$d"
	for m in $OCIKP_MODULES; do
		[ -f "$m" ] && install -m 0755 "$m" "$d/"
	done
	echo "$d"
}

# A fresh, empty drop-in dir.  Prints its path.
t_conf_dir() {
	local d
	d=$(mktemp -d "$T_TMP/conf.XXXXXX")
	chmod 755 "$d"
	echo "$d"
}

# A sample key file (32 random bytes, mode 0600).  Prints its path.
t_sample_key() {
	local f="$T_TMP/sample-$RANDOM$RANDOM.key"
	head -c 32 /dev/urandom > "$f"
	chmod 600 "$f"
	echo "$f"
}

b64() { base64 -w0; }

# Protocol requests as ocicrypt writes them.
t_wrap_request() {	# t_wrap_request PROVIDER OPTSDATA PARAM...
	local name=$1 opts=$2 p list="" sep=""
	shift 2
	for p in "$@"; do list="$list$sep\"$(printf '%s' "$p" | b64)\""; sep=","; done
	printf '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"%s":[%s]},"DecryptConfig":{"Parameters":{}}},"optsdata":"%s"},"keyunwrapparams":{"dc":null,"annotation":null}}' \
		"$name" "$list" "$(printf '%s' "$opts" | b64)"
}

t_unwrap_request() {	# t_unwrap_request PROVIDER ANNOTATION-B64 [DCPARAM...]
	local name=$1 ann=$2 p list="" sep=""
	shift 2
	for p in "$@"; do list="$list$sep\"$(printf '%s' "$p" | b64)\""; sep=","; done
	printf '{"op":"keyunwrap","keywrapparams":{"ec":null,"optsdata":null},"keyunwrapparams":{"dc":{"Parameters":{"%s":[%s]}},"annotation":"%s"}}' \
		"$name" "$list" "$ann"
}

# t_run STDIN-TEXT ARGS... : runs ocikp, sets T_RC, T_OUT, T_ERR.
t_run() {
	local input=$1
	shift
	printf '%s' "$input" > "$T_TMP/stdin"
	"$OCIKP" "$@" < "$T_TMP/stdin" > "$T_TMP/stdout" 2> "$T_TMP/stderr"
	T_RC=$?
	T_OUT=$(cat "$T_TMP/stdout")
	T_ERR=$(cat "$T_TMP/stderr")
}

# Extract a JSON string field with python3 (tests only).  ocikp's own
# answer, {"keywrapresults":{"annotation":"B64"}} and the like, is read in
# bash: a python3 start per t_wrap and t_unwrap added up across the suite.
t_json_field() {	# t_json_field PATH.TO.FIELD < json
	local in re='^\{"([a-z]+)":\{"([a-z]+)":"([A-Za-z0-9+/=]*)"\}\}$'
	in=$(cat)
	if [[ $in =~ $re ]] && [ "$1" = "${BASH_REMATCH[1]}.${BASH_REMATCH[2]}" ]; then
		printf '%s\n' "${BASH_REMATCH[3]}"
		return 0
	fi
	printf '%s' "$in" | python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"
}

# t_expect_fail DESC EXIT-CODE STDERR-ERE STDIN ARGS...
# Asserts: that exit code, empty stdout, exactly one stderr line matching.
t_expect_fail() {
	local desc=$1 code=$2 re=$3 input=$4 lines
	shift 4
	t_run "$input" "$@"
	lines=$(printf '%s' "$T_ERR" | grep -c '' || true)
	if [ "$T_RC" -eq "$code" ] && [ -z "$T_OUT" ] && [ "$lines" -eq 1 ] &&
	   printf '%s' "$T_ERR" | grep -Eq -- "$re"; then
		t_ok 0 "$desc"
	else
		t_ok 1 "$desc"
		t_diag "want exit $code, stderr /$re/, empty stdout" \
		       "got exit $T_RC, stdout [${T_OUT:0:200}]" "stderr [$T_ERR]"
	fi
}

# A ready environment: plugin dir P, drop-in dir C with the sample backend
# (key K) and the mock backend, exported as OCIKP_PLUGIN_DIR/OCIKP_CONFIG_DIR.
t_setup() {
	P=$(t_plugin_dir)
	C=$(t_conf_dir)
	K=$(t_sample_key)
	printf 'backend = sample\nmodule = ocikp-sample.so\nschemes = sample\nsample.key_file = %s\n' \
		"$K" > "$C/50-sample.conf"
	printf 'backend = mock\nmodule = ocikp-mock.so\nschemes = mock\n' > "$C/50-mock.conf"
	export OCIKP_PLUGIN_DIR="$P" OCIKP_CONFIG_DIR="$C"
}

# Wrap OPTSDATA for PARAM...; prints the base64 annotation (empty on failure).
t_wrap() {
	local opts=$1
	shift
	t_run "$(t_wrap_request ocikp "$opts" "$@")"
	[ "$T_RC" -eq 0 ] && printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation
}

# Unwrap ANNOTATION-B64 with DCPARAM...; prints the decoded optsdata.
t_unwrap() {
	local ann=$1
	shift
	t_run "$(t_unwrap_request ocikp "$ann" "$@")"
	[ "$T_RC" -eq 0 ] && printf '%s' "$T_OUT" | t_json_field keyunwrapresults.optsdata | base64 -d
}

# The Go ocicrypt client (tests/go), built once per build tree; parallel tests
# wait on a lock.  Sets E2E to its path, or returns 77 with T_E2E_WHY set.
t_e2e_client() {
	local dir="$abs_top_builddir/tests/go/bin" rc=0
	mkdir -p "$dir"
	exec 9> "$dir/.lock"
	flock 9
	if [ ! -x "$dir/ocikp-e2e" ] || [ "$top_srcdir/tests/go/src/ocikp-e2e/main.go" -nt "$dir/ocikp-e2e" ]; then
		T_E2E_WHY=$("$top_srcdir/tests/go/build.sh" "$dir" 2>&1) || rc=$?
	fi
	exec 9>&-
	E2E="$dir/ocikp-e2e"
	[ "$rc" -eq 0 ] && return 0
	[ "$rc" -eq 77 ] && return 77
	T_E2E_WHY="build failed: $T_E2E_WHY"
	return 1
}

# An ocicrypt.json naming ocikp under each NAME given, with extra args.
# t_keyprovider_config FILE "ARGS" NAME...
t_keyprovider_config() {
	local file=$1 args=$2 name sep="" json=""
	shift 2
	for name in "$@"; do
		json="$json$sep\"$name\":{\"cmd\":{\"path\":\"$OCIKP\",\"args\":[\"--provider=$name\"$args]}}"
		sep=","
	done
	printf '{"key-providers":{%s}}\n' "$json" > "$file"
}

# t_e2e DESC NAME CONF-DIR CLIENT-ARGS...: one TAP line for an ocicrypt run
# through ocikp configured as provider NAME (plugin dir $OCIKP_PLUGIN_DIR).
# SKIP without the Go client, FAIL instead under CI.
t_e2e() {
	local desc=$1 name=$2 conf=$3 rc=0
	shift 3
	if ! t_e2e_client; then
		if [ "${CI:-}" = true ]; then t_ok 1 "$desc: ${T_E2E_WHY:-}"; else t_skip "$desc" "${T_E2E_WHY:-}"; fi
		return
	fi
	t_keyprovider_config "$T_TMP/ocicrypt-$name.json" \
		",\"--config-dir=$conf\",\"--plugin-dir=$OCIKP_PLUGIN_DIR\"" "$name"
	OCICRYPT_KEYPROVIDER_CONFIG="$T_TMP/ocicrypt-$name.json" "$E2E" "$@" > "$T_TMP/e2e.out" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || t_diag "$(cat "$T_TMP/e2e.out")"
	t_ok "$rc" "$desc"
}

# The LD_PRELOAD shim (tests/shim/ocikp-shim.c) in SHIM.  Returns 77 with
# T_SHIM_WHY when this run cannot preload it into ocikp (an ASan build, whose
# runtime must come first, or ocikp under a wrapper); 1 if it is not built.
t_shim() {
	SHIM="$abs_top_builddir/tests/shim/.libs/ocikp-shim.so"
	if [ "$OCIKP" != "$abs_top_builddir/ocikp" ]; then
		T_SHIM_WHY="ocikp runs under a wrapper ($OCIKP)"; return 77
	elif ldd "${OCIKP:-}" 2>/dev/null | grep -q libasan; then
		T_SHIM_WHY="an ASan build: the sanitizer runtime must be the first preload"; return 77
	elif [ ! -f "$SHIM" ]; then
		T_SHIM_WHY="the shim is not built ($SHIM)"; return 1
	fi
}

# For a test that is all about the shim: SKIP it, or FAIL if the shim is missing.
t_shim_or_skip() {
	local rc=0
	t_shim || rc=$?
	[ $rc -eq 0 ] && return 0
	[ $rc -eq 77 ] && { echo "1..0 # SKIP $T_SHIM_WHY"; exit 0; }
	echo "1..1"; echo "not ok 1 - $T_SHIM_WHY"; exit 1
}

# Hex of stdin, for OCIKP_SHIM_SECRETS.
hex() { od -An -tx1 -v | tr -d ' \n'; }

# t_shim_run SECRETS-HEX STDIN ARGS...: ocikp under the shim; T_RC, T_OUT,
# T_ERR as t_run, and the shim's report in $REPORT (default $T_TMP/shim.report).
# Call t_shim first (it sets SHIM).
t_shim_run() {
	local secrets=$1 input=$2
	shift 2
	: "${REPORT:=$T_TMP/shim.report}"
	rm -f "$REPORT"
	printf '%s' "$input" > "$T_TMP/stdin"
	OCIKP_SHIM_REPORT="$REPORT" OCIKP_SHIM_SECRETS="$secrets" LD_PRELOAD="$SHIM" \
		"$OCIKP" "$@" < "$T_TMP/stdin" > "$T_TMP/stdout" 2> "$T_TMP/stderr"
	T_RC=$?
	T_OUT=$(cat "$T_TMP/stdout")
	T_ERR=$(cat "$T_TMP/stderr")
}

# t_shim_ok DESC EXIT-CODE N-SECRETS: the run exited so, the shim reported at
# exit with every secret armed, found none anywhere (ocikp, its modules and
# the libraries they use alike), and saw a non-dumpable process.  (Open
# descriptors are tests/load.sh's.)
t_shim_ok() {
	local desc=$1 code=$2 want=$3 line
	line=$(grep '^exit ' "$REPORT" 2>/dev/null)
	if [ "$T_RC" -eq "$code" ] && [ -n "$line" ] && ! grep -q '^error' "$REPORT" &&
	   ! grep -q '^hit' "$REPORT" &&
	   [[ "$line" == *" hits=0 secrets=$want" ]] && [[ "$line" == "exit dumpable=0 "* ]]; then
		t_ok 0 "$desc"
	else
		t_ok 1 "$desc"
		t_diag "exit $T_RC (want $code), stderr: $T_ERR" "shim report:" "$(cat "$REPORT" 2>/dev/null)"
	fi
}

# T_SLACK: how many times an idle machine's wall time a bound may allow.
# A test asserts behaviour, never speed; where a bound IS the behaviour (a
# deadline fires, a wait is not skipped), its upper end is scaled by
# T_SLACK, so the suite passes on a loaded machine (a build daemon, CI
# with CPU burners beside it).  Larger under valgrind and ASan; set it in
# the environment to override.  Exported for the C drivers (tests/unit/tap.h).
if [ -z "${T_SLACK:-}" ]; then
	T_SLACK=4
	if [ "${OCIKP_WRAPPER:-}${OCIKPD_WRAPPER:-}" != "" ]; then
		T_SLACK=20
	elif ldd "${OCIKP:-}" 2> /dev/null | grep -q libasan; then
		T_SLACK=8
	fi
fi
export T_SLACK

# t_slack MS: MS times T_SLACK, for the upper end of a time bound.
t_slack() { echo $(( $1 * T_SLACK )); }
