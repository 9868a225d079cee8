/* Target: a CoCo annotation packet as the kbs backend reads it on unwrap
 * (plugins/kbs/kbs-packet.c): the input parsed as JSON by the host, then
 * kbs_packet_parse (v1 and v2) and kbs_packet_open with a fixed KEK.  The
 * KEK is CoCo's public sample KEK, so the fixture annotation and seeds made
 * under it reach the decryption and then a round trip: what opened is
 * wrapped again with the same kid and algorithm, and must open to the same
 * bytes. */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "kbs.h"

/* SPEC.md §5: coco_keyprovider's sample KEK (public, test use only). */
static const unsigned char kek[KBS_KEK_LEN] = {
	0xd9, 0x9b, 0x77, 0x05, 0xb0, 0xba, 0x7a, 0x16, 0x82, 0x95, 0xb3, 0xa3, 0x36, 0x72, 0x70, 0xb0,
	0xdd, 0x9b, 0x37, 0x1b, 0xf5, 0x14, 0xca, 0x8b, 0x9b, 0xa7, 0xf0, 0xa3, 0x37, 0x11, 0xda, 0xea,
};

static void round_trip(struct ocikp_ctx *ctx, const struct kbs_packet *p,
		       const struct ocikp_buf *plain)
{
	struct ocikp_buf ann = { 0 }, again = { 0 };
	ocikp_json *doc = NULL;
	struct kbs_packet q;

	if (kbs_packet_wrap(ctx, kek, p->kid, p->alg, plain, &ann) != OCIKP_OK ||
	    json_parse(ctx, "annotation", ann.data, ann.len, &doc) != OCIKP_OK ||
	    kbs_packet_parse(ctx, doc, &q) != OCIKP_OK)
		abort();
	if (strcmp(q.kid, p->kid) != 0 || q.alg != p->alg ||
	    kbs_packet_open(ctx, &q, kek, &again) != OCIKP_OK || again.len != plain->len ||
	    (plain->len && memcmp(again.data, plain->data, plain->len) != 0))
		abort();
	kbs_packet_free(ctx, &q);
	json_free(doc);
	buf_free(&ann);
	buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	struct ocikp_ctx *ctx;
	struct ocikp_buf plain = { 0 };
	ocikp_json *doc = NULL;
	struct kbs_packet p;

	host_ctx_init(&b.pub, &fuzz_host, "kbs");
	ctx = &b.pub;
	if (json_parse(ctx, "annotation", data, size, &doc) != OCIKP_OK)
		return 0;
	if (kbs_packet_parse(ctx, doc, &p) == OCIKP_OK) {
		if (kbs_packet_open(ctx, &p, kek, &plain) == OCIKP_OK)
			round_trip(ctx, &p, &plain);
		kbs_packet_free(ctx, &p);
	}
	buf_free(&plain);
	json_free(doc);
	return 0;
}
