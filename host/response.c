/*
 * The OCIcrypt exec protocol, answer side.  The answer is built whole in a
 * cleansing buffer and written only once everything has succeeded, so a
 * failure never leaves partial JSON on stdout, and then written whole.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include "ocikp.h"

int response_build(enum op op, const struct ocikp_buf *payload, struct ocikp_buf *out)
{
	ocikp_jgen *g = jgen_new();

	jgen_map_open(g);
	jgen_key(g, op == OP_WRAP ? "keywrapresults" : "keyunwrapresults");
	jgen_map_open(g);
	jgen_key(g, op == OP_WRAP ? "annotation" : "optsdata");
	jgen_b64(g, payload->data, payload->len);
	jgen_map_close(g);
	jgen_map_close(g);
	return jgen_finish(g, out);
}

/* Wait until fd takes more, at most until the request's deadline (none
 * outside exec mode).  0, or -1 with errno set. */
static int wait_writable(int fd)
{
	struct ocikp_ctx *ctx = ctx_current();

	return deadline_poll(ctx ? &host_of(ctx)->deadline : NULL, fd, POLLOUT);
}

/* All of it: stdout may be a non-blocking pipe (the caller's choice, and
 * its flag is shared with us), so a full pipe means wait, not fail. */
int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable(fd) == 0)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
