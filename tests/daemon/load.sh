#!/usr/bin/env bash
# ocikpd under a load run: 10,000 UnWrapKey requests (sample) on fresh
# connections in batches of 1,000; the daemon's RSS and open descriptors
# after the first 1,000 and after all 10,000 must stay flat (RSS growth
# under 1 MiB, the same descriptor count).
. "$top_srcdir/tests/lib/common.sh"
t_setup
. "$top_srcdir/tests/daemon/lib.sh"
d_built_or_skip

OPTS='{"symkey":"c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE=","digest":"sha256:00"}'
ANN=$(t_wrap "$OPTS" sample://default)
R=$T_TMP/unwrap.json
d_req "$R" "$(t_unwrap_request ocikp "$ANN")"
d_exec_answer "$T_TMP/unwrap.expect" "$(cat "$R")"
t_ok $? "the exec path's answer, for comparison"

# In an ASan build the allocator's quarantine holds freed blocks (up to
# 256 MiB) on purpose, which would read as growth: without it RSS means
# what it means natively.  Leaks are still LeakSanitizer's, at the exit.
# ASan's per-thread allocator caches still grow with the number of
# threads the load happened to make (workers and connection threads come
# and go with the machine's load), so its bound is wider; natively 1 MiB.
RSS_GROWTH_MAX=1024
if ldd "$T_TOP/ocikpd" 2>/dev/null | grep -q libasan; then
	RSS_GROWTH_MAX=4096
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
fi
d_start
t_ok $? "ocikpd starts"

# batch N: N requests on one new connection, 4 client threads.
batch() {
	d_client load --target "$D_TARGET" --json "$R" --expect-json "$T_TMP/unwrap.expect" \
		--n "$1" --parallel 4 --timeout 30 > "$T_TMP/batch.out" 2>&1 ||
		{ t_diag "$(cat "$T_TMP/batch.out")"; return 1; }
}
# settle: the connections of the last batch closed on the daemon's side too.
settle() { sleep 0.5; }
figures() {	# figures LABEL: sets RSS and FDS
	RSS=$(d_rss_kb "$D_PID")
	FDS=$(d_fds "$D_PID")
	echo "# $1: VmRSS ${RSS} kB, fds $FDS, threads $(awk '/^Threads:/ {print $2}' "/proc/$D_PID/status"), VmHWM $(awk '/^VmHWM:/ {print $2}' "/proc/$D_PID/status") kB"
}

settle
figures "after start"
batch 1000
t_ok $? "1,000 UnWrapKey calls, all the right answer"
settle
figures "after 1,000"
RSS1=$RSS FDS1=$FDS
fail=0
for i in 2 3 4 5 6 7 8 9 10; do batch 1000 || fail=1; done
t_ok $fail "9,000 more, in 9 connections, all the right answer"
settle
figures "after 10,000"
d_alive "$D_PID"
t_ok $? "the daemon is still up"
grow=$((RSS - RSS1))
if [ "$D_WRAPPED" = yes ]; then
	t_skip "RSS flat after 10,000" "the daemon runs under $OCIKPD"
else
	[ "$grow" -lt "$RSS_GROWTH_MAX" ]
	t_ok $? "RSS flat: ${RSS1} kB after 1,000, ${RSS} kB after 10,000 (growth ${grow} kB, want < $RSS_GROWTH_MAX)"
fi
[ "$FDS" -eq "$FDS1" ]
t_ok $? "descriptors flat: $FDS1 after 1,000, $FDS after 10,000"
n=$(grep -c '^ocikpd: UnWrapKey backend=sample status=OK ' "$D_LOG")
[ "$n" -eq 10000 ]
t_ok $? "10,000 log lines, status OK ($n)"

# Configuration generations: each SIGHUP loads the backends anew and drops
# the old ones once no request holds them.  20 reloads under load leave
# the figures where they were.
RSS10=$RSS FDS10=$FDS
d_client load --target "$D_TARGET" --json "$R" --expect-json "$T_TMP/unwrap.expect" \
	--duration 4 --parallel 2 > "$T_TMP/hup.out" 2>&1 &
LOAD=$!
sleep 0.5
for i in $(seq 20); do kill -HUP "$D_PID"; sleep 0.1; done
wait "$LOAD"
rc=$?
[ "$rc" -eq 0 ] || t_diag "$(cat "$T_TMP/hup.out")"
t_ok "$rc" "20 SIGHUPs under load: no call failed ($(head -1 "$T_TMP/hup.out"))"
batch 100
settle
figures "after 20 reloads"
[ "$(grep -c '^ocikpd: configuration reloaded' "$D_LOG")" -eq 20 ] && [ "$FDS" -eq "$FDS10" ]
t_ok $? "descriptors flat across 20 reloads: $FDS10 before, $FDS after"
grow=$((RSS - RSS10))
if [ "$D_WRAPPED" = yes ]; then
	t_skip "RSS flat across 20 reloads" "the daemon runs under $OCIKPD"
else
	[ "$grow" -lt "$RSS_GROWTH_MAX" ]
	t_ok $? "RSS flat across 20 reloads: ${RSS10} kB before, ${RSS} kB after (growth ${grow} kB, want < $RSS_GROWTH_MAX)"
fi
d_stop
t_ok $? "SIGTERM: exit 0"
t_done
[ "$T_FAILED" -eq 0 ]
