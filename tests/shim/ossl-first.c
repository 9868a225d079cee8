/*
 * Preloaded into ocikp by tests/secrets.sh: it makes OpenSSL allocate
 * before ocikp's main() runs, so CRYPTO_set_mem_functions refuses the
 * cleansing allocator.  ocikp must carry on and say so in a debug line.
 */
#include <openssl/crypto.h>

__attribute__((constructor))
static void allocate_first(void)
{
	OPENSSL_free(OPENSSL_malloc(16));
}
