#!/bin/bash
# Access tokens kept in memory while the gcpkms backend stays loaded, as
# ocikpd keeps it: tests/gcpkms/test-memcache runs the wraps in one process
# through host/pool.c, against the fake Google services, and calls a hook
# after each one that records the fake's counters and the token files, and
# removes the token file or revokes tokens on cue.
#   one token request for 20 wraps; no file read or written for a token
#   once warm, even with the file gone; a 401 drops the token in memory
#   (and the file's, when it is the same) and fetches once; the 5-minute
#   margin holds in memory; after fini no token is left in the process
#   (the LD_PRELOAD shim, as tests/gcpkms/secrets.sh uses it).
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/gcpkms/lib.sh"
set -u

HARNESS="$abs_top_builddir/tests/gcpkms/test-memcache"
t_setup
gcp_setup || { echo "1..1"; echo "not ok 1 - fake Google services: $(cat "$GCP_DIR/server.err" 2>/dev/null)"; exit 1; }
gcp_isolate
gcp_dropin "$C" "gcpkms.credentials = $GCP_DIR/sa.json"
KEY="gcpkms://$GCP_KEY"
export GCP_CACHE T_TMP

# The hook: "CALL TOKEN_REQUESTS UNAUTHORIZED ENCRYPTS FILES TOKEN-SUM" per
# call into $T_TMP/calls (FILES: this test's token files; TOKEN-SUM: a
# checksum of the token in them, "-" with none), then the actions of
# $HOOK_DO for this call: N:rm (the token file), N:revoke, N:sleepS.
cat > "$T_TMP/hook" <<'EOF'
#!/bin/bash
set -u
. "$top_srcdir/tests/gcpkms/lib.sh"
n=$1
files=$(gcp_cache_mine)
sum=-
[ -n "$files" ] && sum=$(cd "$GCP_CACHE" && cat $files | cksum | cut -d' ' -f1)
s=$(gcp_ctl /_stats) || exit 1
stats="$(fake_num "$s" token_jwt) $(fake_num "$s" unauthorized) $(fake_num "$s" encrypt)"
echo "$n $stats $(printf '%s' "$files" | grep -c .) $sum" >> "$T_TMP/calls"
for a in ${HOOK_DO:-}; do
	[ "${a%%:*}" = "$n" ] || continue
	case ${a#*:} in
	rm) gcp_cache_drop ;;
	revoke) gcp_ctl /_revoke > /dev/null || exit 1 ;;
	sleep*) sleep "${a#*:sleep}" ;;
	esac
done
EOF
chmod 700 "$T_TMP/hook"

