/* Minimal TAP output for the C unit tests. */
#ifndef OCIKP_TAP_H
#define OCIKP_TAP_H
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

#define ok(cond, ...) do { \
	int ok_c_ = (cond); \
	printf("%sok %d - ", ok_c_ ? "" : "not ", ++tap_n); \
	printf(__VA_ARGS__); \
	printf("\n"); \
	if (!ok_c_) { tap_failed++; printf("#   failed at %s:%d\n", __FILE__, __LINE__); } \
} while (0)

/* The upper end of a time bound: MS times $T_SLACK (tests/lib/common.sh;
 * 4 when unset), so a loaded machine does not fail a deadline check. */
static inline long tap_slack(long ms)
{
	const char *s = getenv("T_SLACK");
	long f = s ? strtol(s, NULL, 10) : 0;

	return ms * (f > 0 ? f : 4);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
#endif
