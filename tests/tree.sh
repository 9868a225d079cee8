#!/usr/bin/env bash
# The tree itself: what a newcomer runs first, and that a clone or the
# release tarball carries everything the tests read.
. "$top_srcdir/tests/lib/common.sh"
cd "$top_srcdir"

# The README's first command, as written (the first line of the first sh block
# that is not a comment).
first=$(awk '/^```sh/{on=1; next} /^```/{if(on) exit} on && !/^#/ && NF {print; exit}' README.md)
case "$first" in
sudo*|*"&& sudo"*) t_ok 1 "README's first command needs no sudo (a fresh container has none): $first" ;;
*) t_ok 0 "README's first command needs no sudo" ;;
esac
step=${first%% *}
[ -x "$step" ] && grep -q 'exec sudo' "$step"
t_ok $? "its first step ($step) is executable and elevates itself only when not root"

# Run install-deps' root check in a shell where sudo is missing: as root it
# must not try sudo at all.
if [ "$(id -u)" -eq 0 ]; then
	mkdir "$T_TMP/bin" && ln -s "$(command -v id)" "$T_TMP/bin/id"
	out=$(PATH="$T_TMP/bin" "$BASH" -c "$(sed -n '1,/^fi$/p' .ci/install-deps); echo reached" 2>&1)
	[ "$out" = reached ]
	t_ok $? "as root, install-deps goes on without sudo"
else
	t_skip "as root, install-deps goes on without sudo" "not root"
fi

# Fixtures are in the tree: no test reads the workspace's shared folder
# beside the clone.  (The pattern is built in pieces so that this file does
# not match itself, for this check or any other grep of the tree.)
shared_dir='\.\./'"shared"; shared_var='OCIKP_'"SHARED"
refs=$(grep -rlE "$shared_dir|$shared_var" tests --include='*.sh' --include='*.c' --include='*.mk' \
	--include='*.py' --include='*.go' 2>/dev/null | tr '\n' ' ')
[ -z "$refs" ]
t_ok $? "no test reads the shared folder beside the clone${refs:+ ($refs)}"
for f in tpm/state/tpm2-00.permall tpm/rsa-nopcr.annotation.json tpm/ek-rsa.pem \
	 kbs/sample_kbc_annotation.json gcpkms/upstream-readme-annotation.json; do
	[ -s "tests/fixtures/$f" ]
	t_ok $? "fixture tests/fixtures/$f is in the tree"
done

# Every optional backend configure.ac knows is packaged as tpm and keychain
# are: a debian/control stanza behind its build profile and suggested by
# ocikp, an RPM subpackage behind its bcond with its configure switch and
# files, and a place in the RPM list .ci/run expects.
for b in $(sed -n 's/^OCIKP_BACKEND(\[\([a-z0-9]*\)\].*/\1/p' configure.ac); do
	miss=""
	# A release tarball carries ocikp.spec but not debian/ (upstream's
	# packaging for Debian lives in git only).
	if [ -f debian/control ]; then
		awk -v RS= -v p="ocikp-$b" -v prof="<!pkg.ocikp.no$b>" \
			'$0 ~ "(^|\n)Package: " p "\n" && index($0, "Build-Profiles: " prof) { f = 1 } END { exit !f }' \
			debian/control || miss="$miss stanza"
		grep -q "^Suggests:.*[ ,]ocikp-$b\(,\|$\)" debian/control || miss="$miss Suggests"
	fi
	grep -q "^%bcond_without $b$" ocikp.spec || miss="$miss bcond"
	grep -q "^%package $b$" ocikp.spec || miss="$miss %package"
	grep -qF -- "--%{?with_$b:enable}%{!?with_$b:disable}-$b" ocikp.spec || miss="$miss configure-switch"
	grep -q "^%files $b$" ocikp.spec && grep -q "^%{_libdir}/ocikp/ocikp-$b\.so$" ocikp.spec &&
		grep -q "^%{_prefix}/lib/ocikp.d/50-$b\.conf$" ocikp.spec || miss="$miss %files"
	grep -q "want=\".* ocikp-$b .*\"" .ci/run || miss="$miss .ci/run-rpm-list"
	[ -z "$miss" ]
	t_ok $? "backend $b is packaged (deb and rpm) like the others${miss:+; missing:$miss}"
