#!/usr/bin/env bash
# The tpm backend serving many requests in one process, as in ocikpd: the
# host's pool, driven through tests/tpm/test-reuse one request at a time.
# Later unwraps reuse the ESYS context and the EK handle (fewer TPM
# commands; how much faster is bench/tpm-unwrap.sh's to say); a swtpm killed and restarted between two requests is
# picked up with no reload; an EK handle the TPM no longer has is recovered
# by one retry; a PCR mismatch fails with exec mode's line and is not
# retried; the simulator's socket is free between requests for other
# clients; nothing is left on the TPM at the end.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/tpm/lib.sh"
HARNESS="$abs_top_builddir/tests/tpm/test-reuse"
N=10
tpm_tools_or_skip 15
[ -x "$HARNESS" ] || { t_ok 1 "the harness is built ($HARNESS)"; t_done; exit 1; }
tpm_setup r
STATE="$T_TMP/tpm-r"
PORT=${TCTI_r##*port=}
OPTS='{"symkey":"cmV1c2UtdGhlLXRwbS1jb25uZWN0aW9uLWtleS0zMiE="}'

t_run "" tpm ekpub
URL=$(printf '%s\n' "$T_OUT" | sed -n 's/^key URL: //p')
t_unwrap_request ocikp "$(t_wrap "$OPTS" "$URL")" > "$T_TMP/good.json"
# A PCR 7 policy with a value PCR 7 does not hold (it is all zeros).
PCRS=$(printf '7=%064d' 1 | base64 -w0 | sed 's/+/%2B/g')
t_unwrap_request ocikp "$(t_wrap "$OPTS" "$URL&pcrs=$PCRS")" > "$T_TMP/pcr.json"
t_run "$(cat "$T_TMP/pcr.json")"
EXEC_PCR_LINE=$T_ERR

# swtpm on the same state and ports as tpm_start gave it (not holding the
# harness's FIFOs open: the harness ends at the end of its input).
swtpm_kill() {
	local pid i
	pid=$(cat "$STATE/pid")
	kill "$pid"
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
swtpm_again() {
	rm -f "$STATE/pid"
	swtpm socket --tpm2 --tpmstate dir="$STATE/state" --server type=tcp,port="$PORT",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear \
		--daemon --pid file="$STATE/pid" --log file="$STATE/swtpm.log" 7>&- 8<&- || return 1
	for i in $(seq 50); do [ -s "$STATE/pid" ] && return 0; sleep 0.1; done
	return 1
}

# The harness: one process for the whole test; a request file in, a line
# out, over two FIFOs (fd 7 to it, fd 8 from it).
mkfifo "$T_TMP/h.in" "$T_TMP/h.out"
OCIKP_DEBUG=1 "$HARNESS" < "$T_TMP/h.in" > "$T_TMP/h.out" 2> "$T_TMP/h.err" &
H_PID=$!
t_at_exit "kill $H_PID 2>/dev/null"
exec 7> "$T_TMP/h.in" 8< "$T_TMP/h.out"
req() {	# req FILE: sets R (the harness's answer line)
	R=""
	echo "$1" >&7
	read -r -t 90 -u 8 R
}
unwrap_lines() { grep 'debug: tpm: unwrap: ' "$T_TMP/h.err"; }
last_unwrap() { unwrap_lines | tail -n 1; }
commands_of() { sed -n 's/.*unwrap: \([0-9]*\) TPM commands.*/\1/p'; }
reconnects() { grep -c 'reconnecting, once' "$T_TMP/h.err"; }

# ---- N unwraps: the first sets up the TPM context, the rest reuse it ----------
times=(); okn=0
for i in $(seq $N); do
	req "$T_TMP/good.json"
	case $R in ok\ *) okn=$((okn + 1)); times+=("${R#ok }") ;; *) t_diag "unwrap $i: $R" ;; esac
