#!/bin/bash
# The kbs backend's offline keys: CoCo's offline_fs JSON files (the order in
# which they override each other, OFFLINE_FS_KBC_EXTRA_FILE_PATH, a missing
# file skipped, a malformed or readable one refused), kbs.sources, and
# `ocikp kbs keygen`, which makes the KEK file and the JSON entry.
. "$top_srcdir/tests/lib/common.sh"

t_setup
unset OFFLINE_FS_KBC_EXTRA_FILE_PATH
kbs_dropin() {	# kbs_dropin [LINE...]
	{
		printf 'backend = kbs\nmodule = ocikp-kbs.so\nschemes = kbs kbs+*\n'
		for l in "$@"; do printf '%s\n' "$l"; done
	} > "$C/50-kbs.conf"
}
kek() {	# kek NAME: a 32-byte KEK file, mode 0600
	head -c 32 /dev/urandom > "$T_TMP/$1"
	chmod 600 "$T_TMP/$1"
	echo "$T_TMP/$1"
}
json() {	# json FILE TEXT: mode 0600
	printf '%s' "$2" > "$1"
	chmod 600 "$1"
}
b64f() { base64 -w0 < "$1"; }

OPTS='{"symkey":"c2VjcmV0","cipheroptions":{}}'
K1=$(kek k1)
K2=$(kek k2)
A="$T_TMP/a.json"
B="$T_TMP/b.json"
json "$A" "{\"default/key/1\":\"$(b64f "$K1")\",\"other/thing/x\":\"not a key\"}"
json "$B" "{\"default/key/1\":\"$(b64f "$K2")\"}"

kbs_dropin
ANN=$(t_wrap "$OPTS" "keypath=$K2::keyid=kbs:///default/key/1")
t_ok $? "wrap with K2"

kbs_dropin "kbs.offline_files = $A, $B"
[ "$(t_unwrap "$ANN")" = "$OPTS" ]
t_ok $? "a later file overrides an earlier one (A, B: B's K2)"
kbs_dropin "kbs.offline_files = $B,$A"
t_expect_fail "B, A: A's K1 is the wrong key, exit 4" 4 "from offline does not open" \
	"$(t_unwrap_request ocikp "$ANN")"
kbs_dropin "kbs.offline_files = $A"
[ "$(OFFLINE_FS_KBC_EXTRA_FILE_PATH="$T_TMP/none.json,$B" t_unwrap "$ANN")" = "$OPTS" ]
t_ok $? "OFFLINE_FS_KBC_EXTRA_FILE_PATH comes after kbs.offline_files; a missing file skipped"
kbs_dropin "kbs.offline_files = $T_TMP/missing.json, $B"
[ "$(t_unwrap "$ANN")" = "$OPTS" ]
t_ok $? "a missing file is skipped"
kbs_dropin "kbs.offline_files = $T_TMP/missing.json"
t_expect_fail "only missing files: no KEK, exit 4" 4 \
	"no KEK for kbs:///default/key/1 \(tried: offline, kbs \(no kbs.url\)\)" "$(t_unwrap_request ocikp "$ANN")"

json "$T_TMP/bad.json" '{"default/key/1": '
kbs_dropin "kbs.offline_files = $B, $T_TMP/bad.json"
t_expect_fail "a malformed file is an error even after a match: exit 6" 6 "bad.json" \
	"$(t_unwrap_request ocikp "$ANN")"
