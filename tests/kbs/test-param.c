/*
 * kbs-param.c and kbs-packet.c on the real host services: parameter
 * strings, key URLs, kids, and v1/v2 packets (CoCo's fixture included).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ocikp.h"
#include "kbs.h"
#include "../unit/tap.h"

static struct host h;
static struct backend_ctx root;
static struct ocikp_ctx *ctx = &root.pub;

static int parse(const char *param, struct kbs_wrap_req *r)
{
	h.err.msg[0] = '\0';
	return kbs_param_parse(ctx, param, r);
}

/* A refused parameter: OCIKP_BAD_INPUT with an error line. */
static void bad_param(const char *param)
{
	struct kbs_wrap_req r;
	int rc = parse(param, &r);

	ok(rc == OCIKP_BAD_INPUT && h.err.msg[0], "refused: %s (%s)", param, h.err.msg);
}

static void test_coco(void)
{
	struct kbs_wrap_req r;
	int rc;

	ok(kbs_param_is_coco("keypath=/k::keyid=kbs:///a/b/c"), "a parameter string is CoCo's");
	ok(kbs_param_is_coco("sample=true"), "sample=true is CoCo's");
	ok(!kbs_param_is_coco("kbs:///a/b/c?keypath=/k"), "a kbs:// URL is not");

	rc = parse("keypath=/k::keyid=kbs:///default/image-kek/1::algorithm=A256CTR", &r);
	ok(rc == OCIKP_OK && !strcmp(r.keypath, "/k") && !strcmp(r.kid, "kbs:///default/image-kek/1") &&
	   r.alg == KBS_A256CTR && r.kid_given && !r.sample, "all fields");
	rc = parse("keyid=/default/k/1::keypath=/k", &r);
	ok(rc == OCIKP_OK && !strcmp(r.kid, "kbs:///default/k/1") && r.alg == KBS_A256GCM,
	   "bare /r/t/g rewritten, A256GCM by default");
	rc = parse("keypath=/k", &r);
	ok(rc == OCIKP_OK && !r.kid_given && !strncmp(r.kid, "kbs:///default/image-kek/", 25) &&
	   strlen(r.kid) == 25 + 36 && r.kid[25 + 14] == '4' && strchr("89ab", r.kid[25 + 19]),
	   "no keyid: kbs:///default/image-kek/<uuid4> (%s)", r.kid);
	rc = parse("sample=true", &r);
	ok(rc == OCIKP_OK && r.sample && !strcmp(r.kid, "kbs:///default/test-key/1"),
	   "sample=true: upstream's sample kid");
	rc = parse("sample=false::keypath=/k", &r);
	ok(rc == OCIKP_OK && !r.sample, "sample=false");
	rc = parse("keypath=/a=b", &r);
	ok(rc == OCIKP_OK && !strcmp(r.keypath, "/a=b"), "a value may hold '='");

	bad_param("keypath");
	bad_param("keypath=/k::");
	bad_param("keypath=/k::keyid");
	bad_param("keypath=/k::colour=blue");
	bad_param("keypath=/k::algorithm=A128GCM");
	bad_param("keypath=/k::algorithm=a256gcm");
	bad_param("keypath=/k::keypath=/j");
	bad_param("keypath=");
	bad_param("sample=yes");
	bad_param("sample=true::keypath=/k");
	bad_param("keypath=/k::keyid=default/k/1");
	bad_param("keypath=/k::keyid=kbs:///default/k");
}

