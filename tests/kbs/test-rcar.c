/*
 * kbs_rcar_fetch (plugins/kbs/kbs-rcar.c) on the real host services against
 * the local KBS (tests/kbs/fake_kbs.py), which checks the nonce and the TEE
 * key bound into the sample evidence as trustee's sample verifier does.
 * argv[1]: the directory tests/kbs/rcar.sh prepared (ports, ca.pem, the
 * KEK files).  The server's counters and faults are driven over its
 * plain-HTTP control port with lib/http itself.  The file under test is
 * included, so its RFC 8785 canonicalization is checked on its own first.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ocikp.h"
#include "../../plugins/kbs/kbs-rcar.c"
#include "../unit/tap.h"

static struct host h;
static struct backend_ctx root, bare;
static struct ocikp_ctx *ctx = &root.pub;
static const char *dir;
static int port_https, port_http;
static unsigned char kek1[32], kek2[32];
static char ca[512], url_https[128], url_http[128], err_log[600];
static long elapsed;

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec * 1000 + t.tv_nsec / 1000000);
}

static int read_file(const char *name, void *buf, size_t n)
{
	char path[600];
	FILE *f;
	size_t got;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "r")))
		return -1;
	got = fread(buf, 1, n, f);
	fclose(f);
	return (int)got;
}

static int setup(void)
{
	char ports[128] = { 0 };

	if (read_file("ports", ports, sizeof(ports) - 1) <= 0 ||
	    sscanf(ports, "https=%d http=%d", &port_https, &port_http) != 2 ||
	    read_file("kek1.bin", kek1, 32) != 32 || read_file("kek2.bin", kek2, 32) != 32)
		return -1;
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(url_https, sizeof(url_https), "https://127.0.0.1:%d", port_https);
	snprintf(url_http, sizeof(url_http), "http://127.0.0.1:%d", port_http);
	snprintf(err_log, sizeof(err_log), "%s/stderr.log", dir);
	conf_set_option(&h.conf, "kbs.url", url_https, "t");
	conf_set_option(&h.conf, "kbs.ca_file", ca, "t");
	return 0;
}

/* A control request to the server's plain-HTTP port; its answer's body in
 * out (may be NULL). */
static int ctl(const char *path, const char *json, struct ocikp_buf *out)
{
	struct http_opts o = { .flags = HTTP_PLAIN_LOCAL };
	struct http_resp r = { 0 };
	char url[256];
	struct http_req req = { .method = json ? "POST" : "GET", .url = url, .body = json,
				.body_len = json ? strlen(json) : 0,
				.content_type = "application/json" };
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port_http, path);
	rc = http_request(ctx, &o, &req, &r);
	if (rc == OCIKP_OK && r.status != 200)
		rc = OCIKP_INTERNAL;
	if (rc == OCIKP_OK && out)
		buf_append(out, r.body.data, r.body.len);
	http_resp_free(ctx, &r);
	return rc;
}

static void reset(void)
{
	if (ctl("/_reset", "{}", NULL) != OCIKP_OK)
		printf("# /_reset failed: %s\n", h.err.msg);
}

/* One of the server's counters (auth, attest, resource_get, ...). */
static int stat_of(const char *kind)
{
	struct ocikp_buf b = { 0 };
	ocikp_json *doc = NULL;
	int n = -1;

	if (ctl("/_stats", NULL, &b) == OCIKP_OK &&
	    json_parse(ctx, "stats", b.data, b.len, &doc) == OCIKP_OK)
		n = atoi(json_number(json_get(doc, kind)));
	json_free(doc);
	buf_free(&b);
	return n;
}

static int counts(int auth, int attest, int get)
{
	return stat_of("auth") == auth && stat_of("attest") == attest &&
	       stat_of("resource_get") == get;
}

static void fault(const char *json)
{
	if (ctl("/_fault", json, NULL) != OCIKP_OK)
		printf("# /_fault failed: %s\n", h.err.msg);
}

