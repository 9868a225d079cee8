/*
 * Text someone else wrote (an annotation, a request, a server's answer),
 * made printable for a terminal or a journal: `ocikp inspect` and every
 * log line escape it the same way, here.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "ocikp.h"

/* The length of a valid UTF-8 sequence at s (at most n bytes) and its code
 * point, or 0 if the bytes there are not one. */
static size_t utf8_char(const unsigned char *s, size_t n, unsigned long *cp)
{
	size_t len, i;
	unsigned long min;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, min = 0x80, *cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, min = 0x800, *cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, min = 0x10000, *cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

/* Code points a terminal acts on rather than shows: C1 controls (0x9b is a
 * CSI), the line and paragraph separators, and the bidirectional overrides
 * that reorder what a line seems to say. */
static bool hidden_control(unsigned long cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

/* One input character's printable form into esc (at least 7 bytes);
 * *used: the input bytes it took. */
static size_t escape_one(const unsigned char *s, size_t n, char *esc, size_t *used)
{
	unsigned long cp;
	unsigned char c = s[0];
	size_t len;

	*used = 1;
	if (c == '\\')
		return (size_t)snprintf(esc, 7, "\\\\");
	if (c == '\n' || c == '\r' || c == '\t')
		return (size_t)snprintf(esc, 7, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
	if (c < 0x20 || c == 0x7f)
		return (size_t)snprintf(esc, 7, "\\x%02x", c);
	if (c < 0x80) {
		esc[0] = (char)c;
		return 1;
	}
	len = utf8_char(s, n, &cp);
	if (!len)
		return (size_t)snprintf(esc, 7, "\\x%02x", c);
	*used = len;
	if (hidden_control(cp))
		return (size_t)snprintf(esc, 7, "\\u%04lx", cp);
	memcpy(esc, s, len);
	return len;
}

size_t text_escape(char *out, size_t size, const char *in, size_t n)
{
	const unsigned char *s = (const unsigned char *)in;
	char esc[8];
	size_t i = 0, o = 0, len, used;

	if (!size)
		return 0;
	while (i < n) {
		len = escape_one(s + i, n - i, esc, &used);
		if (o + len >= size)
			break;	/* only whole escapes: a cut one would be ambiguous */
		memcpy(out + o, esc, len);
		o += len;
		i += used;
	}
	out[o] = '\0';
	return o;
}
