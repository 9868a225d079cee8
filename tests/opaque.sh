#!/usr/bin/env bash
# Opaque schemes (ocikp.d(5) opaque_schemes): RFC 7512's pkcs11:token=...
# has no "//".  A scheme a drop-in lists in opaque_schemes routes as
# "scheme:..." (recipients, decryption URLs, an annotation's key_url); every
# other scheme still needs "scheme://", so no backend receives what it did
# not before.  The mock backend stands in: it echoes the recipient as
# key_url and opens only with a decryption URL equal to it.
. "$top_srcdir/tests/lib/common.sh"
t_setup
OPTS='{"symkey":"AAAA"}'
b64d() { printf '%s' "$1" | base64 -d; }

# ---- without the key: refused as before ----------------------------------------
t_expect_fail "mock:k refused while no drop-in marks mock opaque" 3 \
	"recipient is not a key URL" "$(t_wrap_request ocikp "$OPTS" 'mock:k')"

printf 'backend = mock\nopaque_schemes = mock\n' > "$C/60-opaque.conf"

# ---- with it: recipients, decryption URLs, key_url ------------------------------
URI='mock:token=t1;object=k%20one;type=private?pin-source=file:///p'
ann=$(t_wrap "$OPTS" "$URI")
t_ok $? "an opaque recipient (no //) wraps: $URI"
key_url=$(b64d "$ann" | t_json_field key_url)
[ "$key_url" = "$URI" ]
t_ok $? "the backend receives the URI exactly as given"
[ "$(t_unwrap "$ann" "$URI")" = "$OPTS" ]
t_ok $? "its key_url routes the annotation, the opaque decryption URL reaches the backend"
t_run "$(t_unwrap_request ocikp "$ann" 'mock:other')"
[ "$T_RC" -eq 5 ] || [ "$T_RC" -eq 4 ]
t_ok $? "another opaque decryption URL is routed too, and does not open it (exit $T_RC)"
ann2=$(t_wrap "$OPTS" 'mock://k')
t_ok $? "the same scheme with // still routes"

# an envelope: an opaque and a hierarchical recipient
env=$(t_wrap "$OPTS" "$URI" sample://default)
t_ok $? "an envelope with an opaque and a sample:// recipient"
[ "$(t_unwrap "$env" "$URI")" = "$OPTS" ]
t_ok $? "the envelope opens through the opaque recipient"

# ---- nothing loosened for the others ---------------------------------------------
t_expect_fail "sample:default still refused (sample is not opaque)" 3 \
	"recipient is not a key URL" "$(t_wrap_request ocikp "$OPTS" 'sample:default')"
t_expect_fail "an unrouted scheme without // still refused" 3 \
	"recipient is not a key URL" "$(t_wrap_request ocikp "$OPTS" 'tpm:ek')"
t_expect_fail "an opaque-looking string with no scheme refused" 3 \
	"recipient is not a key URL" "$(t_wrap_request ocikp "$OPTS" ':token=t')"
sann=$(t_wrap "$OPTS" sample://default)
fake=$(b64d "$sann" | python3 -c 'import json,sys; a=json.load(sys.stdin); a["key_url"]="sample:default"; print(json.dumps(a))' | base64 -w0)
t_expect_fail "an annotation's key_url sample:default does not route" 3 "no key URL with a valid scheme" \
	"$(t_unwrap_request ocikp "$fake" sample://default)"
t_run "$(t_unwrap_request ocikp "$sann" 'sample:default')"
[ "$T_RC" -eq 0 ]
t_ok $? "a decryption URL sample:... is not routed to sample (it uses its own key file)"

# ---- ocikp list and inspect ------------------------------------------------------
t_run "" list
printf '%s' "$T_OUT" | grep -q '^  mock: mock:// mock: '
t_ok $? "list shows the opaque scheme as 'mock:'"
b64d "$ann" > "$T_TMP/ann.json"
t_run "" inspect "$T_TMP/ann.json"
[ "$T_RC" -eq 0 ] && printf '%s' "$T_OUT" | grep -q 'scheme: mock, backend: mock'
t_ok $? "inspect routes an opaque key_url to its backend"

# ---- the drop-in key itself --------------------------------------------------------
printf 'backend = mock\nmodule = ocikp-mock.so\nopaque_schemes = mock\n' > "$C/50-mock.conf"
ann3=$(t_wrap "$OPTS" 'mock:k')
t_ok $? "opaque_schemes alone (no schemes =) is a complete backend"
printf 'backend = mock\nmodule = ocikp-mock.so\nschemes = mock\n' > "$C/50-mock.conf"
printf 'backend = mock\nopaque_schemes = mock\n' > "$C/60-opaque.conf"
printf 'backend = sample\nopaque_schemes = mock\n' > "$C/70-steal.conf"
t_expect_fail "an opaque scheme another backend routes is a conflict" 6 \
	"scheme 'mock' already routed to backend" "$(t_wrap_request ocikp "$OPTS" 'mock:k')"
rm "$C/70-steal.conf"
printf 'backend = mock\nopaque_schemes = mock\nschemes = mock\n' > "$C/60-opaque.conf"
t_wrap "$OPTS" 'mock:k' > /dev/null && t_wrap "$OPTS" 'mock://k' > /dev/null
t_ok $? "a scheme in both lists of one backend routes both ways"
printf 'backend = mock\nopaque_schemes = mock:\n' > "$C/60-opaque.conf"
t_expect_fail "an invalid opaque scheme is refused" 6 "scheme 1 in the list is invalid" \
	"$(t_wrap_request ocikp "$OPTS" 'mock:k')"
printf 'backend = mock\nopaque_schemes =\n' > "$C/60-opaque.conf"
t_expect_fail "an empty opaque_schemes is refused" 6 "empty opaque_schemes" \
	"$(t_wrap_request ocikp "$OPTS" 'mock:k')"
printf 'opaque_schemes = mock\n' > "$C/60-opaque.conf"
t_expect_fail "opaque_schemes outside a backend section is refused" 6 \
	"'opaque_schemes' before any 'backend ='" "$(t_wrap_request ocikp "$OPTS" 'mock:k')"
printf 'backend = mock\nschemes = mock\nopaque_schemes = pkcs11\n' > "$C/60-opaque.conf"
t_expect_fail "an opaque scheme the module does not handle is refused" 6 \
	"does not handle scheme 'pkcs11'" "$(t_wrap_request ocikp "$OPTS" 'pkcs11:token=t')"
printf 'backend = mock\nenabled = no\nopaque_schemes = mock\n' > "$C/60-opaque.conf"
t_expect_fail "a disabled backend's opaque scheme routes nothing" 3 \
	"recipient is not a key URL" "$(t_wrap_request ocikp "$OPTS" 'mock:k')"
t_done
