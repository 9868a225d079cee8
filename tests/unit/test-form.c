/* host/form.c: application/x-www-form-urlencoded for OAuth token requests. */
#include <string.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;

/* One pair appended to an empty buffer. */
static const char *pair(const char *name, const void *value, size_t len)
{
	static struct ocikp_buf out;

	buf_free(&out);
	if (form_append(&out, name, value, len) != OCIKP_OK || !out.data)
		return "(fail)";
	return (const char *)out.data;
}

#define PAIR(name, value) pair((name), (value), strlen(value))

int main(void)
{
	static const char jwt[] =
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhQGIuY29tIiwiYXVkIjoiaHR0cHM6Ly9vYXV0aDIifQ.c2lnbmF0dXJl-_";
	struct ocikp_buf out = { 0 };

	host_ctx_init(&root.pub, &h, NULL);
	ok(!strcmp(PAIR("a", "b"), "a=b"), "plain pair, no '&' on an empty buffer");
	ok(!strcmp(PAIR("k", "AZaz09-._~"), "k=AZaz09-._~"), "unreserved characters kept");
	ok(!strcmp(PAIR("k", "a b"), "k=a%20b"), "space is %%20, never '+'");
	ok(!strcmp(PAIR("k", "a+b"), "k=a%2Bb"), "'+' encoded");
	ok(!strcmp(PAIR("k", "a&b=c"), "k=a%26b%3Dc"), "'&' and '=' encoded");
	ok(!strcmp(PAIR("k", "/?#[]@!$'()*,;:%"),
		   "k=%2F%3F%23%5B%5D%40%21%24%27%28%29%2A%2C%3B%3A%25"), "reserved and '%%' encoded");
	ok(!strcmp(PAIR("k", "\xc3\xa9\xe2\x82\xac"), "k=%C3%A9%E2%82%AC"), "UTF-8 bytes, uppercase hex");
	ok(!strcmp(pair("k", "a\0b\xff", 4), "k=a%00b%FF"), "NUL and 0xff bytes by length");
	ok(!strcmp(PAIR("k", "\n\r\t"), "k=%0A%0D%09"), "control characters");
	ok(!strcmp(PAIR("k", ""), "k="), "empty value");
	ok(!strcmp(pair("k", NULL, 0), "k="), "NULL value of length 0");
	ok(!strcmp(PAIR("scope list", "x"), "scope%20list=x"), "name encoded too");
	ok(!strcmp(PAIR("", ""), "="), "empty name and value");
	ok(form_append(&out, "k", NULL, 1) == OCIKP_INTERNAL && out.len == 0, "NULL value refused");
	ok(form_append(&out, NULL, "v", 1) == OCIKP_INTERNAL && out.len == 0, "NULL name refused");

	/* An RFC 7523 JWT-bearer token request, pair by pair. */
	ok(form_append(&out, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", 43) ==
	   OCIKP_OK, "grant_type appended");
	ok(form_append(&out, "assertion", jwt, strlen(jwt)) == OCIKP_OK, "assertion appended");
	ok(form_append(&out, "scope", "https://www.googleapis.com/auth/cloudkms openid", 47) ==
	   OCIKP_OK, "scope appended");
	ok(out.data && !strcmp((char *)out.data,
		   "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
		   "&assertion=eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhQGIuY29tIiwiYXVkIjoiaHR0cHM6Ly9vYXV0aDIifQ.c2lnbmF0dXJl-_"
		   "&scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloudkms%20openid"),
	   "whole body: %s", out.data);
	ok(out.data && out.len == strlen((char *)out.data) && out.data[out.len] == 0, "length and NUL agree");
	buf_free(&out);
	buf_extend(&out, 0);
	ok(form_append(&out, "a", "", 0) == OCIKP_OK && out.data && !strcmp((char *)out.data, "a="),
	   "an allocated but empty buffer gets no '&'");
	buf_free(&out);
	return tap_done();
}