static void test_url(void)
{
	struct kbs_wrap_req r;
	int rc;

	rc = parse("kbs:///default/k/1?keypath=%2Fsecret%2Fk&algorithm=A256CTR", &r);
	ok(rc == OCIKP_OK && !strcmp(r.kid, "kbs:///default/k/1") && !strcmp(r.keypath, "/secret/k") &&
	   r.alg == KBS_A256CTR && r.kid_given, "URL form: kid without the query, values decoded");
	rc = parse("kbs://kbs.example:8080/default/k/1", &r);
	ok(rc == OCIKP_OK && !strcmp(r.kid, "kbs://kbs.example:8080/default/k/1") && !r.keypath[0],
	   "URL form with an address, no query");
	bad_param("kbs:///default/k/1?keyid=kbs:///a/b/c");
	bad_param("kbs:///default/k/1?keypath");
	bad_param("kbs:///default/k/1?size=3");
	bad_param("kbs:///default/k/1?keypath=/k&keypath=/j");
	bad_param("kbs:///default/k/1?algorithm=A256CBC");
	bad_param("kbs:///default/k/1?keypath=/k#frag");
	bad_param("kbs:///default/k?keypath=/k");
	bad_param("kbs+x:///default/k/1?keypath=/k");
	ok(strstr(h.err.msg, "only the KBS's resource plugin is written") != NULL,
	   "kbs+x: refused for the guests that cannot parse it: %s", h.err.msg);
	rc = parse("kbs+resource:///default/k/1?keypath=/k", &r);
	ok(rc == OCIKP_OK && !strcmp(r.kid, "kbs:///default/k/1") && r.kid_given,
	   "URL form kbs+resource://: the kid written as kbs:///");
	rc = parse("keypath=/k::keyid=kbs+resource://h:1/default/k/1", &r);
	ok(rc == OCIKP_OK && !strcmp(r.kid, "kbs://h:1/default/k/1"),
	   "keyid kbs+resource://h:1/...: written as kbs://h:1/...");
	bad_param("keypath=/k::keyid=kbs+pkcs11:///default/k/1");
}

static void kid_ok(const char *in, const char *want, const char *want_path)
{
	char out[KBS_KID_MAX];
	const char *path = NULL;
	int rc = kbs_kid_normalize(ctx, in, out, &path);

	ok(rc == OCIKP_OK && !strcmp(out, want) && path && !strcmp(path, want_path),
	   "kid %s -> %s (%s)", in, want, rc == OCIKP_OK ? out : h.err.msg);
}

static void kid_bad(const char *in)
{
	char out[KBS_KID_MAX];
	const char *path = NULL;

	ok(kbs_kid_normalize(ctx, in, out, &path) == OCIKP_BAD_INPUT, "kid refused: %s", in);
}

static void test_kids(void)
{
	char long_kid[600];

	kid_ok("kbs:///default/key/1", "kbs:///default/key/1", "default/key/1");
	kid_ok("kbs://kbs.example:8080/default/key/1", "kbs://kbs.example:8080/default/key/1",
	       "default/key/1");
	kid_ok("kbs://10.0.0.1/r/t/g", "kbs://10.0.0.1/r/t/g", "r/t/g");
	kid_ok("kbs://[fd00::1]:50000/r/t/g", "kbs://[fd00::1]:50000/r/t/g", "r/t/g");
	kid_ok("/default/key/1", "kbs:///default/key/1", "default/key/1");
	kid_ok("127.0.0.1:8080/default/key/1", "kbs://127.0.0.1:8080/default/key/1", "default/key/1");
	kid_ok("kbs:///r/t/g?x=1&y=2", "kbs:///r/t/g?x=1&y=2", "r/t/g");
	kid_ok("kbs:///r_1/t-2/g.3", "kbs:///r_1/t-2/g.3", "r_1/t-2/g.3");
	kid_bad("kbs:///r/t");
	kid_bad("kbs:///r/t/g/h");
	kid_bad("kbs:///r/t/g/");
	kid_bad("kbs:///.r/t/g");
	kid_bad("kbs:///r//g");
	kid_bad("kbs:///r/t/g?a b");
	kid_bad("kbs:///r/t/g#f");
	kid_bad("kbs://h:0/r/t/g");
	kid_bad("kbs://h:65536/r/t/g");
	kid_bad("kbs://u@h/r/t/g");
	kid_bad("http://h/r/t/g");
	/* guest-components resource_uri: kbs+<plugin>://, the default plugin
	 * written as kbs:// (every guest parses that). */
	kid_ok("kbs+resource:///default/key/1", "kbs:///default/key/1", "default/key/1");
	kid_ok("kbs+resource://kbs.example:8080/r/t/g?x=1", "kbs://kbs.example:8080/r/t/g?x=1",
	       "r/t/g");
	kid_ok("kbs+pkcs11:///slot/key/label?pin-source=file",
	       "kbs+pkcs11:///slot/key/label?pin-source=file", "slot/key/label");
	kid_ok("kbs+default:///repo/type/tag", "kbs+default:///repo/type/tag", "repo/type/tag");
	kid_ok("kbs+nebula-ca://10.0.0.1:8080/r/t/g", "kbs+nebula-ca://10.0.0.1:8080/r/t/g", "r/t/g");
	kid_bad("kbs+:///r/t/g");
	kid_bad("kbs+Pkcs11:///r/t/g");
	kid_bad("kbs+a+b:///r/t/g");
	kid_bad("kbs+plugin:/r/t/g");
	kid_bad("kbs+plugin:///r/t");
	kid_bad("kbs+aaaaaaaaaaaaaaaaaaaaaaaaa:///r/t/g");
	kid_bad("r/t/g");
	kid_bad("");
	memset(long_kid, 'a', sizeof(long_kid) - 1);
	long_kid[sizeof(long_kid) - 1] = '\0';
	memcpy(long_kid, "kbs:///r/t/", 11);
	kid_bad(long_kid);
}

