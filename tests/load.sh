#!/usr/bin/env bash
# Load, bounded and local: 1000 sequential sample wraps and 1000 unwraps
# (OCIKP_LOAD_N to change), each exec of the real ocikp reporting through
# tests/shim/ocikp-shim.so at exit: its peak RSS (VmHWM), the file
# descriptors it left open, and whether it is dumpable.  Every answer must be
# right, RSS flat from the first exec to the last, the same descriptors open,
# and nothing left behind in TMPDIR.
. "$top_srcdir/tests/lib/common.sh"
N=${OCIKP_LOAD_N:-1000}

t_shim_or_skip

t_setup
OPTS='{"symkey":"bG9hZC10ZXN0LWtleS1vZi0zMi1ieXRlcy1sb25nISE=","digest":""}'
WRAP="$T_TMP/wrap.json"
UNWRAP="$T_TMP/unwrap.json"
t_wrap_request ocikp "$OPTS" sample://default > "$WRAP"
ann=$(t_wrap "$OPTS" sample://default)
t_unwrap_request ocikp "$ann" > "$UNWRAP"
"$OCIKP" < "$UNWRAP" > "$T_TMP/want" 2>&1
[ "$(t_json_field keyunwrapresults.optsdata < "$T_TMP/want" | base64 -d)" = "$OPTS" ]
t_ok $? "the unwrap answer every exec must repeat opens to the options"

RUN_TMP="$T_TMP/tmpdir"
mkdir -m 700 "$RUN_TMP"
WRAP_REPORT="$T_TMP/wrap.report"
UNWRAP_REPORT="$T_TMP/unwrap.report"
bad_wrap=0 bad_unwrap=0
start=$(date +%s.%N)
for i in $(seq "$N"); do
	TMPDIR="$RUN_TMP" OCIKP_SHIM_REPORT="$WRAP_REPORT" LD_PRELOAD="$SHIM" \
		"$OCIKP" < "$WRAP" > "$T_TMP/out" 2> "$T_TMP/err" || bad_wrap=$((bad_wrap + 1))
	case "$(head -c 33 "$T_TMP/out")" in '{"keywrapresults":{"annotation":"') ;;
		*) bad_wrap=$((bad_wrap + 1)) ;; esac
	[ -s "$T_TMP/err" ] && bad_wrap=$((bad_wrap + 1))
	TMPDIR="$RUN_TMP" OCIKP_SHIM_REPORT="$UNWRAP_REPORT" LD_PRELOAD="$SHIM" \
		"$OCIKP" < "$UNWRAP" > "$T_TMP/out" 2> "$T_TMP/err" || bad_unwrap=$((bad_unwrap + 1))
	cmp -s "$T_TMP/out" "$T_TMP/want" || bad_unwrap=$((bad_unwrap + 1))
	[ -s "$T_TMP/err" ] && bad_unwrap=$((bad_unwrap + 1))
done
end=$(date +%s.%N)
t_diag "$((2 * N)) execs in $(echo "$start $end" | awk '{ printf "%.1f s", $2 - $1 }')"
[ "$bad_wrap" -eq 0 ]
t_ok $? "$N sequential wraps: every one exit 0, an annotation on stdout, nothing on stderr ($bad_wrap bad)"
[ "$bad_unwrap" -eq 0 ]
t_ok $? "$N sequential unwraps: every answer the same, nothing on stderr ($bad_unwrap bad)"

# check REPORT WHAT: the shim's exit lines, one per exec
check() {
	local report=$1 what=$2 lines
	lines=$(grep -c '^exit ' "$report")
	[ "$lines" -eq "$N" ]
	t_ok $? "$what: the shim reported from every exec ($lines of $N)"
	! grep '^exit ' "$report" | grep -qv '^exit dumpable=0 '
	t_ok $? "$what: every process set PR_SET_DUMPABLE 0"
	# One descriptor stays open by design: the module's, which the loader
	# dlopened as /proc/self/fd/N (host/loader.c says why).
	! grep '^exit ' "$report" | grep -qv ' fds=1 ' &&
		! grep '^open ' "$report" | grep -qv ' target=.*/ocikp-sample\.so$'
	t_ok $? "$what: at exit, every exec has exactly one descriptor open beyond 0-2: the loaded module's"
	# Flat: the median peak RSS of the last tenth of the execs is within
	# 64 KiB of the first tenth's (each exec is a fresh process, so growth
	# would be state kept between runs), and no exec strays more than
	# 256 KiB from the overall median.  Single execs jitter by about 180 KiB
	# (ASLR, page granularity), so peaks are not compared one to one.
	sed -n 's/.* vmhwm_kb=\([0-9]*\) .*/\1/p' "$report" > "$T_TMP/hwm"
	median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
	sort -n "$T_TMP/hwm" | awk -v n="$N" -v what="$what" \
		-v first="$(head -n $((N / 10)) "$T_TMP/hwm" | median)" \
		-v last="$(tail -n $((N / 10)) "$T_TMP/hwm" | median)" '
		{ s[NR] = $1 }
		END {
			med = s[int((NR + 1) / 2)]; lo = s[1]; hi = s[NR]
			d = last - first; if (d < 0) d = -d
			printf "# %s VmHWM: median %d KiB, min %d, max %d; first tenth median %d, last tenth median %d\n",
				what, med, lo, hi, first, last > "/dev/stderr"
			exit !(NR == n && d <= 64 && hi - med <= 256 && med - lo <= 256)
		}'
	t_ok $? "$what: peak RSS flat across the $N execs"
}
check "$WRAP_REPORT" wrap
check "$UNWRAP_REPORT" unwrap
[ -z "$(ls -A "$RUN_TMP")" ]
t_ok $? "nothing left in TMPDIR after $((2 * N)) execs"
t_done
[ "$T_FAILED" -eq 0 ]
