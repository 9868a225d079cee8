#!/usr/bin/env bash
# Debug lines: on stderr only with --verbose or OCIKP_DEBUG=1, one line each,
# never key material, and the answer on stdout unchanged.
. "$top_srcdir/tests/lib/common.sh"
t_setup
OPTS='{"symkey":"c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE=","digest":"sha256:00"}'
WRAP=$(t_wrap_request ocikp "$OPTS" sample://default)
keyhex=$(od -An -tx1 "$K" | tr -d ' \n')
keyb64=$(base64 -w0 < "$K")

t_run "$WRAP"
[ "$T_RC" -eq 0 ] && [ -z "$T_ERR" ]
t_ok $? "no debug lines by default"
ann=$(printf '%s' "$T_OUT" | t_json_field keywrapresults.annotation)

t_run "$WRAP" --verbose
[ "$T_RC" -eq 0 ] && printf '%s' "$T_OUT" | python3 -c 'import json,sys; json.load(sys.stdin)'
t_ok $? "--verbose: the answer on stdout is still the JSON alone"
printf '%s\n' "$T_ERR" | grep -q '^ocikp: debug: sample: loaded .*/ocikp-sample\.so (sample ' &&
	printf '%s\n' "$T_ERR" | grep -q '^ocikp: debug: sample: wrap, [0-9]* ms of the time budget left$' &&
	printf '%s\n' "$T_ERR" | grep -q '^ocikp: debug: 2 drop-in files read; time budget 60000 ms$'
t_ok $? "--verbose: module, call and budget lines"
! printf '%s\n' "$T_ERR" | grep -v '^ocikp: debug: ' | grep -q .
t_ok $? "--verbose: every stderr line is a debug line"

t_run "$WRAP" -v
printf '%s\n' "$T_ERR" | grep -q '^ocikp: debug: '
t_ok $? "-v is --verbose"

OCIKP_DEBUG=1 t_run "$(t_unwrap_request ocikp "$ann")"
[ "$T_RC" -eq 0 ] && printf '%s\n' "$T_ERR" | grep -q '^ocikp: debug: sample: unwrap, '
t_ok $? "OCIKP_DEBUG=1 turns them on"
out=$(printf '%s' "$T_OUT" | t_json_field keyunwrapresults.optsdata | base64 -d)
[ "$out" = "$OPTS" ]
t_ok $? "... and the unwrap answer is unchanged"
for v in 0 yes ""; do
	OCIKP_DEBUG=$v t_run "$WRAP"
	[ "$T_RC" -eq 0 ] && [ -z "$T_ERR" ]
	t_ok $? "OCIKP_DEBUG='$v' leaves them off"
done

# Nothing secret in any debug line: not the key file, not the optsdata.
all=$(OCIKP_DEBUG=1 "$OCIKP" --verbose < <(t_unwrap_request ocikp "$ann") 2>&1 >/dev/null; \
      OCIKP_DEBUG=1 "$OCIKP" < <(printf '%s' "$WRAP") 2>&1 >/dev/null)
! printf '%s' "$all" | grep -qiF -e "$keyhex" -e "$keyb64" -e "c2VjcmV0LWxheWVyLWtleS0zMi1ieXRlcy1sb25nISE" \
	-e "secret-layer-key"
t_ok $? "no key or optsdata bytes in debug output"

# A failure with --verbose: debug lines, then exactly one error line last.
t_run "$(t_unwrap_request ocikp "$(printf '{"key_url":"nope://x"}' | base64 -w0)")" --verbose
last=$(printf '%s\n' "$T_ERR" | tail -n1)
errs=$(printf '%s\n' "$T_ERR" | grep -vc '^ocikp: debug: ')
[ "$T_RC" -eq 4 ] && [ -z "$T_OUT" ] && [ "$errs" -eq 1 ] &&
	printf '%s' "$last" | grep -q "no backend for scheme 'nope'"
t_ok $? "a failure still ends with its one error line, nothing on stdout"
t_done
