/*
 * gcpkms-jwt.c and the offline half of gcpkms-cred.c on the real host
 * services: RS256 JWTs checked with OpenSSL against a fresh RSA key, token
 * answers parsed (good, malformed, oversize, missing fields, expiry), and
 * credentials files loaded (ADC order, types, identities, errors).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "ocikp.h"
#include "gcpkms.h"
#include "../unit/tap.h"

static struct host h;
static struct backend_ctx root;
static struct ocikp_ctx *ctx = &root.pub;
static char top[] = "/tmp/ocikp-gcpjwt-XXXXXX";
static EVP_PKEY *key;
static struct ocikp_buf pkcs8, pkcs1;

/* ---- helpers ---------------------------------------------------------------- */

static const char *at(const char *name)
{
	static char path[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/%s", top, name);
	return path[i];
}

static void put_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		exit(99);
	close(fd);
	chmod(path, mode);
}

static void pem_of(EVP_PKEY *k, bool traditional, struct ocikp_buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	if (!bio || !(traditional ? PEM_write_bio_PrivateKey_traditional(bio, k, NULL, NULL, 0,
									   NULL, NULL) :
				    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)))
		exit(99);
	n = BIO_get_mem_data(bio, &p);
	buf_append(out, p, (size_t)n);
	BIO_free(bio);
}

static void claims_of(const char *json, struct ocikp_buf *out)
{
	out->len = 0;
	buf_append(out, json, strlen(json));
}

/* Split a compact JWS; decode header and payload. */
static bool split(const struct ocikp_buf *jwt, struct ocikp_buf *hdr, struct ocikp_buf *pay,
		  struct ocikp_buf *sig, size_t *signed_len)
{
	const char *s = (const char *)jwt->data, *d1 = strchr(s, '.'), *d2;

	if (!d1 || !(d2 = strchr(d1 + 1, '.')) || strchr(d2 + 1, '.'))
		return false;
	*signed_len = (size_t)(d2 - s);
	return b64_decode(ctx, "h", s, (size_t)(d1 - s), OCIKP_B64_URL | OCIKP_B64_NOPAD, hdr) ==
		       OCIKP_OK &&
	       b64_decode(ctx, "p", d1 + 1, (size_t)(d2 - d1 - 1), OCIKP_B64_URL | OCIKP_B64_NOPAD,
			  pay) == OCIKP_OK &&
	       b64_decode(ctx, "s", d2 + 1, strlen(d2 + 1), OCIKP_B64_URL | OCIKP_B64_NOPAD, sig) ==
		       OCIKP_OK;
}

