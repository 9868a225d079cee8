/*
 * One request, from its bytes to the answer's bytes.  The exec path (stdin
 * to stdout) and ocikpd's gRPC handlers both come through here, so the two
 * cannot answer the same request differently.
 */
#include <stdio.h>
#include <string.h>
#include "ocikp.h"

/* Parse, check the call, and find the backends it needs. */
int host_prepare(struct host *h, struct ocikp_ctx *ctx, const char *provider, int want_op,
		 const struct ocikp_buf *raw, struct prepared *p)
{
	int rc;

	memset(p, 0, sizeof(*p));
	if (!raw->len) {
		err_set(ctx, "request: empty");
		return OCIKP_BAD_INPUT;
	}
	rc = request_parse(ctx, provider, raw, &p->req);
	if (rc == OCIKP_OK && want_op >= 0 && (int)p->req.op != want_op) {
		err_set(ctx, "request: op %s sent to the %s call",
			p->req.op == OP_WRAP ? "keywrap" : "keyunwrap",
			want_op == OP_WRAP ? "WrapKey" : "UnWrapKey");
		rc = OCIKP_BAD_INPUT;
	}
	if (rc == OCIKP_OK)
		route_backends(h, &p->req, p->backends, PREPARED_MAX_BACKENDS, &p->n_backends);
	return rc;
}

int host_run(struct host *h, struct ocikp_ctx *ctx, struct prepared *p, struct ocikp_buf *answer)
{
	struct ocikp_buf payload = { 0 };
	int rc;

	if (p->req.op == OP_WRAP)
		rc = route_wrap(h, ctx, &p->req, &payload);
	else
		rc = route_unwrap(h, ctx, &p->req, &payload);
	if (rc == OCIKP_OK)
		rc = response_build(p->req.op, &payload, answer);
	buf_free(&payload);
	return rc;
}

void prepared_free(struct prepared *p)
{
	request_free(&p->req);
	memset(p, 0, sizeof(*p));
}

int host_handle(struct host *h, struct ocikp_ctx *ctx, const char *provider, int want_op,
		const struct ocikp_buf *raw, struct ocikp_buf *answer)
{
	struct prepared p;
	int rc = host_prepare(h, ctx, provider, want_op, raw, &p);

	if (rc == OCIKP_OK)
		rc = host_run(h, ctx, &p, answer);
	prepared_free(&p);
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