static ocikp_json *parse_json(const char *text)
{
	ocikp_json *doc = NULL;

	json_parse(ctx, "test", text, strlen(text), &doc);
	return doc;
}

static int packet_rc(const char *text)
{
	ocikp_json *doc = parse_json(text);
	struct kbs_packet p;
	int rc = kbs_packet_parse(ctx, doc, &p);

	if (rc == OCIKP_OK)
		kbs_packet_free(ctx, &p);
	json_free(doc);
	return rc;
}

/* Wrap, check the layout, parse and open again. */
static void round_trip(enum kbs_alg alg, const char *type, size_t iv_len)
{
	unsigned char kek[KBS_KEK_LEN], other[KBS_KEK_LEN];
	struct ocikp_buf opts = { 0 }, ann = { 0 }, back = { 0 };
	struct kbs_packet p;
	ocikp_json *doc = NULL;
	char want[64];
	int rc;

	memset(kek, 7, sizeof(kek));
	memset(other, 8, sizeof(other));
	buf_append(&opts, "{\"symkey\":\"x\"}", 14);
	rc = kbs_packet_wrap(ctx, kek, "kbs:///default/key/1", alg, &opts, &ann);
	snprintf(want, sizeof(want), "\",\"wrap_type\":\"%s\"}", type);
	ok(rc == OCIKP_OK && !strncmp((char *)ann.data, "{\"kid\":\"kbs:///default/key/1\",\"wrapped_data\":\"", 46) &&
	   strstr((char *)ann.data, "\",\"iv\":\"") && strstr((char *)ann.data, want) &&
	   !strchr((char *)ann.data, ' '), "%s: compact v1, serde's key order: %s", type, ann.data);
	rc = json_parse(ctx, "annotation", ann.data, ann.len, &doc);
	if (rc == OCIKP_OK)
		rc = kbs_packet_parse(ctx, doc, &p);
	ok(rc == OCIKP_OK && p.alg == alg && p.iv.len == iv_len &&
	   p.wrapped.len == opts.len + (alg == KBS_A256GCM ? 16 : 0), "%s: %zu-byte iv", type, iv_len);
	if (rc == OCIKP_OK) {
		rc = kbs_packet_open(ctx, &p, kek, &back);
		ok(rc == OCIKP_OK && back.len == opts.len && !memcmp(back.data, opts.data, opts.len),
		   "%s: opens", type);
		buf_free(&back);
		if (alg == KBS_A256GCM) {
			ok(kbs_packet_open(ctx, &p, other, &back) == OCIKP_WRONG_KEY,
			   "%s: another KEK is the wrong key", type);
			buf_free(&back);
			p.wrapped.data[0] ^= 1;
			ok(kbs_packet_open(ctx, &p, kek, &back) == OCIKP_WRONG_KEY,
			   "%s: altered data is refused", type);
			buf_free(&back);
		}
		kbs_packet_free(ctx, &p);
	}
	json_free(doc);
	buf_free(&opts);
	buf_free(&ann);
}

static char *slurp(const char *name)
{
	const char *dir = getenv("OCIKP_FIXTURES");
	char path[1024];
	static char text[8192];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/kbs/%s", dir ? dir : "tests/fixtures", name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	while (n && (text[n - 1] == '\n'))
		text[--n] = '\0';
	return strdup(text);
}

