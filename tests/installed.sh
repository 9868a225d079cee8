#!/usr/bin/env bash
# The Debian packages, installed for real: build the .debs from a copy of the
# source tree, install ocikp and the backend packages one at a time, use the
# installed /usr/bin/ocikp with the packaged drop-ins, remove a backend, let an
# admin drop-in override and mask the packaged ones, then purge everything.
#
# It changes the machine, so it runs only as root, and only under CI=true or
# with OCIKP_INSTALLED_TEST=1 (=0 turns it off, e.g. for a second CI pass
# under sanitizers); it refuses to touch a machine where an ocikp
# package is already installed.  About 2 minutes on 2 cores (the package build
# skips the test suite, which `make check` has just run).
. "$top_srcdir/tests/lib/common.sh"
unset OCIKP_CONFIG_DIR OCIKP_PLUGIN_DIR
OCIKP=/usr/bin/ocikp
ETC=/etc/ocikp.d
VENDOR=/usr/lib/ocikp.d
MINE=99-ocikp-installed-test.conf	# the admin drop-in this test writes

# A precondition that does not hold: SKIP elsewhere, FAIL under CI when it is
# something CI should have provided.
skip_all() {	# skip_all REASON [ci-fails]
	if [ "${2:-}" = ci-fails ] && [ "${CI:-}" = true ]; then
		echo "1..1"; echo "not ok 1 - installed packages: $1"; exit 1
	fi
	echo "1..0 # SKIP $1"; exit 0
}
[ "${OCIKP_INSTALLED_TEST:-}" != 0 ] || skip_all "OCIKP_INSTALLED_TEST=0"
[ "${CI:-}" = true ] || [ -n "${OCIKP_INSTALLED_TEST:-}" ] ||
	skip_all "installs packages into this machine: set OCIKP_INSTALLED_TEST=1 to run it (CI does)"
[ "$(id -u)" -eq 0 ] || skip_all "needs root (dpkg -i)"
[ -f "$top_srcdir/debian/control" ] || skip_all "no debian/ in $top_srcdir (a dist tarball)"
command -v git > /dev/null && git -C "$top_srcdir" rev-parse --git-dir > /dev/null 2>&1 ||
	skip_all "$top_srcdir is not a git checkout (its file list comes from git)"
for tool in dpkg-buildpackage dh dpkg-checkbuilddeps; do
	command -v "$tool" > /dev/null || skip_all "$tool not installed (dpkg-dev, debhelper)" ci-fails
done
(cd "$top_srcdir" && dpkg-checkbuilddeps) > "$T_TMP/deps" 2>&1 ||
	skip_all "build dependencies missing: $(tr '\n' ' ' < "$T_TMP/deps")" ci-fails
if dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'ocikp*' 'libocikp*' 2>/dev/null | grep -q '^.i'; then
	skip_all "an ocikp package is already installed; not touching it" ci-fails
fi
[ ! -e "$ETC/$MINE" ] || skip_all "$ETC/$MINE exists: left over from an interrupted run?" ci-fails

# ---- build the .debs from a copy of the tree (no build outputs, no .git) ----
SRC="$T_TMP/src/ocikp"
mkdir -p "$SRC"
(cd "$top_srcdir" && git ls-files -z -c -o --exclude-standard | tar --null -cf - -T -) |
	tar -xf - -C "$SRC"
(cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	dpkg-buildpackage -us -uc -b) > "$T_TMP/build.log" 2>&1
rc=$?
[ $rc -eq 0 ] || t_diag "$(tail -n 30 "$T_TMP/build.log")"
t_ok $rc "dpkg-buildpackage -b builds the packages"
[ $rc -eq 0 ] || { t_done; exit 1; }
deb() { ls "$T_TMP"/src/"$1"_*.deb 2>/dev/null | head -n 1; }

# lintian: no errors.  The remaining warnings are listed in the README
# (packaging) with the reason each one stays.
if command -v lintian > /dev/null; then
	lintian --no-tag-display-limit "$T_TMP"/src/ocikp_*.changes > "$T_TMP/lintian" 2>&1
	grep '^E:' "$T_TMP/lintian" > "$T_TMP/lintian.E"
	[ ! -s "$T_TMP/lintian.E" ]
	rc=$?
	[ $rc -eq 0 ] || t_diag "$(cat "$T_TMP/lintian.E")"
	t_ok $rc "lintian reports no errors ($(grep -c '^W:' "$T_TMP/lintian") warnings)"
	grep '^W:' "$T_TMP/lintian" | while read -r w; do t_diag "$w"; done
elif [ "${CI:-}" = true ]; then
	t_ok 1 "lintian is not installed (.ci/install-deps installs it)"
else
	t_skip "lintian" "not installed"
