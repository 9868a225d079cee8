/*
 * lib/jwe.c on the real host services:
 *   - the Concat KDF against RFC 7518 appendix C;
 *   - round trips for each alg and both forms on RSA-2048, RSA-3072, P-256
 *     and P-384 keys, opened in software and through the private-key hooks
 *     (as a token would), and not by another key of the same kind;
 *   - the other direction, by an independent implementation: every JWE
 *     sealed here is opened by tests/jwe/jwe_vectors.py on Python's
 *     `cryptography` primitives, and the JWEs it makes (good, for other
 *     keys, altered, malformed) open here with the status they should.
 *
 * The file under test is included, not linked, so its static Concat KDF
 * can be checked on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include "ocikp.h"
#include "../../lib/jwe.c"
#include "../unit/tap.h"
#include "../unit/hex.h"

static struct host h;
static struct backend_ctx root;
static struct ocikp_ctx *ctx = &root.pub;
static char tmpdir[] = "/tmp/ocikp-test-jwe.XXXXXX";
static unsigned char opts[193];	/* OCIcrypt's optsdata is about this size */

/* RFC 7518 appendix C: ECDH-ES (direct) with A128GCM, apu "Alice", apv
 * "Bob"; Z as the appendix lists it, the key it derives. */
static void test_kdf(void)
{
	static const char z_hex[] =
		"9e56d91d817135d372834283bf84269cfb316ea3da806a48f6daa7798cfe90c4";
	struct ocikp_buf z = { 0 }, apu = { 0 }, apv = { 0 }, want = { 0 }, none = { 0 };
	unsigned char k[16], k32[32], again[32];

	from_hex(z_hex, &z);
	buf_append(&apu, "Alice", 5);
	buf_append(&apv, "Bob", 3);
	b64_decode(ctx, "want", "VqqN6vgjbSBcIijNcacQGg", 22, B64URL, &want);
	ok(concat_kdf(ctx, z.data, z.len, "A128GCM", &apu, &apv, k, sizeof(k)) == OCIKP_OK &&
	   want.len == 16 && !memcmp(k, want.data, 16),
	   "Concat KDF: RFC 7518 appendix C's key");
	ok(concat_kdf(ctx, z.data, z.len, "ECDH-ES+A256KW", &none, &none, k32, 32) == OCIKP_OK &&
	   concat_kdf(ctx, z.data, z.len, "ECDH-ES+A256KW", &none, &none, again, 32) ==
		   OCIKP_OK &&
	   !memcmp(k32, again, 32) && memcmp(k32, want.data, 16),
	   "Concat KDF: 256 bits for ECDH-ES+A256KW, empty apu/apv, repeatable");
	buf_free(&z);
	buf_free(&apu);
	buf_free(&apv);
	buf_free(&want);
}

/* ---- the hooks, as a token backend would use them (here in software) ---- */

struct hook_arg {
	EVP_PKEY *priv;
	int calls;
	int fail;	/* return OCIKP_UNAVAILABLE, as a token that is gone */
};

static int hook_rsa(struct ocikp_ctx *c, void *arg, const char *md, const unsigned char *in,
		    size_t inlen, unsigned char *out, size_t *outlen)
{
	struct hook_arg *a = arg;

	a->calls++;
	if (a->fail) {
		ocikp_errorf(c, "the token is gone");
		return OCIKP_UNAVAILABLE;
	}
	return oaep_soft(c, a->priv, md, in, inlen, out, outlen);
}

static int hook_ecdh(struct ocikp_ctx *c, void *arg, EVP_PKEY *peer, const unsigned char *point,
		     size_t pointlen, unsigned char *z, size_t zlen)
{
	struct hook_arg *a = arg;
	unsigned char pt[1 + 2 * COORD_MAX];
	size_t n = 0;

	a->calls++;
	if (a->fail) {
		ocikp_errorf(c, "the token is gone");
		return OCIKP_UNAVAILABLE;
	}
	/* the point given is the peer's, uncompressed */
	if (EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &n) <= 0 ||
	    n != pointlen || memcmp(pt, point, n) || point[0] != 0x04 || zlen * 2 + 1 != n)
		return OCIKP_INTERNAL;
	return ecdh_soft(c, a->priv, peer, z, zlen);
}

