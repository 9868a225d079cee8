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
	return tap_done();
}