# run N HOOK_DO: the harness, debug lines in $T_TMP/debug; RC, OUT.
run() {
	rm -f "$T_TMP/calls"
	OUT=$(HOOK_DO=$2 OCIKP_DEBUG=1 "$HARNESS" "$C" "$P" "$KEY" "$1" "$T_TMP/hook" 2> "$T_TMP/debug")
	RC=$?
}
# at CALL FIELD: a field of the hook's line for that call (2 token requests,
# 3 unauthorized, 4 encrypts, 5 files, 6 token checksum).
at() { awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$T_TMP/calls"; }
# all FIRST LAST FIELD VALUE: the field has that value after each of those calls.
all() {
	local i
	for i in $(seq "$1" "$2"); do [ "$(at "$i" "$3")" = "$4" ] || return 1; done
}
debug_count() { grep -c -- "$1" "$T_TMP/debug"; }
diag_run() { t_diag "exit $RC" "$OUT" "calls:" "$(cat "$T_TMP/calls" 2>/dev/null)" \
	"debug (token lines):" "$(grep 'token cache' "$T_TMP/debug" | tail -30)"; }
# ck DESC: t_ok on the last status, with the run's details on failure.
ck() {
	local rc=$?
	t_ok $rc "$1"
	[ $rc -eq 0 ] || diag_run
}

# --- 20 wraps and an unwrap in one process ---------------------------------------
# The file removed after call 10; every token revoked after calls 15 and 18.
run 20 "10:rm 15:revoke 18:revoke"
[ "$RC" -eq 0 ] && [ "$(printf '%s\n' "$OUT" | grep -c ': ok$')" -eq 21 ] &&
	[ "$(at 20 4)" -ge 20 ]
ck "20 wraps and one unwrap in one process, each calling KMS"

all 1 15 2 1 && all 1 15 3 0
ck "one token request for the first 15 wraps"

all 1 10 5 1 && all 11 15 5 0 && all 11 15 2 1 &&
	[ "$(debug_count 'token cache: token-.*: hit')" -eq 0 ]
ck "the token file removed after call 10: calls 11-15 served from memory, no file read or written"

all 16 18 2 2 && [ "$(at 16 3)" = 1 ] && all 16 18 5 1 &&
	[ "$(debug_count 'in memory: the token KMS refused, dropped')" -ge 1 ]
ck "revoked: a 401 drops the token in memory, one refresh, written to the file again"

S18=$(at 18 6)
all 19 21 2 3 && all 19 21 3 2 && all 19 21 5 1 && [ "$(at 19 6)" != "$S18" ] &&
	grep -q 'token cache: token-.*: the token KMS refused, ignored' "$T_TMP/debug"
ck "revoked again: the token in memory and the same one in the file both dropped, one refresh"

# Token lines: 1 + 2 fetches; memory served every other token_get (20 of
# 23, the two it then dropped on a 401 included).
[ "$(debug_count 'token cache: fetching a token')" -eq 3 ] &&
	[ "$(debug_count 'in memory: the token KMS refused, dropped')" -eq 2 ] &&
	[ "$(debug_count 'token cache: in memory, [0-9]* s left')" -eq 20 ]
ck "debug lines: 3 fetches, 20 tokens from memory"

# No token in any output (the hook's checksum aside, which is not one).
TOKENS=$(for f in $(gcp_cache_mine); do
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$GCP_CACHE/$f"; done)
! grep -qF "ya29.fake$GCP_PID-" "$T_TMP/debug" && ! printf '%s' "$OUT" | grep -qF "ya29." &&
	[ -n "$TOKENS" ]
ck "no access token in the debug lines or the answers"

# --- the expiry margin in memory ---------------------------------------------------
# A token living 306 s: in memory while more than 300 s remain; 7 s later
# neither memory nor the file hands it out.  The hook here only sleeps (the
# full one starts python, seconds on a loaded machine); the order of the
# token lines tells the story: Fetch, Memory, Dropped at the margin, Fetch,
# Memory.
gcp_cache_drop
printf '#!/bin/bash\n[ "$1" != 2 ] || sleep 7\n' > "$T_TMP/hook-sleep"
chmod 700 "$T_TMP/hook-sleep"
gcp_ctl /_ttl '{"ttl": 306}' > /dev/null
J0=$(gcp_stat token_jwt)
OUT=$(OCIKP_DEBUG=1 "$HARNESS" "$C" "$P" "$KEY" 3 "$T_TMP/hook-sleep" 2> "$T_TMP/debug")
RC=$?
gcp_ctl /_ttl '{"ttl": 3600}' > /dev/null
STORY=$(sed -n -e 's/.*token cache: fetching a token.*/F/p' -e 's/.*token cache: in memory, 30[1-6] s left.*/M/p' \
	-e 's/.*token cache: in memory, .*/m/p' -e 's/.*token cache: in memory: expires within the margin, dropped.*/D/p' \
	"$T_TMP/debug" | tr -d '\n')
[ "$RC" -eq 0 ] && [ "$STORY" = FMDFM ] && [ "$(gcp_stat token_jwt)" = $((J0 + 2)) ]
ck "the 5-minute margin: a token with 306 s served from memory, refreshed once fewer than 300 s remain (token lines: $STORY)"

# --- nothing left after fini ------------------------------------------------------------
# The token in the file (a fresh one) is the one the process reads, keeps
# in memory for three wraps and must wipe: the shim looks for it in every
# freed block and in all writable memory at exit.
SHIM_RC=0
t_shim || SHIM_RC=$?
if [ "$SHIM_RC" -eq 0 ] && ldd "$HARNESS" 2> /dev/null | grep -q libasan; then
	SHIM_RC=77 T_SHIM_WHY="an ASan build"
fi
if [ "$SHIM_RC" -eq 0 ]; then
	gcp_cache_drop
	run 1 ""
	TOKEN=$(for f in $(gcp_cache_mine); do
		python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$GCP_CACHE/$f"; done | head -1)
	J0=$(gcp_stat token_jwt)
	REPORT="$T_TMP/shim.report"
	rm -f "$REPORT"
	OCIKP_SHIM_REPORT="$REPORT" OCIKP_SHIM_SECRETS="$(printf '%s' "$TOKEN" | hex)" \
		LD_PRELOAD="$SHIM" "$HARNESS" "$C" "$P" "$KEY" 3 > "$T_TMP/stdout" 2> "$T_TMP/stderr"
	T_RC=$?
	T_ERR=$(cat "$T_TMP/stdout" "$T_TMP/stderr")
	[ -n "$TOKEN" ] && [ "$(gcp_stat token_jwt)" = "$J0" ]
	t_ok $? "under the shim: the token came from the file, none fetched"
	t_shim_ok "after fini no access token is left in memory or in a freed block" 0 1
elif [ "$SHIM_RC" -eq 77 ]; then
	t_skip "after fini no access token is left in memory" "$T_SHIM_WHY"
else
	t_ok 1 "after fini no access token is left in memory: $T_SHIM_WHY"
fi
t_done
[ "$T_FAILED" -eq 0 ]