fi
BACKENDS=$(cd "$T_TMP/src" && ls ocikp-*_*.deb | grep -v -- -dbgsym_ | sed 's/_.*//; s/^ocikp-//')
t_diag "backend packages built: $(echo $BACKENDS)"
STANZAS=$(sed -n 's/^Package:[[:space:]]*ocikp-\([a-z0-9]*\)[[:space:]]*$/\1/p' "$SRC/debian/control" | sort)
[ "$(echo $BACKENDS)" = "$(echo $STANZAS)" ]
t_ok $? "one package per backend stanza of debian/control ($(echo $STANZAS))"

# Each backend package holds exactly its module and its drop-in (and its
# docs), so removing one takes nothing another needs.
bad=""
for b in $BACKENDS; do
	files=$(dpkg-deb -c "$(deb "ocikp-$b")" | awk '{ print $NF }' | grep -v '/$' |
		grep -v '^\./usr/share/doc/' | sort | tr '\n' ' ')
	want="./usr/lib/ocikp.d/50-$b.conf ./usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/ocikp/ocikp-$b.so "
	[ "$files" = "$want" ] || bad="$bad ocikp-$b:[$files]"
done
[ -z "$bad" ] || t_diag "contents wrong:$bad"
[ -z "$bad" ]
t_ok $? "each backend package holds its module and its drop-in, nothing else"

# Each backend package depends on the exact ocikp and on its own libraries
# only (${shlibs:Depends} of its module), so installing one pulls in nothing
# another backend needs.
depends() { dpkg-deb -f "$(deb "$1")" Depends; }
ver=$(dpkg-deb -f "$(deb ocikp)" Version)
bad=""
! depends ocikp | grep -Eq 'libtss2|libsecret|libcurl' || bad="$bad ocikp:$(depends ocikp)"
for b in $BACKENDS; do
	d=$(depends "ocikp-$b")
	case "$d" in *"ocikp (= $ver)"*) ;; *) bad="$bad ocikp-$b(no ocikp (= $ver)):$d" ;; esac
	case "$b" in
	tpm) [[ "$d" == *libtss2-esys* && "$d" != *libsecret* && "$d" != *libcurl* ]] || bad="$bad ocikp-tpm:$d" ;;
	keychain) [[ "$d" == *libsecret-1* && "$d" != *libtss2* && "$d" != *libcurl* ]] ||
		bad="$bad ocikp-keychain:$d" ;;
	gcpkms) [[ "$d" == *libcurl4* && "$d" != *libtss2* && "$d" != *libsecret* ]] ||
		bad="$bad ocikp-gcpkms:$d" ;;
	kbs) [[ "$d" == *libcurl4* && "$d" != *libtss2* && "$d" != *libsecret* ]] ||
		bad="$bad ocikp-kbs:$d" ;;
	awskms) [[ "$d" == *libcurl4* && "$d" != *libtss2* && "$d" != *libsecret* ]] ||
		bad="$bad ocikp-awskms:$d" ;;
	vault) [[ "$d" == *libcurl4* && "$d" != *libtss2* && "$d" != *libsecret* ]] ||
		bad="$bad ocikp-vault:$d" ;;
	pkcs11) [[ "$d" == *libp11-kit0* && "$d" != *libtss2* && "$d" != *libsecret* &&
		"$d" != *libcurl* ]] || bad="$bad ocikp-pkcs11:$d" ;;
	esac
done
[ -z "$bad" ] || t_diag "Depends wrong:$bad"
[ -z "$bad" ]
t_ok $? "Depends: each backend package needs ocikp (= $ver) and only its own libraries; ocikp needs none of theirs"
set -- $BACKENDS
FIRST=${1:-}
SECOND=${2:-}

# ---- cleanup: whatever happens, leave the machine as it was ----------------
ETC_EXISTED=no
[ -d "$ETC" ] && ETC_EXISTED=yes
cleanup() {
	rm -f "$ETC/$MINE" "$ETC/50-$FIRST.conf" "$ETC/50-sample.conf.installed-test"
	[ -n "${MASKED:-}" ] && rm -f "$ETC/$MASKED"
	dpkg -P $(dpkg-query -W -f '${Package}\n' 'ocikp*' 'libocikp*' 2>/dev/null) > /dev/null 2>&1
	[ "$ETC_EXISTED" = yes ] || rmdir "$ETC" 2>/dev/null
}
t_at_exit cleanup

