/* host/b64.c: strict base64, both alphabets. */
#include <string.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;

static int dec(const char *in, int url, struct ocikp_buf *out)
{
	out->len = 0;
	return b64_decode(&root.pub, "t", in, strlen(in), url, out);
}

static int decf(const char *in, int flags, struct ocikp_buf *out)
{
	buf_free(out);
	return b64_decode(&root.pub, "t", in, strlen(in), flags, out);
}

static const char *enc(const void *data, size_t len, int flags)
{
	static struct ocikp_buf out;

	buf_free(&out);
	return b64_encode(data, len, flags, &out) == OCIKP_OK && out.data ? (char *)out.data : "(fail)";
}

/* RFC 4648 §10 test vectors in every flag combination (issue 11). */
static void test_vectors(void)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					     "Zm9vYmFy" };
	static const char *const raw[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	struct ocikp_buf out = { 0 };
	size_t i;
	int f;

	for (f = 0; f < 4; f++) {
		for (i = 0; i < 7; i++) {
			const char *want = f & OCIKP_B64_NOPAD ? raw[i] : coded[i];
			ok(!strcmp(enc(plain[i], strlen(plain[i]), f), want), "flags %d: encode '%s' = '%s'",
			   f, plain[i], want);
			ok(decf(want, f, &out) == OCIKP_OK && out.len == strlen(plain[i]) &&
			   out.data && !memcmp(out.data, plain[i], out.len) && out.data[out.len] == 0,
			   "flags %d: decode '%s'", f, want);
		}
	}
	buf_free(&out);
}

static void test_nopad(void)
{
	static const unsigned char bin[] = { 0xfb, 0xff };
	struct ocikp_buf out = { 0 };
	const int raw = OCIKP_B64_NOPAD, rawurl = OCIKP_B64_NOPAD | OCIKP_B64_URL;

	ok(!strcmp(enc(bin, 2, raw), "+/8"), "raw std alphabet");
	ok(!strcmp(enc(bin, 2, rawurl), "-_8"), "raw url alphabet");
	ok(decf("-_8", rawurl, &out) == OCIKP_OK && out.len == 2 && !memcmp(out.data, bin, 2),
	   "raw url decode");
	ok(decf("+/8", raw, &out) == OCIKP_OK && out.len == 2 && !memcmp(out.data, bin, 2),
	   "raw std decode");
	ok(decf("-_8", raw, &out) == OCIKP_BAD_INPUT, "raw std refuses the url alphabet");
	ok(decf("+/8", rawurl, &out) == OCIKP_BAD_INPUT, "raw url refuses the std alphabet");
	ok(decf("Zg==", raw, &out) == OCIKP_BAD_INPUT, "nopad refuses padding");
	ok(decf("Zm8=", rawurl, &out) == OCIKP_BAD_INPUT, "nopad refuses one pad");
	ok(decf("Zg=", raw, &out) == OCIKP_BAD_INPUT, "nopad refuses a stray '='");
	ok(decf("Z", raw, &out) == OCIKP_BAD_INPUT, "length 1 (mod 4) refused");
	ok(decf("Zm9vY", rawurl, &out) == OCIKP_BAD_INPUT, "length 5 (mod 4 = 1) refused");
	ok(decf("Zh", raw, &out) == OCIKP_BAD_INPUT, "non-zero unused bits refused (2 chars)");
	ok(decf("Zm9", raw, &out) == OCIKP_BAD_INPUT, "non-zero unused bits refused (3 chars)");
	ok(decf("Zm-", rawurl, &out) == OCIKP_BAD_INPUT && strstr(h.err.msg, "invalid base64"),
	   "url: non-zero bits refused: %s", h.err.msg);
	ok(decf("Zm8", rawurl, &out) == OCIKP_OK && out.len == 2, "zero unused bits accepted");
	ok(decf("Zm 8", raw, &out) == OCIKP_BAD_INPUT, "whitespace refused");
	ok(decf("Zh==", 0, &out) == OCIKP_OK && out.len == 1,
	   "padded: unused bits ignored, as Go's StdEncoding");
	ok(decf("Zg", 0, &out) == OCIKP_BAD_INPUT, "padded refuses unpadded");
	ok(decf("Zg==", 4, &out) == OCIKP_INTERNAL, "unknown flag refused (decode)");
	ok(!strcmp(enc("f", 1, 8), "(fail)"), "unknown flag refused (encode)");
	buf_free(&out);
	buf_append(&out, "ab=", 3);
	ok(b64_encode("", 0, raw, &out) == OCIKP_OK && !strcmp((char *)out.data, "ab="),
	   "nopad encode of nothing leaves earlier text alone");
	buf_free(&out);
}