static bool verify(EVP_PKEY *k, const void *msg, size_t len, const struct ocikp_buf *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
		  EVP_DigestVerify(md, sig->data, sig->len, msg, len) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

/* ---- JWT -------------------------------------------------------------------- */

static void test_jwt_one(const struct ocikp_buf *pem, const char *kid, const char *want_hdr,
			 const char *desc)
{
	struct ocikp_buf claims = { 0 }, jwt = { 0 }, hdr = { 0 }, pay = { 0 }, sig = { 0 };
	size_t n = 0;
	int rc;

	claims_of("{\"iss\":\"sa@p.iam.gserviceaccount.com\",\"scope\":\"" GCP_SCOPE
		  "\",\"aud\":\"https://oauth2.googleapis.com/token\",\"iat\":1700000000,"
		  "\"exp\":1700003600}", &claims);
	buf_append(&jwt, "", 0);
	rc = jwt_rs256(ctx, (const char *)pem->data, pem->len, kid, &claims, &jwt);
	ok(rc == OCIKP_OK, "%s: signed (%s)", desc, h.err.msg);
	ok(split(&jwt, &hdr, &pay, &sig, &n), "%s: three base64url parts, no padding", desc);
	ok(!strpbrk((const char *)jwt.data, "=+/ \n"), "%s: URL-safe alphabet, unpadded", desc);
	ok(hdr.data && !strcmp((const char *)hdr.data, want_hdr), "%s: header %s", desc,
	   hdr.data ? (const char *)hdr.data : "(none)");
	ok(pay.len == claims.len && !memcmp(pay.data, claims.data, claims.len),
	   "%s: the payload is the claims byte for byte", desc);
	ok(sig.len == 256 && verify(key, jwt.data, n, &sig),
	   "%s: the RS256 signature verifies with the public key", desc);
	jwt.data[n - 1] ^= 1;	/* one bit of the payload */
	ok(!verify(key, jwt.data, n, &sig), "%s: and fails on a changed payload", desc);
	buf_free(&claims);
	buf_free(&jwt);
	buf_free(&hdr);
	buf_free(&pay);
	buf_free(&sig);
}

static int sign_with(const char *pem, size_t len, struct ocikp_buf *jwt)
{
	struct ocikp_buf claims = { 0 };
	int rc;

	claims_of("{\"a\":1}", &claims);
	h.err.msg[0] = '\0';
	rc = jwt_rs256(ctx, pem, len, NULL, &claims, jwt);
	buf_free(&claims);
	return rc;
}

static void test_jwt_bad_keys(void)
{
	struct ocikp_buf jwt = { 0 }, pem = { 0 };
	EVP_PKEY *k;
	BIO *bio;
	char *p;
	long n;
	int rc;

	rc = sign_with("not a key", 9, &jwt);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "private_key") && !jwt.len,
	   "garbage PEM: config error, nothing written (%s)", h.err.msg);
	rc = sign_with("", 0, &jwt);
	ok(rc == OCIKP_CONFIG, "empty PEM: config error");
	rc = sign_with((const char *)pkcs8.data, pkcs8.len / 2, &jwt);
	ok(rc == OCIKP_CONFIG && !jwt.len, "a PEM cut in half: config error");

	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	pem_of(k, false, &pem);
	rc = sign_with((const char *)pem.data, pem.len, &jwt);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "RSA"), "an EC key: refused (%s)", h.err.msg);
	EVP_PKEY_free(k);
	pem.len = 0;

	k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	pem_of(k, false, &pem);
	rc = sign_with((const char *)pem.data, pem.len, &jwt);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "2048"), "RSA-1024: refused (%s)", h.err.msg);
	EVP_PKEY_free(k);
	pem.len = 0;

	/* Encrypted: refused without prompting (stdin is closed for the test). */
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"pw");
	n = BIO_get_mem_data(bio, &p);
	rc = sign_with(p, (size_t)n, &jwt);
	ok(rc == OCIKP_CONFIG && !jwt.len, "an encrypted PEM: refused, no prompt (%s)", h.err.msg);
	BIO_free(bio);
	buf_free(&pem);
	buf_free(&jwt);
}

/* ---- cred_parse_token ---------------------------------------------------------- */

#define NOW 1700000000LL

static int parse(const char *body, size_t len, struct ocikp_buf *tok, long long *exp)
{
	h.err.msg[0] = '\0';
	tok->len = 0;
	buf_append(tok, "pre", 3);
	*exp = -1;
	return cred_parse_token(ctx, "test endpoint", body, len, NOW, tok, exp);
}

static void bad(const char *body, const char *why, const char *desc)
{
	struct ocikp_buf tok = { 0 };
	long long exp;
	int rc = parse(body, strlen(body), &tok, &exp);

	ok(rc == OCIKP_UNAVAILABLE && tok.len == 3 && exp == -1 && strstr(h.err.msg, why) &&
	   strstr(h.err.msg, "test endpoint"), "%s: refused, tok untouched (%s)", desc, h.err.msg);
	buf_free(&tok);
}

static void good(const char *body, const char *want_tok, long long want_exp, const char *desc)
{
	struct ocikp_buf tok = { 0 };
	long long exp;
	int rc = parse(body, strlen(body), &tok, &exp);

	ok(rc == OCIKP_OK && !strcmp((const char *)tok.data + 3, want_tok) && exp == want_exp,
	   "%s: rc %d, expires %lld (want %lld) %s", desc, rc, exp, want_exp, h.err.msg);
	buf_free(&tok);
}

