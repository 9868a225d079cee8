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
	struct host *h;

	if (!ctx)	/* outside any call: ctx_current() is NULL in tools and tests */
		return;
	h = host_of(ctx);

	vsnprintf(h->err.msg, sizeof(h->err.msg), fmt, ap);
	one_line(h->err.msg);
	h->err.who = ctx->backend;
}

void err_clear(struct ocikp_ctx *ctx)
{
	struct host *h = host_of(ctx);

	h->err.msg[0] = '\0';
	h->err.who = NULL;
}

void err_set(struct ocikp_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(ctx, fmt, ap);
	va_end(ap);
}

/* A line for stderr (the journal, under ocikpd): what callers wrote in it
 * is escaped as `ocikp inspect` shows it. */
static void print_line(const char *kind, struct ocikp_ctx *ctx, const char *fmt, va_list ap)
{
	char msg[OCIKP_ERR_MAX], esc[TEXT_ESCAPE_SIZE(OCIKP_ERR_MAX)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	text_escape(esc, sizeof(esc), msg, strlen(msg));
	if (ctx && ctx->backend)
		fprintf(stderr, "ocikp: %s: %s: %s\n", kind, ctx->backend, esc);
	else
		fprintf(stderr, "ocikp: %s: %s\n", kind, esc);
}

void warn_vprint(struct ocikp_ctx *ctx, const char *fmt, va_list ap)
{
	print_line("warning", ctx, fmt, ap);
}

static bool debug_on;

void debug_enable(bool on)
{
	debug_on = on;
}

bool debug_enabled(void)
{
	return debug_on;
}

void debug_vprint(struct ocikp_ctx *ctx, const char *fmt, va_list ap)
{
	if (debug_on)
		print_line("debug", ctx, fmt, ap);
}

void debugf(struct ocikp_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	debug_vprint(ctx, fmt, ap);
	va_end(ap);
}

static _Thread_local struct ocikp_ctx *current;

struct ocikp_ctx *ctx_current(void)
{
	return current;
}

struct ocikp_ctx *ctx_enter(struct ocikp_ctx *ctx)
{
	struct ocikp_ctx *prev = current;

	current = ctx;
	return prev;
}

int ocikp_status_exit(int status)
{
	switch (status) {
	case OCIKP_OK: return EXIT_OK;
	case OCIKP_NOT_MINE:
	case OCIKP_WRONG_KEY:
	case OCIKP_PERMISSION: return EXIT_NO_KEY;	/* ocikpd only; as gRPC's PERMISSION_DENIED */
	case OCIKP_BAD_INPUT: return EXIT_BAD_INPUT;
	case OCIKP_UNAVAILABLE: return EXIT_UNAVAILABLE;
	case OCIKP_CONFIG: return EXIT_CONFIG;
	case OCIKP_HOST_USAGE: return EXIT_USAGE;
	default: return EXIT_INTERNAL;
	}
}