/* One fetch, its stderr (warnings) kept in err_log. */
static int fetch_on(struct ocikp_ctx *c, const char *kid, const char *path, unsigned char kek[32])
{
	int saved = dup(2), fd = open(err_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	long start = now_ms();
	int rc;

	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	memset(kek, 0, 32);
	h.err.msg[0] = '\0';
	rc = kbs_rcar_fetch(c, kid, path, kek);
	elapsed = now_ms() - start;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	return rc;
}

static int fetch(const char *kid, const char *path, unsigned char kek[32])
{
	return fetch_on(ctx, kid, path, kek);
}

static int stderr_has(const char *s)
{
	char buf[4096] = { 0 };
	FILE *f = fopen(err_log, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, s) != NULL;
}

static int canon_of(const char *json, const char *want)
{
	struct ocikp_buf out = { 0 };
	ocikp_json *doc = NULL;
	int good = json_parse(ctx, "canon", json, strlen(json), &doc) == OCIKP_OK &&
		   canon_value(ctx, doc, &out) == OCIKP_OK && out.len == strlen(want) &&
		   !memcmp(out.data, want, out.len);

	if (!good)
		printf("# got %s\n", out.data ? (char *)out.data : "(nothing)");
	json_free(doc);
	buf_free(&out);
	return good;
}

/* RFC 8785's own examples: §3.2.3 (keys by UTF-16 code units: U+1F600's
 * surrogates before U+FB33) and §3.2.2.2 (string escapes). */
static void test_canon(void)
{
	ok(canon_of("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\","
		    "\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\","
		    "\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
		    "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
		    "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
		    "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
		    "\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
		    "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}"),
	   "RFC 8785 3.2.3: members sorted by UTF-16 code units");
	ok(canon_of("{\"s\":\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\"}",
		    "{\"s\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"),
	   "RFC 8785 3.2.2.2: string escapes");
	ok(canon_of("{\"tee-pubkey\":{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"A\",\"x\":\"X\","
		    "\"y\":\"Y\"},\"nonce\":\"n+/=\",\"additional-evidence\":\"\"}",
		    "{\"additional-evidence\":\"\",\"nonce\":\"n+/=\",\"tee-pubkey\":{\"alg\":\"A\","
		    "\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"X\",\"y\":\"Y\"}}"),
	   "the runtime data: nested members sorted, '/' not escaped");
}

static void test_ok(void)
{
	unsigned char k[32];
	int rc;

	reset();
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_OK && !memcmp(k, kek1, 32) && counts(1, 1, 1),
	   "P-256 TEE key: the KEK of default/key/1, one handshake, one GET: %s", h.err.msg);
	rc = fetch("kbs:///default/key/2", "default/key/2", k);
	ok(rc == OCIKP_OK && !memcmp(k, kek2, 32) && counts(2, 2, 2),
	   "a second fetch: its own handshake (one per call): %s", h.err.msg);
	conf_set_option(&h.conf, "kbs.tee_key", "rsa", "t");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_OK && !memcmp(k, kek1, 32) && counts(3, 3, 3),
	   "RSA-OAEP-256 TEE key (kbs.tee_key = rsa): %s", h.err.msg);
	conf_set_option(&h.conf, "kbs.tee_key", "ec", "t");
	rc = fetch("kbs://kbs.example:8080/default/key/1", "default/key/1", k);
	ok(rc == OCIKP_OK && !memcmp(k, kek1, 32) && counts(4, 4, 4),
	   "a kid naming another KBS: fetched from kbs.url all the same: %s", h.err.msg);
	rc = fetch("kbs:///default/key/1?version=1", "default/key/1", k);
	ok(rc == OCIKP_OK && !memcmp(k, kek1, 32), "a kid with a query: %s", h.err.msg);
}