done

# ocikpd is packaged on its own, its files named alike by make install, the
# deb and the rpm: what daemon/units.mk and man/local.mk install, in
# debian/ocikpd.install and in %files -n ocikpd, behind a build profile and
# a bcond; its build dependencies never reach the ocikp package.
units=$(sed -n 's/^systemdsystemunit_DATA = //p' daemon/units.mk)
sysusers=$(sed -n 's/^sysusers_DATA = //p' daemon/units.mk)
man8=$(grep -o 'man/ocikpd\.8\b' man/local.mk | sort -u)
want_files="bin/ocikpd"
for f in $units; do want_files="$want_files systemd/system/${f##*/}"; done
for f in $sysusers; do want_files="$want_files sysusers.d/${f##*/}"; done
for f in $man8; do want_files="$want_files man8/${f##*/}"; done
[ -n "$units" ] && [ -n "$sysusers" ] && [ -n "$man8" ]
t_ok $? "ocikpd installs units ($units), a sysusers.d file ($sysusers) and a page ($man8)"
libs="libnghttp2 libprotobuf-c protobuf-c-compiler libsystemd"
if [ -f debian/control ]; then
	miss=""
	awk -v RS= '$0 ~ /(^|\n)Package: ocikpd\n/ && index($0, "Build-Profiles: <!pkg.ocikp.nodaemon>") &&
		index($0, "Depends: ocikp (= ${binary:Version})") { f = 1 } END { exit !f }' \
		debian/control || miss="$miss stanza"
	for l in $libs; do
		grep -q "^ *$l[-a-z0-9]* <!pkg.ocikp.nodaemon>,$" debian/control || miss="$miss Build-Depends:$l"
	done
	for f in $want_files; do
		grep -q "^[a-z/]*/$f$" debian/ocikpd.install || miss="$miss install:$f"
	done
	# The ocikp stanza, up to the blank line: none of ocikpd's libraries.
	awk -v RS= '$0 ~ /(^|\n)Package: ocikp\n/' debian/control | grep -qE 'nghttp2|protobuf|systemd' &&
		miss="$miss ocikp-stanza-clean"
	grep -q 'enable,disable)-daemon' debian/rules || miss="$miss rules-configure-switch"
	[ -z "$miss" ]
	t_ok $? "ocikpd is packaged for Debian${miss:+; missing:$miss}"
fi
miss=""
grep -q '^%bcond_without daemon$' ocikp.spec || miss="$miss bcond"
grep -q '^%package -n ocikpd$' ocikp.spec || miss="$miss %package"
grep -qF -- '--%{?with_daemon:enable}%{!?with_daemon:disable}-daemon' ocikp.spec || miss="$miss configure-switch"
grep -qF -- '--with-systemdsystemunitdir=%{_unitdir}' ocikp.spec || miss="$miss unitdir"
for l in libnghttp2 libprotobuf-c libsystemd; do
	grep -q "^BuildRequires: *pkgconfig($l)" ocikp.spec || miss="$miss BuildRequires:$l"
done
files=$(sed -n '/^%files -n ocikpd$/,/^\(%endif\|%files\)/p' ocikp.spec)
for f in $want_files; do
	case $f in
	bin/*) pat="%{_bindir}/${f#bin/}" ;;
	systemd/system/*) pat="%{_unitdir}/${f##*/}" ;;
	sysusers.d/*) pat="%{_sysusersdir}/${f##*/}" ;;
	man8/*) pat="%{_mandir}/man8/${f##*/}*" ;;
	esac
	printf '%s\n' "$files" | grep -qxF -- "$pat" || miss="$miss %files:$pat"
done
grep -q '%systemd_post ocikpd.socket' ocikp.spec || miss="$miss %systemd_post"
[ -z "$miss" ]
t_ok $? "ocikpd is packaged for RPM${miss:+; missing:$miss}"

# The load test runs as a CI stage of its own, not in make check.
! grep -E '^TESTS \+?=.*tests/load\.sh' tests/local.mk > /dev/null && grep -q 'check-load' .ci/run
t_ok $? "tests/load.sh is a CI stage, not part of make check"
t_done
