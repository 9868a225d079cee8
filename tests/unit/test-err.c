/* host/err.c on its own: linked with no other host file, so the one-line
 * error, debug lines and the current ctx stand alone (host_of is an inline
 * in ocikp.h).  Debug lines go to stderr; the test reads them back through
 * a pipe. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root, other;

/* Run fn with stderr captured; returns what it wrote (static buffer). */
static const char *capture(void (*fn)(void))
{
	static char got[1024];
	int p[2], saved = dup(2);
	ssize_t n;

	if (pipe(p) != 0)
		abort();
	fflush(stderr);
	dup2(p[1], 2);
	close(p[1]);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	n = read(p[0], got, sizeof(got) - 1);
	got[n > 0 ? n : 0] = '\0';
	close(p[0]);
	return got;
}

static void say_debug(void)
{
	debugf(&other.pub, "status %d\nforged line", 403);
}

int main(void)
{
	struct ocikp_ctx *ctx = &root.pub;
	const char *line;

	memset(&root, 0, sizeof(root));
	root.host = &h;
	memset(&other, 0, sizeof(other));
	other.host = &h;
	other.pub.backend = "gcpkms";

	ok(host_of(ctx) == &h, "host_of is the ctx's host");
	err_set(&other.pub, "line one\nline two%s", "");
	ok(!strcmp(h.err.msg, "line one line two") && !strcmp(h.err.who, "gcpkms"),
	   "an error is one line, attributed to its backend");
	err_clear(ctx);
	ok(h.err.msg[0] == '\0' && h.err.who == NULL, "err_clear empties the slot");
	err_set(NULL, "ignored");
	ok(h.err.msg[0] == '\0', "an error without a ctx is dropped, not a crash");

	ok(!debug_enabled(), "debug lines are off by default");
	line = capture(say_debug);
	ok(line[0] == '\0', "no debug line unless enabled");
	debug_enable(true);
	line = capture(say_debug);
	ok(!strcmp(line, "ocikp: debug: gcpkms: status 403\\nforged line\n"),
	   "a debug line, one line (escaped as ocikp inspect does), names its backend");
	debug_enable(false);

	ok(ctx_current() == NULL, "no current ctx outside a call");
	ok(ctx_enter(ctx) == NULL && ctx_current() == ctx, "ctx_enter sets the current ctx");
	ok(ctx_enter(&other.pub) == ctx && ctx_current() == &other.pub,
	   "ctx_enter returns the previous one");
	ctx_enter(NULL);

	ok(ocikp_status_exit(OCIKP_UNAVAILABLE) == EXIT_UNAVAILABLE &&
	   ocikp_status_exit(OCIKP_HOST_USAGE) == EXIT_USAGE &&
	   ocikp_status_exit(12345) == EXIT_INTERNAL, "statuses map to exit codes");
	return tap_done();
}
