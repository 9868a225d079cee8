/*
 * OpenSSL on the cleansing allocator.  OpenSSL frees its own copies of key
 * material (decoded PEM, BIGNUM temporaries, cipher contexts) without
 * always wiping them; routed through secure_malloc, every block is wiped
 * when released.  This must run before OpenSSL allocates anything.
 */
#include <openssl/crypto.h>
#include "ocikp.h"

static void *ossl_malloc(size_t n, const char *file, int line)
{
	(void)file, (void)line;
	return secure_malloc(n);
}

/* OpenSSL hands realloc(p, 0) straight to a custom implementation. */
static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file, (void)line;
	if (n == 0) {
		secure_free(p);
		return NULL;
	}
	return secure_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
	(void)file, (void)line;
	secure_free(p);
}

int alloc_hook_openssl(void)
{
	return CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) ? OCIKP_OK
									    : OCIKP_INTERNAL;
}
