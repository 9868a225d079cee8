# Shared by the pkcs11 tests: a private SoftHSM2 (SOFTHSM2_CONF in the
# test's directory, tokens made by softhsm2-util, keys by OpenSC's
# pkcs11-tool) that p11-kit sees as its only module.
#
# As root p11-kit ignores user configuration, so the test re-runs itself in
# a private mount namespace (unshare -m) with a module directory of its own
# bound over p11-kit's: the machine's registered modules stay unseen and
# untouched.  Otherwise it skips.  Source it before common.sh's helpers
# are used; it sources common.sh itself.

p11_skip() { echo "1..0 # SKIP $*"; exit 0; }

P11_SYSMODS=/usr/share/p11-kit/modules
P11_SOFTHSM=$(sed -n 's/^module:[[:space:]]*//p' "$P11_SYSMODS/softhsm2.module" 2>/dev/null)
[ -n "$P11_SOFTHSM" ] && [ -f "$P11_SOFTHSM" ] || p11_skip "SoftHSM2 (softhsm2) not installed"
command -v softhsm2-util > /dev/null || p11_skip "softhsm2-util not found"
command -v pkcs11-tool > /dev/null || p11_skip "pkcs11-tool (opensc) not found"
if [ -z "${P11_ISOLATED:-}" ]; then
	[ "$(id -u)" -eq 0 ] || p11_skip "needs root for a private mount namespace (unshare -m)"
	unshare -m --propagation private true 2> /dev/null ||
		p11_skip "unshare -m is not permitted here"
	P11_ISOLATED=1 exec unshare -m --propagation private "$BASH" "$0" "$@"
fi

. "$top_srcdir/tests/lib/common.sh"
t_setup
P11_MODS="$T_TMP/p11-modules"
mkdir -p "$P11_MODS" "$T_TMP/tokens"
printf 'module: %s\n' "$P11_SOFTHSM" > "$P11_MODS/softhsm2.module"
mount --bind "$P11_MODS" "$P11_SYSMODS" || p11_skip "could not bind a module directory"
[ -d /etc/pkcs11/modules ] && mount --bind "$P11_MODS" /etc/pkcs11/modules
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$T_TMP/tokens" > "$T_TMP/softhsm2.conf"
export SOFTHSM2_CONF="$T_TMP/softhsm2.conf"
printf 'backend = pkcs11\nmodule = ocikp-pkcs11.so\nopaque_schemes = pkcs11\n' > "$C/50-pkcs11.conf"

# p11_token LABEL PIN: a fresh token
p11_token() {
	softhsm2-util --init-token --free --label "$1" --so-pin 000000 --pin "$2" > /dev/null
}

# p11_keypair TOKEN PIN TYPE ID LABEL (TYPE as pkcs11-tool: rsa:2048, EC:prime256v1)
p11_keypair() {
	pkcs11-tool --module "$P11_SOFTHSM" --token-label "$1" --login --pin "$2" \
		--keypairgen --key-type "$3" --id "$4" --label "$5" > /dev/null 2>&1
}

# A PIN file (0600) holding $1; prints its path.
p11_pin_file() {
	local f
	f=$(mktemp "$T_TMP/pin.XXXXXX")
	printf '%s\n' "$1" > "$f"
	chmod 600 "$f"
	echo "$f"
}
