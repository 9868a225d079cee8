/* host/url.c: routing schemes and query parameters. */
#include <string.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;

static const char *scheme(const char *url)
{
	static char s[33];

	return key_scheme(url, s, sizeof(s)) == OCIKP_OK ? s : "(bad)";
}

static const char *query(const char *url, const char *name, int *rc)
{
	static struct ocikp_buf out;

	buf_free(&out);
	*rc = url_query_get(&root.pub, url, name, &out);
	return (char *)out.data;	/* never NULL, even when empty */
}

int main(void)
{
	int rc;

	host_ctx_init(&root.pub, &h, NULL);
	ok(!strcmp(scheme("tpm://ek?mode=encrypt"), "tpm"), "tpm");
	ok(!strcmp(scheme("apple-se://se?x"), "apple-se"), "apple-se");
	ok(!strcmp(scheme("kbs+offline://x"), "kbs+offline"), "kbs+plugin");
	ok(!strcmp(scheme("keypath=/k::keyid=kbs:///a/b/c::algorithm=A256GCM"), "kbs"),
	   "CoCo keypath= string routes to kbs");
	ok(!strcmp(scheme("sample=true"), "kbs"), "CoCo sample=true routes to kbs");
	ok(!strcmp(scheme("Enabled"), "(bad)"), "no scheme");
	ok(!strcmp(scheme("TPM://x"), "(bad)"), "upper case scheme refused");
	ok(!strcmp(scheme("../x://y"), "(bad)"), "scheme with .. refused");
	ok(!strcmp(scheme("a/b://y"), "(bad)"), "scheme with / refused");
	ok(!strcmp(scheme("://y"), "(bad)"), "empty scheme refused");
	ok(!strcmp(scheme("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa://y"), "(bad)"), "long scheme refused");
	ok(scheme_valid("kbs+x.y-z", 9) && !scheme_valid("1abc", 4), "scheme_valid");

	ok(!strcmp(query("tpm://ek?mode=encrypt&pub=ab+c/d==&pcrs=MA%3D%3D", "pub", &rc), "ab+c/d==") &&
	   rc == OCIKP_OK, "'+' kept as '+'");
	ok(!strcmp(query("tpm://ek?mode=encrypt&pub=ab%2Bc", "pub", &rc), "ab+c"), "%%2B decoded");
	ok(!strcmp(query("tpm://ek?mode=encrypt&pcrs=MA%3D%3D", "pcrs", &rc), "MA=="), "%%3D decoded");
	ok(!strcmp(query("x://y?mode=decrypt", "mode", &rc), "decrypt"), "first parameter");
	query("x://y?mode=decrypt", "pub", &rc);
	ok(rc == OCIKP_NOT_MINE, "absent parameter is NOT_MINE");
	query("x://y", "pub", &rc);
	ok(rc == OCIKP_NOT_MINE, "no query at all");
	query("x://y?pub=a%zz", "pub", &rc);
	ok(rc == OCIKP_BAD_INPUT && strstr(h.err.msg, "percent"), "bad percent-encoding: %s", h.err.msg);
	query("x://y?pub=a%4", "pub", &rc);
	ok(rc == OCIKP_BAD_INPUT, "truncated percent-encoding");
	ok(!strcmp(query("x://y?a=1&pub=2#pub=3", "pub", &rc), "2"), "fragment ignored");
	ok(!strcmp(query("x://y?pubx=1&pub=2", "pub", &rc), "2"), "exact name match");
	{	/* found by fuzz/tpm_url: an empty value was a NULL buffer */
		struct ocikp_buf out = { 0 };

		rc = url_query_get(&root.pub, "tpm://ek?mode=&pub=x", "mode", &out);
		ok(rc == OCIKP_OK && out.data && out.data[0] == '\0' && out.len == 0,
		   "an empty value is an empty string, not NULL");
		buf_free(&out);
	}
	return tap_done();
}