/* ---- round trips -------------------------------------------------------- */

struct keyspec {
	const char *name;
	const char *type;	/* EVP_PKEY_Q_keygen's */
	const char *curve;	/* EC */
	size_t bits;		/* RSA */
};

static EVP_PKEY *keygen(const struct keyspec *s)
{
	return s->curve ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", s->curve)
			: EVP_PKEY_Q_keygen(NULL, NULL, "RSA", s->bits);
}

static const char *form_name(enum jwe_form f)
{
	return f == JWE_COMPACT ? "compact" : "flattened";
}

static int opens_to_opts(const struct jwe_key *k, enum jwe_form form, const struct ocikp_buf *jwe,
			 int *rc)
{
	struct ocikp_buf out = { 0 };
	int good;

	buf_append(&out, "pre", 3);
	*rc = jwe_open(ctx, k, form, 0, "the test JWE", jwe->data, jwe->len, &out);
	good = *rc == OCIKP_OK && out.len == 3 + sizeof(opts) && !memcmp(out.data + 3, opts,
									sizeof(opts));
	buf_free(&out);
	return good;
}

/* The shape of a sealed JWE: compact has 4 dots; RSA's header is exactly
 * {"alg","enc"}. */
static int shape_ok(enum jwe_alg alg, enum jwe_form form, const struct ocikp_buf *jwe)
{
	struct ocikp_buf hdr = { 0 };
	const char *t = (const char *)jwe->data, *dot;
	size_t i, dots = 0;
	int good = 1;

	if (form == JWE_FLATTENED)
		return jwe->len && t[0] == '{';
	for (i = 0; i < jwe->len; i++)
		dots += t[i] == '.';
	if (dots != 4 || !(dot = memchr(t, '.', jwe->len)))
		return 0;
	if (alg != JWE_ECDH_ES_A256KW) {
		char want[64];

		snprintf(want, sizeof(want), "{\"alg\":\"%s\",\"enc\":\"A256GCM\"}",
			 jwe_alg_name(alg));
		good = b64_decode(ctx, "hdr", t, (size_t)(dot - t), B64URL, &hdr) == OCIKP_OK &&
		       hdr.len == strlen(want) && !memcmp(hdr.data, want, hdr.len);
	}
	buf_free(&hdr);
	return good;
}

/* Seal opts to pkey with alg in form; open it three ways; record it in g. */
static void round_trip(const struct keyspec *s, EVP_PKEY *pkey, EVP_PKEY *other, enum jwe_alg alg,
		       enum jwe_form form, ocikp_jgen *g)
{
	struct hook_arg arg = { .priv = pkey };
	struct jwe_key soft = { .pkey = pkey, .algs = ~0u };
	struct jwe_key hooked = { .pkey = pkey, .algs = ~0u, .rsa_oaep = hook_rsa,
				  .ecdh = hook_ecdh, .arg = &arg };
	struct jwe_key wrong = { .pkey = other, .algs = ~0u };
	struct ocikp_buf jwe = { 0 }, out = { 0 };
	const char *an = jwe_alg_name(alg), *fn = form_name(form);
	int rc;

	ok(jwe_seal(ctx, pkey, alg, form, opts, sizeof(opts), &jwe) == OCIKP_OK &&
	   shape_ok(alg, form, &jwe), "%s %s %s: sealed (%zu bytes) %s", s->name, an, fn, jwe.len,
	   h.err.msg);
	ok(opens_to_opts(&soft, form, &jwe, &rc), "%s %s %s: opens in software (rc %d) %s",
	   s->name, an, fn, rc, h.err.msg);
	ok(opens_to_opts(&hooked, form, &jwe, &rc) && arg.calls == 1,
	   "%s %s %s: opens through the hook, called once (rc %d) %s", s->name, an, fn, rc,
	   h.err.msg);
	h.err.msg[0] = '\0';
	rc = jwe_open(ctx, &wrong, form, 0, "the test JWE", jwe.data, jwe.len, &out);
	ok(rc == OCIKP_WRONG_KEY && !out.len && h.err.msg[0],
	   "%s %s %s: another %s key: wrong key (rc %d) %s", s->name, an, fn, s->name, rc,
	   h.err.msg);
	soft.algs = alg == JWE_RSA_OAEP ? JWE_RSA_OAEP_256 : alg == JWE_RSA_OAEP_256 ? JWE_RSA_OAEP
										     : 0;
	rc = jwe_open(ctx, &soft, form, 0, "the test JWE", jwe.data, jwe.len, &out);
	ok(rc == OCIKP_WRONG_KEY && !out.len, "%s %s %s: a key that does not take %s: wrong key "
	   "(rc %d)", s->name, an, fn, an, rc);
	arg.fail = 1;
	rc = jwe_open(ctx, &hooked, form, 0, "the test JWE", jwe.data, jwe.len, &out);
	ok(rc == OCIKP_UNAVAILABLE && !out.len && strstr(h.err.msg, "token is gone"),
	   "%s %s %s: a hook's failure comes through (rc %d) %s", s->name, an, fn, rc, h.err.msg);
	jgen_map_open(g);
	jgen_key(g, "form");
	jgen_string(g, fn, strlen(fn));
	jgen_key(g, "jwe");
	jgen_string(g, (const char *)jwe.data, jwe.len);
	jgen_map_close(g);
	buf_free(&jwe);
}

