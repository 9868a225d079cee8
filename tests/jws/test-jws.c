/*
 * lib/jws.c on the real host services: `test-jws KEY.pem CLAIMS [KID]`
 * prints the compact JWS, for tests/jws/jws.sh to verify with Python's
 * cryptography; exit 6 (with the error line on stderr) if refused.
 */
#include <stdio.h>
#include <string.h>
#include "ocikp.h"
#include "jws.h"

int main(int argc, char **argv)
{
	static struct host h;
	static struct backend_ctx root;
	struct ocikp_ctx *ctx = &root.pub;
	struct ocikp_buf pem = { 0 }, claims = { 0 }, out = { 0 };
	EVP_PKEY *key = NULL;
	int rc;

	if (argc < 3)
		return 2;
	alloc_hook_openssl();
	host_ctx_init(ctx, &h, "jws");
	rc = read_private_file(ctx, "key", argv[1], 65536, &pem);
	if (rc == OCIKP_OK)
		rc = jws_key_from_pem(ctx, "key", pem.data, pem.len, &key);
	if (rc == OCIKP_OK)
		rc = buf_append(&claims, argv[2], strlen(argv[2]));
	if (rc == OCIKP_OK)
		rc = jws_sign(ctx, key, argc > 3 ? argv[3] : NULL, &claims, &out);
	if (rc == OCIKP_OK)
		printf("%s\n", (char *)out.data);
	else
		fprintf(stderr, "%s\n", h.err.msg);
	EVP_PKEY_free(key);
	buf_free(&pem);
	buf_free(&claims);
	buf_free(&out);
	conf_free(&h.conf);
	return rc == OCIKP_OK ? 0 : 6;
}
