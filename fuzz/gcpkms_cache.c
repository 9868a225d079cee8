/* Target: the gcpkms token cache file (plugins/gcpkms/gcpkms-cache.c,
 * cache_check): its JSON and every check of version, token and expiry, as
 * cache_read runs them once the file has passed its owner, mode and size
 * checks.  The file lives in a directory only its user can write, yet is
 * still read as untrusted: a torn write, another version's format or an
 * edit by hand must all be a miss.  The clock is fixed so that an expiry
 * is reproducible, and the last byte (when it is odd) makes the stale
 * token KMS refused the one in the file, so that branch is reached too. */
#include <string.h>
#include "fuzz.h"
#include "gcpkms.h"

#define FUZZ_NOW 1764000000LL

/* The token in the seeds; a refused token is only compared, never parsed. */
static const char stale_token[] = "ya29.fuzz-cached-token";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	struct ocikp_buf tok = { 0 }, stale = { (unsigned char *)stale_token,
						  sizeof(stale_token) - 1 };
	long long left = 0, expires_at = 0;
	bool refused;

	fuzz_ctx();
	host_ctx_init(&b.pub, &fuzz_host, "gcpkms");
	cache_check(&b.pub, data, size, FUZZ_NOW, size && (data[size - 1] & 1) ? &stale : NULL,
		    &tok, &refused, &left, &expires_at);
	buf_free(&tok);
	return 0;
}
