/* Shared set-up for the libFuzzer targets: a host context, as ocikp has. */
#ifndef OCIKP_FUZZ_H
#define OCIKP_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include "ocikp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct host fuzz_host;
static struct backend_ctx fuzz_root;

static inline struct ocikp_ctx *fuzz_ctx(void)
{
	host_ctx_init(&fuzz_root.pub, &fuzz_host, NULL);
	return &fuzz_root.pub;
}
#endif
