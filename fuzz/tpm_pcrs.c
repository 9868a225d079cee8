/* Target: the tpm backend's pcrs= text parser ("IDX=hex,..."). */
#include <string.h>
#include "fuzz.h"
#include "../plugins/tpm/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct import_blob b;
	char *text = secure_strndup((const char *)data, size);

	memset(&b, 0, sizeof(b));
	if (text && strlen(text) == size)
		pcrs_parse(fuzz_ctx(), text, &b);
	secure_free(text);
	return 0;
}
