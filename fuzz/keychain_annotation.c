/* Target: the keychain backend's unwrap of an annotation from a registry:
 * its JSON fields, the key URL, the ephemeral point (decoded and checked on
 * the curve) and the AES-GCM open, against a fixed key held in a key file.
 * The key is a test key made for this target; it guards nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz.h"

extern const struct ocikp_backend ocikp_backend_v1;

static const char test_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLnGgbRkm51HbXYvZ\n"
	"CcgfaUORW6T8azp0g3Br38yRWMuhRANCAARsQr16xcTLU5uwC8PZi8AF7H6cbNPl\n"
	"c8sQZJ2d3xM+XYYrn45B4VP7RMkqVI0Nhh/x9qfaY4gy8iH3d5B+Qbae\n"
	"-----END PRIVATE KEY-----\n";
static char key_path[] = "/tmp/ocikp-fuzz-keychain.XXXXXX";

static void remove_key(void)
{
	unlink(key_path);
}

/* mkstemp makes the file 0600, as the backend demands of a key file. */
static struct ocikp_ctx *keychain_ctx(void)
{
	static struct backend_ctx b;
	static int ready;
	int fd;

	if (!ready) {
		fd = mkstemp(key_path);
		if (fd < 0 || write(fd, test_key_pem, strlen(test_key_pem)) != (ssize_t)strlen(test_key_pem))
			abort();
		close(fd);
		atexit(remove_key);
		fuzz_ctx();
		if (conf_set_option(&fuzz_host.conf, "keychain.key_file", key_path, "fuzz") != OCIKP_OK)
			abort();
		ready = 1;
	}
	host_ctx_init(&b.pub, &fuzz_host, "keychain");
	return &b.pub;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocikp_ctx *ctx = keychain_ctx();
	static const char *const dc[] = { "apple-se://se?mode=decrypt", NULL };
	ocikp_json *doc = NULL;
	struct ocikp_buf out = { 0 };

	if (json_parse(ctx, "annotation", data, size, &doc) != OCIKP_OK)
		return 0;
	if (json_type(doc) == OCIKP_JSON_OBJECT)
		ocikp_backend_v1.unwrap(ctx, doc, dc, &out);
	buf_free(&out);
	json_free(doc);
	return 0;
}