# `ocikp list` as "name origin state" lines, e.g. "tpm /usr/lib/ocikp.d/50-tpm.conf:1 loads".
listing() {
	env -u OCIKP_CONFIG_DIR -u OCIKP_PLUGIN_DIR "$OCIKP" list > "$T_TMP/list" 2>&1 || return 1
	sed -n 's/^  \([a-z0-9_-]*\):.*\[\(loads\|disabled\|refused\)[^]]*\] (\(.*\))$/\1 \3 \2/p' \
		"$T_TMP/list" | sort
}
check_listing() {	# check_listing DESC EXPECTED-LINES
	local got
	got=$(listing)
	if [ "$got" = "$2" ]; then t_ok 0 "$1"
	else t_ok 1 "$1"; t_diag "want:" "$2" "got:" "$got" "ocikp list:" "$(cat "$T_TMP/list")"; fi
}
# Where "backend =" is in a drop-in: the origin `ocikp list` shows.
origin() { echo "$1:$(grep -n '^backend *=' "$1" | head -n 1 | cut -d: -f1)"; }
expect() {	# expect BACKEND...: the listing when exactly these packaged backends load
	local b
	for b in "$@"; do echo "$b $(origin "$VENDOR/50-$b.conf") loads"; done | sort
}
scheme_of() { sed -n "s/^  $1: \([a-z0-9+.-]*\):\/\/.*/\1/p" "$T_TMP/list"; }
fingerprint() {	# what dpkg installed for a package: paths, sizes, mtimes, inodes, status
	dpkg-query -W -f '${Status} ${Version}\n' "$1"
	dpkg -L "$1" | while read -r f; do [ -f "$f" ] && stat -c '%n %s %Y %i %a' "$f"; done
}

# ---- ocikp alone, then with one backend -------------------------------------
dpkg -i "$(deb ocikp)" > "$T_TMP/dpkg.log" 2>&1
rc=$?
[ $rc -eq 0 ] || t_diag "$(cat "$T_TMP/dpkg.log")"
t_ok $rc "dpkg -i ocikp"
check_listing "ocikp alone: only the packaged sample backend, and it loads" "$(expect sample)"
PLUGINDIR=$(sed -n 's/^plugin dir: //p' "$T_TMP/list")
[ "$PLUGINDIR" = "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/ocikp" ]
t_ok $? "the plugin dir is the multiarch pkglibdir ($PLUGINDIR)"
man -w ocikp.d > /dev/null 2>&1 && man -w 1 ocikp > /dev/null 2>&1
t_ok $? "man pages ocikp(1) and ocikp.d(5) installed"

if [ -n "$FIRST" ]; then
	dpkg -i "$(deb "ocikp-$FIRST")" > "$T_TMP/dpkg.log" 2>&1
	rc=$?
	[ $rc -eq 0 ] || t_diag "$(cat "$T_TMP/dpkg.log")"
	t_ok $rc "dpkg -i ocikp-$FIRST"
	check_listing "$FIRST appears beside sample, from its packaged drop-in, and loads" \
		"$(expect sample "$FIRST")"
	FIRST_SCHEME=$(scheme_of "$FIRST")
else
	for _ in 1 2; do t_skip "first backend package" "no backend package was built"; done
fi

# ---- a second backend leaves the first alone ---------------------------------
if [ -n "$SECOND" ]; then
	fingerprint "ocikp-$FIRST" > "$T_TMP/first.before"
	dpkg -i "$(deb "ocikp-$SECOND")" > "$T_TMP/dpkg.log" 2>&1
	rc=$?
	[ $rc -eq 0 ] || t_diag "$(cat "$T_TMP/dpkg.log")"
	t_ok $rc "dpkg -i ocikp-$SECOND"
	check_listing "$SECOND appears too; sample and $FIRST unchanged" \
		"$(expect sample "$FIRST" "$SECOND")"
	fingerprint "ocikp-$FIRST" > "$T_TMP/first.after"
	cmp -s "$T_TMP/first.before" "$T_TMP/first.after"
	t_ok $? "installing ocikp-$SECOND did not touch ocikp-$FIRST's files or status"
else
	for _ in 1 2 3; do t_skip "second backend package" "fewer than two backend packages were built"; done
fi

