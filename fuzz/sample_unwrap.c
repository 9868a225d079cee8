/* Target: the sample backend's unwrap of an annotation from a registry
 * (plugins/sample/ocikp-sample.c, sample_unwrap): its fields, the key URL
 * and name check, the base64 and the AES-GCM open, against a fixed 32-byte
 * key in a key file read as a real one is (read_private_file).  The file is
 * included for its static functions.  The key is a test key made for this
 * target (the envelope target's); it guards nothing. */
#include "fuzz.h"
#include "../plugins/sample/ocikp-sample.c"

static const unsigned char test_key[KEY_LEN] = "ocikp fuzz envelope: test key!!";
static char key_path[] = "/tmp/ocikp-fuzz-sample.XXXXXX";

static void remove_key(void)
{
	unlink(key_path);
}

/* mkstemp makes the file 0600, as read_private_file demands of a key. */
static struct ocikp_ctx *sample_ctx(void)
{
	static struct backend_ctx b;
	static int ready;
	int fd;

	if (!ready) {
		fd = mkstemp(key_path);
		if (fd < 0 || write(fd, test_key, KEY_LEN) != KEY_LEN)
			abort();
		close(fd);
		atexit(remove_key);
		fuzz_ctx();
		if (conf_set_option(&fuzz_host.conf, "sample.key_file", key_path, "fuzz") != OCIKP_OK)
			abort();
		ready = 1;
	}
	host_ctx_init(&b.pub, &fuzz_host, "sample");
	return &b.pub;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const dc[] = { "sample://default", NULL };
	struct ocikp_ctx *ctx = sample_ctx();
	ocikp_json *ann = NULL;
	struct ocikp_buf out = { 0 };

	if (json_parse(ctx, "annotation", data, size, &ann) != OCIKP_OK)
		return 0;
	if (json_type(ann) == OCIKP_JSON_OBJECT)
		sample_unwrap(ctx, ann, dc, &out);
	buf_free(&out);
	json_free(ann);
	return 0;
}
