/* Target: the tpm backend's wrap, fed the key URL: the query parser, the
 * base64 of pub= and pcrs=, the EK key or certificate (PEM or DER), the PCR
 * list, and the duplication to the EK.  No TPM is involved in a wrap. */
#include <string.h>
#include "fuzz.h"

extern const struct ocikp_backend ocikp_backend_v1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	static const unsigned char opts[] = "{\"symkey\":\"ZnV6eg==\"}";
	struct ocikp_buf optsdata = { (unsigned char *)opts, sizeof(opts) - 1 }, out = { 0 };
	char *url = secure_strndup((const char *)data, size);

	fuzz_ctx();
	host_ctx_init(&b.pub, &fuzz_host, "tpm");
	if (url && strlen(url) == size)
		ocikp_backend_v1.wrap(&b.pub, url, &optsdata, &out);
	buf_free(&out);
	secure_free(url);
	return 0;
}
