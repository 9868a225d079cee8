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
t_done
[ "$T_FAILED" -eq 0 ]
