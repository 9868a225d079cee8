/* plugins/tpm/tpm-blob.c and tpm-pcr.c against the other provider's blobs
 * (tests/fixtures/tpm), the upstream README example among them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include "ocikp.h"
#include "../../plugins/tpm/tpm.h"
#include "../unit/tap.h"

static struct host h;
static struct backend_ctx root;

/* The session_key of an annotation file, decoded. */
static int load_blob(const char *dir, const char *name, struct ocikp_buf *raw)
{
	char path[1024];
	FILE *f;
	struct ocikp_buf text = { 0 };
	ocikp_json *doc = NULL;
	const ocikp_json *sk;
	char chunk[4096];
	size_t n;
	int rc;

	snprintf(path, sizeof(path), "%s/%s.annotation.json", dir, name);
	if (!(f = fopen(path, "r")))
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&text, chunk, n);
	fclose(f);
	rc = json_parse(&root.pub, "fixture", text.data, text.len, &doc);
	sk = json_get(doc, "session_key");
	if (rc == OCIKP_OK)
		rc = b64_decode(&root.pub, "session_key", json_string(sk), json_string_len(sk), 0, raw);
	json_free(doc);
	buf_free(&text);
	return rc;
}

static void check(const char *dir, const char *name, bool ecc, uint32_t mask, TPMA_OBJECT attrs)
{
	struct ocikp_buf raw = { 0 }, again = { 0 };
	struct import_blob b;
	TPMT_PUBLIC pub;
	size_t off = 0;
	unsigned char digest[32];

	ok(load_blob(dir, name, &raw) == OCIKP_OK, "%s: session_key read", name);
	ok(blob_decode(&root.pub, raw.data, raw.len, &b) == OCIKP_OK, "%s: ImportBlob decodes", name);
	ok(b.duplicate.len == 108 && b.duplicate.data[0] == 0 && b.duplicate.data[1] == 0x20,
	   "%s: duplicate = 0020 | 32-byte HMAC | 74-byte encSensitive (%zu)", name, b.duplicate.len);
	ok(ecc ? b.encrypted_seed.len == 68 && b.encrypted_seed.data[1] == 0x20 &&
		 b.encrypted_seed.data[35] == 0x20
	       : b.encrypted_seed.len == 256,
	   "%s: encrypted_seed is %s (%zu bytes)", name, ecc ? "a P-256 point" : "RSA-2048 OAEP",
	   b.encrypted_seed.len);
	ok(Tss2_MU_TPMT_PUBLIC_Unmarshal(b.public_area.data, b.public_area.len, &off, &pub) == 0 &&
	   off == b.public_area.len && pub.type == TPM2_ALG_KEYEDHASH && pub.nameAlg == TPM2_ALG_SHA256 &&
	   pub.objectAttributes == attrs && pub.unique.keyedHash.size == 32,
	   "%s: public_area is a KEYEDHASH TPMT_PUBLIC, attributes 0x%x (%zu bytes)", name,
	   (unsigned)attrs, b.public_area.len);
	ok(b.pcr_mask == mask && (!mask || b.pcr_hash == TPM2_ALG_SHA256),
	   "%s: PCR selection 0x%06x", name, (unsigned)b.pcr_mask);
	if (mask)
		ok(pcr_policy_digest(&root.pub, &b, digest) == OCIKP_OK && pub.authPolicy.size == 32 &&
		   !memcmp(digest, pub.authPolicy.buffer, 32),
		   "%s: our PolicyPCR digest equals the object's authPolicy", name);
	ok(blob_encode(&root.pub, &b, &again) == OCIKP_OK && again.len == raw.len &&
	   !memcmp(again.data, raw.data, raw.len), "%s: re-encodes to the same bytes", name);
	blob_free(&root.pub, &b);
	buf_free(&raw);
	buf_free(&again);
}

int main(void)
{
	const char *fixtures = getenv("OCIKP_FIXTURES");
	char dir[1024];
	struct import_blob b;
	static const unsigned char pcr0[4] = { 0xd0, 0xc7, 0x0a, 0x93 };

	host_ctx_init(&root.pub, &h, NULL);
	snprintf(dir, sizeof(dir), "%s/tpm", fixtures ? fixtures : "tests/fixtures");
	struct ocikp_buf probe = { 0 };
	int have = load_blob(dir, "rsa-nopcr", &probe) == OCIKP_OK;

	buf_free(&probe);
	if (!have) {	/* in the tree: missing is a failure, never a skip */
		printf("not ok 1 - fixtures at %s\n1..1\n", dir);
		return 1;
	}
	check(dir, "rsa-nopcr", false, 0, TPMA_OBJECT_USERWITHAUTH);
	check(dir, "ecc-nopcr", true, 0, TPMA_OBJECT_USERWITHAUTH);
	check(dir, "rsa-pcr23-zero", false, 1u << 23, TPMA_OBJECT_ADMINWITHPOLICY);
	check(dir, "rsa-pcr23-wrong", false, 1u << 23, TPMA_OBJECT_ADMINWITHPOLICY);
	check(dir, "upstream-readme-example", false, 1u << 0, TPMA_OBJECT_ADMINWITHPOLICY);
	{
		struct ocikp_buf raw = { 0 };
		load_blob(dir, "upstream-readme-example", &raw);
		blob_decode(&root.pub, raw.data, raw.len, &b);
		ok(!memcmp(b.pcr_values[0], pcr0, 4), "upstream example: PCR 0 = d0c70a93...");
		blob_free(&root.pub, &b);
		buf_free(&raw);
	}
	ok(blob_decode(&root.pub, (const unsigned char *)"\x0a\x05" "ab", 4, &b) == OCIKP_BAD_INPUT,
	   "truncated field refused");
	ok(blob_decode(&root.pub, (const unsigned char *)"\x0a\x01" "a", 3, &b) == OCIKP_BAD_INPUT,
	   "missing fields refused");
	ok(blob_decode(&root.pub, (const unsigned char *)"\x22\x06\x12\x04\x08\x63\x12\x00", 8, &b) == OCIKP_BAD_INPUT,
	   "PCR index 99 refused");
	blob_free(&root.pub, &b);
	return tap_done();
}
