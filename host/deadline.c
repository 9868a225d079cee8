/*
 * The request's time budget.  ocicrypt execs a provider with no time limit,
 * so a hung server or device would hang `podman pull` for good: the host
 * owns one deadline per request (drop-in `timeout`), backends ask how much
 * is left, and in exec mode a timer ends the process shortly after it, in
 * case a backend does not listen.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include "ocikp.h"

/* How long past the deadline the backstop waits: a backend that gives up
 * on time still needs a moment to say why. */
#define BACKSTOP_GRACE_MS 1000

void deadline_set(struct deadline *d, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, &d->at);
	d->at.tv_sec += ms / 1000;
	d->at.tv_nsec += (ms % 1000) * 1000000L;
	if (d->at.tv_nsec >= 1000000000L) {
		d->at.tv_sec++;
		d->at.tv_nsec -= 1000000000L;
	}
}

static bool deadline_isset(const struct deadline *d)
{
	return d && (d->at.tv_sec || d->at.tv_nsec);
}

long deadline_left_ms(const struct deadline *d)
{
	struct timespec now;
	long long ms;

	if (!deadline_isset(d))
		return LONG_MAX;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(d->at.tv_sec - now.tv_sec) * 1000 +
	     (d->at.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > LONG_MAX ? LONG_MAX : (long)ms;
}

const struct deadline *deadline_min(const struct deadline *a, const struct deadline *b)
{
	if (!deadline_isset(a))
		return b;
	if (!deadline_isset(b))
		return a;
	return deadline_left_ms(a) <= deadline_left_ms(b) ? a : b;
}

int deadline_poll(const struct deadline *d, int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	long left;
	int n;

	for (;;) {
		left = deadline_left_ms(d);
		if (left == 0)
			break;
		n = poll(&p, 1, left > INT_MAX ? -1 : (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			break;
		if (errno != EINTR)
			return -1;
	}
	errno = ETIME;
	return -1;
}

/* The line the handler writes: formatted beforehand, since a signal handler
 * may call only async-signal-safe functions.  Two slots, so the handler
 * never sees one half-written. */
static char backstop_line[2][OCIKP_ERR_MAX];
static volatile sig_atomic_t backstop_slot;

static void backstop_fire(int sig)
{
	const char *line = backstop_line[backstop_slot];

	(void)sig;
	if (write(2, line, strlen(line)) < 0) {
		/* nothing left to tell */
	}
	_exit(EXIT_UNAVAILABLE);
}

/* The timeout, in seconds, that d stands for, so the line can name it: the
 * calling backend's own when d is its call's deadline, else the request's.
 * The current ctx is the one the host works for (host.c enters it first). */
static long budget_s(const struct deadline *d)
{
	struct backend_ctx *b = (struct backend_ctx *)ctx_current();
	long ms;

	if (!b)
		return 0;
	if (d == &b->deadline && b->cb)
		ms = b->cb->timeout_ms;
	else
		ms = b->host->conf.timeout_ms > 0 ? b->host->conf.timeout_ms
						  : OCIKP_TIMEOUT_DEFAULT_MS;
	return ms / 1000;
}

void backstop_arm(const struct deadline *d, const char *who)
{
	struct itimerval t;
	int slot = !backstop_slot;
	long ms, s;

	if (!deadline_isset(d)) {
		backstop_disarm();
		return;
	}
	s = budget_s(d);
	if (s > 0)
		snprintf(backstop_line[slot], sizeof(backstop_line[slot]),
			 "ocikp: %s%stimed out: no answer within the time budget of %ld s "
			 "(drop-in 'timeout')\n", who ? who : "", who ? ": " : "", s);
	else
		snprintf(backstop_line[slot], sizeof(backstop_line[slot]),
			 "ocikp: %s%stimed out: the time budget is spent (drop-in 'timeout')\n",
			 who ? who : "", who ? ": " : "");
	backstop_slot = slot;
	signal(SIGALRM, backstop_fire);
	ms = deadline_left_ms(d);
	ms = ms > LONG_MAX - BACKSTOP_GRACE_MS ? LONG_MAX : ms + BACKSTOP_GRACE_MS;
	memset(&t, 0, sizeof(t));
	t.it_value.tv_sec = ms / 1000;
	t.it_value.tv_usec = (ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &t, NULL);
}

void backstop_disarm(void)
{
	struct itimerval t;

	memset(&t, 0, sizeof(t));
	setitimer(ITIMER_REAL, &t, NULL);
}