/* ---- against jwe_vectors.py ------------------------------------------------ */

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	return f && fwrite(data, 1, len, f) == len && !fclose(f) ? 0 : -1;
}

static int write_pem(const char *path, EVP_PKEY *pkey)
{
	FILE *f = fopen(path, "w");
	int good = f && PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) > 0;

	return f && !fclose(f) && good ? 0 : -1;
}

/* Run jwe_vectors.py for the key and the sealed JWEs; its JSON in out. */
static int vectors(EVP_PKEY *pkey, const struct ocikp_buf *sealed, struct ocikp_buf *out)
{
	const char *src = getenv("top_srcdir");
	char pem[512], json[512], cmd[1600], chunk[4096];
	FILE *f;
	size_t n;

	snprintf(pem, sizeof(pem), "%s/key.pem", tmpdir);
	snprintf(json, sizeof(json), "%s/sealed.json", tmpdir);
	if (write_pem(pem, pkey) || write_file(json, sealed->data, sealed->len))
		return -1;
	snprintf(cmd, sizeof(cmd), "python3 '%s/tests/jwe/jwe_vectors.py' '%s' '%s'",
		 src ? src : ".", pem, json);
	if (!(f = popen(cmd, "r")))
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(out, chunk, n);
	unlink(pem);
	unlink(json);
	return pclose(f) == 0 && out->len ? 0 : -1;
}

static void check_opened(const char *kind, const ocikp_json *opened, size_t n_sealed)
{
	struct ocikp_buf got = { 0 };
	size_t i, good = 0;

	for (i = 0; i < json_array_len(opened); i++) {
		buf_free(&got);
		if (!from_hex(json_string(json_array_at(opened, i)), &got) &&
		    got.len == sizeof(opts) && !memcmp(got.data, opts, sizeof(opts)))
			good++;
	}
	buf_free(&got);
	ok(n_sealed && good == n_sealed && json_array_len(opened) == n_sealed,
	   "%s: Python's cryptography opens all %zu JWEs sealed here (%zu did)", kind, n_sealed,
	   good);
}

/* One case: the status; on success exactly the plaintext appended after
 * what was there, on failure nothing appended and an error line. */
