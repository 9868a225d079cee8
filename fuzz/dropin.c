/* Target: the drop-in parser, one file in a private directory. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf conf;

	if (fuzz_dropin(data, size, &conf) == OCIKP_OK)
		conf_add_builtin(&conf);
	conf_free(&conf);
	return 0;
}
