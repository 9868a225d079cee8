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

/* Files a target hands to code that reads a path: in one private directory
 * on tmpfs (/dev/shm, else /tmp: rewriting a file on a busy disk was most
 * of an execution), made at the first use and removed at exit.  Drop-ins
 * go in its conf/ subdirectory, alone, where conf_load reads them. */
static char fuzz_dir_path[64];

static void fuzz_dir_remove(void)
{
	char path[sizeof(fuzz_dir_path) + 32];
	static const char *const names[] = { "conf/50-fuzz.conf", "conf", "file" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fuzz_dir_path, names[i]);
		if (unlink(path) != 0)
			rmdir(path);
	}
	rmdir(fuzz_dir_path);
}

static inline const char *fuzz_dir(void)
{
	char conf[sizeof(fuzz_dir_path) + 8];

	if (fuzz_dir_path[0])
		return fuzz_dir_path;
	snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "/dev/shm/ocikp-fuzz-XXXXXX");
	if (!mkdtemp(fuzz_dir_path)) {
		snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "/tmp/ocikp-fuzz-XXXXXX");
		if (!mkdtemp(fuzz_dir_path))
			abort();
	}
	snprintf(conf, sizeof(conf), "%s/conf", fuzz_dir_path);
	/* 0755, as the host wants a drop-in directory: no group or world write */
	if (chmod(fuzz_dir_path, 0755) != 0 || mkdir(conf, 0755) != 0 || chmod(conf, 0755) != 0 ||
	    atexit(fuzz_dir_remove) != 0)
		abort();
	return fuzz_dir_path;
}

/* data in the file `rel` ("file" or "conf/50-fuzz.conf") of fuzz_dir(),
 * with mode; its path, valid until the next call. */
static inline const char *fuzz_file(const char *rel, const void *data, size_t size, mode_t mode)
{
	static char path[sizeof(fuzz_dir_path) + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fuzz_dir(), rel);
	f = fopen(path, "w");
	if (!f || fchmod(fileno(f), mode) != 0 || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	return path;
}

/* data as the one drop-in, read by the real parser (conf_load) into conf. */
static inline int fuzz_dropin(const void *data, size_t size, struct conf *conf)
{
	char dir[sizeof(fuzz_dir_path) + 8];
	const char *dirs[] = { dir, NULL };

	fuzz_file("conf/50-fuzz.conf", data, size, 0644);
	snprintf(dir, sizeof(dir), "%s/conf", fuzz_dir());
	return conf_load(fuzz_ctx(), dirs, conf);
}

/* fuzz_host's configuration from `text`, once, before the first input. */
static inline void fuzz_conf(const char *text)
{
	if (fuzz_dropin(text, strlen(text), &fuzz_host.conf) != OCIKP_OK) {
		fprintf(stderr, "fuzz_conf: %s\n", fuzz_host.err.msg);
		abort();
	}
}
#endif
