/* Target: lib/http.c's reading of an answer's header lines (on_header and
 * cookie_line: answers one after another, the header-size cap, the
 * Set-Cookie cap, the wanted cookie's value), as libcurl's header callback
 * calls it, without a network call.  The input after its first byte is the
 * raw header text, cut into lines after each '\n' as libcurl hands them
 * over; the first byte repeats it (0xf0 and up: 2^(b-0xf0) times), so the
 * 256 KiB cap is reached from a short input.  The file is included for its
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

/* Each line of text to on_header; false once it stops the transfer. */
static bool feed(struct xfer *x, const uint8_t *text, size_t size)
{
	const uint8_t *p = text, *end = text + size, *nl;
	char *line;
	size_t n;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
		/* each line in a buffer of its own size, so that a read past
		 * its end is caught */
		if (!(line = malloc(n)))
			abort();
		memcpy(line, p, n);
		if (on_header(line, 1, n, x) != n) {
			free(line);
			if (!x->headers_big)
				abort();	/* the only reason to stop */
			return false;
		}
		free(line);
		check_cookie(&x->resp->cookie);
		p += n;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	struct http_resp resp = { 0 };
	struct xfer x = { .resp = &resp, .want_cookie = WANT };
	unsigned long reps, i;

	if (size < 1)
		return 0;
	host_ctx_init(&b.pub, &fuzz_host, "kbs");
	x.ctx = &b.pub;
	reps = data[0] < 0xf0 ? 1 : 1ul << (data[0] - 0xf0);
	for (i = 0; i < reps && feed(&x, data + 1, size - 1); i++)
		;
	if (x.header_bytes > HTTP_MAX_HEADERS && !x.headers_big)
		abort();
	http_resp_free(&b.pub, &resp);
	return 0;
}
