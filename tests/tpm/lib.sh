# swtpm for the tpm tests: each test starts its own on free ports, with its
# state in the test's temp dir, and kills it at exit.

# Is the whole TPM tool chain here?  Else SKIP (or FAIL under CI).
tpm_tools_or_skip() {	# tpm_tools_or_skip N-TESTS
	local t missing=""
	for t in swtpm swtpm_setup tpm2_getcap tpm2_pcrextend tpm2_nvread; do
		command -v "$t" >/dev/null || missing="$missing $t"
	done
	case " $OCIKP_MODULES " in *ocikp-tpm.so*) ;; *) missing="$missing ocikp-tpm.so" ;; esac
	[ -z "$missing" ] && return 0
	if [ "${CI:-}" = true ]; then
		t_ok 1 "TPM tools present (missing:$missing)"
		t_done
		exit 1
	fi
	for t in $(seq "$1"); do t_skip "tpm" "missing:$missing"; done
	t_done
	exit 0
}

# Two consecutive free TCP ports on loopback (server, server+1 = ctrl).
. "$top_srcdir/tests/lib/port-pair.sh"
tpm_free_port() { port_pair; }

# tpm_start NAME [STATE-SOURCE-DIR]: a swtpm whose state is a copy of the
# source dir, or a fresh one with RSA and ECC EKs and EK certificates.
# Sets TCTI_<NAME> and exports nothing else.
tpm_start() {
	local name=$1 src=${2:-} dir="$T_TMP/tpm-$1" port i
	mkdir -p "$dir/state"
	if [ -n "$src" ]; then
		cp "$src"/* "$dir/state/"
		chmod u+w "$dir/state"/*
	else
		swtpm_setup --tpm2 --tpmstate "$dir/state" --create-ek-cert --create-platform-cert \
			--overwrite --display > "$dir/setup.log" 2>&1 || { cat "$dir/setup.log" >&2; return 1; }
	fi
	port=$(tpm_free_port)
	swtpm socket --tpm2 --tpmstate dir="$dir/state" --server type=tcp,port="$port",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear \
		--daemon --pid file="$dir/pid" --log file="$dir/swtpm.log" || return 1
	t_at_exit "kill \$(cat '$dir/pid' 2>/dev/null) 2>/dev/null"
	for i in $(seq 50); do [ -s "$dir/pid" ] && break; sleep 0.1; done
	eval "TCTI_$name='swtpm:host=127.0.0.1,port=$port'"
}

# tpm_start_unix NAME: a fresh swtpm (no EK certificates) on unix sockets,
# as a simulator is given to ocicrypt-tpm-keyprovider's --tpmPath=: the
# server socket $T_TMP/tpm-NAME/sock and its control socket sock.ctrl, the
# names the swtpm TCTI expects.  Sets SOCK_<NAME>.
tpm_start_unix() {
	local name=$1 dir="$T_TMP/tpm-$1" i
	mkdir -p "$dir/state"
	swtpm_setup --tpm2 --tpmstate "$dir/state" --overwrite > "$dir/setup.log" 2>&1 ||
		{ cat "$dir/setup.log" >&2; return 1; }
	swtpm socket --tpm2 --tpmstate dir="$dir/state" --server type=unixio,path="$dir/sock" \
		--ctrl type=unixio,path="$dir/sock.ctrl" --flags not-need-init,startup-clear \
		--daemon --pid file="$dir/pid" --log file="$dir/swtpm.log" || return 1
	t_at_exit "kill \$(cat '$dir/pid' 2>/dev/null) 2>/dev/null"
	for i in $(seq 50); do [ -S "$dir/sock" ] && [ -S "$dir/sock.ctrl" ] && break; sleep 0.1; done
	eval "SOCK_$name='$dir/sock'"
}

# No transient objects or sessions left on the TPM behind TCTI.
tpm_clean() {
	local out
	out=$(TPM2TOOLS_TCTI=$1 tpm2_getcap handles-transient 2>&1; TPM2TOOLS_TCTI=$1 tpm2_getcap handles-loaded-session 2>&1)
	[ -z "$out" ] || { t_diag "TPM not clean: $out"; return 1; }
}

# A drop-in dir routing tpm:// to TCTI.
tpm_conf() {	# tpm_conf TCTI [extra line] -> prints the dir
	local c
	c=$(t_conf_dir)
	printf 'backend = tpm\nmodule = ocikp-tpm.so\nschemes = tpm\ntpm.tcti = %s\n%s\n' "$1" "${2:-}" > "$c/50-tpm.conf"
	echo "$c"
}

# tpm_setup NAME [STATE-SOURCE-DIR]: the plugin dir, swtpm NAME, and a
# drop-in dir routing tpm:// to it, exported as OCIKP_PLUGIN_DIR and
# OCIKP_CONFIG_DIR.  A swtpm that will not start fails the test.
tpm_setup() {
	local tcti
	P=$(t_plugin_dir)
	export OCIKP_PLUGIN_DIR="$P"
	tpm_start "$@" || { t_ok 1 "start swtpm $1"; t_done; exit 1; }
	eval "tcti=\$TCTI_$1"
	OCIKP_CONFIG_DIR=$(tpm_conf "$tcti")
	export OCIKP_CONFIG_DIR
}
