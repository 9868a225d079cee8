#!/usr/bin/env bash
# Command-line safety: no setuid or setgid run, --config-dir lists that would
# lose a directory without a word.
. "$top_srcdir/tests/lib/common.sh"
t_setup
REQ=$(t_wrap_request ocikp '{"symkey":"AAAA"}' mock://k)

# ---- --config-dir / OCIKP_CONFIG_DIR ----------------------------------------
D15=$(for i in $(seq 15); do printf '%s:' "$T_TMP/none$i"; done)
D15=${D15%:}
t_run "$REQ" --config-dir="$C:${D15#*:}"
t_ok "$T_RC" "15 drop-in directories are accepted"
t_expect_fail "16 drop-in directories: usage error" 2 \
	"^ocikp: --config-dir: more than 15 directories$" "$REQ" --config-dir="$C:$D15"
OCIKP_CONFIG_DIR="$C:$D15" t_expect_fail "16 in OCIKP_CONFIG_DIR: usage error naming it" 2 \
	"^ocikp: OCIKP_CONFIG_DIR: more than 15 directories$" "$REQ"
t_expect_fail "an empty entry in the middle" 2 "^ocikp: --config-dir: entry 2 is empty$" \
	"$REQ" --config-dir="$C::$T_TMP/x"
t_expect_fail "a trailing ':'" 2 "^ocikp: --config-dir: entry 2 is empty$" \
	"$REQ" --config-dir "$C:"
OCIKP_CONFIG_DIR=":$C" t_expect_fail "a leading ':' in OCIKP_CONFIG_DIR" 2 \
	"^ocikp: OCIKP_CONFIG_DIR: entry 1 is empty$" "$REQ"

# ---- setuid / setgid ---------------------------------------------------------
# A setuid copy of the real binary (not a wrapper), run as nobody.
BIN="$abs_top_builddir/ocikp"
as_nobody() {
	if command -v setpriv > /dev/null; then
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
	else
		su nobody -s /bin/sh -c '"$0" "$@"' -- "$@"
	fi
}
suid_case() {	# suid_case DESC CHMOD-MODE
	local d="$T_TMP/suid-$2" out err rc=0
	mkdir -m 755 "$d" && cp "$BIN" "$d/ocikp" && chown 0:0 "$d/ocikp" && chmod "$2" "$d/ocikp"
	as_nobody "$d/ocikp" --config-dir=/root --version > "$T_TMP/suid.out" 2> "$T_TMP/suid.err" || rc=$?
	out=$(cat "$T_TMP/suid.out"); err=$(cat "$T_TMP/suid.err")
	if [ "$rc" -eq 6 ] && [ -z "$out" ] && [ "$(printf '%s\n' "$err" | grep -c '')" -eq 1 ] &&
	   printf '%s' "$err" | grep -q '^ocikp: refusing to run setuid or setgid'; then
		t_ok 0 "$1"
	else
		t_ok 1 "$1"
		t_diag "want exit 6, one 'refusing' line" "got exit $rc, stdout [$out]" "stderr [$err]"
	fi
}
if [ "$(id -u)" -ne 0 ]; then
	t_skip "refuses to run setuid" "needs root (chown root, chmod u+s)"
	t_skip "refuses to run setgid" "needs root"
elif ! id nobody > /dev/null 2>&1 && ! command -v setpriv > /dev/null; then
	t_skip "refuses to run setuid" "no setpriv and no user nobody"
	t_skip "refuses to run setgid" "no setpriv and no user nobody"
elif findmnt -no OPTIONS -T "$T_TMP" 2>/dev/null | grep -qw nosuid; then
	t_skip "refuses to run setuid" "$T_TMP is on a nosuid mount"
	t_skip "refuses to run setgid" "$T_TMP is on a nosuid mount"
else
	suid_case "refuses to run setuid root (exit 6, one line, before any option)" 4755
	suid_case "refuses to run setgid root" 2755
fi
t_done
[ "$T_FAILED" -eq 0 ]
