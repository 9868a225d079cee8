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

# The load test runs as a CI stage of its own, not in make check.
! grep -E '^TESTS \+?=.*tests/load\.sh' tests/local.mk > /dev/null && grep -q 'check-load' .ci/run
t_ok $? "tests/load.sh is a CI stage, not part of make check"
t_done
