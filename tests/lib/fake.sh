# The shell side of the tests' fake servers (tests/lib/fakeserver.py): the
# one CA and leaf maker, and the one start-up.  Source after common.sh.
#
#   fake_ca DIR NAME CN            a self-signed P-256 CA: DIR/NAME.pem, DIR/NAME.key
#   fake_leaf DIR NAME CA SAN      a server certificate signed by DIR/CA.pem:
#                                  DIR/NAME.pem, DIR/NAME.key (SAN as for openssl)
#   fake_start DIR SCRIPT [ARG...] python3 SCRIPT DIR ARG..., stderr to
#                                  DIR/server.err, killed at exit; waits for
#                                  DIR/ports.  Sets FAKE_PID; returns 1 (the
#                                  reason appended to DIR/server.err) if the
#                                  fake died or did not listen in time.
#   fake_port DIR NAME             one port from DIR/ports
#   fake_ctl PORT METHOD PATH [BODY]
#                                  one plain-HTTP request to a fake's control
#                                  port, in bash (a python3 start per call
#                                  cost the gcpkms tests a third of their
#                                  time); prints the body and a newline, or
#                                  fails on a non-2xx answer (stderr says it)
#   fake_num JSON FIELD            a number from flat JSON (/_stats), 0 if absent
#   fake_require                   openssl, python3 and its cryptography, or the
#                                  test is skipped (a plan of 1..0) here
#   fake_setup_fail WHAT MSG       a failed set-up as one TAP failure; exits
#   fake_rand [N]                  N random bytes (default 16) in hex
#   fake_server_certs DIR CN       fake_ca DIR ca CN, then fake_leaf DIR server
#                                  for localhost and 127.0.0.1
# openssl's complaints go to DIR/openssl.err.

fake_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$3" -keyout "$1/$2.key" -out "$1/$2.pem" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
		2> "$1/openssl.err"
}

fake_leaf() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$1/$2.key" -out "$1/$2.csr" 2> "$1/openssl.err" &&
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$4" > "$1/$2.ext" &&
	openssl x509 -req -in "$1/$2.csr" -CA "$1/$3.pem" -CAkey "$1/$3.key" \
		-CAcreateserial -days 2 -extfile "$1/$2.ext" -out "$1/$2.pem" 2> "$1/openssl.err"
}

fake_start() {
	local dir=$1 script=$2 i
	shift 2
	rm -f "$dir/ports"
	python3 "$script" "$dir" "$@" 2>> "$dir/server.err" &
	FAKE_PID=$!
	t_at_exit "kill $FAKE_PID 2>/dev/null; wait $FAKE_PID 2>/dev/null"
	# python3 and the cryptography module start slowly on a busy machine
	for i in $(seq $((200 * ${T_SLACK:-1}))); do
		[ -s "$dir/ports" ] && return 0
		kill -0 "$FAKE_PID" 2> /dev/null || break
		sleep 0.05
	done
	[ -s "$dir/ports" ] && return 0
	echo "the fake ($script) did not start" >> "$dir/server.err"
	return 1
}

fake_port() { sed -n "s/.*\\b$2=\\([0-9]*\\).*/\\1/p" "$1/ports"; }

fake_ctl() {
	local port=$1 method=$2 path=$3 body=${4-} fd status line LC_ALL=C	# ${#body}: bytes
	exec {fd}<> "/dev/tcp/127.0.0.1/$port" || return 1
	printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
		"$method" "$path" "$port" "${#body}" "$body" >&"$fd"
	IFS=' ' read -r -t 30 -u "$fd" _ status _
	while IFS= read -r -t 30 -u "$fd" line && [ -n "${line%$'\r'}" ]; do :; done
	# HTTP/1.0: the fake closes the connection after the body
	body=$(timeout 30 cat <&"$fd")
	exec {fd}>&-
	case $status in 2??) printf '%s\n' "$body"; return 0 ;; esac
	echo "fake_ctl: $method $path: HTTP ${status:-no answer} $body" >&2
	return 1
}

fake_num() { local v; v=$(printf '%s' "$1" | sed -n "s/.*\"$2\": *\([0-9]*\).*/\1/p"); echo "${v:-0}"; }

fake_require() {
	local tool
	for tool in openssl python3; do
		command -v $tool > /dev/null || { echo "1..0 # SKIP $tool not found"; exit 0; }
	done
	python3 -c 'import cryptography' 2> /dev/null ||
		{ echo "1..0 # SKIP python3 cryptography not installed"; exit 0; }
}

fake_setup_fail() { echo "1..1"; echo "not ok 1 - $1 test setup: $2"; exit 1; }

fake_rand() { head -c "${1:-16}" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

fake_server_certs() {
	fake_ca "$1" ca "$2" && fake_leaf "$1" server ca "DNS:localhost,IP:127.0.0.1"
}

# fake_state_dir VAR BACKEND: the backend's state directory (where its
# token or credential cache lives) into VAR: under a private
# XDG_RUNTIME_DIR for a user; for root /run/ocikp/BACKEND, which parallel
# tests share, so a test there removes only the files it made.
fake_state_dir() {
	if [ "$(id -u)" -ne 0 ]; then
		export XDG_RUNTIME_DIR="$T_TMP/xdg"
		mkdir -p -m 700 "$XDG_RUNTIME_DIR"
		printf -v "$1" '%s' "$XDG_RUNTIME_DIR/ocikp/$2"
	else
		printf -v "$1" '%s' "/run/ocikp/$2"
	fi
}
