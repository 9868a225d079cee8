#!/usr/bin/env bash
# Several recipients: one ocikp envelope; unwrap opens the first it can and
# reports every recipient's failure in one line if none opens.
. "$top_srcdir/tests/lib/common.sh"
t_setup
OPTS='{"symkey":"c2VjcmV0","digest":"sha256:00"}'

ann=$(t_wrap "$OPTS" sample://default mock://k1)
t_ok $? "wrap with two recipients of two backends"
printf '%s' "$ann" | base64 -d | python3 -c '
import json,sys
e=json.load(sys.stdin)
assert list(e)==["ocikp","recipients"] and e["ocikp"]==1, e
r=e["recipients"]
assert len(r)==2 and r[0]["key_url"]=="sample://default" and r[0]["wrap_type"]=="AES"
assert r[1]["key_url"]=="mock://k1"'
t_ok $? "annotation is {\"ocikp\":1,\"recipients\":[sample native, mock native]}"
[ "$(t_unwrap "$ann")" = "$OPTS" ]
t_ok $? "unwrap opens the first recipient (sample)"

C2=$(t_conf_dir); cp "$C/50-mock.conf" "$C2/"; printf 'sample.key_file = %s\n' "$(t_sample_key)" > "$C2/50-sample.conf"
out=$(OCIKP_CONFIG_DIR="$C2" t_unwrap "$ann" mock://k1)
[ "$out" = "$OPTS" ]
t_ok $? "sample key wrong here: falls through to mock, given its dc parameter"
OCIKP_CONFIG_DIR="$C2" t_expect_fail "no recipient opens: every failure in one line, exit 4" 4 \
	"no recipient could be opened: 1 \(sample\): wrong key.*; 2 \(mock\): no decrypt parameter for mock://k1" \
	"$(t_unwrap_request ocikp "$ann")"
printf 'mock.fail = unavailable\n' > "$C2/60-fail.conf"
OCIKP_CONFIG_DIR="$C2" t_expect_fail "a device failure outranks key failures in the exit code" 5 \
	"1 \(sample\): wrong key.*2 \(mock\): mock device unavailable" "$(t_unwrap_request ocikp "$ann" mock://k1)"
rm "$C2/60-fail.conf"

ann3=$(t_wrap "$OPTS" mock://a mock://b sample://default)
t_ok $? "three recipients, two on one backend"
[ "$(t_unwrap "$ann3" mock://b)" = "$OPTS" ]
t_ok $? "dc parameters are routed to the backend of their scheme (mock://b opens recipient 2)"
printf '%s' "$ann3" | base64 -d | python3 -c '
import json,sys; e=json.load(sys.stdin); assert [r["key_url"] for r in e["recipients"]]==["mock://a","mock://b","sample://default"]'
t_ok $? "recipients keep the order given"
t_expect_fail "one bad recipient fails the whole wrap" 3 "no backend for scheme 'nope'" \
	"$(t_wrap_request ocikp "$OPTS" sample://default nope://x)"
C3=$(t_conf_dir); cp "$C/50-sample.conf" "$C3/"
OCIKP_CONFIG_DIR="$C3" t_expect_fail "recipient whose backend is not installed: not mine" 4 \
	"1 \(ocikp\): no backend for scheme 'mock'; 2 \(ocikp\): no backend for scheme 'mock'; 3 \(sample\)" \
	"$(t_unwrap_request ocikp "$(printf '{"ocikp":1,"recipients":[{"key_url":"mock://a"},{"key_url":"mock://b"},{"key_url":"sample://default","wrapped_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","wrap_type":"AES"}]}' | b64)")"
t_expect_fail "a recipient that is not an object" 3 "1 \(ocikp\): annotation: not a JSON object" \
	"$(t_unwrap_request ocikp "$(printf '{"ocikp":1,"recipients":[7]}' | b64)")"

# Bounds (issue 11): one 1 MiB annotation held 1,168 copies of a TPM
# recipient, 28 s of device time.  At most 32 recipients, copies tried once,
# and the loop ends with the request's time budget.
envelope() {	# envelope JSON-RECIPIENT... : a base64 envelope
	python3 -c 'import json,sys; print(json.dumps({"ocikp":1,"recipients":[json.loads(a) for a in sys.argv[1:]]}))' "$@" | b64
}
mock_rcpts() {	# mock_rcpts N : N distinct mock recipients wrapping $OPTS
	python3 -c 'import json,sys,base64
for i in range(int(sys.argv[1])):
    wk=base64.b64encode(bytes(b ^ 0x5a for b in sys.argv[2].encode())).decode()
    print(json.dumps({"key_url":"mock://r%d" % (i+1),"wrapped_key":wk,"wrap_type":"XOR"}))' "$1" "$OPTS"
}
mapfile -t R33 < <(mock_rcpts 33)
t_expect_fail "unwrap: an envelope of 33 recipients is refused" 3 \
	"annotation: ocikp envelope has 33 recipients; at most 32 are allowed" \
	"$(t_unwrap_request ocikp "$(envelope "${R33[@]}")" mock://r33)"
[ "$(t_unwrap "$(envelope "${R33[@]:1}")" mock://r33)" = "$OPTS" ]
t_ok $? "unwrap: 32 recipients are fine (the last one opens)"
set -- ; for i in $(seq 33); do set -- "$@" "mock://w$i"; done
t_expect_fail "wrap: 33 recipients are refused" 3 "request: 33 recipients; at most 32 fit in one envelope" \
	"$(t_wrap_request ocikp "$OPTS" "$@")"

C4=$(t_conf_dir); cp "$C"/50-*.conf "$C4/"; printf 'mock.log = %s\n' "$T_TMP/mock.log" > "$C4/60-log.conf"
ann=$(OCIKP_CONFIG_DIR="$C4" t_wrap "$OPTS" mock://a mock://b mock://a mock://b mock://a)
printf '%s' "$ann" | base64 -d | python3 -c '
import json,sys; e=json.load(sys.stdin); assert [r["key_url"] for r in e["recipients"]]==["mock://a","mock://b"], e'
t_ok $? "wrap: repeated parameters give one recipient each, in order"
[ "$(grep -c '^wrap ' "$T_TMP/mock.log")" -eq 2 ]
t_ok $? "wrap: the backend is called once per distinct parameter"
ann=$(OCIKP_CONFIG_DIR="$C4" t_wrap "$OPTS" mock://a mock://a)
printf '%s' "$ann" | base64 -d | python3 -c '
import json,sys; a=json.load(sys.stdin); assert a["key_url"]=="mock://a" and "ocikp" not in a, a'
t_ok $? "wrap: one key given twice is one recipient: the native annotation"

mapfile -t R2 < <(mock_rcpts 2)
# The same recipient again, respaced, keys reordered and a character escaped.
R1b=$(printf '%s' "${R2[0]}" | python3 -c '
import json,sys; r=json.load(sys.stdin); print(json.dumps(dict(reversed(list(r.items()))), indent=2).replace("mock://", "mock:\\/\\/"))')
: > "$T_TMP/mock.log"
OCIKP_CONFIG_DIR="$C4" t_expect_fail "unwrap: a copy of a recipient is not tried again" 4 \
	"no recipient could be opened: 1 \(mock\): no decrypt parameter for mock://r1; 2: same as 1; 3: same as 1; 4 \(mock\): no decrypt parameter for mock://r2$" \
	"$(t_unwrap_request ocikp "$(envelope "${R2[0]}" "$R1b" "${R2[0]}" "${R2[1]}")")"
[ "$(grep -c '^unwrap mock://r1 ' "$T_TMP/mock.log")" -eq 1 ] && [ "$(grep -c '^unwrap ' "$T_TMP/mock.log")" -eq 2 ]
t_ok $? "unwrap: the backend saw each distinct recipient once"

# A backend that fails without a message gets a reason of its own, not the
# previous recipient's (sample's key is wrong in C2).
ann=$(t_wrap "$OPTS" sample://default mock://k1)
printf 'mock.fail = silent\n' > "$C2/60-fail.conf"
OCIKP_CONFIG_DIR="$C2" t_expect_fail "a recipient failing without a message is not blamed on the one before" 4 \
	"1 \(sample\): wrong key.*; 2 \(mock\): failed \(no reason given\)$" "$(t_unwrap_request ocikp "$ann" mock://k1)"
t_expect_fail "one recipient failing without a message: the backend is named" 4 \
	"^ocikp: mock: failed \(no reason given\)$" "$(t_unwrap_request ocikp "$(printf '%s' "${R2[0]}" | b64)" mock://r1)" --config-dir="$C2"
rm "$C2/60-fail.conf"

# Six recipients of 300 ms each against a 1 s budget: the host stops
# trying once the budget is spent (a deaf backend is not interrupted).
C5=$(t_conf_dir); printf 'timeout = 1\n' > "$C5/10-timeout.conf"; cp "$C/50-mock.conf" "$C5/"
printf 'mock.sleep_ms = 300\n' > "$C5/60-slow.conf"
mapfile -t R6 < <(mock_rcpts 6)
OCIKP_CONFIG_DIR="$C5" t_expect_fail "a long envelope stops when the time budget is spent: exit 5, how many were tried" 5 \
	"^ocikp: time budget spent \(drop-in 'timeout'\) after trying [1-5] of 6 recipients: 1 \(mock\): no decrypt parameter" \
	"$(t_unwrap_request ocikp "$(envelope "${R6[@]}")")"
set -- ; for i in $(seq 6); do set -- "$@" "mock://s$i"; done
OCIKP_CONFIG_DIR="$C5" t_expect_fail "so does a long wrap" 5 \
	"^ocikp: time budget spent \(drop-in 'timeout'\) after wrapping for [1-5] of 6 recipients$" \
	"$(t_wrap_request ocikp "$OPTS" "$@")"
t_done
[ "$T_FAILED" -eq 0 ]
