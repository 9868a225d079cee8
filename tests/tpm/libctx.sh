#!/usr/bin/env bash
# A tpm unwrap makes no OpenSSL library context of its own: tpm2-tss 3.2's
# ESAPI made one (a name map, a method store, a DRBG seeded from the OS)
# for every session nonce and every cpHash/rpHash, so an exec unwrap cost
# 75 M instructions and every call in ocikpd about 60 M again.  Counted
# by a preload (tests/tpm/libctx-count.c) in one exec unwrap, with and
# without a PCR policy and on a cold TPM (CreatePrimary), and over several
# unwraps in one process (ocikpd's pool, tests/tpm/test-reuse).
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/tpm/lib.sh"
N=7
tpm_tools_or_skip $N
COUNT="$abs_top_builddir/tests/tpm/.libs/libctx-count.so"
HARNESS="$abs_top_builddir/tests/tpm/test-reuse"
why=""
if [ "$OCIKP" != "$abs_top_builddir/ocikp" ]; then
	why="ocikp runs under a wrapper ($OCIKP)"
elif ldd "$OCIKP" 2>/dev/null | grep -q libasan; then
	why="an ASan build: the sanitizer runtime must be the first preload"
fi
if [ -n "$why" ]; then
	for _ in $(seq $N); do t_skip "library contexts" "$why"; done
	t_done
	exit 0
fi
[ -f "$COUNT" ] && [ -x "$HARNESS" ]
t_ok $? "the counting preload and the harness are built"
tpm_setup l
OPTS='{"symkey":"Y291bnQtdGhlLWxpYnJhcnktY29udGV4dHMtLTMyYnk="}'
REPORT="$T_TMP/libctx.count"

counted() {	# counted CMD...: runs CMD under the preload; the count in $REPORT
	rm -f "$REPORT"
	OCIKP_LIBCTX_REPORT="$REPORT" LD_PRELOAD="$COUNT" "$@"
}
exec_unwrap() {	# exec_unwrap REQUEST-FILE: "opened N" or "failed"
	if counted "$OCIKP" < "$1" 2> "$T_TMP/err" > "$T_TMP/out" &&
		[ "$(t_json_field keyunwrapresults.optsdata < "$T_TMP/out" | base64 -d)" = "$OPTS" ]; then
		echo "opened $(cat "$REPORT")"
	else
		echo failed
		t_diag "$(cat "$T_TMP/err")"
	fi
}

t_run "" tpm ekpub
URL=$(printf '%s\n' "$T_OUT" | sed -n 's/^key URL: //p')
t_unwrap_request ocikp "$(t_wrap "$OPTS" "$URL")" > "$T_TMP/plain.json"
t_run "" tpm ekpub --pcrs 7
URL7=$(printf '%s\n' "$T_OUT" | sed -n 's/^key URL: //p')
t_unwrap_request ocikp "$(t_wrap "$OPTS" "$URL7")" > "$T_TMP/pcr.json"

r=$(exec_unwrap "$T_TMP/plain.json")
[ "$r" = "opened 0" ]
t_ok $? "exec unwrap, persistent EK: opens, no OpenSSL library context made [$r]"
r=$(exec_unwrap "$T_TMP/pcr.json")
[ "$r" = "opened 0" ]
t_ok $? "exec unwrap, PCR 7 policy: opens, none made [$r]"

for _ in 1 2 3 4 5; do echo "$T_TMP/plain.json"; echo "$T_TMP/pcr.json"; done > "$T_TMP/list"
counted "$HARNESS" < "$T_TMP/list" > "$T_TMP/h.out" 2> "$T_TMP/h.err" && n=$(cat "$REPORT") || n=failed
[ "$(grep -c '^ok ' "$T_TMP/h.out")" -eq 10 ] && [ "$n" = 0 ]
t_ok $? "10 unwraps in one process (ocikpd's pool): all open, none made [$n; $(grep -vc '^ok ' "$T_TMP/h.out") other lines]"

TPM2TOOLS_TCTI=$TCTI_l tpm2_evictcontrol -C o -c 0x81010001 > /dev/null
t_ok $? "the persistent RSA EK evicted"
r=$(exec_unwrap "$T_TMP/plain.json")
[ "$r" = "opened 0" ]
t_ok $? "exec unwrap on a cold TPM (CreatePrimary): opens, none made [$r]"
tpm_clean "$TCTI_l"
t_ok $? "nothing left on the TPM"
t_done
