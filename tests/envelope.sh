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
t_done
[ "$T_FAILED" -eq 0 ]