# ---- wrap and unwrap through the installed binary ----------------------------
K="$T_TMP/sample.key"
"$OCIKP" sample keygen "$K" > /dev/null
t_ok $? "installed ocikp sample keygen makes a key"
mkdir -p "$ETC"
printf '# written by ocikp tests/installed.sh\nsample.key_file = %s\n' "$K" > "$ETC/$MINE"
chmod 644 "$ETC/$MINE"
ann=$(t_wrap "installed layer key" sample://default)
[ -n "$ann" ] || t_diag "wrap: exit $T_RC: $T_ERR"
out=$(t_unwrap "$ann")
[ "$out" = "installed layer key" ]
t_ok $? "sample wrap + unwrap through /usr/bin/ocikp, key named by an admin drop-in in $ETC"

E2E_RC=0
t_e2e_client || E2E_RC=$?
if [ $E2E_RC -eq 0 ]; then
	printf '{"key-providers":{"ocikp":{"cmd":{"path":"%s","args":["--provider=ocikp"]}}}}\n' \
		"$OCIKP" > "$T_TMP/ocicrypt.json"
	OCICRYPT_KEYPROVIDER_CONFIG="$T_TMP/ocicrypt.json" "$E2E" \
		-enc ocikp:sample://default -dec ocikp:sample://default > "$T_TMP/e2e.out" 2>&1
	rc=$?
	[ $rc -eq 0 ] || t_diag "$(cat "$T_TMP/e2e.out")"
	t_ok $rc "ocicrypt (Go) encrypts and decrypts through the installed ocikp, as ocicrypt.json names it"
elif [ $E2E_RC -eq 77 ] && [ "${CI:-}" != true ]; then
	t_skip "ocicrypt through the installed ocikp" "$T_E2E_WHY"
else
	t_ok 1 "ocicrypt through the installed ocikp: ${T_E2E_WHY:-}"
fi

# ---- admin drop-ins: override a packaged file, mask one ----------------------
if [ -n "$FIRST" ]; then
	{ cat "$VENDOR/50-$FIRST.conf"; echo "enabled = no"; } > "$ETC/50-$FIRST.conf"
	chmod 644 "$ETC/50-$FIRST.conf"
	grep -qx "$FIRST $(origin "$ETC/50-$FIRST.conf") disabled" <(listing)
	t_ok $? "$ETC/50-$FIRST.conf hides the packaged one: $FIRST defined there, disabled"
	t_expect_fail "disabled by the admin: $FIRST_SCHEME:// has no backend (exit 3)" 3 \
		"^ocikp: no backend for scheme '$FIRST_SCHEME'$" \
		"$(t_wrap_request ocikp x "$FIRST_SCHEME://x")"
	ln -sf /dev/null "$ETC/50-$FIRST.conf"
	listing > "$T_TMP/l.mask"
	! grep -q "^$FIRST " "$T_TMP/l.mask" && grep -q "^sample $VENDOR/" "$T_TMP/l.mask"
	t_ok $? "a /dev/null symlink in $ETC masks the packaged 50-$FIRST.conf: $FIRST is gone"
	rm -f "$ETC/50-$FIRST.conf"
	grep -qx "$FIRST $(origin "$VENDOR/50-$FIRST.conf") loads" <(listing)
	t_ok $? "removing the admin file brings the packaged $FIRST back"
else
	for _ in 1 2 3 4; do t_skip "admin drop-ins over a backend" "no backend package was built"; done
fi
MASKED=50-sample.conf
ln -s /dev/null "$ETC/$MASKED"
grep -qx 'sample built-in default refused\|sample built-in default loads' <(listing)
t_ok $? "masking the packaged 50-sample.conf leaves the built-in sample default"
rm -f "$ETC/$MASKED"
MASKED=

# ---- removing a backend package removes its scheme ---------------------------
if [ -n "$FIRST" ]; then
	dpkg -r "ocikp-$FIRST" > "$T_TMP/dpkg.log" 2>&1
	rc=$?
	[ $rc -eq 0 ] || t_diag "$(cat "$T_TMP/dpkg.log")"
	t_ok $rc "dpkg -r ocikp-$FIRST"
	[ ! -e "$VENDOR/50-$FIRST.conf" ] && [ ! -e "$PLUGINDIR/ocikp-$FIRST.so" ]
	t_ok $? "its module and drop-in are gone"
	t_expect_fail "after removal, wrap to $FIRST_SCHEME:// says no backend for scheme (exit 3)" 3 \
		"^ocikp: no backend for scheme '$FIRST_SCHEME'$" \
		"$(t_wrap_request ocikp x "$FIRST_SCHEME://x")"
	if [ -n "$SECOND" ]; then
		grep -qx "$SECOND $(origin "$VENDOR/50-$SECOND.conf") loads" <(listing)
		t_ok $? "$SECOND still loads"
	else
		t_skip "second backend still loads" "fewer than two backend packages were built"
	fi
else
	for _ in 1 2 3 4; do t_skip "removing a backend package" "no backend package was built"; done
fi

# ---- purge: the machine as it was --------------------------------------------
cleanup
left=$(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'ocikp*' 'libocikp*' 2>/dev/null | grep -v '^.n')
[ -z "$left" ] && [ ! -e "$OCIKP" ] && [ ! -e "$VENDOR" ] && [ ! -e "$PLUGINDIR" ] && [ ! -e "$ETC/$MINE" ]
t_ok $? "purged: no ocikp package, binary, module dir or drop-in left${left:+ ($left)}"
t_done
[ "$T_FAILED" -eq 0 ]
