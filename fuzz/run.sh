#!/bin/bash
# Run one libFuzzer target and print one line of figures.
#
#   fuzz/run.sh smoke BIN CORPUS SECONDS    replay the committed corpus, then
#                                           fuzz a copy of it for SECONDS
#   fuzz/run.sh long  BIN CORPUS SECONDS    the same, then merge what it found
#                                           into CORPUS (-merge=1 keeps only
#                                           inputs that add coverage); findings
#                                           are kept in fuzz/findings/TARGET/
#
# The line: target, seconds, executions, CPU seconds (the fuzzer's share of a
# busy machine), final cov/ft, corpus before -> after, findings.  Exit 1 on
# a finding (crash, leak, timeout, out of memory) or a failed replay.
set -u
mode=$1 bin=$2 corpus=$3 seconds=$4
name=$(basename "$bin")
log=fuzz/$name.log
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" fuzz/findings/"$name"
cp "$corpus"/* "$work/in"/ 2>/dev/null || true
before=$(ls "$work/in" | wc -l)

# Every committed input once, whatever the time budget: a regression in a
# known input fails here even when the timed run would not reach it.
if [ "$before" -gt 0 ] && ! "$bin" -rss_limit_mb=1024 -runs=0 "$work/in" > "$log" 2>&1; then
	tail -40 "$log"
	echo "fuzz $name: the committed corpus fails"
	exit 1
fi

# Children's CPU time from bash's `times` (second line: user and system),
# taken in this shell: a $(...) subshell would count its own children.
cpu() { sed -n 2p "$1" | awk '{ gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }'; }
times > "$work/t0"
"$bin" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=1024 \
	-artifact_prefix="fuzz/findings/$name/" "$work/in" >> "$log" 2>&1
rc=$?
times > "$work/t1"

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
after=$before
if [ "$mode" = long ] && [ $rc -eq 0 ]; then
	"$bin" -merge=1 -rss_limit_mb=1024 "$corpus" "$work/in" >> "$log" 2>&1 || rc=$?
	after=$(ls "$corpus" | wc -l)
fi
findings=$(find fuzz/findings/"$name" -type f \( -name 'crash-*' -o -name 'leak-*' \
	-o -name 'timeout-*' -o -name 'oom-*' \) -newer "$work" | wc -l)
printf 'fuzz %-20s %5ss %12s execs %7s cpu-s  %-20s corpus %4s -> %-4s findings %s\n' \
	"$name" "$seconds" "${execs:-?}" "$(awk "BEGIN { printf \"%.0f\", $(cpu "$work/t1") - $(cpu "$work/t0") }")" \
	"${cov:-cov: ?}" "$before" "$after" "$findings"
if [ $rc -ne 0 ] || [ "$findings" -ne 0 ]; then
	tail -40 "$log"
	exit 1
fi
