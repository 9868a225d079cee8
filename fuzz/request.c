/* Target: the exec protocol request parser (stdin of every ocikp exec). */
#include <string.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocikp_buf raw = { 0 };
	struct request req;

	buf_append(&raw, data, size);
	request_parse(fuzz_ctx(), "ocikp", &raw, &req);
	request_free(&req);
	buf_free(&raw);
	return 0;
}
