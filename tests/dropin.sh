#!/usr/bin/env bash
# Drop-in directories through the real binary: precedence, masking, options.
. "$top_srcdir/tests/lib/common.sh"
t_setup
ETC=$(t_conf_dir); RUN=$(t_conf_dir); LIB=$(t_conf_dir)
DIRS="$ETC:$RUN:$LIB"
KA=$(t_sample_key); KB=$(t_sample_key)
printf 'backend = sample\nmodule = ocikp-sample.so\nschemes = sample\nsample.key_file = %s\n' "$KA" > "$LIB/50-sample.conf"
printf 'backend = mock\nmodule = ocikp-mock.so\nschemes = mock\n' > "$LIB/50-mock.conf"
OPTS='{"symkey":"AAAA"}'

ann=$(OCIKP_CONFIG_DIR="$DIRS" t_wrap "$OPTS" sample://default)
t_ok $? "packaged drop-in (lowest dir) works"
printf 'sample.key_file = %s\n' "$KB" > "$ETC/50-sample.conf"
OCIKP_CONFIG_DIR="$DIRS" t_run "$(t_unwrap_request ocikp "$ann")"
[ "$T_RC" -eq 6 ] && printf '%s' "$T_ERR" | grep -q "backend 'sample'" || printf '%s' "$T_ERR" | grep -q 'sample'
t_ok $? "same-name file in a higher dir replaces the packaged one whole"
printf 'backend = sample\nmodule = ocikp-sample.so\nschemes = sample\nsample.key_file = %s\n' "$KB" > "$ETC/50-sample.conf"
OCIKP_CONFIG_DIR="$DIRS" t_run "$(t_unwrap_request ocikp "$ann")"
[ "$T_RC" -eq 4 ] && printf '%s' "$T_ERR" | grep -q 'wrong key'
t_ok $? "the admin's /etc copy is the one used (its key: wrong key)"
rm "$ETC/50-sample.conf"
printf 'sample.key_file = %s\n' "$KB" > "$RUN/70-override.conf"
OCIKP_CONFIG_DIR="$DIRS" t_run "$(t_unwrap_request ocikp "$ann")"
[ "$T_RC" -eq 4 ]
t_ok $? "a later file name overrides one option of an earlier file"
printf 'sample.key_file = %s\n' "$KA" > "$ETC/80-last.conf"
OCIKP_CONFIG_DIR="$DIRS" t_run "$(t_unwrap_request ocikp "$ann")"
t_ok "$T_RC" "name order decides, not directory, among different names"
rm "$RUN/70-override.conf" "$ETC/80-last.conf"
ln -s /dev/null "$ETC/50-mock.conf"
OCIKP_CONFIG_DIR="$DIRS" t_run "$(t_wrap_request ocikp "$OPTS" mock://k)"
[ "$T_RC" -eq 3 ] && printf '%s' "$T_ERR" | grep -q "no backend for scheme 'mock'"
t_ok $? "a /dev/null symlink in /etc masks the packaged drop-in"
rm "$ETC/50-mock.conf"
printf 'backend = mock\nenabled = no\n' > "$ETC/90-off.conf"
OCIKP_CONFIG_DIR="$DIRS" t_run "$(t_wrap_request ocikp "$OPTS" mock://k)"
[ "$T_RC" -eq 3 ]
t_ok $? "enabled = no turns a backend off"
rm "$ETC/90-off.conf"
printf 'garbage\n' > "$LIB/README"
printf 'garbage\n' > "$LIB/.50-x.conf"
printf 'garbage\n' > "$LIB/50-x.conf.dpkg-old"
OCIKP_CONFIG_DIR="$DIRS" t_run "$(t_wrap_request ocikp "$OPTS" mock://k)"
t_ok "$T_RC" "only *.conf files are read (README, dotfiles, .dpkg-old ignored)"
OCIKP_CONFIG_DIR="$DIRS:$T_TMP/does-not-exist" t_run "$(t_wrap_request ocikp "$OPTS" mock://k)"
t_ok "$T_RC" "a missing directory is skipped"
printf 'backend = mock\nschemes = mock sample\n' > "$ETC/95-conflict.conf"
t_expect_fail "one scheme claimed twice" 6 "scheme 'sample' already routed to backend" \
	"$(t_wrap_request ocikp "$OPTS" mock://k)" --config-dir="$DIRS"
rm "$ETC/95-conflict.conf"
cp "$LIB/50-mock.conf" "$ETC/40-ww.conf"; chmod 666 "$ETC/40-ww.conf"
t_expect_fail "world-writable drop-in" 6 "40-ww.conf: writable by group or others" \
	"$(t_wrap_request ocikp "$OPTS" mock://k)" --config-dir="$DIRS"
rm "$ETC/40-ww.conf"

# ---- the directories themselves are trusted like the plugin directory -------
REQ=$(t_wrap_request ocikp "$OPTS" mock://k)
BAD=$(t_conf_dir); cp "$LIB/50-mock.conf" "$BAD/"
chmod 777 "$BAD"
t_expect_fail "a world-writable drop-in directory: exit 6 naming it" 6 \
	"^ocikp: drop-in directory $BAD refused: $BAD: writable by group or others \(mode 777\)$" \
	"$REQ" --config-dir="$ETC:$BAD"
chmod 755 "$BAD"
t_expect_fail "a sticky drop-in directory like /tmp itself" 6 \
	"^ocikp: drop-in directory /tmp refused: /tmp: writable by group or others" \
	"$REQ" --config-dir=/tmp
mkdir -m 755 "$T_TMP/gw" && mv "$BAD" "$T_TMP/gw/conf.d" && chmod 775 "$T_TMP/gw"
t_expect_fail "a drop-in directory whose parent is group-writable" 6 \
	"^ocikp: drop-in directory $T_TMP/gw/conf.d refused: $T_TMP/gw: writable by group or others \(mode 775\)$" \
	"$REQ" --config-dir="$T_TMP/gw/conf.d"
chmod 755 "$T_TMP/gw"
OCIKP_CONFIG_DIR="$T_TMP/gw/conf.d" t_run "$REQ"
t_ok "$T_RC" "the same directory once its parent is fixed"
if [ "$(id -u)" -eq 0 ]; then
	mkdir -m 1777 "$T_TMP/sticky" && mkdir -m 755 "$T_TMP/sticky/conf.d" &&
		cp "$LIB/50-mock.conf" "$T_TMP/sticky/conf.d/"
	OCIKP_CONFIG_DIR="$T_TMP/sticky/conf.d" t_run "$REQ"
	t_ok "$T_RC" "a good directory under a root-owned sticky ancestor works"
	chown 65534:65534 "$T_TMP/gw/conf.d"
	t_expect_fail "a drop-in directory owned by another uid" 6 \
		"^ocikp: drop-in directory $T_TMP/gw/conf.d refused: $T_TMP/gw/conf.d: owned by uid 65534, not root or the caller$" \
		"$REQ" --config-dir="$T_TMP/gw/conf.d"
	chown 0:0 "$T_TMP/gw/conf.d"
	ln -s /dev/null "$ETC/50-mock.conf" && chown -h 65534:65534 "$ETC/50-mock.conf"
	t_expect_fail "a /dev/null mask made by another uid is refused" 6 \
		"^ocikp: $ETC/50-mock.conf: mask symlink owned by uid 65534, not root or the caller$" \
		"$REQ" --config-dir="$DIRS"
	rm "$ETC/50-mock.conf"
else
	case "$T_TMP" in
	/tmp/*) OCIKP_CONFIG_DIR="$T_TMP/gw/conf.d" t_run "$REQ"
		t_ok "$T_RC" "a good directory under /tmp (a root-owned sticky ancestor) works";;
	*) t_skip "good directory under a sticky ancestor" "not root and TMPDIR is not under /tmp";;
	esac
	t_skip "drop-in directory owned by another uid" "needs root (chown)"
	t_skip "mask owned by another uid" "needs root (chown -h)"
fi

# ---- no file content in an error line ---------------------------------------
# A drop-in may be a symlink to any file root can read: only well-formed
# keys are ever quoted back.
M=S3CRET-MARK
for line in "backend = $M" "schemes = a $M" "enabled = $M" "module = x.so
schemes = x
enabled = $M" "root:$M = x" "root:\$6\$$M.x = 1" "$M\$ = 1" "timeout = $M" "$M"; do
	printf 'backend = leak\n%s\n' "$line" > "$ETC/60-leak.conf"
	t_run "$REQ" --config-dir="$DIRS"
	[ "$T_RC" -eq 6 ] && [ -n "$T_ERR" ] && ! printf '%s' "$T_ERR" | grep -q "S3CRET\|MARK"
	t_ok $? "no file content in the error for '${line%% *} ...': $T_ERR"
done
rm "$ETC/60-leak.conf"
t_done
[ "$T_FAILED" -eq 0 ]
