#!/usr/bin/env bash
# Faults around the exec: the reader of stdout gone (EPIPE, SIGPIPE), stdin
# unreadable.  Each ends with one error line, a non-zero exit, no partial answer.
. "$top_srcdir/tests/lib/common.sh"
t_setup
REQ=$(t_wrap_request ocikp '{"symkey":"AAAA"}' sample://default)
printf '%s' "$REQ" > "$T_TMP/req.json"

# stdout is a pipe whose reader has closed it: the write fails with EPIPE;
# ocikp ignores SIGPIPE so it reports that instead of dying silently.
python3 - "$OCIKP" "$T_TMP/req.json" > "$T_TMP/epipe.out" <<'PY'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run([sys.argv[1]], stdin=open(sys.argv[2], "rb"), stdout=w, stderr=subprocess.PIPE)
print(p.returncode)
print(p.stderr.decode().rstrip("\n"))
PY
rc=$(sed -n 1p "$T_TMP/epipe.out"); err=$(sed -n '2,$p' "$T_TMP/epipe.out")
[ "$rc" = 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
	printf '%s' "$err" | grep -q '^ocikp: cannot write the answer: Broken pipe$'
t_ok $? "stdout reader gone: exit 1 and one line 'cannot write the answer: Broken pipe' (not killed by SIGPIPE)"
"$OCIKP" < "$T_TMP" > "$T_TMP/o" 2> "$T_TMP/e"; rc=$?
[ "$rc" -eq 3 ] && [ ! -s "$T_TMP/o" ] && grep -q '^ocikp: request: cannot read stdin: Is a directory$' "$T_TMP/e"
t_ok $? "stdin unreadable: exit 3, one line naming the cause"
"$OCIKP" < /dev/null > "$T_TMP/o" 2> "$T_TMP/e"; rc=$?
[ "$rc" -eq 3 ] && [ ! -s "$T_TMP/o" ] && grep -q 'request: empty stdin' "$T_TMP/e"
t_ok $? "stdin closed at once: exit 3"
mkdir -m 700 "$T_TMP/keydir"
C2=$(t_conf_dir); printf 'sample.key_file = %s\n' "$T_TMP/keydir" > "$C2/50-sample.conf"
t_expect_fail "key file that cannot be read as one (a directory)" 6 "key file .*keydir: not a regular file" \
	"$REQ" --config-dir="$C2"
t_done
[ "$T_FAILED" -eq 0 ]
