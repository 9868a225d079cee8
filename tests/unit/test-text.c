/* host/text.c: the one escaping of text others wrote, shared by `ocikp
 * inspect` and every log line (ocikpd's journal among them). */
#include <string.h>
#include "ocikp.h"
#include "tap.h"

static const char *esc(const char *in, size_t n, size_t size)
{
	static char out[256];

	text_escape(out, size, in, n);
	return out;
}

#define E(s) esc(s, sizeof(s) - 1, 256)

int main(void)
{
	char big[TEXT_ESCAPE_SIZE(64)];
	char all[64];
	size_t i, n;

	ok(!strcmp(E("plain text, UTF-8 é ✓"), "plain text, UTF-8 é ✓"),
	   "printable ASCII and UTF-8 pass unchanged");
	ok(!strcmp(E("a\nb\rc\td"), "a\\nb\\rc\\td"), "newline, CR, tab: \\n \\r \\t");
	ok(!strcmp(E("\x1b[31mred"), "\\x1b[31mred"), "ESC: \\x1b");
	ok(!strcmp(E("\x01\x1f\x7f"), "\\x01\\x1f\\x7f"), "C0 controls and DEL: \\xHH");
	ok(!strcmp(E("\xc2\x9b" "2J"), "\\u009b2J"), "C1 control (CSI, U+009B): \\u009b");
	ok(!strcmp(E("x\xe2\x80\xa8y\xe2\x80\xa9z"), "x\\u2028y\\u2029z"),
	   "line and paragraph separators: \\u2028 \\u2029");
	ok(!strcmp(E("\xe2\x80\xae" "cba\xe2\x81\xa6"), "\\u202ecba\\u2066"),
	   "bidi override and isolate: \\u202e \\u2066");
	ok(!strcmp(E("\xff\xc3("), "\\xff\\xc3("), "invalid UTF-8: \\xHH per byte");
	ok(!strcmp(E("\xed\xa0\x80"), "\\xed\\xa0\\x80"), "a UTF-16 surrogate is invalid UTF-8");
	ok(!strcmp(E("a\\nb"), "a\\\\nb"), "a backslash is doubled: escapes stay unambiguous");
	ok(!strcmp(esc("a\0b", 3, 256), "a\\x00b"), "NUL inside the length: \\x00");
	ok(!strcmp(esc("ab\x1b", 3, 6), "ab"), "only whole escapes fit: a cut one is left out");
	ok(!strcmp(esc("abc", 3, 3), "ab"), "output truncated to the buffer, NUL-terminated");
	for (i = 0; i < sizeof(all); i++)
		all[i] = (char)(i < 32 ? i : 0x80 + i);
	n = text_escape(big, sizeof(big), all, sizeof(all));
	ok(n == strlen(big) && n <= sizeof(big) - 1 && n >= 4 * 32,
	   "TEXT_ESCAPE_SIZE(n) holds the worst case (%zu bytes)", n);
	return tap_done();
}
