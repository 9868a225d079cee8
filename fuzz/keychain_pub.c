/* Target: the keychain backend's wrap to a key URL (plugins/keychain/
 * ocikp-keychain.c, keychain_wrap): the scheme and tag, mode=, and the pub=
 * point, base64url-decoded and checked on the P-256 curve (keychain-ecies.c
 * point_to_key) before the ECIES seal.  A key URL is what an image's
 * builder pastes in, often from someone else's `ocikp keychain pub`; wrap
 * needs no stored key, so none is set up.  The input is the key URL. */
#include "fuzz.h"

extern const struct ocikp_backend ocikp_backend_v1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char layer_key[] = "{\"symkey\":\"c2VjcmV0\",\"digest\":\"sha256:00\"}";
	static struct backend_ctx b;
	struct ocikp_buf opts = { 0 }, out = { 0 };
	char *url;

	if (memchr(data, '\0', size))
		return 0;	/* a request's string cannot hold one */
	url = strndup((const char *)data, size);
	if (!url)
		abort();
	fuzz_ctx();
	host_ctx_init(&b.pub, &fuzz_host, "keychain");
	if (buf_append(&opts, layer_key, sizeof(layer_key) - 1) == OCIKP_OK)
		ocikp_backend_v1.wrap(&b.pub, url, &opts, &out);
	buf_free(&opts);
	buf_free(&out);
	free(url);
	return 0;
}