static void test_parse(void)
{
	struct ocikp_buf big = { 0 }, tok = { 0 };
	long long exp;
	size_t i;
	int rc;

	good("{\"access_token\":\"ya29.abc\",\"expires_in\":3599,\"token_type\":\"Bearer\"}",
	     "ya29.abc", NOW + 3599, "OAuth answer");
	good("{\"access_token\":\"ya29.abc\",\"expires_in\":3599,\"token_type\":\"bearer\","
	     "\"scope\":\"x\",\"id_token\":\"y\"}", "ya29.abc", NOW + 3599,
	     "OAuth answer, lower-case bearer and extra members");
	good("{\"access_token\":\"t\",\"expires_in\":\"120\"}", "t", NOW + 120,
	     "expires_in as a string of digits");
	good("{\"access_token\":\"t\",\"expires_in\":3599.5}", "t", NOW + 3599,
	     "expires_in with a fraction");
	good("{\"access_token\":\"sts.tok\",\"issued_token_type\":\"urn:ietf:params:oauth:"
	     "token-type:access_token\",\"token_type\":\"Bearer\",\"expires_in\":3600}", "sts.tok",
	     NOW + 3600, "STS answer");
	/* 1700003600 is 2023-11-14T23:13:20Z */
	good("{\"accessToken\":\"iam.tok\",\"expireTime\":\"2023-11-14T23:13:20Z\"}", "iam.tok",
	     NOW + 3600, "IAM answer, RFC 3339 in UTC");
	good("{\"accessToken\":\"iam.tok\",\"expireTime\":\"2023-11-14T23:13:20.123456789Z\"}",
	     "iam.tok", NOW + 3600, "RFC 3339 with nanoseconds");
	good("{\"accessToken\":\"iam.tok\",\"expireTime\":\"2023-11-15T01:13:20+02:00\"}",
	     "iam.tok", NOW + 3600, "RFC 3339 with an offset");
	good("{\"accessToken\":\"iam.tok\",\"expireTime\":\"2023-11-14t18:13:20.5-05:00\"}",
	     "iam.tok", NOW + 3600, "RFC 3339, lower-case t and a negative offset");
	good("{\"accessToken\":\"iam.tok\",\"expireTime\":\"2024-02-29T00:00:00Z\"}", "iam.tok",
	     NOW + 12 * 3600, "a far expireTime (leap day 2024) is clamped to 12 hours");

	bad("{\"access_token\":\"t\"", "malformed JSON", "truncated JSON");
	bad("[\"access_token\"]", "not a JSON object", "an array");
	bad("\"ya29\"", "not a JSON object", "a string");
	bad("{\"expires_in\":3600}", "no access token", "no access_token");
	bad("{\"access_token\":\"\",\"expires_in\":3600}", "no access token", "empty access_token");
	bad("{\"access_token\":42,\"expires_in\":3600}", "no access token", "numeric access_token");
	bad("{\"access_token\":\"t\"}", "no expires_in", "no expires_in");
	bad("{\"access_token\":\"t\",\"expires_in\":-5}", "expires_in", "negative expires_in");
	bad("{\"access_token\":\"t\",\"expires_in\":0}", "expires_in", "zero expires_in");
	bad("{\"access_token\":\"t\",\"expires_in\":1e3}", "expires_in", "expires_in 1e3");
	bad("{\"access_token\":\"t\",\"expires_in\":99999999999}", "expires_in", "huge expires_in");
	bad("{\"access_token\":\"t\",\"expires_in\":null}", "expires_in", "null expires_in");
	bad("{\"access_token\":\"t\",\"expires_in\":3600,\"token_type\":\"MAC\"}", "Bearer",
	    "token_type MAC");
	bad("{\"access_token\":\"a b\",\"expires_in\":3600}", "header", "a token with a space");
	bad("{\"access_token\":\"a\\r\\nX-Evil: 1\",\"expires_in\":3600}", "header",
	    "a token with CR LF");
	bad("{\"access_token\":\"a\\u00e9\",\"expires_in\":3600}", "header", "a non-ASCII token");
	bad("{\"accessToken\":\"t\"}", "no expireTime", "IAM without expireTime");
	bad("{\"accessToken\":\"t\",\"expireTime\":\"2023-11-14T22:13:20Z\"}", "past",
	    "expireTime in the past (negative expiry)");
	bad("{\"accessToken\":\"t\",\"expireTime\":\"2023-11-14T23:13:20\"}", "RFC 3339",
	    "expireTime without a zone");
	bad("{\"accessToken\":\"t\",\"expireTime\":\"2023-02-29T23:13:20Z\"}", "RFC 3339",
	    "expireTime on 29 February of a common year");
	bad("{\"accessToken\":\"t\",\"expireTime\":\"2023-11-14 23:13:20Z\"}", "RFC 3339",
	    "expireTime with a space for T");
	bad("{\"accessToken\":\"t\",\"expireTime\":\"2023-13-14T23:13:20Z\"}", "RFC 3339",
	    "expireTime in month 13");
	bad("{\"accessToken\":\"t\",\"expireTime\":1700003600}", "no expireTime",
	    "numeric expireTime");
	bad("", "empty", "an empty body");

	/* A token over the bound, and a body over HTTP_MAX_BODY. */
	buf_append(&big, "{\"access_token\":\"", 17);
	for (i = 0; i < 16385; i++)
		buf_append(&big, "a", 1);
	buf_append(&big, "\",\"expires_in\":3600}", 20);
	bad((const char *)big.data, "too long", "a 16385-byte token");
	big.len = 0;
	buf_append(&big, "{\"access_token\":\"t\",\"expires_in\":3600,\"pad\":\"", 45);
	for (i = 0; i < HTTP_MAX_BODY; i++)
		buf_append(&big, "a", 1);
	buf_append(&big, "\"}", 2);
	rc = parse((const char *)big.data, big.len, &tok, &exp);
	ok(rc == OCIKP_UNAVAILABLE && tok.len == 3 && strstr(h.err.msg, "too large"),
	   "an answer over HTTP_MAX_BODY: refused (%s)", h.err.msg);
	rc = parse(NULL, 0, &tok, &exp);
	ok(rc == OCIKP_UNAVAILABLE && tok.len == 3, "no body at all: refused");
	buf_free(&big);
	buf_free(&tok);
}

