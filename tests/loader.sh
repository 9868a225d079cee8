#!/usr/bin/env bash
# The loader refuses every module it cannot trust, and says why.
. "$top_srcdir/tests/lib/common.sh"
t_setup
REQ=$(t_wrap_request ocikp '{"k":1}' mock://k)

t_run "$REQ"
t_ok "$T_RC" "the mock module loads from a clean plugin dir"

# A drop-in dir routing mock:// to MODULE (a name or a path).
route_to() {
	local c
	c=$(t_conf_dir)
	printf 'backend = mock\nmodule = %s\nschemes = %s\n' "$1" "${2:-mock}" > "$c/50-mock.conf"
	echo "$c"
}

cp "$P/ocikp-mock.so" "$P/ww.so"; chmod 666 "$P/ww.so"
t_expect_fail "world-writable module" 6 "ww.so: writable by group or others \(mode 666\)" "$REQ" --config-dir="$(route_to ww.so)"
cp "$P/ocikp-mock.so" "$P/gw.so"; chmod 775 "$P/gw.so"
t_expect_fail "group-writable module" 6 "gw.so: writable by group or others \(mode 775\)" "$REQ" --config-dir="$(route_to gw.so)"
ln -s ocikp-mock.so "$P/link.so"
t_expect_fail "symlinked module" 6 "link.so: is a symbolic link" "$REQ" --config-dir="$(route_to link.so)"
if [ "$(id -u)" -eq 0 ]; then
	cp "$P/ocikp-mock.so" "$P/nobody.so"; chown 65534 "$P/nobody.so"
	t_expect_fail "module owned by another user" 6 "nobody.so: owned by uid 65534" "$REQ" --config-dir="$(route_to nobody.so)"
	D=$(mktemp -d "$T_TMP/owned.XXXXXX"); chmod 755 "$D"; cp "$P/ocikp-mock.so" "$D/"; chown 65534 "$D"
	t_expect_fail "plugin dir owned by another user" 6 "owned by uid 65534" "$REQ" --plugin-dir="$D"
else
	t_skip "module owned by another user" "needs root to chown"
	t_skip "plugin dir owned by another user" "needs root to chown"
fi
t_expect_fail "module without ocikp_backend_v1" 6 "ocikp-mock-nosym.so: no symbol ocikp_backend_v1" "$REQ" --config-dir="$(route_to ocikp-mock-nosym.so)"
t_expect_fail "module with a wrong ABI number" 6 "backend ABI 99, this ocikp speaks 1" "$REQ" --config-dir="$(route_to ocikp-mock-badabi.so)"
t_expect_fail "module with a short descriptor (both sizes named)" 6 "descriptor too small \(16 < [0-9]+ bytes\)" "$REQ" --config-dir="$(route_to ocikp-mock-small.so)"
O=$(mktemp -d "$T_TMP/outside.XXXXXX"); chmod 755 "$O"; cp "$P/ocikp-mock.so" "$O/"
t_expect_fail "absolute module path outside the plugin dir" 6 "outside the plugin directory" "$REQ" --config-dir="$(route_to "$O/ocikp-mock.so")"
t_expect_fail "relative module path with .." 6 "outside the plugin directory" "$REQ" --config-dir="$(route_to ../ocikp-mock.so)"
t_expect_fail "hidden module name" 6 "not a plain file name" "$REQ" --config-dir="$(route_to .x.so)"
t_run "$REQ" --config-dir="$(route_to "$P/ocikp-mock.so")"
t_ok "$T_RC" "absolute module path inside the plugin dir accepted"
t_expect_fail "missing module" 6 "absent.so: No such file" "$REQ" --config-dir="$(route_to absent.so)"
mkdir -m 755 "$P/dir.so"
t_expect_fail "module that is a directory" 6 "dir.so: not a regular file" "$REQ" --config-dir="$(route_to dir.so)"
printf 'not an ELF file' > "$P/junk.so"; chmod 755 "$P/junk.so"
t_expect_fail "module that is not a shared object" 6 "junk.so: cannot load" "$REQ" --config-dir="$(route_to junk.so)"
t_expect_fail "scheme the module does not handle" 6 "module ocikp-mock.so does not handle scheme 'other'" \
	"$(t_wrap_request ocikp '{"k":1}' other://k)" --config-dir="$(route_to ocikp-mock.so other)"
t_expect_fail "scheme with .. in a drop-in" 6 "scheme 1 in the list is invalid" "$REQ" --config-dir="$(route_to ocikp-mock.so ../x)"
t_expect_fail "scheme with / in a drop-in" 6 "scheme 1 in the list is invalid" "$REQ" --config-dir="$(route_to ocikp-mock.so a/b)"

W=$(t_plugin_dir); chmod 777 "$W"
t_expect_fail "world-writable plugin dir" 6 "writable by group or others \(mode 777\)" "$REQ" --plugin-dir="$W"
S=$(t_plugin_dir); chmod 1777 "$S"
t_expect_fail "sticky world-writable plugin dir (its own dir gets no sticky pass)" 6 "mode 777" "$REQ" --plugin-dir="$S"
G=$(mktemp -d "$T_TMP/open.XXXXXX"); chmod 777 "$G"; mkdir -m 755 "$G/plugins"; cp "$P/ocikp-mock.so" "$G/plugins/"
t_expect_fail "non-sticky world-writable ancestor" 6 "open\.[A-Za-z0-9]+: writable by group or others" "$REQ" --plugin-dir="$G/plugins"
if [ "$(id -u)" -eq 0 ]; then
	R=$(mktemp -d "$T_TMP/sticky.XXXXXX"); chmod 1777 "$R"; mkdir -m 755 "$R/plugins"; cp "$P/ocikp-mock.so" "$R/plugins/"
	t_run "$REQ" --plugin-dir="$R/plugins"
	t_ok "$T_RC" "root-owned sticky ancestor tolerated (as /tmp)"
else
	t_skip "root-owned sticky ancestor tolerated" "needs root"
fi
OCIKP_PLUGIN_DIR="$W" t_run "$REQ" --plugin-dir="$P"
t_ok "$T_RC" "--plugin-dir overrides OCIKP_PLUGIN_DIR"
OCIKP_PLUGIN_DIR="$W" t_run "$REQ"
[ "$T_RC" -eq 6 ]
t_ok $? "OCIKP_PLUGIN_DIR is used when no flag is given"
# Every symbol is bound at load: a module calling a function no library
# provides (linked lazily) is refused by list and by wrap, naming the symbol,
# instead of listing as fine and then dying with exit 127 mid-wrap.
U=$(route_to ocikp-mock-unresolved.so)
t_expect_fail "module with an unresolved symbol" 6 \
	"ocikp-mock-unresolved.so: cannot load: unresolved symbol ocikp_mock_missing_function$" "$REQ" --config-dir="$U"
t_run "" --config-dir="$U" list
[ "$T_RC" -eq 0 ] && printf '%s\n' "$T_OUT" | grep -q "^  mock: .*\[refused: .*unresolved symbol ocikp_mock_missing_function\]" &&
	! printf '%s\n' "$T_OUT" | grep -q "^  mock: .*\[loads"
t_ok $? "list shows the unresolved module refused, naming the symbol"

# Growth: any ABI-1 descriptor from the version-1 size up loads.
V1=$(route_to ocikp-mock-v1.so)
ann=$(OCIKP_CONFIG_DIR="$V1" t_wrap '{"k":1}' mock://k)
t_ok $? "a module built against the version-1 header wraps"
out=$(OCIKP_CONFIG_DIR="$V1" t_unwrap "$ann" mock://k)
[ "$out" = '{"k":1}' ]
t_ok $? "... and unwraps what it wrapped under this host"
t_run "" --config-dir="$V1" list
printf '%s\n' "$T_OUT" | grep -q "ocikp-mock-v1.so \[loads: mock test\]"
t_ok $? "list shows the version-1 module loading"
t_run "$REQ" --config-dir="$(route_to ocikp-mock-large.so)"
t_ok "$T_RC" "a descriptor larger than this host knows (a newer module) loads"

# No /proc: the checked fd has no name to load it by, and loading by path
# could load a file swapped after the checks, so the load is refused.  A
# /proc that is not procfs (a tmpfs with planted files) is refused too.
# OCIKP is wrapped to run in a private mount namespace; ocikp itself only:
# valgrind and the ASan runtime need /proc for their own work.
NOPROC_WHY=
if [ "$(id -u)" -ne 0 ] || ! unshare -m sh -c 'mount -t tmpfs none /proc' 2>/dev/null; then
	NOPROC_WHY="needs root and unshare"
elif [ "$OCIKP" != "$abs_top_builddir/ocikp" ]; then
	NOPROC_WHY="ocikp runs under a wrapper ($OCIKP)"
elif ldd "$OCIKP" 2>/dev/null | grep -q libasan; then
	NOPROC_WHY="an ASan build: its runtime needs /proc"
fi
if [ -z "$NOPROC_WHY" ]; then
	printf '#!/bin/sh\nexec unshare -m sh -c '\''mount -t tmpfs none /proc && exec "$0" "$@"'\'' "%s" "$@"\n' \
		"$OCIKP" > "$T_TMP/noproc"
	printf '#!/bin/sh\nexec unshare -m sh -c '\''mount -t tmpfs none /proc && mkdir -p /proc/self/fd && for i in $(seq 0 63); do cp "%s" /proc/self/fd/$i; done && exec "$0" "$@"'\'' "%s" "$@"\n' \
		"$P/ocikp-mock.so" "$OCIKP" > "$T_TMP/fakeproc"
	chmod 755 "$T_TMP/noproc" "$T_TMP/fakeproc"
	OCIKP="$T_TMP/noproc" t_expect_fail "no /proc: refused, not loaded by path" 6 \
		"ocikp-mock.so: /proc is not mounted: cannot load the checked file$" "$REQ"
	OCIKP="$T_TMP/fakeproc" t_expect_fail "a /proc that is not procfs: refused" 6 \
		"ocikp-mock.so: /proc/self/fd/[0-9]+ is not the checked file" "$REQ"
else
	t_skip "no /proc: refused, not loaded by path" "$NOPROC_WHY"
	t_skip "a /proc that is not procfs: refused" "$NOPROC_WHY"
fi
t_done
[ "$T_FAILED" -eq 0 ]
