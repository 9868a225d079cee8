/* Target: lib/http.c's reading of an answer's header lines (on_header and
 * cookie_line: answers one after another, the header-size cap, the
 * Set-Cookie cap, the wanted cookie's value), as libcurl's header callback
 * calls it, without a network call.  The input after its first byte is the
 * raw header text, cut into lines after each '\n' as libcurl hands them
 * over, each in a buffer of its own size so that a read past its end is
 * caught; a first byte of 0xf0 and up puts a header line of
 * HTTP_MAX_HEADERS - (b - 0xf0) * 256 bytes before it, so that the
 * 256 KiB cap is crossed by a short input.  The file is included for its
 * static callback and struct xfer.  A kept value must be what a Cookie line
 * can carry back: never a ';', CR or LF, never trailing blanks. */
#include "fuzz.h"
#include "../lib/http.c"

#define WANT "kbs-session-id"

static void check_cookie(const struct ocikp_buf *c)
{
	if (c->len && (memchr(c->data, ';', c->len) || memchr(c->data, '\r', c->len) ||
		       memchr(c->data, '\n', c->len) || c->data[c->len - 1] == ' ' ||
		       c->data[c->len - 1] == '\t'))
		abort();
}

/* Each line of text to on_header, until it stops the transfer. */
static void feed(struct xfer *x, const uint8_t *text, size_t size)
{
	const uint8_t *p = text, *end = text + size, *nl;
	char *line;
	size_t n, took;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
		if (!(line = malloc(n)))
			abort();
		memcpy(line, p, n);
		took = on_header(line, 1, n, x);
		free(line);
		if (took != n) {
			if (!x->headers_big)
				abort();	/* the only reason to stop */
			return;
		}
		check_cookie(&x->resp->cookie);
		p += n;
	}
}

/* One long header line of n bytes. */
static void filler(struct xfer *x, size_t n)
{
	static char *line;

	if (!line) {
		if (!(line = malloc(HTTP_MAX_HEADERS)))
			abort();
		memset(line, 'a', HTTP_MAX_HEADERS);
		line[HTTP_MAX_HEADERS - 1] = '\n';
	}
	if (on_header(line + HTTP_MAX_HEADERS - n, 1, n, x) != n)
		abort();	/* not over the cap yet */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	struct http_resp resp = { 0 };
	struct xfer x = { .resp = &resp, .want_cookie = WANT };

	if (size < 1)
		return 0;
	host_ctx_init(&b.pub, &fuzz_host, "kbs");
	x.ctx = &b.pub;
	if (data[0] >= 0xf0)
		filler(&x, HTTP_MAX_HEADERS - (size_t)(data[0] - 0xf0) * 256);
	feed(&x, data + 1, size - 1);
	if (x.header_bytes > HTTP_MAX_HEADERS && !x.headers_big)
		abort();
	http_resp_free(&b.pub, &resp);
	return 0;
}
