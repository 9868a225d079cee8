#!/bin/bash
# ocikpd is no confused deputy (issue 19): a caller gets no more through
# the daemon (root) than by exec.  With the kbs backend and the local KBS
# (tests/kbs/fake_kbs.py), callers run as uid 65534 (setpriv):
#  - keypath= names a file the daemon opens with the caller's identity: a
#    root-only file is PERMISSION_DENIED before anything is sent to the KBS,
#    and the error tells nothing the caller could not stat itself;
#  - a file the caller can read works through the daemon;
#  - KEK registration (the admin's key) only for serve.admin_users /
#    serve.admin_groups; over TCP the caller is unknown;
#  - exec mode is unchanged.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/kbs/lib.sh"
kbs_require
t_setup
. "$top_srcdir/tests/daemon/lib.sh"
d_built_or_skip
d_public_scripts
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (the daemon takes callers' identities)"; exit 0; }
command -v setpriv > /dev/null || { echo "1..0 # SKIP no setpriv (util-linux)"; exit 0; }
[ -f "$P/ocikp-kbs.so" ] || { echo "1..0 # SKIP kbs backend not built (configure --enable-kbs)"; exit 0; }
kbs_setup "" ||
	{ echo "1..1"; echo "not ok 1 - fake KBS: $(cat "$KBS_DIR/server.err" 2>/dev/null)"; exit 1; }
unset OFFLINE_FS_KBC_EXTRA_FILE_PATH

OPTS='{"symkey":"c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE=","digest":"sha256:00","cipheroptions":{}}'
R=$T_TMP/req
mkdir -p "$R"
chmod 755 "$R"

# The callers: uid 65534 without groups, and with group 4242 (an admin).
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nobody_admin() { setpriv --reuid=65534 --regid=65534 --groups=4242 "$@"; }
stored() { kbs_ctl "/_resource/$1" 2> /dev/null; }
# Requests to the KBS itself, not the test's control requests.
kbs_requests() { cat "$KBS_DIR/requests.log" 2> /dev/null | grep -v '^control ' | wc -l; }

# ok_call DESC CALLER TARGET PARAM CODE [MESSAGE-ERE]: WrapKey for PARAM by
# CALLER (nobody, nobody_admin or env for root); the answer in $T_TMP/call.out.
ok_call() {
	local desc=$1 who=$2 target=$3 param=$4 code=$5 re=${6:-} rc=0
	d_req "$R/wrap.json" "$(t_wrap_request ocikp "$OPTS" "$param")"
	chmod 644 "$R/wrap.json"
	"$who" "$D_PY" "$D_PUB/grpc_client.py" call --target "$target" --rpc WrapKey --json "$R/wrap.json" \
		--expect-code "$code" ${re:+--expect-message-re "$re"} > "$T_TMP/call.out" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || t_diag "$desc: $(cat "$T_TMP/call.out")"
	t_ok "$rc" "$desc"
}
# The answer's message tells no mode, owner or uid of the file.
discreet() { ! grep -Eq 'mode|owned|uid|[0-7]{3}\)' "$T_TMP/call.out"; }

ROOTK=$T_TMP/root-only.key
head -c 32 /dev/urandom > "$ROOTK"; chmod 600 "$ROOTK"
NOBK=$T_TMP/nobody.key
head -c 32 /dev/urandom > "$NOBK"; chown 65534:65534 "$NOBK"; chmod 600 "$NOBK"
mkdir -m 700 "$T_TMP/closed"
head -c 32 /dev/urandom > "$T_TMP/closed/k"; chown 65534:65534 "$T_TMP/closed/k"; chmod 600 "$T_TMP/closed/k"

# Daemon 1: kbs registering (kbs.admin_key), admins root and group 4242.
D1C=$(t_conf_dir)
kbs_dropin "$D1C" "kbs.offline_files = $T_TMP/none.json"
printf 'serve.admin_users = root\nserve.admin_groups = 4242\n' > "$D1C/10-serve.conf"
if ! D_CONF=$D1C d_start; then
	t_ok 1 "ocikpd starts"
	t_done
	exit 1
fi
chmod 666 "$D_SOCK"	# for uid 65534; the daemon's own rule is group ocikp
D1=$D_TARGET D1_LOG=$D_LOG

# --- (a) a file the caller cannot read ------------------------------------------------
N=$(kbs_requests)
ok_call "uid 65534 (admin), keypath= a root-only 0600 file: PERMISSION_DENIED, 'Permission denied'" \
	nobody_admin "$D1" "keypath=$ROOTK::keyid=kbs:///default/deputy/1" PERMISSION_DENIED \
	"^ocikp: kbs: cannot read KEK file $ROOTK: Permission denied$"
discreet
t_ok $? "... the error tells no mode or owner"
[ "$(kbs_requests)" = "$N" ] && [ -z "$(stored default/deputy/1)" ]
t_ok $? "... and no request reached the KBS (nothing POSTed, nothing stored)"
ok_call "keypath= a file in a directory the caller cannot search: PERMISSION_DENIED" \
	nobody_admin "$D1" "keypath=$T_TMP/closed/k::keyid=kbs:///default/deputy/1" PERMISSION_DENIED \
	"cannot read KEK file $T_TMP/closed/k: Permission denied$"
discreet
t_ok $? "... without its mode or owner"
if [ -e /etc/shadow ] && ! nobody test -r /etc/shadow; then
	ok_call "keypath=/etc/shadow: PERMISSION_DENIED, only 'Permission denied'" \
		nobody_admin "$D1" "keypath=/etc/shadow::keyid=kbs:///default/deputy/1" PERMISSION_DENIED \
		"^ocikp: kbs: cannot read KEK file /etc/shadow: Permission denied$"
	discreet
	t_ok $? "... not its mode"
else
	t_skip "keypath=/etc/shadow" "no /etc/shadow unreadable by uid 65534"
	t_skip "... not its mode" "no /etc/shadow"
fi
[ "$(kbs_requests)" = "$N" ]
t_ok $? "no refused request reached the KBS"

# --- (b) a file the caller can read -----------------------------------------------------
ok_call "uid 65534 (admin), keypath= its own 0600 file: OK through the daemon" \
	nobody_admin "$D1" "keypath=$NOBK::keyid=kbs:///default/deputy/2" OK
[ "$(stored default/deputy/2)" = "$(base64 -w0 < "$NOBK")" ]
t_ok $? "... and the KBS stores that file's 32 bytes"

# --- (c) registration only for serve.admin_users / admin_groups ---------------------------
N=$(kbs_requests)
ok_call "uid 65534 not listed: registration PERMISSION_DENIED naming serve.admin_users/admin_groups" \
	nobody "$D1" "keypath=$NOBK::keyid=kbs:///default/deputy/3" PERMISSION_DENIED \
	"^ocikp: kbs: KEK registration in the KBS: uid 65534 is not listed in serve.admin_users or serve.admin_groups$"
ok_call "... a random KEK (no keypath) too" \
	nobody "$D1" "kbs:///default/deputy/3" PERMISSION_DENIED "serve.admin_users"
[ "$(kbs_requests)" = "$N" ] && [ -z "$(stored default/deputy/3)" ]
t_ok $? "... and nothing reached the KBS"
ok_call "uid 65534 not listed, sample=true (nothing registered): OK" \
	nobody "$D1" "sample=true" OK
ok_call "root, listed in serve.admin_users: registers" \
	env "$D1" "keypath=$ROOTK::keyid=kbs:///default/deputy/4" OK
[ "$(stored default/deputy/4)" = "$(base64 -w0 < "$ROOTK")" ]
t_ok $? "... the KBS stores the root-only file's KEK for root"
grep -Eq '^ocikpd: WrapKey backend=kbs status=PERMISSION_DENIED .*uid=65534 .*cannot read KEK file' "$D1_LOG" &&
	! grep -E 'status=PERMISSION_DENIED' "$D1_LOG" | grep -Eq 'mode|owned'
t_ok $? "the log has the refusals with the caller's uid, no mode or owner"
d_stop
t_ok $? "ocikpd 1 stops cleanly (exit 0)"

# Daemon 2: kbs without registration, on a unix socket and on TCP.
D2C=$(t_conf_dir)
kbs_dropin "$D2C" "kbs.offline_files = $T_TMP/none.json"
sed -i '/^kbs.admin_key/d' "$D2C/50-kbs.conf"
if d_start "--listen=unix:$T_TMP/d2.sock" --listen=127.0.0.1:0 "--config-dir=$D2C"; then
	chmod 666 "$T_TMP/d2.sock"
	ok_call "no registration: uid 65534 (not admin) reads its own key file through the daemon" \
		nobody "unix://$T_TMP/d2.sock" "keypath=$NOBK::keyid=kbs:///default/deputy/5" OK
	ok_call "... a root-only file: PERMISSION_DENIED" \
		nobody "unix://$T_TMP/d2.sock" "keypath=$ROOTK::keyid=kbs:///default/deputy/5" PERMISSION_DENIED \
		"cannot read KEK file $ROOTK: Permission denied$"
	ok_call "over TCP (the caller unknown): keypath= is PERMISSION_DENIED" \
		env "$D_TCP" "keypath=$NOBK::keyid=kbs:///default/deputy/5" PERMISSION_DENIED \
		"the caller of a TCP connection is unknown"
	d_stop
	t_ok $? "ocikpd 2 stops cleanly (exit 0)"
else
	for _ in 1 2 3 4; do t_ok 1 "ocikpd 2 starts"; done
fi

# --- (d) exec mode is unchanged ---------------------------------------------------------------
t_run "$(t_wrap_request ocikp "$OPTS" "keypath=$ROOTK::keyid=kbs:///default/deputy/6")" \
	--config-dir="$D1C" --plugin-dir="$P"
[ "$T_RC" -eq 0 ] && [ "$(stored default/deputy/6)" = "$(base64 -w0 < "$ROOTK")" ]
t_ok $? "exec as root: keypath= and registration as before (no serve.admin_* needed)"
printf '%s' "$(t_wrap_request ocikp "$OPTS" "keypath=$ROOTK::keyid=kbs:///default/deputy/7")" > "$R/exec.json"
chmod 644 "$R/exec.json"
nobody "$OCIKP" --config-dir="$D2C" --plugin-dir="$P" < "$R/exec.json" > "$T_TMP/exec.out" 2>&1
rc=$?
[ "$rc" -eq 3 ] && grep -q "KEK file $ROOTK: Permission denied" "$T_TMP/exec.out"
t_ok $? "exec as uid 65534: a root-only keypath= is exit 3, as before (got $rc)"
t_done
