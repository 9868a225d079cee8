/* Rotated bearer token files (lib/tokenfile.h): moved here from gcpkms so
 * the network backends share one reader and one policy. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tokenfile.h"

int token_file_read(struct ocikp_ctx *ctx, const char *what, const char *path, size_t max,
		    struct ocikp_buf *out)
{
	struct stat st;
	unsigned char *p;
	size_t got = 0;
	ssize_t n;
	int fd, rc = OCIKP_OK;

	if (!path || path[0] != '/') {
		ocikp_errorf(ctx, "%s %s: not an absolute path", what, path ? path : "(none)");
		return OCIKP_CONFIG;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ocikp_errorf(ctx, "%s %s: %s", what, path, strerror(errno));
		return OCIKP_CONFIG;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		ocikp_errorf(ctx, "%s %s: not a regular file of at most %zu bytes", what, path, max);
		close(fd);
		return OCIKP_CONFIG;
	}
	for (;;) {
		p = ctx->host->buf_extend(out, max + 1 - got);
		if (!p) {
			ocikp_errorf(ctx, "out of memory");
			rc = OCIKP_INTERNAL;
			break;
		}
		n = read(fd, p, max + 1 - got);
		out->len -= max + 1 - got - (n > 0 ? (size_t)n : 0);
		out->data[out->len] = '\0';
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ocikp_errorf(ctx, "%s %s: %s", what, path, strerror(errno));
			rc = OCIKP_CONFIG;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > max) {	/* it grew after the fstat */
			ocikp_errorf(ctx, "%s %s: larger than %zu bytes", what, path, max);
			rc = OCIKP_CONFIG;
			break;
		}
	}
	close(fd);
	return rc;
}
