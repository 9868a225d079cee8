#!/usr/bin/env bash
# The keychain backend on a real Secret Service: gnome-keyring-daemon in a
# private D-Bus session, its login keyring unlocked with a throwaway password.
if [ -z "${OCIKP_IN_DBUS:-}" ] && command -v dbus-run-session >/dev/null &&
   command -v gnome-keyring-daemon >/dev/null; then
	OCIKP_IN_DBUS=1 exec dbus-run-session -- bash "$0" "$@"
fi
. "$top_srcdir/tests/lib/common.sh"
V="python3 $top_srcdir/tests/keychain/vectors.py"
N=13
if [ -z "${OCIKP_IN_DBUS:-}" ] || ! python3 -c 'import cryptography' 2>/dev/null ||
   ! case " $OCIKP_MODULES " in *ocikp-keychain.so*) true ;; *) false ;; esac; then
	[ "${CI:-}" = true ] && { t_ok 1 "dbus-run-session, gnome-keyring, python3-cryptography, keychain module"; t_done; exit 1; }
	for i in $(seq $N); do t_skip "Secret Service" "needs dbus-run-session, gnome-keyring-daemon, python3-cryptography"; done
	t_done; exit 0
fi
# A private home for the keyring files, and the daemon.
export HOME="$T_TMP/home" XDG_DATA_HOME="$T_TMP/home/.local/share" XDG_RUNTIME_DIR="$T_TMP/run"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
# In the foreground, as our child: a daemonized one would outlive the test
# and hold its output pipe open.
printf 'throwaway-password' | gnome-keyring-daemon --foreground --unlock --components=secrets \
	> "$T_TMP/gnome-keyring.log" 2>&1 &
t_at_exit "kill $! 2>/dev/null"
for i in $(seq 100); do
	gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
		--method org.freedesktop.DBus.NameHasOwner org.freedesktop.secrets 2>/dev/null | grep -q true && break
	sleep 0.1
done
P=$(t_plugin_dir)
C=$(t_conf_dir)
printf 'backend = keychain\nmodule = ocikp-keychain.so\nschemes = keychain apple-se\n' > "$C/50-keychain.conf"
export OCIKP_PLUGIN_DIR="$P" OCIKP_CONFIG_DIR="$C"
OPTS='{"symkey":"c2VjcmV0LXNlcnZpY2UtbGF5ZXIta2V5LWZvci10ZXN0","digest":"sha256:00"}'
printf '%s' "$OPTS" > "$T_TMP/opts"

t_run "" keychain create
PUB=$(printf '%s\n' "$T_OUT" | sed -n 's/^pub=//p')
[ "$T_RC" -eq 0 ] && [ -n "$PUB" ] && ! printf '%s' "$T_OUT" | grep -q PRIVATE
t_ok $? "ocikp keychain create stores a key in the Secret Service and prints only pub="
t_expect_fail "create again refuses to replace it" 6 "a key with tag 'se.ocicrypt.default.tag' already exists" "" keychain create
t_run "" keychain pub
[ "$T_RC" -eq 0 ] && [ "$(printf '%s\n' "$T_OUT" | sed -n 's/^pub=//p')" = "$PUB" ]
t_ok $? "ocikp keychain pub prints the same point"
! grep -rq "PRIVATE KEY" "$HOME" "$T_TMP"/conf.* 2>/dev/null
t_ok $? "the private key is nowhere on disk in the clear"
URL="apple-se://se?mode=encrypt&pub=$PUB"
ann=$(t_wrap "$OPTS" "$URL") && [ "$(t_unwrap "$ann" 'apple-se://se?mode=decrypt')" = "$OPTS" ]
t_ok $? "apple-se:// round trip through the Secret Service key"
# The layer key passes only through ocikp's own code, even when the private
# key comes over D-Bus: the secrets shim (tests/secrets.sh) must find no copy
# of it.  (The private key itself crosses GLib's D-Bus buffers, which ocikp
# does not own; tests/secrets.sh covers it with keychain.key_file.)
rc=0
t_shim || rc=$?
if [ $rc -eq 77 ]; then
	t_skip "unwrap through the Secret Service leaves no copy of the options" "$T_SHIM_WHY"
elif [ $rc -ne 0 ]; then
	t_ok 1 "unwrap through the Secret Service under the shim: $T_SHIM_WHY"
else
	rm -f "$T_TMP/shim.report"
	t_unwrap_request ocikp "$ann" > "$T_TMP/req"
	OCIKP_SHIM_REPORT="$T_TMP/shim.report" LD_PRELOAD="$SHIM" \
	OCIKP_SHIM_SECRETS="$(od -An -tx1 -v < "$T_TMP/opts" | tr -d ' \n'),$(base64 -w0 < "$T_TMP/opts" | od -An -tx1 -v | tr -d ' \n')" \
		"$OCIKP" < "$T_TMP/req" > "$T_TMP/o" 2> "$T_TMP/e"
	rc=$?
	[ $rc -eq 0 ] && grep -q '^exit dumpable=0 .* hits=0 secrets=2$' "$T_TMP/shim.report"
	clean=$?
	[ $clean -eq 0 ] || t_diag "$(cat "$T_TMP/shim.report" "$T_TMP/e" 2>/dev/null)"
	t_ok $clean "unwrap through the Secret Service leaves no copy of the options (exit $rc)"
fi
$V wrap "$URL" "$T_TMP/opts" --zero-lead > "$T_TMP/py.json"
[ "$(t_unwrap "$(base64 -w0 < "$T_TMP/py.json")")" = "$OPTS" ]
t_ok $? "opens an independent (python) wrap, leading-zero case"
t_run "" keychain create --tag build-host
BPUB=$(printf '%s\n' "$T_OUT" | sed -n 's/^pub=//p')
annB=$(t_wrap "$OPTS" "keychain://build-host?pub=$BPUB") && [ "$(t_unwrap "$annB")" = "$OPTS" ]
t_ok $? "keychain://TAG selects the key stored under TAG"
t_run "" keychain delete --tag build-host
t_ok "$T_RC" "ocikp keychain delete --tag build-host"
t_expect_fail "deleted key: not mine, saying which tag" 4 "no key with tag 'build-host' in the Secret Service" \
	"$(t_unwrap_request ocikp "$annB")"
t_e2e "ocicrypt end to end, key in the Secret Service" apple-se "$C" \
	-enc "apple-se:$URL" -dec "apple-se:apple-se://se?mode=decrypt"
gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
	--method org.freedesktop.Secret.Service.Lock "['/org/freedesktop/secrets/collection/login']" >/dev/null
t_expect_fail "locked keyring: one line saying so, exit 5" 5 "the keyring holding tag 'se.ocicrypt.default.tag' is locked" \
	"$(t_unwrap_request ocikp "$ann")"
t_run "" keychain pub
[ "$T_RC" -eq 5 ] && [ -z "$T_OUT" ]
t_ok $? "ocikp keychain pub on a locked keyring: exit 5, nothing printed"
t_done
[ "$T_FAILED" -eq 0 ]
