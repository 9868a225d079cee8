# The local Key Broker Service (tests/kbs/fake_kbs.py) for the kbs tests.
# Source after tests/lib/common.sh.
#
#   kbs_require              SKIP the whole test (TAP "1..0") without openssl,
#                            python3 or its cryptography module
#   kbs_setup [JSON]         a CA, a server certificate, an Ed25519 admin key
#                            pair and config.json (JSON merged in), then the
#                            server; exports KBS_DIR KBS_HTTPS KBS_HTTP.
#                            Returns non-zero (KBS_DIR/server.err says why).
#   kbs_ctl PATH [JSON]      a control request on the plain-HTTP port (POST
#                            with JSON, else GET); prints the answer, fails
#                            on a non-2xx
#   kbs_stat KIND            one counter of /_stats
#   kbs_dropin DIR [LINE...] DIR/50-kbs.conf for this server, then LINEs
#
# Files in KBS_DIR: ca.pem, server.{pem,key}, admin.pem (0600), admin-pub.pem,
# kek1.bin and kek2.bin (0600, the raw KEKs of default/key/1 and
# default/key/2), config.json, ports, requests.log, server.err.

. "$top_srcdir/tests/lib/fake.sh"

kbs_require() { fake_require; }

kbs_setup() {
	local d="$T_TMP/kbs"
	KBS_DIR=$d
	export KBS_DIR
	mkdir -p "$d" || return 1
	: > "$d/server.err"
	# the CA and a server certificate for localhost and 127.0.0.1
	if ! { fake_server_certs "$d" "ocikp test KBS CA" &&
	       openssl genpkey -algorithm ed25519 -out "$d/admin.pem" &&
	       chmod 600 "$d/admin.pem" &&
	       openssl pkey -in "$d/admin.pem" -pubout -out "$d/admin-pub.pem"; } 2>> "$d/server.err"; then
		cat "$d/openssl.err" >> "$d/server.err" 2> /dev/null
		return 1
	fi
	head -c 32 /dev/urandom > "$d/kek1.bin"
	head -c 32 /dev/urandom > "$d/kek2.bin"
	chmod 600 "$d/kek1.bin" "$d/kek2.bin"
	python3 - "$d" "${1:-}" <<-'EOF' 2>> "$d/server.err" || return 1
		import base64, json, sys
		d, extra = sys.argv[1], sys.argv[2]
		kek = lambda n: base64.b64encode(open("%s/kek%d.bin" % (d, n), "rb").read()).decode()
		conf = {"resources": {"default/key/1": kek(1), "default/key/2": kek(2),
		                      "default/image-kek/1": kek(1)},
		        "session_ttl": 300}
		conf.update(json.loads(extra) if extra else {})
		with open(d + "/config.json", "w") as f:
		    json.dump(conf, f, indent=1)
	EOF
	fake_start "$d" "$top_srcdir/tests/kbs/fake_kbs.py" || return 1
	KBS_HTTPS=$(fake_port "$d" https)
	KBS_HTTP=$(fake_port "$d" http)
	export KBS_HTTPS KBS_HTTP
}

kbs_ctl() {
	if [ -n "${2-}" ]; then fake_ctl "$KBS_HTTP" POST "$1" "$2"; else fake_ctl "$KBS_HTTP" GET "$1"; fi
}

kbs_stat() {
	local s
	s=$(kbs_ctl /_stats) && fake_num "$s" "$1"
}

kbs_dropin() {
	local dir=$1 line
	shift
	{
		printf 'backend = kbs\nmodule = ocikp-kbs.so\nschemes = kbs kbs+*\n'
		printf 'kbs.url = https://127.0.0.1:%s\n' "$KBS_HTTPS"
		printf 'kbs.ca_file = %s/ca.pem\n' "$KBS_DIR"
		printf 'kbs.admin_key = %s/admin.pem\n' "$KBS_DIR"
		for line in "$@"; do printf '%s\n' "$line"; done
	} > "$dir/50-kbs.conf"
}
