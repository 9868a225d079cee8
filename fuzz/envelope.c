/* Target: the routing of host/route.c over the real loader and real
 * modules: route_unwrap (unwrap_envelope, canonical, first_copy, the
 * reasons line) and route_wrap (wrap_envelope).
 *
 * The sample backend and the tests' mock are loaded as modules, through
 * loader_open's checks, from fuzz/bin/plugins/ beside this binary, where
 * fuzz/local.mk builds them with the same sanitizers and coverage, so a
 * recipient really unwraps (AES-GCM under a fixed test key; the mock's XOR)
 * and a bug in a module shows too.  A third backend's module is missing,
 * for the error paths of an envelope whose recipients fail differently.
 *
 * Input: the first byte picks the operation.  Even: the rest is the
 * annotation to unwrap, with the decrypt parameters below.  Odd: the rest
 * is the wrap recipients, one per line; when wrap succeeds, unwrapping
 * what it wrote with those same recipients must give the layer key back
 * (an abort otherwise: a finding is an annotation we write but cannot
 * read, not only a crash).  The key guards nothing. */
#include <limits.h>
#include <libgen.h>
#include "fuzz.h"

#define MAX_PARAMS 40	/* above the envelope cap (32): its refusal is reached too */

static const unsigned char sample_key[32] = "ocikp fuzz envelope: test key!!";
static const char layer_key[] = "{\"symkey\":\"c2VjcmV0\",\"digest\":\"sha256:00\"}";
static char key_path[] = "/tmp/ocikp-fuzz-envelope.XXXXXX";

static void remove_key(void)
{
	unlink(key_path);
}

/* fuzz_host with its drop-in, its key file and the modules' directory. */
static void setup(void)
{
	static char plugins[PATH_MAX];
	char exe[PATH_MAX], conf[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int fd = mkstemp(key_path);

	if (n <= 0 || fd < 0 || write(fd, sample_key, 32) != 32)
		abort();
	close(fd);
	atexit(remove_key);
	exe[n] = '\0';
	snprintf(plugins, sizeof(plugins), "%s/plugins", dirname(exe));
	snprintf(conf, sizeof(conf),
		 "backend = sample\nmodule = ocikp-sample.so\nschemes = sample\n"
		 "sample.key_file = %s\n"
		 "backend = mock\nmodule = ocikp-mock.so\nschemes = mock\n"
		 "backend = gone\nmodule = ocikp-gone.so\nschemes = gone\n", key_path);
	fuzz_conf(conf);
	fuzz_host.plugin_dir = plugins;
}

static int unwrap(const void *ann, size_t len, char **params, size_t n_params,
		  struct ocikp_buf *out)
{
	struct request req = { .op = OP_UNWRAP, .params = params, .n_params = n_params };
	int rc;

	if (buf_append(&req.annotation, ann, len) != OCIKP_OK)
		abort();
	rc = route_unwrap(&fuzz_host, fuzz_ctx(), &req, out);
	buf_free(&req.annotation);
	return rc;
}

static void fuzz_unwrap(const uint8_t *data, size_t size)
{
	static char *dc[] = { "sample://default", "mock://k1", "mock://k2", "gone://x" };
	struct ocikp_buf out = { 0 };

	unwrap(data, size, dc, sizeof(dc) / sizeof(dc[0]), &out);
	buf_free(&out);
}

static void fuzz_wrap(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size), *params[MAX_PARAMS], *line, *save;
	struct request req = { .op = OP_WRAP, .params = params };
	struct ocikp_buf ann = { 0 }, back = { 0 };
	int rc;

	if (!text)
		abort();
	for (line = strtok_r(text, "\n", &save); line && req.n_params < MAX_PARAMS;
	     line = strtok_r(NULL, "\n", &save))
		params[req.n_params++] = line;
	if (req.n_params && buf_append(&req.optsdata, layer_key, strlen(layer_key)) == OCIKP_OK &&
	    route_wrap(&fuzz_host, fuzz_ctx(), &req, &ann) == OCIKP_OK) {
		rc = unwrap(ann.data, ann.len, params, req.n_params, &back);
		if (rc != OCIKP_OK || back.len != req.optsdata.len ||
		    memcmp(back.data, req.optsdata.data, back.len) != 0) {
			fprintf(stderr, "wrote %.*s\nbut unwrap gave %d: %s\n", (int)ann.len,
				(const char *)ann.data, rc, fuzz_host.err.msg);
			abort();
		}
	}
	buf_free(&req.optsdata);
	buf_free(&ann);
	buf_free(&back);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fuzz_host.plugin_dir)
		setup();
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_wrap(data + 1, size - 1);
	else
		fuzz_unwrap(data + 1, size - 1);
	return 0;
}
