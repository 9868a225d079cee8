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
t_expect_fail "module with a short descriptor" 6 "descriptor too small \(16 <" "$REQ" --config-dir="$(route_to ocikp-mock-small.so)"
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
t_done
[ "$T_FAILED" -eq 0 ]
