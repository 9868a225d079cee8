/* The credential functions gcpkms-cache.c calls, as the test wants them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cred-stub.h"

struct stub_ctl stub = { .expires_in = 3600 };

void cred_identity(const struct gcp_cred *c, char hex[65])
{
	memcpy(hex, c->hex, 65);
}

const char *cred_describe(const struct gcp_cred *c)
{
	(void)c;
	return "stub credential";
}

int cred_fetch_token(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		     struct ocikp_buf *tok, long long *expires_at)
{
	struct timespec ts = { stub.sleep_ms / 1000, (stub.sleep_ms % 1000) * 1000000L };
	char made[96];
	int fd;

	(void)o;
	(void)c;
	stub.calls++;
	if (stub.count_file) {
		fd = open(stub.count_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0) {
			ssize_t w = write(fd, "f", 1);	/* short: the count test fails */

			(void)w;
			close(fd);
		}
	}
	while (stub.sleep_ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	if (stub.fail) {
		ocikp_errorf(ctx, "stub: token endpoint refused");
		return stub.fail;
	}
	if (!stub.token)
		snprintf(made, sizeof(made), "ya29." STUB_MARK "-%ld-%d", (long)getpid(),
			 stub.calls);
	*expires_at = (long long)time(NULL) + stub.expires_in;
	return ctx->host->buf_append(tok, stub.token ? stub.token : made,
				     strlen(stub.token ? stub.token : made));
}
