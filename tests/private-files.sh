#!/usr/bin/env bash
# Secret files through the binary: the sample key file and the keychain PEM
# file are read under the host's one policy (read_private_file): an absolute
# path, not a symlink, a regular file owned by root or the caller, no group
# or other bits, small.  Each refusal is one line naming the file, exit 6.
. "$top_srcdir/tests/lib/common.sh"
t_setup
OPTS='{"symkey":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=","digest":""}'
REQ=$(t_wrap_request ocikp "$OPTS" sample://default)

with_key() {	# with_key PATH: a drop-in dir naming PATH as the sample key file
	local d
	d=$(t_conf_dir)
	printf 'backend = sample\nmodule = ocikp-sample.so\nschemes = sample\nsample.key_file = %s\n' \
		"$1" > "$d/50-sample.conf"
	echo "$d"
}

t_run "$REQ" --config-dir="$(with_key "$K")"
t_ok $T_RC "sample wrap with a good 0600 key file"

if [ "$(id -u)" -eq 0 ]; then
	KN=$(t_sample_key); chown 65534:65534 "$KN"
	t_expect_fail "sample wrap: a 0600 key file owned by uid 65534 is refused (root does not read it)" 6 \
		"^ocikp: sample: key file $KN: owned by uid 65534, not root or the caller$" \
		"$REQ" --config-dir="$(with_key "$KN")"
else
	t_skip "a key file owned by another uid is refused" "needs root to chown"
fi
ln -s "$K" "$T_TMP/link.key"
t_expect_fail "sample wrap: a symlink to a good key file is refused" 6 \
	"sample: key file .*/link.key: a symbolic link" "$REQ" --config-dir="$(with_key "$T_TMP/link.key")"
KG=$(t_sample_key); chmod 640 "$KG"
t_expect_fail "sample wrap: a group-readable key file is refused" 6 \
	"sample: key file $KG: accessible by group or others \(mode 640, want 600\)" \
	"$REQ" --config-dir="$(with_key "$KG")"
KB="$T_TMP/big.key"; head -c 33 /dev/urandom > "$KB"; chmod 600 "$KB"
t_expect_fail "sample wrap: a key file longer than a key is refused" 6 \
	"sample: key file $KB: larger than 32 bytes" "$REQ" --config-dir="$(with_key "$KB")"
mkdir -m 700 "$T_TMP/dir.key"
t_expect_fail "sample wrap: a directory is refused" 6 \
	"sample: key file .*/dir.key: not a regular file" "$REQ" --config-dir="$(with_key "$T_TMP/dir.key")"
mkfifo -m 600 "$T_TMP/fifo.key"
t_expect_fail "sample wrap: a FIFO is refused at once (no blocking open)" 6 \
	"sample: key file .*/fifo.key: not a regular file" "$REQ" --config-dir="$(with_key "$T_TMP/fifo.key")"
t_expect_fail "sample wrap: a relative key path is refused" 6 \
	"sample: key file sample.key: not an absolute path" "$REQ" --config-dir="$(with_key sample.key)"

# ---- keychain: the PEM key file -------------------------------------------------
if [[ " $OCIKP_MODULES " == *ocikp-keychain.so* ]]; then
	kc_conf() {	# kc_conf PATH
		local d
		d=$(t_conf_dir)
		printf 'backend = keychain\nmodule = ocikp-keychain.so\nschemes = keychain apple-se\nkeychain.key_file = %s\n' \
			"$1" > "$d/50-keychain.conf"
		echo "$d"
	}
	KF="$T_TMP/kc.pem"
	t_run "" --config-dir="$(kc_conf "$KF")" keychain create --file "$KF"
	PUB="apple-se://se?mode=encrypt&pub=$(printf '%s\n' "$T_OUT" | sed -n 's/^pub=//p')"
	t_run "$(t_wrap_request ocikp "$OPTS" "$PUB")" --config-dir="$(kc_conf "$KF")"
	ANN=$(printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation 2>/dev/null)
	t_run "$(t_unwrap_request ocikp "$ANN")" --config-dir="$(kc_conf "$KF")"
	[ "$T_RC" -eq 0 ] &&
		[ "$(printf '%s' "$T_OUT" | t_json_field keyunwrapresults.optsdata | base64 -d)" = "$OPTS" ]
	t_ok $? "keychain unwrap with a good PEM key file (OpenSSL's PEM reader)"
	if [ "$(id -u)" -eq 0 ]; then
		cp -p "$KF" "$T_TMP/kc-nobody.pem"; chown 65534:65534 "$T_TMP/kc-nobody.pem"
		t_expect_fail "keychain unwrap: a 0600 PEM file owned by uid 65534 is refused" 6 \
			"^ocikp: keychain: key file .*/kc-nobody.pem: owned by uid 65534, not root or the caller$" \
			"$(t_unwrap_request ocikp "$ANN")" --config-dir="$(kc_conf "$T_TMP/kc-nobody.pem")"
	else
		t_skip "a PEM file owned by another uid is refused" "needs root to chown"
	fi
	ln -s "$KF" "$T_TMP/kc-link.pem"
	t_expect_fail "keychain unwrap: a symlinked PEM file is refused" 6 \
		"keychain: key file .*/kc-link.pem: a symbolic link" \
		"$(t_unwrap_request ocikp "$ANN")" --config-dir="$(kc_conf "$T_TMP/kc-link.pem")"
	printf -- '-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n' > "$T_TMP/bad.pem"
	chmod 600 "$T_TMP/bad.pem"
	t_expect_fail "keychain unwrap: a PEM file holding no key" 6 \
		"keychain: key file .*/bad.pem: not a P-256 private key in PEM" \
		"$(t_unwrap_request ocikp "$ANN")" --config-dir="$(kc_conf "$T_TMP/bad.pem")"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T_TMP/p384.pem" 2>/dev/null
	chmod 600 "$T_TMP/p384.pem"
	t_expect_fail "keychain unwrap: a P-384 key is not a P-256 key" 6 \
		"keychain: key file .*/p384.pem: not a P-256 private key in PEM" \
		"$(t_unwrap_request ocikp "$ANN")" --config-dir="$(kc_conf "$T_TMP/p384.pem")"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-256-cbc -pass pass:x \
		-out "$T_TMP/enc.pem" 2>/dev/null
	chmod 600 "$T_TMP/enc.pem"
	t_expect_fail "keychain unwrap: an encrypted PEM key is refused without a prompt" 6 \
		"keychain: key file .*/enc.pem: not a P-256 private key in PEM" \
		"$(t_unwrap_request ocikp "$ANN")" --config-dir="$(kc_conf "$T_TMP/enc.pem")"
else
	for _ in 1 2 3 4 5 6; do t_skip "keychain key file" "keychain backend not built"; done
fi
t_done
[ "$T_FAILED" -eq 0 ]
