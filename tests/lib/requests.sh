# Request builders shared by the bad-input matrices (tests/bad-input.sh for
# exec, tests/daemon/bad-input.sh for ocikpd), so both replay the same
# inputs.  Source after tests/lib/common.sh and t_setup (the sample backend
# makes GOOD).  Sets:
#   OPTS       the optsdata every case wraps
#   GOOD       a good sample annotation (base64), GOODJSON its JSON
# and defines b, wrapreq, unwrapreq and mutate.  mutate runs $T_PY (default
# python3; the daemon test sets it to the python it found).

OPTS='{"symkey":"AAAA","digest":"sha256:00"}'
b() { printf '%s' "$1" | b64; }
# wrapreq RECIPIENTS-JSON [OPTSDATA-B64]: a keywrap request for provider ocikp
wrapreq() { printf '{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"ocikp":[%s]}},"optsdata":"%s"}}' "$1" "${2:-$(b "$OPTS")}"; }
# unwrapreq ANNOTATION-B64: a keyunwrap request with no dc
unwrapreq() { printf '{"op":"keyunwrap","keyunwrapparams":{"dc":null,"annotation":"%s"}}' "$1"; }
GOOD=$(t_wrap "$OPTS" sample://default)
GOODJSON=$(printf '%s' "$GOOD" | base64 -d)
mutate() {	# mutate PYTHON-EXPR-ON-a : prints the base64 of the changed annotation
	printf '%s' "$GOODJSON" | "${T_PY:-python3}" -c 'import json,sys,base64
a=json.load(sys.stdin)
exec(sys.argv[1])
sys.stdout.write(base64.b64encode(json.dumps(a).encode()).decode())' "$1"
}