static void test_401(void)
{
	unsigned char k[32];
	int rc;

	reset();
	fault("{\"match\":\"GET /kbs/v0/resource/\",\"status\":401,\"times\":1,"
	      "\"body\":\"{\\\"type\\\":\\\"x/errors/TokenNotFound\\\",\\\"detail\\\":\\\"expired\\\"}\"}");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_OK && !memcmp(k, kek1, 32) && counts(2, 2, 2),
	   "401 (an expired session), then one fresh handshake and the KEK: %s", h.err.msg);

	reset();
	rc = fetch("kbs:///default/key/nokey", "default/key/nokey", k);
	ok(rc == OCIKP_WRONG_KEY && counts(2, 2, 2) &&
	   strstr(h.err.msg, "no KEK for kbs:///default/key/nokey at https://127.0.0.1:") &&
	   strstr(h.err.msg, "or this machine may not have it: 401 Plugin internal error"),
	   "a missing resource as trustee answers it (401 twice): two handshakes, then: %s",
	   h.err.msg);

	reset();
	ctl("/_config", "{\"deny\":[\"default/key/2\"]}", NULL);
	rc = fetch("kbs:///default/key/2", "default/key/2", k);
	ok(rc == OCIKP_WRONG_KEY && counts(2, 2, 2) &&
	   strstr(h.err.msg, "may not have it: 401 Access denied by policy"),
	   "a policy denial: %s", h.err.msg);

	reset();
	ctl("/_config", "{\"missing_status\":404}", NULL);
	rc = fetch("kbs:///default/key/nokey", "default/key/nokey", k);
	ok(rc == OCIKP_WRONG_KEY && counts(1, 1, 1) &&
	   strstr(h.err.msg, "no KEK for kbs:///default/key/nokey at ") &&
	   strstr(h.err.msg, ": 404 Resource not found") && !strstr(h.err.msg, "may not"),
	   "a missing resource as older KBS answer it (404): no second handshake: %s", h.err.msg);
}

static void test_faults(void)
{
	unsigned char k[32], zero[32] = { 0 };
	int rc;

	reset();
	fault("{\"match\":\"GET /kbs/v0/resource/\",\"status\":500,\"times\":1}");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_UNAVAILABLE && counts(1, 1, 1) && strstr(h.err.msg, "HTTP 500") &&
	   !memcmp(k, zero, 32), "500 from the resource: unavailable: %s", h.err.msg);

	reset();
	fault("{\"match\":\"GET /kbs/v0/resource/\",\"status\":503,\"times\":2}");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_OK && !memcmp(k, kek1, 32) && counts(1, 1, 3),
	   "503 twice: lib/http's retries, then the KEK: %s", h.err.msg);

	reset();
	fault("{\"match\":\"POST /kbs/v0/auth\",\"status\":500,\"times\":1}");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_UNAVAILABLE && counts(1, 0, 0), "500 from auth: unavailable: %s",
	   h.err.msg);

	reset();
	/* a hang far past the slack, so the bound still tells the two apart */
	fault("{\"match\":\"GET /kbs/v0/resource/\",\"hang\":60,\"times\":1}");
	deadline_set(&h.deadline, 1500);
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	memset(&h.deadline, 0, sizeof(h.deadline));
	ok(rc == OCIKP_UNAVAILABLE && elapsed >= 1300 && elapsed < tap_slack(3000),
	   "a hung KBS, bounded by the request's deadline (1.5 s): %ld ms: %s", elapsed,
	   h.err.msg);

	reset();
	fault("{\"match\":\"GET /kbs/v0/resource/\",\"bad_jwe\":\"garbage\",\"times\":1}");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_UNAVAILABLE && counts(1, 1, 1) && !memcmp(k, zero, 32),
	   "a malformed JWE: unavailable: %s", h.err.msg);

	reset();
	fault("{\"match\":\"GET /kbs/v0/resource/\",\"bad_jwe\":\"other_key\",\"times\":1}");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_WRONG_KEY && strstr(h.err.msg, "another key") && !memcmp(k, zero, 32),
	   "a JWE for another key: wrong key: %s", h.err.msg);

	reset();
	fault("{\"match\":\"GET /kbs/v0/resource/\",\"bad_jwe\":\"tamper\",\"times\":1}");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_WRONG_KEY && strstr(h.err.msg, "GCM tag") && !memcmp(k, zero, 32),
	   "a JWE with its tag altered: wrong key: %s", h.err.msg);
}

