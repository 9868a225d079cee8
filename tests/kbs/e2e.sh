#!/bin/bash
# kbs end to end through the real ocicrypt library (tests/go), offline keys:
# a layer encrypted with a CoCo parameter string under CoCo's provider name
# (attestation-agent) and under ours, each opened under the other name, and
# with a kbs:// key URL.
. "$top_srcdir/tests/lib/common.sh"

t_setup
unset OFFLINE_FS_KBC_EXTRA_FILE_PATH
K="$T_TMP/kek"
head -c 32 /dev/urandom > "$K"; chmod 600 "$K"
printf '{"default/image-kek/1":"%s"}' "$(base64 -w0 < "$K")" > "$T_TMP/offline.json"
chmod 600 "$T_TMP/offline.json"
printf 'backend = kbs\nmodule = ocikp-kbs.so\nschemes = kbs kbs+*\nkbs.offline_files = %s\n' \
	"$T_TMP/offline.json" > "$C/50-kbs.conf"
P="keypath=$K::keyid=kbs:///default/image-kek/1"

t_e2e "as attestation-agent: a CoCo parameter string encrypts and decrypts a layer" attestation-agent "$C" \
	-enc "attestation-agent:$P" -dec "attestation-agent:x" -size 100000 -dump "$T_TMP/aa"
if [ -f "$T_TMP/aa/ann.keys.provider.attestation-agent" ]; then
	python3 - "$T_TMP/aa/ann.keys.provider.attestation-agent" <<-'PY'
	import json, sys
	a = json.load(open(sys.argv[1]))
	assert list(a) == ["kid", "wrapped_data", "iv", "wrap_type"] and a["kid"] == "kbs:///default/image-kek/1", a
	PY
	t_ok $? "the CoCo annotation is stored under ...keys.provider.attestation-agent"
	mkdir -p "$T_TMP/moved"
	cp -r "$T_TMP/aa/." "$T_TMP/moved/"
	mv "$T_TMP/moved/ann.keys.provider.attestation-agent" "$T_TMP/moved/ann.keys.provider.ocikp"
	t_e2e "a layer wrapped as attestation-agent opens as ocikp" ocikp "$C" \
		-from "$T_TMP/moved" -dec "ocikp:x"
else
	t_e2e "as attestation-agent (no dump to check)" attestation-agent "$C" -enc "attestation-agent:$P" -dec "attestation-agent:x"
fi
t_e2e "as ocikp: a kbs:// key URL encrypts and decrypts a layer" ocikp "$C" \
	-enc "ocikp:kbs:///default/image-kek/1?keypath=$K&algorithm=A256CTR" -dec "ocikp:x"
t_done
[ "$T_FAILED" -eq 0 ]
