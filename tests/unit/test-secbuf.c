/* host/secbuf.c and host/aead.c: buffers and the shared AES-256-GCM layout. */
#include <string.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;

/* backend.h promises data[len] == 0, so even an empty result is a C string:
 * every helper that appends leaves a non-NULL buffer (issue 11). */
static bool cstr(const struct ocikp_buf *b, const char *want)
{
	return b->data && b->data[b->len] == 0 && b->len == strlen(want) &&
	       !memcmp(b->data, want, b->len);
}

static void test_empty(void)
{
	struct ocikp_buf b = { 0 };
	ocikp_jgen *g;
	int f;

	ok(buf_append(&b, NULL, 0) == OCIKP_OK && cstr(&b, ""), "buf_append of 0 bytes");
	buf_free(&b);
	ok(buf_extend(&b, 0) != NULL && cstr(&b, ""), "buf_extend of 0 bytes");
	buf_free(&b);
	ok(buf_printf(&b, "%s", "") == OCIKP_OK && cstr(&b, ""), "buf_printf of nothing");
	buf_free(&b);
	for (f = 0; f < 4; f++) {
		ok(b64_decode(&root.pub, "t", "", 0, f, &b) == OCIKP_OK && cstr(&b, ""),
		   "b64_decode of \"\" (flags %d)", f);
		buf_free(&b);
		ok(b64_encode("", 0, f, &b) == OCIKP_OK && cstr(&b, ""), "b64_encode of nothing (flags %d)", f);
		buf_free(&b);
	}
	ok(b64_decode(&root.pub, "t", "!", 1, 0, &b) == OCIKP_BAD_INPUT && cstr(&b, ""),
	   "b64_decode failure still leaves a C string");
	buf_free(&b);
	ok(url_query_get(&root.pub, "x://k?a=&b=1", "a", &b) == OCIKP_OK && cstr(&b, ""),
	   "url_query_get of an empty value");
	buf_free(&b);
	ok(form_append(&b, "", NULL, 0) == OCIKP_OK && cstr(&b, "="), "form_append of empty parts");
	buf_free(&b);
	g = jgen_new();
	jgen_string(g, "", 0);
	ok(jgen_finish(g, &b) == OCIKP_OK && cstr(&b, "\"\""), "jgen_finish");
	buf_free(&b);
}

int main(void)
{
	struct ocikp_buf b = { 0 }, sealed = { 0 }, plain = { 0 };
	unsigned char key[32] = { 1 }, other[32] = { 2 };
	unsigned char *p;
	int i;

	host_ctx_init(&root.pub, &h, NULL);
	for (i = 0; i < 1000; i++)
		buf_append(&b, "0123456789", 10);
	ok(b.len == 10000 && b.cap > b.len && b.data[b.len] == 0, "grows, stays NUL-terminated");
	p = buf_extend(&b, 5);
	ok(p == b.data + 10000 && b.len == 10005 && p[0] == 0 && b.data[b.len] == 0, "extend zero-fills");
	ok(buf_printf(&b, "%d-%s", 7, "x") == OCIKP_OK && !strcmp((char *)b.data + 10005, "7-x"), "printf appends");
	buf_free(&b);
	ok(!b.data && !b.len && !b.cap, "free resets");
	ok(buf_extend(&b, SIZE_MAX - 1) == NULL, "overflow refused");

	ok(aes256gcm_seal(&root.pub, key, "secret", 6, &sealed) == OCIKP_OK && sealed.len == 12 + 6 + 16,
	   "seal: nonce | ct | tag");
	ok(aes256gcm_open(&root.pub, key, sealed.data, sealed.len, &plain) == OCIKP_OK &&
	   plain.len == 6 && !memcmp(plain.data, "secret", 6), "open round trip");
	plain.len = 0;
	ok(aes256gcm_open(&root.pub, other, sealed.data, sealed.len, &plain) == OCIKP_WRONG_KEY &&
	   plain.len == 0, "other key: WRONG_KEY, nothing appended");
	sealed.data[14] ^= 1;
	ok(aes256gcm_open(&root.pub, key, sealed.data, sealed.len, &plain) == OCIKP_WRONG_KEY,
	   "tampered ciphertext: WRONG_KEY");
	ok(aes256gcm_open(&root.pub, key, sealed.data, 28, &plain) == OCIKP_BAD_INPUT &&
	   strstr(h.err.msg, "too short"), "too short: %s", h.err.msg);
	buf_free(&sealed);
	buf_free(&plain);
	test_empty();
	return tap_done();
}
