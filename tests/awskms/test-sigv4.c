/*
 * awskms-sigv4.c against AWS's own published example (the IAM ListUsers
 * request of "Create a signed AWS API request": its canonical request's
 * hash and its signature), plus the canonicalisation rules the
 * specification sets: RFC 3986 query encoding and order, header names
 * lowercased and sorted, values trimmed and collapsed, the session token
 * signed; and awskms-cred.c's INI reading.
 */
#include <string.h>
#include <openssl/sha.h>
#include "ocikp.h"
#include "awskms.h"
#include "../unit/tap.h"

static struct host h;
static struct backend_ctx root;
static struct ocikp_ctx *ctx = &root.pub;

struct http_pool *awskms_pool(struct ocikp_ctx *c)
{
	(void)c;
	return NULL;
}

struct credcache *awskms_credcache(struct ocikp_ctx *c)
{
	(void)c;
	return NULL;
}

static void cred(struct aws_cred *c, const char *id, const char *secret, const char *token)
{
	memset(c, 0, sizeof(*c));
	buf_append(&c->akid, id, strlen(id));
	buf_append(&c->secret, secret, strlen(secret));
	if (token)
		buf_append(&c->token, token, strlen(token));
}

static void sha_hex(const struct ocikp_buf *b, char out[65])
{
	unsigned char md[32];
	int i;

	SHA256(b->data, b->len, md);
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void test_aws_example(void)
{
	/* AWS's example: GET https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08 */
	struct sigv4_header hs[] = { { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" } };
	struct sigv4_req r = { .method = "GET", .host = "iam.amazonaws.com", .path = "/",
			       .query = "Version=2010-05-08&Action=ListUsers", .headers = hs,
			       .nheaders = 1, .payload = "", .payload_len = 0,
			       .region = "us-east-1", .service = "iam", .amz_date = "20150830T123600Z" };
	struct ocikp_buf creq = { 0 }, auth = { 0 };
	struct aws_cred c;
	char hex[65];

	cred(&c, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL);
	ok(sigv4_canonical(ctx, &r, &c, &creq) == OCIKP_OK, "canonical request built");
	ok(!strcmp((const char *)creq.data,
		   "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
		   "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
		   "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
		   "content-type;host;x-amz-date\n"
		   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
	   "AWS's example: the canonical request, query sorted");
	sha_hex(&creq, hex);
	ok(!strcmp(hex, "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"),
	   "AWS's example: the canonical request's hash");
	ok(sigv4_authorization(ctx, &r, &c, &auth) == OCIKP_OK &&
	   !strcmp((const char *)auth.data,
		   "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
		   "SignedHeaders=content-type;host;x-amz-date, "
		   "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"),
	   "AWS's example: the Authorization header and its signature");
	buf_free(&creq);
	buf_free(&auth);
	cred_free(ctx, &c);
}

static void test_rules(void)
{
	struct sigv4_header hs[] = { { "X-Amz-Target", "  TrentService.Encrypt  " },
				     { "My-Header", "a   b \t c" } };
	struct sigv4_req r = { .method = "POST", .host = "kms.eu-west-1.amazonaws.com", .path = "/",
			       .query = "b=x y&a=%&a=1&c=~-_.&d", .headers = hs, .nheaders = 2,
			       .payload = "{}", .payload_len = 2, .region = "eu-west-1",
			       .service = "kms", .amz_date = "20240101T000000Z" };
	struct ocikp_buf creq = { 0 };
	struct aws_cred c;
	const char *s;

	cred(&c, "ASIAEXAMPLE", "secret", "tok/en+=");
	ok(sigv4_canonical(ctx, &r, &c, &creq) == OCIKP_OK, "canonical request with a token built");
	s = (const char *)creq.data;
	ok(strstr(s, "\na=%25&a=1&b=x%20y&c=~-_.&d=\n") != NULL,
	   "query: RFC 3986 encoding (space %%20, %% as %%25), sorted by key then value");
	ok(strstr(s, "\nhost:kms.eu-west-1.amazonaws.com\nmy-header:a b c\n"
		     "x-amz-date:20240101T000000Z\nx-amz-security-token:tok/en+=\n"
		     "x-amz-target:TrentService.Encrypt\n\n") != NULL,
	   "headers lowercased, sorted, values trimmed and collapsed; the token signed");
	ok(strstr(s, "\nhost;my-header;x-amz-date;x-amz-security-token;x-amz-target\n") != NULL,
	   "signed headers list");
	ok(strstr(s, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a") != NULL,
	   "payload hash is SHA-256 of the body");
	buf_free(&creq);
	cred_free(ctx, &c);
}

static void test_ini(void)
{
	static const char text[] =
		"# comment\n[default]\naws_access_key_id = AKIA1\n"
		"; other\n[ profile x ]\r\nregion\t=  eu-west-1  \r\n"
		"[other]\nAWS_ACCESS_KEY_ID=AKIA2\n";
	struct ocikp_buf v = { 0 };

	ok(ini_get(ctx, text, "default", "aws_access_key_id", &v) && !strcmp((char *)v.data, "AKIA1"),
	   "ini: a key in [default]");
	ok(ini_get(ctx, text, "profile x", "region", &v) && !strcmp((char *)v.data, "eu-west-1"),
	   "ini: blanks in the brackets and around '=' and CRLF line ends trimmed");
	ok(ini_get(ctx, text, "other", "aws_access_key_id", &v) && !strcmp((char *)v.data, "AKIA2"),
	   "ini: key names case-insensitive");
	ok(!ini_get(ctx, text, "default", "region", &v) && !ini_get(ctx, text, "profile", "region", &v),
	   "ini: absent key or section");
	buf_free(&v);
}

int main(void)
{
	alloc_hook_openssl();
	host_ctx_init(ctx, &h, "awskms");
	test_aws_example();
	test_rules();
	test_ini();
	return tap_done();
}
