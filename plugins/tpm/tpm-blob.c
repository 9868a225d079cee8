/*
 * go-tpm-tools' ImportBlob protobuf, by hand: four fields, no nesting beyond
 * a map<uint32,bytes>, so a few dozen lines beat a protobuf-c dependency and
 * its generated code in every exec.
 *
 *   message ImportBlob { bytes duplicate = 1; bytes encrypted_seed = 2;
 *                        bytes public_area = 3; Pcrs pcrs = 4; }
 *   message Pcrs { HashAlgo hash = 1; map<uint32, bytes> pcrs = 2; }
 *
 * A map entry is a nested message {1: key varint, 2: value bytes}.
 */
#include <string.h>
#include "tpm.h"

enum { WT_VARINT = 0, WT_LEN = 2 };

static int put_varint(struct ocikp_ctx *ctx, struct ocikp_buf *out, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	return ctx->host->buf_append(out, b, n);
}

static int put_bytes(struct ocikp_ctx *ctx, struct ocikp_buf *out, unsigned field,
		     const void *data, size_t len)
{
	int rc = put_varint(ctx, out, (uint64_t)field << 3 | WT_LEN);

	if (rc == OCIKP_OK)
		rc = put_varint(ctx, out, len);
	if (rc == OCIKP_OK)
		rc = ctx->host->buf_append(out, data, len);
	return rc;
}

int blob_encode(struct ocikp_ctx *ctx, const struct import_blob *b, struct ocikp_buf *out)
{
	struct ocikp_buf pcrs = { 0 }, entry = { 0 };
	int rc, i;

	rc = put_bytes(ctx, out, 1, b->duplicate.data, b->duplicate.len);
	if (rc == OCIKP_OK)
		rc = put_bytes(ctx, out, 2, b->encrypted_seed.data, b->encrypted_seed.len);
	if (rc == OCIKP_OK)
		rc = put_bytes(ctx, out, 3, b->public_area.data, b->public_area.len);
	if (rc != OCIKP_OK || !b->pcr_mask)
		return rc;
	rc = put_varint(ctx, &pcrs, 1 << 3 | WT_VARINT);
	if (rc == OCIKP_OK)
		rc = put_varint(ctx, &pcrs, b->pcr_hash);
	for (i = 0; rc == OCIKP_OK && i < TPM_MAX_PCRS; i++) {
		if (!(b->pcr_mask & (1u << i)))
			continue;
		entry.len = 0;
		rc = put_varint(ctx, &entry, 1 << 3 | WT_VARINT);
		if (rc == OCIKP_OK)
			rc = put_varint(ctx, &entry, (uint64_t)i);
		if (rc == OCIKP_OK)
			rc = put_bytes(ctx, &entry, 2, b->pcr_values[i], 32);
		if (rc == OCIKP_OK)
			rc = put_bytes(ctx, &pcrs, 2, entry.data, entry.len);
	}
	if (rc == OCIKP_OK)
		rc = put_bytes(ctx, out, 4, pcrs.data, pcrs.len);
	ctx->host->buf_free(&pcrs);
	ctx->host->buf_free(&entry);
	return rc;
}

/* ---- decoding ---------------------------------------------------------------- */

struct reader {
	const unsigned char *p, *end;
};

static bool get_varint(struct reader *r, uint64_t *v)
{
	unsigned shift = 0;

	*v = 0;
	while (r->p < r->end && shift < 64) {
		unsigned char c = *r->p++;
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return true;
		shift += 7;
	}
	return false;
}

/* The next field: its number and type, and for WT_LEN its bytes. */
static bool get_field(struct reader *r, unsigned *field, unsigned *type, uint64_t *value,
		      struct reader *bytes)
{
	uint64_t key;

	if (!get_varint(r, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
		return false;
	*field = (unsigned)(key >> 3);
	*type = (unsigned)(key & 7);
	if (*type == WT_VARINT)
		return get_varint(r, value);
	if (*type != WT_LEN || !get_varint(r, value) || *value > (uint64_t)(r->end - r->p))
		return false;
	bytes->p = r->p;
	bytes->end = r->p + *value;
	r->p = bytes->end;
	return true;
}

static int decode_pcrs(struct reader *r, struct import_blob *b)
{
	struct reader bytes, e, value = { NULL, NULL };
	unsigned field, type, ef, et;
	uint64_t v, ev, index;

	while (r->p < r->end) {
		if (!get_field(r, &field, &type, &v, &bytes))
			return OCIKP_BAD_INPUT;
		if (field == 1 && type == WT_VARINT) {
			b->pcr_hash = (uint32_t)v;
		} else if (field == 2 && type == WT_LEN) {
			index = 0;	/* proto3: an absent key is 0 */
			value.p = value.end = NULL;
			e = bytes;
			while (e.p < e.end) {
				if (!get_field(&e, &ef, &et, &ev, &bytes))
					return OCIKP_BAD_INPUT;
				if (ef == 1 && et == WT_VARINT)
					index = ev;
				else if (ef == 2 && et == WT_LEN)
					value = bytes;
			}
			if (index >= TPM_MAX_PCRS || value.end - value.p != 32)
				return OCIKP_BAD_INPUT;
			b->pcr_mask |= 1u << index;
			memcpy(b->pcr_values[index], value.p, 32);
		}
	}
	return OCIKP_OK;
}

int blob_decode(struct ocikp_ctx *ctx, const unsigned char *data, size_t len,
		struct import_blob *b)
{
	struct reader r = { data, data + len }, bytes;
	struct ocikp_buf *dst;
	unsigned field, type;
	uint64_t v;
	int rc = OCIKP_OK;

	memset(b, 0, sizeof(*b));
	while (rc == OCIKP_OK && r.p < r.end) {
		if (!get_field(&r, &field, &type, &v, &bytes)) {
			rc = OCIKP_BAD_INPUT;
			break;
		}
		if (type != WT_LEN)
			continue;	/* unknown scalar: skip, as protobuf does */
		dst = field == 1 ? &b->duplicate : field == 2 ? &b->encrypted_seed :
		      field == 3 ? &b->public_area : NULL;
		if (dst) {
			dst->len = 0;
			rc = ctx->host->buf_append(dst, bytes.p, (size_t)(bytes.end - bytes.p));
		} else if (field == 4) {
			rc = decode_pcrs(&bytes, b);
		}
	}
	if (rc == OCIKP_OK && (!b->duplicate.len || !b->encrypted_seed.len || !b->public_area.len))
		rc = OCIKP_BAD_INPUT;
	if (rc == OCIKP_OK && b->pcr_mask && b->pcr_hash != TPM2_ALG_SHA256) {
		ocikp_errorf(ctx, "session_key: PCR bank %u not supported (SHA-256 only)",
			     (unsigned)b->pcr_hash);
		blob_free(ctx, b);
		return OCIKP_BAD_INPUT;
	}
	if (rc == OCIKP_BAD_INPUT)
		ocikp_errorf(ctx, "session_key: not a valid ImportBlob");
	if (rc != OCIKP_OK)
		blob_free(ctx, b);
	return rc;
}

void blob_free(struct ocikp_ctx *ctx, struct import_blob *b)
{
	ctx->host->buf_free(&b->duplicate);
	ctx->host->buf_free(&b->encrypted_seed);
	ctx->host->buf_free(&b->public_area);
	memset(b, 0, sizeof(*b));
}
