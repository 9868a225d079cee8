#!/bin/bash
# kbs_rcar_fetch against the local KBS (tests/kbs/fake_kbs.py): the C driver
# tests/kbs/test-rcar prints the TAP; it drives the server's faults and reads
# its counters itself.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/kbs/lib.sh"

kbs_require
kbs_setup ||
	{ echo "1..1"; echo "not ok 1 - fake KBS: $(cat "$KBS_DIR/server.err" 2>/dev/null)"; exit 1; }
exec "$abs_top_builddir/tests/kbs/test-rcar" "$KBS_DIR"
