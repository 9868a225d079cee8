#!/usr/bin/env bash
# Load and faults on one swtpm: 64 unwraps, 16 at a time, all succeed or
# fail cleanly as "TPM busy" and leave no object or session behind; a TPM
# killed mid-unwrap gives one error line and no partial answer.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/tpm/lib.sh"
N=5
tpm_tools_or_skip $N
tpm_setup p
OPTS='{"symkey":"cGFyYWxsZWwtdW53cmFwLWtleS0zMi1ieXRlcy1sb25nIQ=="}'
t_run "" tpm ekpub --pcrs 7
URL=$(printf '%s\n' "$T_OUT" | sed -n 's/^key URL: //p')
ann=$(t_wrap "$OPTS" "$URL")
t_unwrap_request ocikp "$ann" > "$T_TMP/req.json"
mkdir "$T_TMP/runs"
one() {	# one I: an unwrap, its exit code, stdout and stderr kept
	"$OCIKP" < "$T_TMP/req.json" > "$T_TMP/runs/$1.out" 2> "$T_TMP/runs/$1.err"
	echo $? > "$T_TMP/runs/$1.rc"
}
export -f one
export OCIKP T_TMP
# 64: four times as many execs as run at once keeps 16 contending for the
# TPM all along; 200 took over a minute on a loaded machine
RUNS=64
start=$(date +%s)
seq $RUNS | xargs -P 16 -I{} bash -c 'one {}'
secs=$(( $(date +%s) - start ))
ok=0; busy=0; bad=0
for i in $(seq $RUNS); do
	rc=$(cat "$T_TMP/runs/$i.rc")
	if [ "$rc" -eq 0 ] && grep -q keyunwrapresults "$T_TMP/runs/$i.out" && [ ! -s "$T_TMP/runs/$i.err" ]; then
		ok=$((ok + 1))
	elif [ "$rc" -eq 5 ] && [ ! -s "$T_TMP/runs/$i.out" ] && grep -q 'TPM busy.*retry' "$T_TMP/runs/$i.err" &&
	     [ "$(wc -l < "$T_TMP/runs/$i.err")" -eq 1 ]; then
		busy=$((busy + 1))
	else
		bad=$((bad + 1)); t_diag "run $i: exit $rc: $(cat "$T_TMP/runs/$i.err")"
	fi
done
t_diag "$RUNS unwraps, 16 at a time, ${secs}s: $ok opened, $busy TPM busy, $bad other"
[ "$bad" -eq 0 ] && [ "$ok" -gt 0 ]
t_ok $? "$RUNS parallel unwraps: each opens or fails as a retryable 'TPM busy' ($ok ok, $busy busy)"
tpm_clean "$TCTI_p"
t_ok $? "afterwards no transient object or session is left"

# Kill the TPM at varying points of an unwrap: either it finished, or one
# error line, a non-zero exit and nothing on stdout.
clean=0
for delay in 0.002 0.005 0.01 0.02 0.04; do
	tpm_start "k${delay#0.}" >/dev/null 2>&1 || continue
	eval tcti=\$TCTI_k${delay#0.}
	conf=$(tpm_conf "$tcti")
	OCIKP_CONFIG_DIR=$conf "$OCIKP" < "$T_TMP/req.json" > "$T_TMP/k.out" 2> "$T_TMP/k.err" &
	pid=$!
	sleep "$delay"
	kill -9 "$(cat "$T_TMP/tpm-k${delay#0.}/pid")"
	wait "$pid"; rc=$?
	if { [ "$rc" -eq 0 ] && grep -q keyunwrapresults "$T_TMP/k.out"; } ||
	   { [ "$rc" -ne 0 ] && [ ! -s "$T_TMP/k.out" ] && [ "$(wc -l < "$T_TMP/k.err")" -eq 1 ]; }; then
		clean=$((clean + 1))
	else
		t_diag "kill after ${delay}s: exit $rc, stdout $(wc -c < "$T_TMP/k.out") bytes, stderr: $(cat "$T_TMP/k.err")"
	fi
done
[ "$clean" -eq 5 ]
t_ok $? "swtpm killed mid-unwrap (5 timings): finished, or one error line and no partial JSON"
t_expect_fail "a dead TPM afterwards: exit 5 naming the TCTI" 5 "no TPM at TCTI" "$(cat "$T_TMP/req.json")" --config-dir="$conf"
kill -9 "$(cat "$T_TMP/tpm-p/pid")"
t_expect_fail "the TPM dies between execs: exit 5" 5 "no TPM at TCTI '$TCTI_p'" "$(cat "$T_TMP/req.json")"
t_done
[ "$T_FAILED" -eq 0 ]
