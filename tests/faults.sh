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
[ "$rc" -eq 3 ] && [ ! -s "$T_TMP/o" ] && grep -q 'request: empty$' "$T_TMP/e"
t_ok $? "stdin closed at once: exit 3"
mkdir -m 700 "$T_TMP/keydir"
C2=$(t_conf_dir); printf 'sample.key_file = %s\n' "$T_TMP/keydir" > "$C2/50-sample.conf"
t_expect_fail "key file that cannot be read as one (a directory)" 6 "key file .*keydir: not a regular file" \
	"$REQ" --config-dir="$C2"

# stdout a non-blocking pipe (the flag belongs to the shared file, so the
# caller's choice is ours), read slowly: an answer larger than the pipe
# buffer must still arrive whole, not stop at 64 KiB with EAGAIN.
slow_reader() {	# slow_reader STDIN-FILE ARGS... : prints rc, then what was read
	python3 - "$@" <<'PY'
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
p = subprocess.Popen([os.environ["OCIKP"]] + sys.argv[2:], stdin=open(sys.argv[1], "rb"),
                     stdout=w, stderr=subprocess.PIPE)
os.close(w)
time.sleep(0.5)           # let the pipe fill first
data = b""
while True:
    chunk = os.read(r, 4096)
    if not chunk:
        break
    data += chunk
    time.sleep(0.002)
p.wait()
sys.stderr.write(p.stderr.read().decode())
sys.stdout.write("%d\n" % p.returncode)
sys.stdout.buffer.write(data)
PY
}
head -c 150000 /dev/urandom | base64 -w0 > "$T_TMP/big"
BIG=$(printf '{"symkey":"%s"}' "$(cat "$T_TMP/big")")
t_wrap_request ocikp "$BIG" sample://default > "$T_TMP/bigreq.json"
slow_reader "$T_TMP/bigreq.json" > "$T_TMP/slow.out" 2> "$T_TMP/slow.err"
[ "$(head -n1 "$T_TMP/slow.out")" = 0 ] && [ ! -s "$T_TMP/slow.err" ] &&
	tail -n +2 "$T_TMP/slow.out" | python3 -c '
import json,sys,base64
d=json.load(sys.stdin); a=base64.b64decode(d["keywrapresults"]["annotation"])
assert len(a) > 200000 and json.loads(a)["key_url"]=="sample://default"'
t_ok $? "a wrap answer of $(($(stat -c %s "$T_TMP/slow.out") / 1024)) KiB on a non-blocking, slowly read stdout arrives whole and valid"
ann=$(tail -n +2 "$T_TMP/slow.out" | t_json_field keywrapresults.annotation)
t_unwrap_request ocikp "$ann" > "$T_TMP/bigunwrap.json"
slow_reader "$T_TMP/bigunwrap.json" > "$T_TMP/slow.out" 2> "$T_TMP/slow.err"
[ "$(head -n1 "$T_TMP/slow.out")" = 0 ] &&
	[ "$(tail -n +2 "$T_TMP/slow.out" | t_json_field keyunwrapresults.optsdata | base64 -d)" = "$BIG" ]
t_ok $? "and the unwrap answer too: the exact optsdata"

# A non-blocking stdin written in pieces: EAGAIN means wait, not fail.
python3 - "$OCIKP" "$REQ" > "$T_TMP/nbin.out" 2>&1 <<'PY'
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_NONBLOCK)
p = subprocess.Popen([sys.argv[1]], stdin=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
os.close(r)
req = sys.argv[2].encode()
os.write(w, req[:30]); time.sleep(0.3); os.write(w, req[30:]); os.close(w)
out, err = p.communicate(timeout=20)
print(p.returncode, len(out), err.decode().strip())
PY
read -r rc n rest < "$T_TMP/nbin.out"
[ "$rc" = 0 ] && [ "$n" -gt 0 ] && [ -z "$rest" ]
t_ok $? "a non-blocking stdin written in two pieces is read whole ($(cat "$T_TMP/nbin.out"))"
t_done
[ "$T_FAILED" -eq 0 ]
