/* Target: the JWE a KBS answers a resource request with (plugins/kbs/
 * kbs-jwe.c, kbs_jwe_open): its JSON, the protected header, the epk point,
 * the key unwrap or RSA-OAEP and the GCM open.  The first byte picks the
 * TEE key (even: P-256, odd: RSA 2048); the rest is the JWE.  The keys are
 * fixed test keys made for this target, so seeds made for them
 * (tests/kbs/jwe_vectors.py --seeds) reach the content decryption; they
 * guard nothing.  The file is included for its struct kbs_tee_key. */
#include <openssl/pem.h>
#include "fuzz.h"
#include "fixed-rsa.h"
#include "../plugins/kbs/kbs-jwe.c"

static const char ec_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfRrrGzk8NURPZgJp\n"
	"vuab11hvpT06Iv8qORgjl2qVJQWhRANCAAS2blaoGWXHYSEtpo1Tv5V4+kgOXVcI\n"
	"KixU6plAKjrLeREGjTsyTrRtkzXdKdI3Knaw02mCEo4g1glJXVJ0JZ8a\n"
	"-----END PRIVATE KEY-----\n";

static struct kbs_tee_key *fixed_key(const char *pem, enum kbs_tee_alg alg)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	struct kbs_tee_key *k = OPENSSL_zalloc(sizeof(*k));

	if (!b || !k || !(k->pkey = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)))
		abort();
	k->alg = alg;
	BIO_free(b);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kbs_tee_key *keys[2];
	static struct backend_ctx b;
	struct ocikp_ctx *ctx;
	struct ocikp_buf out = { 0 };

	if (!keys[0]) {
		fuzz_ctx();
		keys[0] = fixed_key(ec_pem, KBS_TEE_EC);
		keys[1] = fixed_key(rsa_pem, KBS_TEE_RSA);
	}
	host_ctx_init(&b.pub, &fuzz_host, "kbs");
	ctx = &b.pub;
	if (size < 1)
		return 0;
	kbs_jwe_open(ctx, keys[data[0] & 1], data + 1, size - 1, &out);
	buf_free(&out);
	return 0;
}
