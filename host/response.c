/*
 * The OCIcrypt exec protocol, answer side.  The answer is built whole in a
 * cleansing buffer and written only once everything has succeeded, so a
 * failure never leaves partial JSON on stdout.
 */
#include <errno.h>
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

int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
