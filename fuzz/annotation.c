/* Target: what unwrap reads from a registry before any backend runs: the
 * annotation JSON, the key URL of it and of each "recipients" entry, its
 * scheme and query, and the JSON writer re-emitting it.  The envelope's
 * routing itself (route.c: unwrap_envelope, canonical, first_copy,
 * wrap_envelope) is the envelope target's. */
#include <string.h>
#include "fuzz.h"

static void one(struct ocikp_ctx *ctx, const ocikp_json *ann)
{
	const char *url = annotation_key_url(ann);
	char scheme[33];
	struct ocikp_buf v = { 0 };

	if (!url)
		return;
	key_scheme(url, scheme, sizeof(scheme));
	url_query_get(ctx, url, "pub", &v);
	buf_free(&v);
	url_query_get(ctx, url, "pcrs", &v);
	buf_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocikp_ctx *ctx = fuzz_ctx();
	ocikp_json *ann = NULL;
	ocikp_jgen *g;
	struct ocikp_buf out = { 0 };
	size_t i;

	if (json_parse(ctx, "annotation", data, size, &ann) != OCIKP_OK)
		return 0;
	one(ctx, ann);
	for (i = 0; i < json_array_len(json_get(ann, "recipients")); i++)
		one(ctx, json_array_at(json_get(ann, "recipients"), i));
	g = jgen_new();	/* the envelope writer re-emits recipients */
	jgen_value(g, ann);
	jgen_finish(g, &out);
	buf_free(&out);
	json_free(ann);
	return 0;
}
