/* Target: the protobuf decode of one gRPC message body (daemon/grpc.c,
 * grpc_unpack, as ocikpd's dispatch calls it on the bytes after the
 * 5-byte prefix) and the grpc-timeout header's parser (grpc_timeout_ms).
 * The first byte is the length of a grpc-timeout value taken from the
 * bytes after it (its low nibble, so lengths past the parser's limit of 9
 * occur too); the rest is the message body.  A decoded body is packed as
 * an answer and decoded again: the two messages share field 1, so the
 * JSON must come back unchanged. */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "ocikpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocikp_buf json = { 0 }, packed = { 0 }, again = { 0 };
	size_t tlen;
	long ms;

	fuzz_ctx();
	if (size < 1)
		return 0;
	tlen = data[0] & 15;
	if (tlen > size - 1)
		tlen = size - 1;
	ms = grpc_timeout_ms((const char *)data + 1, tlen);
	if (ms == 0 || ms < -1)
		abort();	/* at least 1 ms, or -1 */
	data += 1 + tlen;
	size -= 1 + tlen;

	if (grpc_unpack(data, size, &json) == OCIKP_OK) {
		if (grpc_pack(&json, &packed) != OCIKP_OK ||
		    grpc_unpack(packed.data + GRPC_PREFIX, packed.len - GRPC_PREFIX,
				&again) != OCIKP_OK ||
		    again.len != json.len || (json.len && memcmp(again.data, json.data, json.len)))
			abort();
	}
	buf_free(&json);
	buf_free(&packed);
	buf_free(&again);
	return 0;
}
