/* Target: the pkcs11 backend's RFC 7512 parser (plugins/pkcs11/
 * pkcs11-uri.c, p11_uri_parse): any bytes as a key URL.  What it accepts
 * must come back as a key_url that parses again to the same path
 * attributes, with no PIN, pub= or alg= left in it. */
#include <string.h>
#include "fuzz.h"
#include "pkcs11.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	struct ocikp_ctx *ctx;
	struct p11_uri u, again;
	char *text;
	size_t i;

	host_ctx_init(&b.pub, &fuzz_host, "pkcs11");
	ctx = &b.pub;
	text = strndup((const char *)data, size);	/* up to a NUL, as JSON gives it */
	if (!text)
		return 0;
	if (p11_uri_parse(ctx, text, &u) == OCIKP_OK) {
		if (p11_uri_parse(ctx, (const char *)u.key_url.data, &again) != OCIKP_OK)
			abort();	/* key_url must parse */
		for (i = 0; i < P11_N_ATTRS; i++) {
			int secret = i == P11_PIN_SOURCE || i == P11_PIN_VALUE || i == P11_PUB ||
				     i == P11_ALG;

			if (secret ? again.has[i] : again.has[i] != u.has[i] ||
			    (u.has[i] && (again.v[i].len != u.v[i].len ||
					  memcmp(again.v[i].data, u.v[i].data, u.v[i].len))))
				abort();	/* a PIN recorded, or an attribute changed */
		}
		p11_uri_free(ctx, &again);
	}
	p11_uri_free(ctx, &u);
	free(text);
	return 0;
}
