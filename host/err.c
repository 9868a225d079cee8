/*
 * The one error line.  Whatever fails deep inside records its message here;
 * main() prints it once, as "ocikp: <who>: <message>", after every buffer
 * has been cleansed and nothing has reached stdout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "ocikp.h"

static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

void err_vset(struct ocikp_ctx *ctx, const char *fmt, va_list ap)
{
	struct host *h = host_of(ctx);

	vsnprintf(h->err.msg, sizeof(h->err.msg), fmt, ap);
	one_line(h->err.msg);
	h->err.who = ctx->backend;
}

void err_set(struct ocikp_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(ctx, fmt, ap);
	va_end(ap);
}

void warn_vprint(struct ocikp_ctx *ctx, const char *fmt, va_list ap)
{
	char msg[OCIKP_ERR_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	one_line(msg);
	if (ctx->backend)
		fprintf(stderr, "ocikp: warning: %s: %s\n", ctx->backend, msg);
	else
		fprintf(stderr, "ocikp: warning: %s\n", msg);
}

int ocikp_status_exit(int status)
{
	switch (status) {
	case OCIKP_OK: return EXIT_OK;
	case OCIKP_NOT_MINE:
	case OCIKP_WRONG_KEY: return EXIT_NO_KEY;
	case OCIKP_BAD_INPUT: return EXIT_BAD_INPUT;
	case OCIKP_UNAVAILABLE: return EXIT_UNAVAILABLE;
	case OCIKP_CONFIG: return EXIT_CONFIG;
	case OCIKP_HOST_USAGE: return EXIT_USAGE;
	default: return EXIT_INTERNAL;
	}
}
