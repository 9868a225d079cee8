#!/usr/bin/env bash
# How the tpm backend reaches the TPM: tpm.tcti names only a known transport
# (never a library or a command), device and socket paths are checked like
# the host's files, --tpmPath= takes a simulator's unix socket as the other
# provider does, and --verbose shows the TPM command count.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/tpm/lib.sh"
N=29
tpm_tools_or_skip $N
P=$(t_plugin_dir)
export OCIKP_PLUGIN_DIR="$P"
tpm_start_unix u || { t_ok 1 "start swtpm on unix sockets"; t_done; exit 1; }
SOCK=$SOCK_u
OCIKP_CONFIG_DIR=$(tpm_conf "swtpm:path=$SOCK")
export OCIKP_CONFIG_DIR
OPTS='{"symkey":"dHJhbnNwb3J0LXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE=","digest":"sha256:00"}'
ROOT=false; [ "$(id -u)" -eq 0 ] && ROOT=true

# The key URL of this TPM (through tpm.tcti = swtpm:path=, which tpm2-tss
# always took), and an annotation it opens.
t_run "" tpm ekpub
URL=$(printf '%s\n' "$T_OUT" | sed -n 's/^key URL: //p')
ann=$(t_wrap "$OPTS" "$URL")
[ -n "$ann" ] && [ "$(t_unwrap "$ann")" = "$OPTS" ]
t_ok $? "tpm.tcti = swtpm:path=<socket>: wrap and unwrap"
OK_REQ=$(t_unwrap_request ocikp "$ann")
# For the refusals: an annotation for another TPM, which gets as far as
# opening the TPM whatever the TCTI code does.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout -out "$T_TMP/other.pem"
REQ=$(t_unwrap_request ocikp "$(t_wrap "$OPTS" "tpm://ek?mode=encrypt&pub=$(base64 -w0 < "$T_TMP/other.pem")")")

# --tpmPath= naming the unix socket, as the other provider takes it.
t_run "" --tpmPath="$SOCK" tpm ekpub
[ "$T_RC" -eq 0 ] && [ "$(printf '%s\n' "$T_OUT" | sed -n 's/^key URL: //p')" = "$URL" ]
t_ok $? "--tpmPath=<swtpm unix socket>: ekpub reads the same EK through the swtpm TCTI"
t_run "$OK_REQ" --tpmPath="$SOCK"
[ "$T_RC" -eq 0 ] && [ "$(printf '%s' "$T_OUT" | t_json_field keyunwrapresults.optsdata | base64 -d)" = "$OPTS" ]
t_ok $? "--tpmPath=<swtpm unix socket>: unwrap opens what was wrapped for that TPM"
ln -s "$SOCK" "$T_TMP/tpm-link"
t_run "$OK_REQ" --tpmPath="$T_TMP/tpm-link"
[ "$T_RC" -eq 0 ]
t_ok $? "--tpmPath= through a symlink: the target is what is checked and used"
tpm_clean "swtpm:path=$SOCK"
t_ok $? "no transient objects or sessions left"

# A backend option never names code: a library file, a command, a TCTI that
# wraps another, a TCTI library by name.
mkdir -m 0777 "$T_TMP/x"
if command -v "${CC:-cc}" >/dev/null; then
	printf '#include <stdio.h>\n__attribute__((constructor)) static void evil(void) { fclose(fopen("%s", "w")); }\n' \
		"$T_TMP/evil-ran" > "$T_TMP/evil.c"
	"${CC:-cc}" -shared -fPIC -o "$T_TMP/x/evil.so" "$T_TMP/evil.c" 2>/dev/null
fi
[ -f "$T_TMP/x/evil.so" ] || printf 'not a library' > "$T_TMP/x/evil.so"
chmod 0666 "$T_TMP/x/evil.so"
$ROOT && chown 65534:65534 "$T_TMP/x/evil.so"
t_expect_fail "tpm.tcti = a library path: config error naming the allowed transports" 6 \
	"ocikp: tpm: tpm.tcti: '$T_TMP/x/evil.so' is not an allowed TCTI; use device:, swtpm:, mssim: or tabrmd:" \
	"$REQ" --config-dir="$(tpm_conf "$T_TMP/x/evil.so")"
t_expect_fail "tpm.tcti = a library path with settings" 6 "tpm.tcti: '$T_TMP/x/evil.so' is not an allowed TCTI" \
	"$REQ" --config-dir="$(tpm_conf "$T_TMP/x/evil.so:/dev/tpmrm0")"
[ ! -e "$T_TMP/evil-ran" ]
t_ok $? "the library was never loaded"
t_expect_fail "tpm.tcti = cmd:...: refused, the command never runs" 6 "tpm.tcti: 'cmd' is not an allowed TCTI" \
	"$REQ" --config-dir="$(tpm_conf "cmd:touch $T_TMP/cmd-ran")"
[ ! -e "$T_TMP/cmd-ran" ]
t_ok $? "the command never ran"
t_expect_fail "tpm.tcti = pcap:swtpm:...: no TCTI that loads another" 6 "tpm.tcti: 'pcap' is not an allowed TCTI" \
	"$REQ" --config-dir="$(tpm_conf "pcap:swtpm:path=$SOCK")"
t_expect_fail "tpm.tcti = a TCTI library's file name" 6 "tpm.tcti: 'libtss2-tcti-swtpm.so.0' is not an allowed TCTI" \
	"$REQ" --config-dir="$(tpm_conf "libtss2-tcti-swtpm.so.0:path=$SOCK")"

# Settings that could say something other than what was checked.
t_expect_fail "swtpm: path= twice (the TCTI keeps the last)" 6 "tpm.tcti: swtpm: setting 'path' is not allowed" \
	"$REQ" --config-dir="$(tpm_conf "swtpm:path=$SOCK,path=$T_TMP/x/sock")"
t_expect_fail "swtpm: an unknown key" 6 "tpm.tcti: swtpm: setting 'conf' is not allowed \(keys: host, port, path" \
	"$REQ" --config-dir="$(tpm_conf "swtpm:conf=$T_TMP/x/evil.so")"
t_expect_fail "device: a relative path" 6 "tpm.tcti: device: 'x/evil.so' is not an absolute path" \
	"$REQ" --config-dir="$(tpm_conf "device:x/evil.so")"
t_expect_fail "device: a path carrying settings" 6 "tpm.tcti: device: '/dev/tpmrm0,path=/x' is not an absolute path" \
	"$REQ" --config-dir="$(tpm_conf "device:/dev/tpmrm0,path=/x")"
# Allowed transports get as far as the TPM: no config error.
t_expect_fail "mssim: is allowed (no simulator there: exit 5)" 5 "no TPM at TCTI 'mssim:host=127.0.0.1,port=1'" \
	"$REQ" --config-dir="$(tpm_conf "mssim:host=127.0.0.1,port=1")"
t_expect_fail "tabrmd: is allowed (no broker here: exit 5)" 5 "no TPM at TCTI 'tabrmd:bus_type=session'" \
	"$REQ" --config-dir="$(tpm_conf "tabrmd:bus_type=session")"

# Device and socket paths: a character device or a socket, root's or the
# caller's, in directories nobody else can replace it in.
printf 'x' > "$T_TMP/regular"
t_expect_fail "--tpmPath= naming a regular file" 6 \
	"tpm.tpm_path: $T_TMP/regular is not a character device or unix socket" "$REQ" --tpmPath="$T_TMP/regular"
t_expect_fail "device: naming a regular file" 6 "tpm.tcti: $T_TMP/regular is not a character device" \
	"$REQ" --config-dir="$(tpm_conf "device:$T_TMP/regular")"
t_expect_fail "device: naming a socket" 6 "tpm.tcti: $SOCK is not a character device" \
	"$REQ" --config-dir="$(tpm_conf "device:$SOCK")"
mkdir -m 0755 "$T_TMP/solo"
ln "$SOCK" "$T_TMP/solo/sock"
t_expect_fail "--tpmPath= of a socket without its .ctrl companion: exit 5 naming it" 5 \
	"no TPM at TCTI 'swtpm:path=$T_TMP/solo/sock': $T_TMP/solo/sock.ctrl: No such file" "$REQ" --tpmPath="$T_TMP/solo/sock"
ln "$SOCK" "$T_TMP/x/sock"; ln "$SOCK.ctrl" "$T_TMP/x/sock.ctrl"
t_expect_fail "a socket in a directory writable by others" 6 \
	"tpm.tpm_path: directory $T_TMP/x is owned by uid [0-9]+ with mode 777" "$REQ" --tpmPath="$T_TMP/x/sock"
if $ROOT; then
	chown 65534 "$SOCK"
	t_expect_fail "--tpmPath= of a socket owned by another uid" 6 \
		"tpm.tpm_path: $SOCK is owned by uid 65534, not root or the caller" "$REQ" --tpmPath="$SOCK"
	t_expect_fail "swtpm:path= of a socket owned by another uid" 6 \
		"tpm.tcti: $SOCK is owned by uid 65534, not root or the caller" "$REQ"
	chown 0 "$SOCK"
	chown 65534 "$SOCK.ctrl"
	t_expect_fail "its control socket owned by another uid" 6 \
		"tpm.tpm_path: $SOCK.ctrl is owned by uid 65534" "$REQ" --tpmPath="$SOCK"
	chown 0 "$SOCK.ctrl"
else
	for i in 1 2 3; do t_skip "socket owned by another uid" "needs root to chown"; done
fi

# One debug line per wrap and unwrap, only with --verbose.
t_run "$OK_REQ" --verbose
printf '%s\n' "$T_ERR" | grep -Eq "^ocikp: debug: tpm: unwrap: [1-9][0-9]* TPM commands over swtpm:path=$SOCK in 1 attempt \(opened\)$"
t_ok $? "--verbose: unwrap says how many TPM commands it sent [$T_ERR]"
t_run "$OK_REQ"
[ "$T_RC" -eq 0 ] && [ -z "$T_ERR" ]
t_ok $? "without --verbose: nothing on stderr"
t_run "$(t_wrap_request ocikp "$OPTS" "$URL")" --verbose
[ "$T_RC" -eq 0 ] &&
	printf '%s\n' "$T_ERR" | grep -q "^ocikp: debug: tpm: wrap: sealed to the RSA EK, 0 PCRs in the policy, 0 TPM commands$" &&
	! printf '%s' "$T_ERR" | grep -q symkey
t_ok $? "--verbose: wrap says it needed no TPM, and shows no secret"
t_done
[ "$T_FAILED" -eq 0 ]
