/*
 * Preloaded by tests/tpm/libctx.sh: counts the OpenSSL library contexts a
 * process makes (OSSL_LIB_CTX_new) and writes the number to the file named
 * by OCIKP_LIBCTX_REPORT at exit.  tpm2-tss 3.2's ESAPI made one for every
 * session nonce and every cpHash/rpHash, each with its own name map, method
 * store and DRBG: most of an unwrap's CPU time, on every call of ocikpd.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ossl_lib_ctx_st OSSL_LIB_CTX;
OSSL_LIB_CTX *OSSL_LIB_CTX_new(void);

static unsigned long made;

OSSL_LIB_CTX *OSSL_LIB_CTX_new(void)
{
	static OSSL_LIB_CTX *(*real)(void);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "OSSL_LIB_CTX_new");
	made++;
	return real ? real() : NULL;
}

__attribute__((destructor))
static void report(void)
{
	const char *path = getenv("OCIKP_LIBCTX_REPORT");
	FILE *f = path ? fopen(path, "w") : NULL;

	if (f) {
		fprintf(f, "%lu\n", made);
		fclose(f);
	}
}