int main(void)
{
	struct ocikp_buf out = { 0 };
	static const unsigned char bin[] = { 0xfb, 0xff, 0xfe, 0x00, 0x01 };

	host_ctx_init(&root.pub, &h, NULL);
	ok(dec("aGVsbG8=", 0, &out) == OCIKP_OK && out.len == 5 && !memcmp(out.data, "hello", 5),
	   "decodes one pad");
	ok(dec("aGk=", 0, &out) == OCIKP_OK && out.len == 2 && out.data[2] == 0, "NUL-terminated after data");
	ok(dec("aA==", 0, &out) == OCIKP_OK && out.len == 1, "decodes two pads");
	ok(dec("", 0, &out) == OCIKP_OK && out.len == 0, "empty is empty");
	ok(dec("aGVsbG8", 0, &out) == OCIKP_BAD_INPUT, "rejects missing padding");
	ok(dec("aGVs bG8=", 0, &out) == OCIKP_BAD_INPUT, "rejects whitespace");
	ok(dec("aGVs\nbG8=", 0, &out) == OCIKP_BAD_INPUT, "rejects newline");
	ok(dec("aG=sbG8=", 0, &out) == OCIKP_BAD_INPUT, "rejects padding inside");
	ok(dec("====", 0, &out) == OCIKP_BAD_INPUT, "rejects all padding");
	ok(dec("A===", 0, &out) == OCIKP_BAD_INPUT, "rejects three pads");
	ok(dec("-_-_", 0, &out) == OCIKP_BAD_INPUT, "std rejects URL alphabet");
	ok(dec("+/+/", 1, &out) == OCIKP_BAD_INPUT, "url rejects std alphabet");
	ok(strstr(h.err.msg, "invalid base64") != NULL, "error names the cause: %s", h.err.msg);
	out.len = 0;
	ok(b64_encode(bin, sizeof(bin), 0, &out) == OCIKP_OK && !strcmp((char *)out.data, "+//+AAE="),
	   "encode std: %s", out.data);
	out.len = 0;
	ok(b64_encode(bin, sizeof(bin), 1, &out) == OCIKP_OK && !strcmp((char *)out.data, "-__-AAE="),
	   "encode url: %s", out.data);
	ok(dec("-__-AAE=", 1, &out) == OCIKP_OK && out.len == 5 && !memcmp(out.data, bin, 5),
	   "url round trip");
	ok(dec("+//+AAE=", 0, &out) == OCIKP_OK && out.len == 5 && !memcmp(out.data, bin, 5),
	   "std round trip with NUL byte");
	buf_free(&out);
	ok(out.data == NULL && out.len == 0 && out.cap == 0, "buf_free resets");
	ok(dec("", 0, &out) == OCIKP_OK && out.data && out.data[0] == 0,
	   "empty decode leaves a C string, not NULL");
	buf_free(&out);
	ok(b64_encode("", 0, 0, &out) == OCIKP_OK && out.data && out.data[0] == 0,
	   "empty encode leaves a C string");
	buf_free(&out);
	test_vectors();
	test_nopad();
	return tap_done();
}