static void test_refusals(void)
{
	unsigned char k[32];
	int rc;

	reset();
	fault("{\"match\":\"POST /kbs/v0/attest\",\"status\":401,\"times\":1,"
	      "\"body\":\"{\\\"type\\\":\\\"x/errors/AttestationError\\\",\\\"detail\\\":"
	      "\\\"Attestation error: policy says no\\\\u0007\\\"}\"}");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_CONFIG && counts(1, 1, 0) &&
	   strstr(h.err.msg, "refused this machine's evidence") &&
	   strstr(h.err.msg, "401 Attestation error: policy says no?"),
	   "attestation refused: a configuration error naming the reason: %s", h.err.msg);

	reset();
	fault("{\"match\":\"POST /kbs/v0/auth\",\"status\":401,\"times\":1}");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_CONFIG && counts(1, 0, 0) && strstr(h.err.msg, "401 injected fault 401"),
	   "auth refused: %s", h.err.msg);

	/* a resource that is no KEK (registered with admin checks off) */
	reset();
	ctl("/_config", "{\"admin_mode\":\"allow_all\"}", NULL);
	{
		struct http_opts o = { .ca_file = ca };
		struct http_resp r = { 0 };
		char url[256];
		struct http_req req = { .method = "POST", .url = url, .body = "sixteen bytes..!",
					.body_len = 16, .content_type = "application/octet-stream" };

		snprintf(url, sizeof(url), "%s/kbs/v0/resource/default/short/1", url_https);
		http_request(ctx, &o, &req, &r);
		http_resp_free(ctx, &r);
	}
	rc = fetch("kbs:///default/short/1", "default/short/1", k);
	ok(rc == OCIKP_WRONG_KEY && strstr(h.err.msg, "16 bytes at default/short/1, not a 32-byte"),
	   "a resource of 16 bytes: not a KEK: %s", h.err.msg);
}

static void test_options(void)
{
	unsigned char k[32];
	int rc;

	reset();
	conf_set_option(&h.conf, "kbs.url", url_http, "t");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "allow_http") && counts(0, 0, 0),
	   "plain http:// without kbs.allow_http: refused before any request: %s", h.err.msg);
	conf_set_option(&h.conf, "kbs.allow_http", "yes", "t");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_OK && !memcmp(k, kek1, 32) && stderr_has("can still withhold it"),
	   "plain http:// with kbs.allow_http = yes: the KEK, and a warning: %s", h.err.msg);
	conf_set_option(&h.conf, "kbs.allow_http", "maybe", "t");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "kbs.allow_http must be yes or no"),
	   "kbs.allow_http = maybe: %s", h.err.msg);
	conf_set_option(&h.conf, "kbs.allow_http", "no", "t");
	conf_set_option(&h.conf, "kbs.url", "ftp://127.0.0.1/", "t");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "https://"), "kbs.url ftp://: %s", h.err.msg);
	conf_set_option(&h.conf, "kbs.url", "https://u:p@127.0.0.1/", "t");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_CONFIG && !strstr(h.err.msg, "u:p"), "kbs.url with user:password@: %s",
	   h.err.msg);
	conf_set_option(&h.conf, "kbs.url", url_https, "t");
	{
		char slash[160];

		snprintf(slash, sizeof(slash), "%s/", url_https);
		conf_set_option(&h.conf, "kbs.url", slash, "t");
		rc = fetch("kbs:///default/key/1", "default/key/1", k);
		ok(rc == OCIKP_OK && !memcmp(k, kek1, 32), "kbs.url with a trailing '/': %s",
		   h.err.msg);
		conf_set_option(&h.conf, "kbs.url", url_https, "t");
	}
	conf_set_option(&h.conf, "kbs.tee_key", "dsa", "t");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "kbs.tee_key must be ec or rsa"),
	   "kbs.tee_key = dsa: %s", h.err.msg);
	conf_set_option(&h.conf, "kbs.tee_key", "ec", "t");
	conf_set_option(&h.conf, "kbs.ca_file", "/nonexistent/ca.pem", "t");
	rc = fetch("kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_CONFIG, "an unusable kbs.ca_file: %s", h.err.msg);
	conf_set_option(&h.conf, "kbs.ca_file", ca, "t");
	rc = fetch_on(&bare.pub, "kbs:///default/key/1", "default/key/1", k);
	ok(rc == OCIKP_NOT_MINE && strstr(h.err.msg, "no KBS configured"),
	   "no kbs.url: not mine: %s", h.err.msg);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	dir = argv[1];
	alloc_hook_openssl();
	host_ctx_init(ctx, &h, "kbs");
	host_ctx_init(&bare.pub, &h, "kbsnone");
	if (setup() != 0) {
		printf("1..1\nnot ok 1 - the fake KBS's ports and KEK files\n");
		return 1;
	}
	setenv("no_proxy", "*", 1);
	test_canon();
	test_ok();
	test_401();
	test_faults();
	test_refusals();
	test_options();
	http_global_cleanup();
	conf_free(&h.conf);
	return tap_done();
}
