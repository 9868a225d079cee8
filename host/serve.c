/*
 * One request, from its bytes to the answer's bytes.  The exec path (stdin
 * to stdout) and ocikpd's gRPC handlers both come through here, so the two
 * cannot answer the same request differently.
 */
#include <stdio.h>
#include <string.h>
#include "ocikp.h"

int host_handle(struct host *h, struct ocikp_ctx *ctx, const char *provider, int want_op,
		const struct ocikp_buf *raw, struct ocikp_buf *answer)
{
	struct ocikp_buf payload = { 0 };
	struct request req;
	int rc;

	memset(&req, 0, sizeof(req));
	if (!raw->len) {
		err_set(ctx, "request: empty");
		return OCIKP_BAD_INPUT;
	}
	rc = request_parse(ctx, provider, raw, &req);
	if (rc == OCIKP_OK && want_op >= 0 && (int)req.op != want_op) {
		err_set(ctx, "request: op %s sent to the %s call",
			req.op == OP_WRAP ? "keywrap" : "keyunwrap",
			want_op == OP_WRAP ? "WrapKey" : "UnWrapKey");
		rc = OCIKP_BAD_INPUT;
	}
	if (rc == OCIKP_OK && req.op == OP_WRAP)
		rc = route_wrap(h, ctx, &req, &payload);
	else if (rc == OCIKP_OK)
		rc = route_unwrap(h, ctx, &req, &payload);
	if (rc == OCIKP_OK)
		rc = response_build(req.op, &payload, answer);
	request_free(&req);
	buf_free(&payload);
	return rc;
}

/* The line a failure prints ("ocikp: tpm: PCR 7 does not match"), without
 * its newline: on stderr in exec mode, as grpc-message in ocikpd. */
void host_error_line(const struct host *h, int rc, char *out, size_t size)
{
	const char *msg = h->err.msg;

	if (!msg[0])
		msg = rc == OCIKP_INTERNAL ? "out of memory or internal error" : "failed";
	if (h->err.who)
		snprintf(out, size, "ocikp: %s: %s", h->err.who, msg);
	else
		snprintf(out, size, "ocikp: %s", msg);
}
