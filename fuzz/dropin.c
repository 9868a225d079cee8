/* Target: the drop-in parser, one file in a private directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[] = "/tmp/ocikp-fuzz-dropin-XXXXXX";
	static char path[sizeof(dir) + 16];
	const char *dirs[] = { dir, NULL };
	struct conf conf;
	FILE *f;

	if (!path[0]) {
		if (!mkdtemp(dir))
			abort();
		chmod(dir, 0755);
		snprintf(path, sizeof(path), "%s/50-f.conf", dir);
	}
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	chmod(path, 0644);
	if (conf_load(fuzz_ctx(), dirs, &conf) == OCIKP_OK)
		conf_add_builtin(&conf);
	conf_free(&conf);
	return 0;
}