/* ---- cred_load -------------------------------------------------------------- */

#define SA_FILE "{\"type\":\"service_account\",\"project_id\":\"p\",\"private_key_id\":\"kid1\"," \
	"\"client_email\":\"sa@p.iam.gserviceaccount.com\",\"client_id\":\"123\",%s" \
	"\"token_uri\":\"https://oauth2.example/token\"}"

static struct gcpkms_opts opts;

static int load(const char *file, struct gcp_cred **c)
{
	h.err.msg[0] = '\0';
	opts.credentials = file;
	return cred_load(ctx, &opts, c);
}

static void load_bad(const char *json, const char *want1, const char *want2, const char *desc)
{
	struct gcp_cred *c = NULL;
	const char *path = at("bad.json");
	int rc;

	put_file(path, json, 0600);
	rc = load(path, &c);
	ok(rc == OCIKP_CONFIG && !c && strstr(h.err.msg, want1) && strstr(h.err.msg, want2) &&
	   strstr(h.err.msg, path) && !strstr(h.err.msg, "SECRET"), "%s: config error (%s)", desc,
	   h.err.msg);
}

static void identity_of(const char *json, struct gcpkms_opts *o, char hex[65])
{
	struct gcp_cred *c = NULL;

	put_file(at("id.json"), json, 0600);
	o->credentials = at("id.json");
	hex[0] = '\0';
	if (cred_load(ctx, o, &c) == OCIKP_OK)
		cred_identity(c, hex);
	cred_free(ctx, c);
}

