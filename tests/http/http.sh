#!/bin/bash
# lib/http.c against a local HTTPS server: makes two test CAs and server
# certificates, starts tests/http/server.py on random loopback ports and runs
# the C driver tests/http/test-http, which prints the TAP.
. "$top_srcdir/tests/lib/common.sh"

D="$T_TMP/http"
mkdir -p "$D"

for tool in openssl python3; do
	command -v $tool > /dev/null || { echo "1..0 # SKIP $tool not found"; exit 0; }
done

. "$top_srcdir/tests/lib/fake.sh"
# Two CAs ("b" signs nothing: a CA the server is not from), a certificate
# for localhost and 127.0.0.1 and one for other.invalid only, both from "a".
if ! { fake_ca "$D" a-ca "ocikp test CA a" && fake_ca "$D" b-ca "ocikp test CA b" &&
       fake_leaf "$D" server a-ca "DNS:localhost,IP:127.0.0.1" &&
       fake_leaf "$D" other a-ca "DNS:other.invalid"; }; then
	echo "1..1"; echo "not ok 1 - test certificates: $(cat "$D/openssl.err")"; exit 1
fi

if ! fake_start "$D" "$top_srcdir/tests/http/server.py"; then
	echo "1..1"; echo "not ok 1 - test server did not start: $(cat "$D/server.err")"; exit 1
fi

# The driver runs under the LD_PRELOAD shim (tests/shim/ocikp-shim.c) told
# the bearer token, which libcurl copies into header lists and send buffers:
# on the host's cleansing allocator, no freed block and nothing left at
# exit may hold it.  Its TAP gets one more line for that, then the plan.
: "${OCIKP:=$abs_top_builddir/ocikp}"
TOKEN_HEX=$(printf 'S3CRET-TOKEN-MARK' | od -An -tx1 | tr -d ' \n')
REPORT="$D/shim.report"
shim_rc=0
t_shim || shim_rc=$?
if [ $shim_rc -eq 0 ]; then
	OCIKP_SHIM_REPORT="$REPORT" OCIKP_SHIM_SECRETS="$TOKEN_HEX" LD_PRELOAD="$SHIM" \
		"$abs_top_builddir/tests/http/test-http" "$D" > "$D/tap"
else
	"$abs_top_builddir/tests/http/test-http" "$D" > "$D/tap"
fi
rc=$?
grep -v '^1\.\.' "$D/tap"
T_NUM=$(grep -cE '^(not )?ok ' "$D/tap")
if [ $shim_rc -eq 77 ]; then
	t_skip "the token is wiped from libcurl's memory" "$T_SHIM_WHY"
elif [ $shim_rc -ne 0 ]; then
	t_ok 1 "the token is wiped from libcurl's memory: $T_SHIM_WHY"
else
	grep -q ' hits=0 secrets=1$' "$REPORT" 2> /dev/null
	r=$?
	[ $r -eq 0 ] || t_diag "shim report:" "$(cat "$REPORT" 2> /dev/null)"
	t_ok $r "the token is wiped from libcurl's memory: no freed block or memory at exit held it"
fi
t_done
[ $rc -eq 0 ] && [ $T_FAILED -eq 0 ]
