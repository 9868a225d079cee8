/* Shared set-up for the libFuzzer targets: a host context, as ocikp has. */
#ifndef OCIKP_FUZZ_H
#define OCIKP_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ocikp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct host fuzz_host;
static struct backend_ctx fuzz_root;

static inline struct ocikp_ctx *fuzz_ctx(void)
{
	host_ctx_init(&fuzz_root.pub, &fuzz_host, NULL);
	return &fuzz_root.pub;
}

/* fuzz_host's configuration: `text` as the one drop-in of a private
 * directory, read by the real parser (conf_load) once; the file and the
 * directory are gone again before the first input. */
static inline void fuzz_conf(const char *text)
{
	char dir[] = "/tmp/ocikp-fuzz-conf-XXXXXX", path[sizeof(dir) + 16];
	const char *dirs[] = { dir, NULL };
	FILE *f;

	if (!mkdtemp(dir) || chmod(dir, 0755) != 0)
		abort();
	snprintf(path, sizeof(path), "%s/50-fuzz.conf", dir);
	f = fopen(path, "w");
	if (!f || fputs(text, f) == EOF || fclose(f) != 0 || chmod(path, 0644) != 0)
		abort();
	if (conf_load(fuzz_ctx(), dirs, &fuzz_host.conf) != OCIKP_OK) {
		fprintf(stderr, "fuzz_conf: %s\n", fuzz_host.err.msg);
		abort();
	}
	unlink(path);
	rmdir(dir);
}
#endif