static void test_load_types(void)
{
	struct gcp_cred *c = NULL;
	char file[8192], hex[65], hex2[65];
	struct gcpkms_opts o2;
	int rc;

	snprintf(file, sizeof(file), SA_FILE, "\"private_key\":\"SECRET\",");
	put_file(at("sa.json"), file, 0600);
	rc = load(at("sa.json"), &c);
	ok(rc == OCIKP_OK && c && !strcmp(cred_describe(c), "service_account sa@p.iam.gserviceaccount.com") &&
	   !cred_quota_project(c), "service_account loads: %s (%s)", c ? cred_describe(c) : "-",
	   h.err.msg);
	cred_identity(c, hex);
	ok(strlen(hex) == 64 && strspn(hex, "0123456789abcdef") == 64, "identity: 64 hex digits");
	cred_free(ctx, c);
	c = NULL;

	o2 = opts;
	identity_of(file, &o2, hex);
	o2.token_endpoint = "https://127.0.0.1:1/token";
	identity_of(file, &o2, hex2);
	ok(*hex && *hex2 && strcmp(hex, hex2), "the token endpoint in effect enters the identity");

	snprintf(file, sizeof(file), SA_FILE, "\"private_key\":\"OTHER-SECRET\",");
	o2 = opts;
	identity_of(file, &o2, hex2);
	ok(!strcmp(hex, hex2), "the private key does not (same account, same identity)");

	put_file(at("user.json"), "{\"type\":\"authorized_user\",\"client_id\":\"gcloud-id\","
		 "\"client_secret\":\"SECRET-cs\",\"refresh_token\":\"SECRET-rt1\","
		 "\"quota_project_id\":\"billing-p\"}", 0600);
	rc = load(at("user.json"), &c);
	ok(rc == OCIKP_OK && c && cred_quota_project(c) &&
	   !strcmp(cred_quota_project(c), "billing-p") && !strstr(cred_describe(c), "SECRET"),
	   "authorized_user loads, quota_project_id kept: %s", c ? cred_describe(c) : h.err.msg);
	cred_free(ctx, c);
	c = NULL;
	o2 = opts;
	identity_of("{\"type\":\"authorized_user\",\"client_id\":\"gcloud-id\",\"client_secret\":"
		    "\"SECRET-cs\",\"refresh_token\":\"SECRET-rt1\"}", &o2, hex);
	identity_of("{\"type\":\"authorized_user\",\"client_id\":\"gcloud-id\",\"client_secret\":"
		    "\"SECRET-cs\",\"refresh_token\":\"SECRET-rt2\"}", &o2, hex2);
	ok(*hex && *hex2 && strcmp(hex, hex2),
	   "authorized_user: two users of one client_id have two identities");

	put_file(at("ext.json"), "{\"type\":\"external_account\",\"audience\":\"//iam.googleapis.com/"
		 "projects/1/locations/global/workloadIdentityPools/p/providers/k\","
		 "\"subject_token_type\":\"urn:ietf:params:oauth:token-type:jwt\","
		 "\"token_url\":\"https://sts.googleapis.com/v1/token\","
		 "\"credential_source\":{\"file\":\"/var/run/token\",\"format\":{\"type\":\"text\"}}}",
		 0600);
	rc = load(at("ext.json"), &c);
	ok(rc == OCIKP_OK && c && strstr(cred_describe(c), "external_account"),
	   "external_account (file-sourced) loads: %s", c ? cred_describe(c) : h.err.msg);
	cred_free(ctx, c);
	c = NULL;

	put_file(at("wf.json"), "{\"type\":\"external_account\",\"audience\":\"//iam.googleapis.com/"
		 "locations/global/workforcePools/w/providers/k\",\"subject_token_type\":\"t\","
		 "\"workforce_pool_user_project\":\"wf-proj\",\"credential_source\":{\"url\":"
		 "\"http://169.254.169.254/token\",\"headers\":{\"Metadata\":\"True\"},"
		 "\"format\":{\"type\":\"json\",\"subject_token_field_name\":\"access_token\"}}}",
		 0600);
	rc = load(at("wf.json"), &c);
	ok(rc == OCIKP_OK && c && cred_quota_project(c) &&
	   !strcmp(cred_quota_project(c), "wf-proj"),
	   "external_account (workforce, url-sourced) loads, bills its user project (%s)",
	   h.err.msg);
	cred_free(ctx, c);
	c = NULL;

	put_file(at("imp.json"), "{\"type\":\"impersonated_service_account\","
		 "\"service_account_impersonation_url\":\"https://iamcredentials.googleapis.com/v1/"
		 "projects/-/serviceAccounts/target@p.iam.gserviceaccount.com:generateAccessToken\","
		 "\"delegates\":[\"projects/-/serviceAccounts/d@p.iam.gserviceaccount.com\"],"
		 "\"source_credentials\":{\"type\":\"authorized_user\",\"client_id\":\"i\","
		 "\"client_secret\":\"SECRET-s\",\"refresh_token\":\"SECRET-r\"}}", 0600);
	rc = load(at("imp.json"), &c);
	ok(rc == OCIKP_OK && c &&
	   !strcmp(cred_describe(c), "impersonated_service_account target@p.iam.gserviceaccount.com "
		   "via authorized_user"), "impersonated_service_account loads: %s",
	   c ? cred_describe(c) : h.err.msg);
	cred_free(ctx, c);
}

