/* Target: what STS answers the awskms backend: the same bytes as an
 * AssumeRole / AssumeRoleWithWebIdentity answer (<Credentials> and its
 * Expiration) and as an error body (<ErrorResponse><Error><Code/>
 * <Message/>), through libxml2 as the module calls it. */
#include <string.h>
#include "fuzz.h"
#include "awskms-state.h"

static struct ocikp_ctx *sts_ctx(void)
{
	static struct backend_ctx b;

	host_ctx_init(&b.pub, &fuzz_host, "awskms");
	return &b.pub;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 400, 403, 429, 500, 503 };
	struct ocikp_ctx *ctx = sts_ctx();
	struct aws_cred c;
	long status;
	int retry;

	memset(&c, 0, sizeof(c));
	if (sts_parse_answer(ctx, data, size, &c) == OCIKP_OK &&
	    (!c.akid.len || !c.secret.len || !c.token.len))
		__builtin_trap();	/* OK means all three */
	cred_free(ctx, &c);
	status = statuses[size ? data[0] % (sizeof(statuses) / sizeof(statuses[0])) : 0];
	sts_fail(ctx, "AssumeRole", status, data, size, &retry);
	return 0;
}