done
[ "$okn" -eq "$N" ]
t_ok $? "$N unwraps in one process all open ($okn)"
# Timings are for the log only: a test asserts behaviour, never speed.
echo "# host_handle() wall time: ${times[*]} ms"
echo "# TPM commands: first $(unwrap_lines | head -n 1 | commands_of), later $(unwrap_lines | sed -n 2p | commands_of)"
unwrap_lines | head -n 1 | grep -Eq 'in 1 attempt \(opened\)$' &&
[ "$(unwrap_lines | tail -n +2 | grep -c 'in 1 attempt (opened, TPM context kept from an earlier call)$')" -eq $((N - 1)) ] &&
[ "$(unwrap_lines | sed -n 2p | commands_of)" -lt "$(unwrap_lines | head -n 1 | commands_of)" ]
R2=$?
t_ok $R2 "the later ones reuse the TPM context and send fewer TPM commands"
[ $R2 -eq 0 ] || t_diag "$(unwrap_lines)"

# ---- between requests the simulator is free for other clients -----------------
timeout 10 env TPM2TOOLS_TCTI="$TCTI_r" tpm2_getcap handles-persistent > "$T_TMP/persistent" 2>&1
t_ok $? "between two requests another client reaches the swtpm (it serves one client at a time)"

# ---- swtpm killed and restarted between two requests: no reload needed ----------
swtpm_kill && swtpm_again
t_ok $? "swtpm killed and started again on the same state and ports"
req "$T_TMP/good.json"
[[ $R == ok\ * ]]
t_ok $? "the next unwrap after the restart opens, no reload [$R]"

# ---- the TPM gone: exec mode's error; back: served again --------------------------
swtpm_kill
req "$T_TMP/good.json"
[[ $R == "fail "*" 5 ocikp: tpm: no TPM at TCTI '$TCTI_r': "* ]]
t_ok $? "while swtpm is down: exit 5 naming the TCTI, as in exec mode [$R]"
swtpm_again
req "$T_TMP/good.json"
[[ $R == ok\ * ]]
t_ok $? "swtpm back: the next unwrap opens [$R]"

# ---- the kept EK handle no longer on the TPM: one retry, then it opens -------------
before=$(reconnects)
grep -q 0x81010001 "$T_TMP/persistent" &&
TPM2TOOLS_TCTI="$TCTI_r" tpm2_evictcontrol -C o -c 0x81010001 > /dev/null 2>&1
t_ok $? "the persistent RSA EK evicted under the kept handle"
req "$T_TMP/good.json"
[[ $R == ok\ * ]] && [ "$(reconnects)" -eq $((before + 1)) ] &&
last_unwrap | grep -q 'in 2 attempts (opened, TPM context kept'
t_ok $? "the unwrap notices the handle is gone, reconnects once and opens [$R] [$(last_unwrap)]"
req "$T_TMP/good.json"
[[ $R == ok\ * ]] && last_unwrap | grep -q 'in 1 attempt (opened'
t_ok $? "and the next one opens in one attempt (CreatePrimary from the template) [$R]"

# ---- a PCR mismatch: the same line as exec mode, no retry --------------------------
before=$(reconnects)
req "$T_TMP/pcr.json"
[ "${R#fail * 4 }" = "$EXEC_PCR_LINE" ] && [[ $R == "fail "*" 4 "* ]]
t_ok $? "PCR mismatch: exit 4 and exec mode's line [$R] [$EXEC_PCR_LINE]"
[ "$(reconnects)" -eq "$before" ] && last_unwrap | grep -q 'in 1 attempt (failed'
t_ok $? "... not retried [$(last_unwrap)]"

# ---- the end: fini leaves nothing on the TPM ---------------------------------------
exec 7>&-
read -r -t 30 -u 8 R
[ "$R" = done ] && wait "$H_PID"; rc=$?
[ "$R" = done ] && [ "$rc" -eq 0 ]
t_ok $? "the harness frees its pool and exits 0 [$R, exit $rc]"
tpm_clean "$TCTI_r"
t_ok $? "no transient object or session left on the TPM"
t_done
[ "$T_FAILED" -eq 0 ]
