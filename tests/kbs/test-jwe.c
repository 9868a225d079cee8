/*
 * plugins/kbs/kbs-jwe.c on the real host services: the TEE keys' JWKs and
 * JWEs that tests/kbs/jwe_vectors.py makes with Python's `cryptography`
 * for the key this test just made (both kinds of key: good ones, ones for
 * other keys, altered and malformed ones).
 *
 * The JWE code itself is lib/jwe.c (tests/jwe/test-jwe.c checks its
 * Concat KDF against RFC 7518 appendix C); this checks kbs's use of it:
 * flattened JSON, one alg per TEE key, a malformed answer OCIKP_UNAVAILABLE.
 *
 * The file under test is included, not linked, for struct kbs_tee_key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ocikp.h"
#include "../../plugins/kbs/kbs-jwe.c"
#include "../unit/tap.h"
#include "../unit/hex.h"

static struct host h;
static struct backend_ctx root;
static struct ocikp_ctx *ctx = &root.pub;
static char tmpdir[] = "/tmp/ocikp-test-jwe.XXXXXX";

static int keys_are(const ocikp_json *o, const char *const *names, size_t n)
{
	size_t i;

	if (json_object_len(o) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(json_object_key_at(o, i), names[i]))
			return 0;
	return 1;
}

static size_t b64len(const ocikp_json *o, const char *name)
{
	const ocikp_json *v = json_get(o, name);
	struct ocikp_buf b = { 0 };
	size_t n = 0;

	if (json_type(v) == OCIKP_JSON_STRING &&
	    b64_decode(ctx, name, json_string(v), json_string_len(v), B64URL, &b) == OCIKP_OK)
		n = b.len;
	buf_free(&b);
	return n;
}

static int str_is(const ocikp_json *o, const char *name, const char *want)
{
	const char *s = json_string(json_get(o, name));

	return s && !strcmp(s, want);
}

/* The JWK in trustee's member order; full-width coordinates. */
static void test_jwk(enum kbs_tee_alg alg, struct kbs_tee_key *k, struct ocikp_buf *jwk)
{
	static const char *const ec[] = { "kty", "crv", "alg", "x", "y" };
	static const char *const rsa[] = { "kty", "alg", "n", "e" };
	ocikp_json *doc = NULL;

	ok(kbs_tee_key_jwk(ctx, k, jwk) == OCIKP_OK &&
	   json_parse(ctx, "jwk", jwk->data, jwk->len, &doc) == OCIKP_OK,
	   "%s JWK: %s", alg == KBS_TEE_EC ? "EC" : "RSA", (char *)jwk->data);
	if (alg == KBS_TEE_EC)
		ok(keys_are(doc, ec, 5) && str_is(doc, "kty", "EC") && str_is(doc, "crv", "P-256") &&
		   str_is(doc, "alg", "ECDH-ES+A256KW") && b64len(doc, "x") == 32 &&
		   b64len(doc, "y") == 32 && json_string_len(json_get(doc, "x")) == 43,
		   "EC JWK: kty, crv, alg, x, y; 32-byte coordinates, base64url unpadded");
	else
		ok(keys_are(doc, rsa, 4) && str_is(doc, "kty", "RSA") &&
		   str_is(doc, "alg", "RSA-OAEP-256") && b64len(doc, "n") == 256 &&
		   str_is(doc, "e", "AQAB"),
		   "RSA JWK: kty, alg, n, e; 2048-bit modulus, e = 65537");
	json_free(doc);
}

/* Run jwe_vectors.py for jwk; its JSON output in out.  0 on success. */
static int vectors(const struct ocikp_buf *jwk, struct ocikp_buf *out)
{
	const char *src = getenv("top_srcdir");
	char path[512], cmd[1200], chunk[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/jwk.json", tmpdir);
	if (!(f = fopen(path, "w")) || fwrite(jwk->data, 1, jwk->len, f) != jwk->len ||
	    fclose(f))
		return -1;
	snprintf(cmd, sizeof(cmd), "python3 '%s/tests/kbs/jwe_vectors.py' '%s'",
		 src ? src : ".", path);
	if (!(f = popen(cmd, "r")))
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(out, chunk, n);
	return pclose(f) == 0 && out->len ? 0 : -1;
}

static int want_rc(const char *want)
{
	if (!strcmp(want, "ok"))
		return OCIKP_OK;
	return !strcmp(want, "wrong") ? OCIKP_WRONG_KEY : OCIKP_UNAVAILABLE;
}

/* One case: the status; on success exactly the plaintext appended after
 * what was there, on failure nothing appended and an error line. */
static void run_case(const char *kind, const struct kbs_tee_key *k, const ocikp_json *c)
{
	const char *name = json_string(json_get(c, "name"));
	const char *jwe = json_string(json_get(c, "jwe"));
	const char *want = json_string(json_get(c, "want"));
	const ocikp_json *plain = json_get(c, "plain");
	struct ocikp_buf out = { 0 }, exp = { 0 };
	int rc, good;

	buf_append(&out, "pre", 3);
	h.err.msg[0] = '\0';
	rc = kbs_jwe_open(ctx, k, jwe, strlen(jwe), &out);
	if (rc == OCIKP_OK) {
		from_hex(json_string(plain), &exp);
		good = out.len == 3 + exp.len &&
		       (!exp.len || !memcmp(out.data + 3, exp.data, exp.len));
	} else {
		good = out.len == 3 && h.err.msg[0];
	}
	ok(rc == want_rc(want) && good, "%s: %s: %s (rc %d) %s", kind, name, want, rc,
	   h.err.msg);
	buf_free(&out);
	buf_free(&exp);
}

static void test_key(enum kbs_tee_alg alg)
{
	const char *kind = alg == KBS_TEE_EC ? "EC" : "RSA";
	struct kbs_tee_key *k = NULL;
	struct ocikp_buf jwk = { 0 }, out = { 0 };
	ocikp_json *doc = NULL;
	const ocikp_json *cases;
	size_t i;

	if (kbs_tee_key_new(ctx, alg, &k) != OCIKP_OK) {
		ok(0, "%s key: %s", kind, h.err.msg);
		return;
	}
	test_jwk(alg, k, &jwk);
	if (vectors(&jwk, &out) != 0 ||
	    json_parse(ctx, "vectors", out.data, out.len, &doc) != OCIKP_OK) {
		ok(0, "%s: jwe_vectors.py ran", kind);
	} else {
		cases = json_get(doc, "cases");
		ok(json_array_len(cases) >= 10, "%s: %zu vectors from jwe_vectors.py", kind,
		   json_array_len(cases));
		for (i = 0; i < json_array_len(cases); i++)
			run_case(kind, k, json_array_at(cases, i));
	}
	json_free(doc);
	buf_free(&jwk);
	buf_free(&out);
	kbs_tee_key_free(k);
}

int main(void)
{
	char path[600];

	if (system("python3 -c 'import cryptography' 2>/dev/null") != 0) {
		printf("1..0 # SKIP python3 with cryptography not found\n");
		return 0;
	}
	alloc_hook_openssl();
	host_ctx_init(ctx, &h, "kbs");
	if (!mkdtemp(tmpdir)) {
		printf("1..1\nnot ok 1 - temporary directory\n");
		return 1;
	}
	test_key(KBS_TEE_EC);
	test_key(KBS_TEE_RSA);
	snprintf(path, sizeof(path), "%s/jwk.json", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	conf_free(&h.conf);
	return tap_done();
}