static void test_load_errors(void)
{
	char file[4096];

	load_bad("{\"type\":\"gdch_service_account\"}", "unsupported credential type",
		 "'gdch_service_account'", "an unknown type, named");
	load_bad("{\"type\":\"evil type'\\n\"}", "unsupported credential type", "(unknown)",
		 "an unknown type that is no identifier, not quoted");
	load_bad("{\"project_id\":\"p\"}", "no \"type\"", "", "no type");
	load_bad("[1]", "not a JSON object", "", "not an object");
	load_bad("{\"type\":", "malformed JSON", "", "malformed JSON");
	snprintf(file, sizeof(file), SA_FILE, "");
	load_bad(file, "service_account has no \"private_key\"", "", "service_account without a key");
	load_bad("{\"type\":\"authorized_user\",\"client_id\":\"i\",\"client_secret\":\"SECRET\"}",
		 "no \"refresh_token\"", "", "authorized_user without a refresh token");
	load_bad("{\"type\":\"external_account\",\"audience\":\"a\",\"subject_token_type\":\"t\","
		 "\"credential_source\":{\"executable\":{\"command\":\"/bin/x\"}}}",
		 "unsupported credential source 'executable'", "", "executable-sourced");
	load_bad("{\"type\":\"external_account\",\"audience\":\"a\",\"subject_token_type\":\"t\","
		 "\"credential_source\":{\"environment_id\":\"aws1\",\"region_url\":\"x\"}}",
		 "unsupported credential source 'aws'", "", "AWS-sourced");
	load_bad("{\"type\":\"external_account\",\"audience\":\"a\",\"subject_token_type\":\"t\","
		 "\"credential_source\":{\"file\":\"relative/token\"}}", "absolute", "",
		 "a relative subject token file");
	load_bad("{\"type\":\"external_account\",\"audience\":\"a\",\"subject_token_type\":\"t\","
		 "\"credential_source\":{\"file\":\"/t\",\"format\":{\"type\":\"json\"}}}",
		 "subject_token_field_name", "", "json format without a field name");
	load_bad("{\"type\":\"external_account\",\"audience\":\"a\",\"subject_token_type\":\"t\","
		 "\"credential_source\":{\"url\":\"http://169.254.169.254/x\",\"headers\":"
		 "{\"Bad\\nName\":\"v\"}}}", "headers", "", "a header name with a line break");
	load_bad("{\"type\":\"external_account\",\"audience\":\"a\",\"subject_token_type\":\"t\","
		 "\"workforce_pool_user_project\":\"p\",\"credential_source\":{\"file\":\"/t\"}}",
		 "workforce", "", "workforce_pool_user_project on a workload pool");
	load_bad("{\"type\":\"external_account\",\"audience\":\"a\",\"subject_token_type\":\"t\","
		 "\"service_account_impersonation\":{\"token_lifetime_seconds\":10},"
		 "\"credential_source\":{\"file\":\"/t\"}}", "token_lifetime_seconds", "",
		 "a lifetime below IAM's minimum");
	load_bad("{\"type\":\"impersonated_service_account\",\"service_account_impersonation_url\":"
		 "\"https://x/v1/projects/-/serviceAccounts/t:generateAccessToken\","
		 "\"source_credentials\":{\"type\":\"external_account\"}}",
		 "unsupported source_credentials credential type", "'external_account'",
		 "an impersonated source of an unsupported type");
	load_bad("{\"type\":\"impersonated_service_account\",\"source_credentials\":{}}",
		 "service_account_impersonation_url", "", "impersonation without a URL");
}

