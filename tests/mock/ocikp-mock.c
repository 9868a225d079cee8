/*
 * A backend for tests only.  Scheme mock://KEY; the "wrapping" is a
 * reversible XOR, worthless as crypto, so the host's routing, envelope and
 * loader can be tested without any real key.
 *
 *  - unwrap needs a decrypt parameter equal to the annotation's key_url,
 *    else NOT_MINE: this checks that the host routes dc parameters;
 *  - option mock.fail = unavailable|internal makes unwrap fail that way,
 *    and mock.fail = silent makes it fail (wrong key) without a message;
 *  - mock.sleep_ms = N sleeps N ms in every wrap and unwrap, deaf to the
 *    deadline (the host's backstop must end it), unless
 *    mock.honour_deadline = yes: then it waits at most until the deadline
 *    and, if that came first, gives up with its own message;
 *  - mock.log = FILE appends "OP KEY_URL DEADLINE_MS" per call, so tests
 *    can count calls and see the budget a backend is given;
 *  - mock.log_option = KEY adds a line "option KEY VALUE" (or "option KEY
 *    unset"): loaded under another backend's name (backend = tpm, module =
 *    ocikp-mock.so), it shows which option a compatibility flag set.
 *
 * Built several times with -D to make broken modules for the loader tests:
 * MOCK_ABI (a wrong ABI number), MOCK_SIZE (a short descriptor),
 * MOCK_NO_SYMBOL (no ocikp_backend_v1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ocikp/backend.h"

#ifndef MOCK_ABI
#define MOCK_ABI OCIKP_BACKEND_ABI
#endif
#ifndef MOCK_SIZE
#define MOCK_SIZE sizeof(struct ocikp_backend)
#endif

/* -1 on a host without deadlines; the mock is also built against the
 * version-1 header (ocikp-mock-v1), which has neither. */
static long deadline_left(struct ocikp_ctx *ctx)
{
#ifdef OCIKP_HOST_HAS
	return OCIKP_HOST_HAS(ctx->host, deadline_ms) ? ctx->host->deadline_ms(ctx) : -1;
#else
	(void)ctx;
	return -1;
#endif
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* mock.log and mock.sleep_ms: what every call does first. */
static int mock_enter(struct ocikp_ctx *ctx, const char *op, const char *url)
{
	const char *log = ocikp_conf(ctx, "log"), *sleep = ocikp_conf(ctx, "sleep_ms");
	const char *honour = ocikp_conf(ctx, "honour_deadline");
	const char *show = ocikp_conf(ctx, "log_option");
	long want = sleep ? strtol(sleep, NULL, 10) : 0, left = deadline_left(ctx);
	FILE *f;

	if (log && (f = fopen(log, "a"))) {
		fprintf(f, "%s %s %ld\n", op, url ? url : "-", left);
		if (show && ocikp_conf(ctx, show))
			fprintf(f, "option %s %s\n", show, ocikp_conf(ctx, show));
		else if (show)
			fprintf(f, "option %s unset\n", show);
		fclose(f);
	}
	if (want <= 0)
		return OCIKP_OK;
	if (!honour || strcmp(honour, "yes") != 0 || left < 0 || want < left) {
		sleep_ms(want);
		return OCIKP_OK;
	}
	sleep_ms(left);
	ocikp_errorf(ctx, "mock gave up: the deadline came after %ld of %ld ms", left, want);
	return OCIKP_UNAVAILABLE;
}

static int mock_wrap(struct ocikp_ctx *ctx, const char *param, const struct ocikp_buf *optsdata,
		     struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf x = { 0 };
	unsigned char *p = h->buf_extend(&x, optsdata->len);
	ocikp_jgen *g;
	size_t i;
	int rc = mock_enter(ctx, "wrap", param);

	if (!p || rc != OCIKP_OK) {
		h->buf_free(&x);
		return p ? rc : OCIKP_INTERNAL;
	}
	for (i = 0; i < optsdata->len; i++)
		p[i] = optsdata->data[i] ^ 0x5a;
	g = h->jgen_new();
	h->jgen_map_open(g);
	h->jgen_key(g, "key_url");
	h->jgen_string(g, param, strlen(param));
	h->jgen_key(g, "wrapped_key");
	h->jgen_b64(g, x.data, x.len);
	h->jgen_key(g, "wrap_type");
	h->jgen_string(g, "XOR", 3);
	h->jgen_map_close(g);
	h->buf_free(&x);
	return h->jgen_finish(g, out);
}

static int mock_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann, const char *const *dc,
		       struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	const char *url = h->json_string(h->json_get(ann, "key_url"));
	const ocikp_json *wk = h->json_get(ann, "wrapped_key");
	const char *fail = ocikp_conf(ctx, "fail");
	size_t i, start = out->len;
	int rc = mock_enter(ctx, "unwrap", url);

	if (rc != OCIKP_OK)
		return rc;
	if (fail && !strcmp(fail, "silent"))
		return OCIKP_WRONG_KEY;	/* and no message, on purpose */
	if (fail && !strcmp(fail, "unavailable")) {
		ocikp_errorf(ctx, "mock device unavailable");
		return OCIKP_UNAVAILABLE;
	}
	if (fail && !strcmp(fail, "internal")) {
		ocikp_errorf(ctx, "mock internal failure");
		return OCIKP_INTERNAL;
	}
	for (i = 0; dc[i] && (!url || strcmp(dc[i], url) != 0); i++)
		;
	if (!url || !dc[i]) {
		ocikp_errorf(ctx, "no decrypt parameter for %s", url ? url : "(no key_url)");
		return OCIKP_NOT_MINE;
	}
	rc = h->b64_decode(ctx, "annotation: wrapped_key", h->json_string(wk),
			   h->json_string_len(wk), 0, out);
	for (i = start; rc == OCIKP_OK && i < out->len; i++)
		out->data[i] ^= 0x5a;
	return rc;
}

static const char *const mock_schemes[] = { "mock", NULL };

#ifdef MOCK_NO_SYMBOL
#define MOCK_SYMBOL ocikp_backend_v0
#else
#define MOCK_SYMBOL ocikp_backend_v1
#endif

OCIKP_EXPORT const struct ocikp_backend MOCK_SYMBOL = {
	.abi = MOCK_ABI,
	.size = MOCK_SIZE,
	.name = "mock",
	.version = "test",
	.schemes = mock_schemes,
	.wrap = mock_wrap,
	.unwrap = mock_unwrap,
};