# A packet too short to open is refused before any offline file is read:
# the malformed file above would say exit 6.
SHORT=$(printf '%s' "$ANN" | base64 -d | python3 -c '
import base64, json, sys
a = json.load(sys.stdin)
a["wrapped_data"] = base64.b64encode(base64.b64decode(a["wrapped_data"])[-16:]).decode()
sys.stdout.write(base64.b64encode(json.dumps(a).encode()).decode())')
t_expect_fail "a packet of only the GCM tag: exit 3, no offline file read" 3 \
	"wrapped_data too short for A256GCM" "$(t_unwrap_request ocikp "$SHORT")"
json "$T_TMP/array.json" '["default/key/1"]'
kbs_dropin "kbs.offline_files = $T_TMP/array.json"
t_expect_fail "not an object: exit 6" 6 "array.json: not a JSON object" "$(t_unwrap_request ocikp "$ANN")"
json "$T_TMP/short.json" '{"default/key/1":"AAAA"}'
kbs_dropin "kbs.offline_files = $T_TMP/short.json"
t_expect_fail "a value that is not 32 bytes: exit 6" 6 "short.json: default/key/1 is not the base64 of 32 bytes" \
	"$(t_unwrap_request ocikp "$ANN")"
cp "$B" "$T_TMP/open.json"; chmod 644 "$T_TMP/open.json"
kbs_dropin "kbs.offline_files = $T_TMP/open.json"
t_expect_fail "a world-readable offline file is refused: exit 6" 6 "open.json: accessible by group or others" \
	"$(t_unwrap_request ocikp "$ANN")"
kbs_dropin "kbs.offline_files = a.json"
t_expect_fail "a relative offline file: exit 6" 6 "not an absolute path" "$(t_unwrap_request ocikp "$ANN")"

# --- kbs.sources ---------------------------------------------------------------------
kbs_dropin "kbs.offline_files = $B" "kbs.sources = kbs"
t_expect_fail "sources = kbs (no url): offline not tried, exit 4" 4 "tried: kbs \(no kbs.url\)\)" \
	"$(t_unwrap_request ocikp "$ANN")"
kbs_dropin "kbs.offline_files = $B" "kbs.sources = offline offline"
t_expect_fail "a source listed twice: exit 6" 6 "'offline' is listed twice" "$(t_unwrap_request ocikp "$ANN")"

# --- keygen --------------------------------------------------------------------------
kbs_dropin
J="$T_TMP/keys/offline.json"
mkdir -m 700 "$T_TMP/keys"
t_run "" kbs keygen --offline-json "$J" "$T_TMP/keys/kek1" --kid kbs:///default/image-kek/1
[ "$T_RC" -eq 0 ] && [ "$(stat -c %a:%s "$T_TMP/keys/kek1")" = "600:32" ] &&
	[ "$(stat -c %a "$J")" = 600 ] &&
	[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["default/image-kek/1"])' "$J")" = "$(b64f "$T_TMP/keys/kek1")" ]
t_ok $? "keygen: a 0600 KEK file and a new 0600 offline JSON file holding it"
t_run "" kbs keygen "$T_TMP/keys/kek2" --offline-json="$J" --kid=/default/image-kek/2
[ "$T_RC" -eq 0 ] && python3 -c '
import json, sys, base64
m = json.load(open(sys.argv[1]))
assert list(m) == ["default/image-kek/1", "default/image-kek/2"], m
assert base64.b64decode(m["default/image-kek/2"]) == open(sys.argv[2], "rb").read()' "$J" "$T_TMP/keys/kek2"
t_ok $? "keygen adds a second entry, keeping the first (bare kid accepted)"
t_run "" kbs keygen "$T_TMP/keys/kek1b" --offline-json "$J" --kid kbs:///default/image-kek/1
[ "$T_RC" -eq 0 ] && python3 -c '
import json, sys, base64
m = json.load(open(sys.argv[1]))
assert list(m) == ["default/image-kek/1", "default/image-kek/2"], m
assert base64.b64decode(m["default/image-kek/1"]) == open(sys.argv[2], "rb").read()' "$J" "$T_TMP/keys/kek1b"
t_ok $? "keygen replaces an entry in place"
cp "$J" "$T_TMP/before.json"
t_expect_fail "keygen never overwrites a KEK file: exit 6" 6 "kek2: File exists" "" \
	kbs keygen "$T_TMP/keys/kek2" --offline-json "$J" --kid kbs:///default/image-kek/9
cmp -s "$J" "$T_TMP/before.json"
t_ok $? "... and leaves the JSON file as it was"
t_expect_fail "keygen: bad kid, exit 3" 3 "key id must be" "" kbs keygen "$T_TMP/keys/k9" --kid kbs:///a/b
[ ! -e "$T_TMP/keys/k9" ]
t_ok $? "... and makes no KEK file"
t_expect_fail "keygen: no --kid, exit 3" 3 "usage: ocikp kbs keygen" "" kbs keygen "$T_TMP/keys/k9"
t_expect_fail "keygen: unknown option, exit 3" 3 "usage: ocikp kbs keygen" "" \
	kbs keygen "$T_TMP/keys/k9" --kid kbs:///a/b/c --force
json "$T_TMP/keys/bad.json" '{"x":'
t_expect_fail "keygen: malformed JSON file, exit 6, no KEK file" 6 "bad.json" "" \
	kbs keygen "$T_TMP/keys/k9" --offline-json "$T_TMP/keys/bad.json" --kid kbs:///a/b/c
t_run "" kbs keygen "$T_TMP/keys/k10" --kid kbs:///default/solo/1
[ "$T_RC" -eq 0 ] && [ "$(stat -c %s "$T_TMP/keys/k10")" = 32 ] && [ ! -e "$T_TMP/keys/k9" ]
t_ok $? "keygen without --offline-json: only the KEK file"

# What keygen made opens what it wraps.
kbs_dropin "kbs.offline_files = $J"
ANN=$(t_wrap "$OPTS" "keypath=$T_TMP/keys/kek2::keyid=kbs:///default/image-kek/2::algorithm=A256CTR")
[ "$(t_unwrap "$ANN")" = "$OPTS" ]
t_ok $? "a keygen KEK wraps, and its offline entry unwraps"

t_done