static void run_case(const char *kind, EVP_PKEY *pkey, const ocikp_json *c)
{
	const char *name = json_string(json_get(c, "name"));
	const char *jwe = json_string(json_get(c, "jwe"));
	const char *want = json_string(json_get(c, "want"));
	const char *form = json_string(json_get(c, "form"));
	struct jwe_key k = { .pkey = pkey, .algs = ~0u };
	enum jwe_form f = !strcmp(form, "compact") ? JWE_COMPACT : JWE_FLATTENED;
	struct ocikp_buf out = { 0 }, exp = { 0 };
	size_t len = json_string_len(json_get(c, "jwe"));
	int rc, good, want_rc;

	want_rc = !strcmp(want, "ok") ? OCIKP_OK : !strcmp(want, "wrong") ? OCIKP_WRONG_KEY
									   : OCIKP_BAD_INPUT;
	buf_append(&out, "pre", 3);
	h.err.msg[0] = '\0';
	rc = jwe_open(ctx, &k, f, 0, "the test JWE", jwe, len, &out);
	if (rc == OCIKP_OK) {
		from_hex(json_string(json_get(c, "plain")), &exp);
		good = out.len == 3 + exp.len &&
		       (!exp.len || !memcmp(out.data + 3, exp.data, exp.len));
	} else {
		good = out.len == 3 && h.err.msg[0] && !strchr(h.err.msg, '\n');
	}
	ok(rc == want_rc && good, "%s: %s: %s (rc %d) %s", kind, name, want, rc, h.err.msg);
	if (!strcmp(want, "other_alg")) {
		rc = jwe_open(ctx, &k, f, JWE_OTHER_ALG_WRONG_KEY, "the test JWE", jwe, len, &out);
		ok(rc == OCIKP_WRONG_KEY && out.len == 3,
		   "%s: %s: wrong key under JWE_OTHER_ALG_WRONG_KEY (rc %d)", kind, name, rc);
	}
	buf_free(&out);
	buf_free(&exp);
}

static void test_key(const struct keyspec *s, int have_python)
{
	static const enum jwe_alg all[] = { JWE_RSA_OAEP_256, JWE_RSA_OAEP, JWE_ECDH_ES_A256KW };
	EVP_PKEY *pkey = keygen(s), *other = keygen(s);
	struct ocikp_buf sealed = { 0 }, out = { 0 }, bad = { 0 };
	ocikp_json *doc = NULL;
	const ocikp_json *cases;
	ocikp_jgen *g = jgen_new();
	size_t i, n_sealed = 0;
	int f;

	if (!pkey || !other || !g) {
		ok(0, "%s: key pairs", s->name);
		goto out;
	}
	jgen_map_open(g);
	jgen_key(g, "sealed");
	jgen_array_open(g);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (!(jwe_key_algs(pkey) & (unsigned)all[i])) {
			ok(jwe_seal(ctx, pkey, all[i], JWE_COMPACT, opts, sizeof(opts), &bad) ==
				   OCIKP_BAD_INPUT && !bad.len,
			   "%s: %s does not suit it: bad input (%s)", s->name,
			   jwe_alg_name(all[i]), h.err.msg);
			continue;
		}
		for (f = JWE_COMPACT; f <= JWE_FLATTENED; f++, n_sealed++)
			round_trip(s, pkey, other, all[i], (enum jwe_form)f, g);
	}
	jgen_array_close(g);
	jgen_map_close(g);
	jgen_finish(g, &sealed);
	if (!have_python)
		goto out;
	if (vectors(pkey, &sealed, &out) != 0 ||
	    json_parse(ctx, "vectors", out.data, out.len, &doc) != OCIKP_OK) {
		ok(0, "%s: jwe_vectors.py ran", s->name);
		goto out;
	}
	check_opened(s->name, json_get(doc, "opened"), n_sealed);
	cases = json_get(doc, "cases");
	ok(json_array_len(cases) >= 25, "%s: %zu vectors from jwe_vectors.py", s->name,
	   json_array_len(cases));
	for (i = 0; i < json_array_len(cases); i++)
		run_case(s->name, pkey, json_array_at(cases, i));
out:
	json_free(doc);
	buf_free(&sealed);
	buf_free(&out);
	buf_free(&bad);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(other);
}

int main(void)
{
	static const struct keyspec keys[] = {
		{ "RSA-2048", "RSA", NULL, 2048 },
		{ "RSA-3072", "RSA", NULL, 3072 },
		{ "P-256", "EC", "P-256", 0 },
		{ "P-384", "EC", "P-384", 0 },
	};
	int have_python = system("python3 -c 'import cryptography' 2>/dev/null") == 0;
	size_t i;

	alloc_hook_openssl();
	host_ctx_init(ctx, &h, "jwe");
	if (!mkdtemp(tmpdir) || RAND_bytes(opts, sizeof(opts)) <= 0) {
		printf("1..1\nnot ok 1 - temporary directory\n");
		return 1;
	}
	if (!have_python)
		printf("# python3 with cryptography not found: round trips only\n");
	test_kdf();
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		test_key(&keys[i], have_python);
	rmdir(tmpdir);
	conf_free(&h.conf);
	return tap_done();
}
