/* Target: what the kbs backend reads on wrap and from its key files
 * (plugins/kbs/kbs-register.c, kbs-keys.c), the same input given as
 *  - the KBS's answer to a KEK registration or resource-list request:
 *    its error body (error_detail) and a 200's resource list (list_has),
 *    below the HTTP call;
 *  - an offline_fs JSON file's text, looked up as kbs_offline_kek does
 *    (offline_find), and rewritten as `ocikp kbs keygen --offline-json`
 *    does (keygen_json_text);
 *  - a KEK file (up to 64 bytes): written to a private file and read by
 *    kbs_kek_file, the host's read_request_file included, since the file
 *    is the whole parser.
 * Both files are included for their static functions; the rest of the
 * module is linked. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz.h"
#include "../plugins/kbs/kbs-register.c"
/* kbs-keys.c's own write_all, not the host's (ocikp.h) of that name */
#define write_all kbs_keys_write_all
#include "../plugins/kbs/kbs-keys.c"
#undef write_all

#define PATH "default/image-kek/1"

static const unsigned char fixed_kek[KBS_KEK_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* The input as a KEK file of mode 0600 in a private directory. */
static void kek_file(struct ocikp_ctx *ctx, const uint8_t *data, size_t size)
{
	unsigned char kek[KBS_KEK_LEN];

	if (kbs_kek_file(ctx, fuzz_file("file", data, size, 0600), kek) == OCIKP_OK &&
	    size != KBS_KEK_LEN)
		abort();
	OPENSSL_cleanse(kek, sizeof(kek));
}

static void offline_text(struct ocikp_ctx *ctx, const struct ocikp_buf *text)
{
	unsigned char kek[KBS_KEK_LEN];
	struct ocikp_buf out = { 0 };
	ocikp_json *doc = NULL;

	offline_find(ctx, "/etc/aa-offline_fs_kbc-keys.json", text, PATH, kek);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (offline_parse(ctx, "/etc/aa-offline_fs_kbc-keys.json", text, &doc) == OCIKP_OK) {
		/* what keygen writes, the lookup reads back */
		if (keygen_json_text(ctx, doc, PATH, fixed_kek, &out) == OCIKP_OK &&
		    (offline_find(ctx, "rewritten", &out, PATH, kek) != OCIKP_OK ||
		     memcmp(kek, fixed_kek, KBS_KEK_LEN)))
			abort();
	}
	ctx->host->json_free(doc);
	ctx->host->buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	struct ocikp_ctx *ctx;
	struct http_resp resp = { 0 };
	char why[DETAIL_MAX + 64];
	int found;

	host_ctx_init(&b.pub, &fuzz_host, "kbs");
	ctx = &b.pub;
	if (ctx->host->buf_append(&resp.body, data, size) != OCIKP_OK)
		abort();
	resp.status = 400;
	error_detail(ctx, &resp, "KEK registration refused", why, sizeof(why));
	resp.status = 200;
	list_has(ctx, &resp, PATH, &found);
	offline_text(ctx, &resp.body);
	if (size <= 2 * KBS_KEK_LEN)
		kek_file(ctx, data, size);
	http_resp_free(ctx, &resp);
	return 0;
}
