/* Target: the gcpkms credentials (plugins/gcpkms/gcpkms-cred.c): a
 * credentials file of every type as cred_load reads it (service_account,
 * authorized_user, external_account with its credential_source, headers,
 * format and impersonation lifetime, impersonated_service_account with its
 * source and delegates, and the types and sources refused), its identity
 * and description; then an external_account's subject token as its source
 * hands it over, and a token endpoint's error answer (cred_error_gist).
 * The input up to its first NUL is the credentials file, the rest the
 * subject token and error body (no NUL: the same bytes serve both).  The
 * file and the token are read from disk or the network in ocikp; here the
 * parsers are fed below that, so no request is ever made. */
#include <string.h>
#include "fuzz.h"
#include "gcpkms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	const uint8_t *nul = memchr(data, 0, size);
	size_t file_len = nul ? (size_t)(nul - data) : size;
	const uint8_t *rest = nul ? nul + 1 : data;
	size_t rest_len = nul ? size - file_len - 1 : size;
	struct http_resp r = { .status = 400,
			       .body = { (unsigned char *)(uintptr_t)rest, rest_len } };
	struct ocikp_buf out = { 0 };
	struct gcpkms_opts o = { 0 };
	struct gcp_cred *c = NULL;
	struct ocikp_ctx *ctx;
	char hex[65], gist[300];

	fuzz_ctx();
	host_ctx_init(&b.pub, &fuzz_host, "gcpkms");
	ctx = &b.pub;
	if (cred_parse_file(ctx, &o, "/fuzz/credentials.json", data, file_len, &c) == OCIKP_OK) {
		cred_identity(c, hex);
		(void)cred_describe(c);
		(void)cred_quota_project(c);
		cred_subject_parse(ctx, c, rest, rest_len, &out);
		buf_free(&out);
		cred_free(ctx, c);
	}
	cred_error_gist(ctx, &r, gist, sizeof(gist));
	return 0;
}
