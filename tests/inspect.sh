#!/usr/bin/env bash
# ocikp inspect prints text an image's author chose: it must not be able to
# forge a line of the output or send escape sequences to the terminal.
. "$top_srcdir/tests/lib/common.sh"
t_setup

# A native annotation whose key URL holds a newline and a forged line, an
# ESC colour sequence, a C1 CSI (U+009B) and a right-to-left override; a
# key with BEL, a short value with DEL and a backslash.
printf '%s' '{"key_url":"mock://k\nscheme: sample, backend: trusted\u001b[31m\u009b\u202e","bell\u0007":"a\\b\u007f\r\t"}' > "$T_TMP/evil.json"
t_run "" inspect "$T_TMP/evil.json"
printf '%s' "$T_OUT" > "$T_TMP/out"
[ "$T_RC" -eq 0 ]
t_ok $? "inspect accepts the annotation"
[ "$(grep -c '^scheme:' "$T_TMP/out")" -eq 1 ] && grep -q '^scheme: mock, backend: mock$' "$T_TMP/out"
t_ok $? "a newline in the key URL forges no 'scheme:' line"
! LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$T_TMP/out" &&
	! LC_ALL=C grep -q "$(printf '\302[\200-\237]')" "$T_TMP/out" &&
	! LC_ALL=C grep -q "$(printf '\r')" "$T_TMP/out" && ! grep -q "$(printf '\t')" "$T_TMP/out"
t_ok $? "no control character, DEL or C1 control reaches the output"
grep -qF 'key: mock://k\nscheme: sample, backend: trusted\x1b[31m\u009b\u202e' "$T_TMP/out"
t_ok $? "the key URL is shown escaped: \\n, \\x1b, \\u009b, \\u202e"
grep -qxF 'bell\x07: a\\b\x7f\r\t' "$T_TMP/out"
t_ok $? "keys and short values are escaped too, a backslash doubled"
n=$(printf '%s\n' "$T_OUT" | wc -l)
[ "$n" -eq 4 ]
t_ok $? "four lines: format, key, scheme, bell (got $n)"

# Text outside ASCII that is not a control prints as it is.
printf '%s' '{"key_url":"mock://caf\u00e9","label":"\u00fcber"}' > "$T_TMP/utf8.json"
t_run "" inspect "$T_TMP/utf8.json"
[ "$T_RC" -eq 0 ] && printf '%s\n' "$T_OUT" | grep -qxF 'key: mock://café' &&
	printf '%s\n' "$T_OUT" | grep -qxF 'label: über'
t_ok $? "printable UTF-8 is left alone"

# In an envelope: the version and each recipient's fields.
printf '%s' '{"ocikp":"1\n2","recipients":[{"kid":"/k\u001b]0;title\u0007"}]}' > "$T_TMP/env.json"
t_run "" inspect "$T_TMP/env.json"
[ "$T_RC" -eq 0 ] && printf '%s\n' "$T_OUT" | grep -qxF 'format: ocikp envelope, version 1\n2, 1 recipient(s)' &&
	printf '%s\n' "$T_OUT" | grep -qxF '  key: /k\x1b]0;title\x07'
t_ok $? "envelope: the version and a recipient's key escaped"

# A NUL in any JSON string is refused before anything is printed.
printf '%s' '{"kid":"/k\u0000x"}' > "$T_TMP/nul.json"
t_expect_fail "a NUL in the annotation is refused" 3 'NUL' "" inspect "$T_TMP/nul.json"
t_done
[ "$T_FAILED" -eq 0 ]