/* The ADC order when gcpkms.credentials is unset. */
static void test_adc_order(void)
{
	struct gcp_cred *c = NULL;
	char dir[600], hex[65], hex2[65];
	int rc;

	opts.credentials = NULL;
	setenv("GOOGLE_APPLICATION_CREDENTIALS", at("missing.json"), 1);
	h.err.msg[0] = '\0';
	rc = cred_load(ctx, &opts, &c);
	ok(rc == OCIKP_CONFIG && !c && strstr(h.err.msg, at("missing.json")),
	   "GOOGLE_APPLICATION_CREDENTIALS naming no file: config error naming it (%s)",
	   h.err.msg);
	setenv("GOOGLE_APPLICATION_CREDENTIALS", at("user.json"), 1);
	rc = cred_load(ctx, &opts, &c);
	ok(rc == OCIKP_OK && c && strstr(cred_describe(c), "authorized_user"),
	   "GOOGLE_APPLICATION_CREDENTIALS is used");
	cred_free(ctx, c);
	c = NULL;
	opts.credentials = at("sa.json");
	rc = cred_load(ctx, &opts, &c);
	ok(rc == OCIKP_OK && c && strstr(cred_describe(c), "service_account"),
	   "gcpkms.credentials comes before GOOGLE_APPLICATION_CREDENTIALS");
	cred_free(ctx, c);
	c = NULL;
	opts.credentials = NULL;
	setenv("GOOGLE_APPLICATION_CREDENTIALS", "", 1);

	/* gcloud's file under $HOME, absent, then present with a bad mode. */
	unsetenv("CLOUDSDK_CONFIG");
	setenv("HOME", at("home"), 1);
	mkdir(at("home"), 0700);
	rc = cred_load(ctx, &opts, &c);
	ok(rc == OCIKP_OK && c && !strcmp(cred_describe(c), "metadata server 127.0.0.1:1"),
	   "no file anywhere: the metadata server (%s)", c ? cred_describe(c) : h.err.msg);
	cred_identity(c, hex);
	cred_free(ctx, c);
	c = NULL;
	opts.metadata_host = "127.0.0.1:2";
	rc = cred_load(ctx, &opts, &c);
	cred_identity(c, hex2);
	ok(rc == OCIKP_OK && strcmp(hex, hex2), "the metadata host enters the identity");
	cred_free(ctx, c);
	c = NULL;
	opts.metadata_host = "127.0.0.1:1";

	snprintf(dir, sizeof(dir), "%s/.config", at("home"));
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/.config/gcloud", at("home"));
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/.config/gcloud/application_default_credentials.json",
		 at("home"));
	put_file(dir, "{\"type\":\"authorized_user\",\"client_id\":\"i\",\"client_secret\":\"s\","
		 "\"refresh_token\":\"r\"}", 0644);
	h.err.msg[0] = '\0';
	rc = cred_load(ctx, &opts, &c);
	ok(rc == OCIKP_CONFIG && !c && strstr(h.err.msg, "application_default_credentials.json"),
	   "gcloud's file readable by others: an error, not the metadata server (%s)", h.err.msg);
	chmod(dir, 0600);
	rc = cred_load(ctx, &opts, &c);
	ok(rc == OCIKP_OK && c && strstr(cred_describe(c), "authorized_user"),
	   "gcloud's file, mode 0600: used (%s)", h.err.msg);
	cred_free(ctx, c);
	c = NULL;
	setenv("CLOUDSDK_CONFIG", at("nowhere"), 1);
	rc = cred_load(ctx, &opts, &c);
	ok(rc == OCIKP_OK && c && strstr(cred_describe(c), "metadata"),
	   "CLOUDSDK_CONFIG moves gcloud's file");
	cred_free(ctx, c);
	unsetenv("CLOUDSDK_CONFIG");
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
}

int main(void)
{
	char cmd[600];

	alloc_hook_openssl();	/* as ocikp's main does, before anything allocates */
	host_ctx_init(ctx, &h, "gcpkms");
	if (!mkdtemp(top))
		return 1;
	memset(&opts, 0, sizeof(opts));
	opts.metadata_host = "127.0.0.1:1";
	opts.kms_endpoint = GCP_KMS_ENDPOINT;

	key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!key)
		return 1;
	pem_of(key, false, &pkcs8);
	pem_of(key, true, &pkcs1);
	test_jwt_one(&pkcs8, "kid-1", "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"kid-1\"}",
		     "PKCS#8 key with kid");
	test_jwt_one(&pkcs1, NULL, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "PKCS#1 key, no kid");
	test_jwt_bad_keys();
	test_parse();
	test_load_types();
	test_load_errors();
	test_adc_order();

	EVP_PKEY_free(key);
	buf_free(&pkcs8);
	buf_free(&pkcs1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", top);
	return tap_done();
}