static void test_fixture(void)
{
	char *ann = slurp("sample_kbc_annotation.json"), *want = slurp("sample_kbc_optsdata.json");
	struct ocikp_buf out = { 0 };
	struct kbs_packet p;
	ocikp_json *doc;
	int rc = OCIKP_INTERNAL;

	if (!ann || !want) {
		ok(0, "fixtures readable (OCIKP_FIXTURES)");
		return;
	}
	doc = parse_json(ann);
	if (doc && (rc = kbs_packet_parse(ctx, doc, &p)) == OCIKP_OK) {
		rc = kbs_packet_open(ctx, &p, kbs_sample_kek, &out);
		kbs_packet_free(ctx, &p);
	}
	ok(rc == OCIKP_OK && out.len == strlen(want) && !memcmp(out.data, want, out.len),
	   "CoCo's sample annotation opens with the sample KEK to its optsdata");
	buf_free(&out);
	json_free(doc);
	free(ann);
	free(want);
}

#define V1_BODY "\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAAAA\"," \
	"\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A256GCM\""

static void test_packets(void)
{
	round_trip(KBS_A256GCM, "A256GCM", 12);
	round_trip(KBS_A256CTR, "A256CTR", 16);
	test_fixture();

	ok(packet_rc("{" V1_BODY "}") == OCIKP_OK, "v1 packet");
	ok(packet_rc("{\"version\":\"0.1.0\",\"provider\":\"kbs\"," V1_BODY
		     ",\"provider_settings\":{},\"annotations\":{}}") == OCIKP_OK, "v2 packet");
	ok(packet_rc("{\"provider\":\"vault\"," V1_BODY "}") == OCIKP_WRONG_KEY &&
	   strstr(h.err.msg, "unsupported provider 'vault'"), "another provider: %s", h.err.msg);
	ok(packet_rc("{\"provider\":\"KBS\"," V1_BODY "}") == OCIKP_WRONG_KEY, "provider is case-sensitive");
	ok(packet_rc("{\"version\":\"0.2.0\"," V1_BODY "}") == OCIKP_BAD_INPUT, "version 0.2.0 refused");
	ok(packet_rc("{\"version\":null," V1_BODY "}") == OCIKP_BAD_INPUT, "version null refused");
	ok(packet_rc("{\"provider_settings\":null," V1_BODY "}") == OCIKP_BAD_INPUT,
	   "provider_settings null refused");
	ok(packet_rc("{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
		     "\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A128KW\"}") == OCIKP_BAD_INPUT,
	   "unknown wrap_type refused");
	ok(packet_rc("{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
		     "\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A256CTR\"}") == OCIKP_BAD_INPUT,
	   "a 12-byte iv for A256CTR refused");
	ok(packet_rc("{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"AAAA\","
		     "\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A256GCM\"}") == OCIKP_BAD_INPUT,
	   "GCM data shorter than its tag refused");
	/* 16 and 17 bytes: the tag and less than the smallest optsdata "{}". */
	ok(packet_rc("{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAAA=\","
		     "\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A256GCM\"}") == OCIKP_BAD_INPUT &&
	   strstr(h.err.msg, "too short for A256GCM (17 bytes, at least 18)"),
	   "GCM data of the tag and one byte refused: %s", h.err.msg);
	ok(packet_rc("{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"\","
		     "\"iv\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"wrap_type\":\"A256CTR\"}") == OCIKP_BAD_INPUT,
	   "empty CTR data refused");
	ok(packet_rc("{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
		     "\"iv\":\"AAAAAAAAAAAAAAAA\"}") == OCIKP_BAD_INPUT, "no wrap_type refused");
	ok(packet_rc("{\"kid\":1,\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
		     "\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A256GCM\"}") == OCIKP_BAD_INPUT,
	   "a number kid refused");
	ok(packet_rc("[]") == OCIKP_BAD_INPUT, "not an object");
}

int main(void)
{
	alloc_hook_openssl();
	host_ctx_init(ctx, &h, "kbs");
	test_coco();
	test_url();
	test_kids();
	test_packets();
	conf_free(&h.conf);
	return tap_done();
}
