/* host/loader.c and host/route.c against the mock backend module; the
 * growth rules of both ABI structs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;
static char dir[] = "/tmp/ocikp-loader-XXXXXX";

/* Copy the built module NAME (from $OCIKP_MODULES) into the test dir. */
static int install(const char *name, const char *as, mode_t mode)
{
	const char *mods = getenv("OCIKP_MODULES");
	char cmd[4096];
	const char *p;

	if (!mods || !(p = strstr(mods, name)))
		return -1;
	while (p > mods && p[-1] != ' ')
		p--;
	snprintf(cmd, sizeof(cmd), "install -m %o '%.*s' '%s/%s'", (unsigned)mode,
		 (int)strcspn(p, " "), p, dir, as);
	return system(cmd);
}

static int open_mod(const char *module, struct module *m)
{
	h.err.msg[0] = '\0';
	return loader_open(&root.pub, dir, module, m);
}

static void debug_must_not_run(struct ocikp_ctx *ctx, const char *fmt, va_list ap)
{
	abort();
}

/* OCIKP_HOST_HAS on a version-1 host table and on the real one. */
static void host_growth(void)
{
	struct ocikp_host v1 = host_services;
	struct ocikp_ctx c = { .host = &v1 };
	const struct ocikp_host *hs = &host_services;

	/* A version-1 host: the 0.2 members are in memory here (a real old
	 * host would end at aes256gcm_open), but size says they are absent. */
	v1.size = OCIKP_HOST_V1_SIZE;
	v1.vdebugf = debug_must_not_run;
	ok(OCIKP_HOST_HAS(&v1, aes256gcm_open), "v1 host has aes256gcm_open");
	ok(!OCIKP_HOST_HAS(&v1, deadline_ms) && !OCIKP_HOST_HAS(&v1, vdebugf) &&
	   !OCIKP_HOST_HAS(&v1, mem_calloc), "v1 host lacks deadline_ms, vdebugf, mem_calloc");
	ocikp_debugf(&c, "dropped");
	ok(1, "ocikp_debugf on a v1 host calls nothing");
	v1.size = OCIKP_HOST_V1_SIZE - 1;
	ok(!OCIKP_HOST_HAS(&v1, aes256gcm_open), "a member partly covered by size is absent");

	ok(hs->abi == OCIKP_BACKEND_ABI && hs->size == sizeof(struct ocikp_host),
	   "host_services: ABI %u, size %u", (unsigned)hs->abi, (unsigned)hs->size);
#define HAS(m) (OCIKP_HOST_HAS(hs, m) && hs->m != NULL)
	ok(HAS(aes256gcm_open) && HAS(deadline_ms) && HAS(vdebugf) && HAS(read_private_file) &&
	   HAS(state_dir) && HAS(state_lock) && HAS(state_unlock) && HAS(json_number) &&
	   HAS(json_object_len) && HAS(json_object_key_at) && HAS(json_object_value_at) &&
	   HAS(jgen_array_open) && HAS(jgen_array_close) && HAS(jgen_bool) && HAS(jgen_null) &&
	   HAS(jgen_number) && HAS(jgen_raw) && HAS(jgen_value) && HAS(form_append) &&
	   HAS(mem_malloc) && HAS(mem_free) && HAS(mem_realloc) && HAS(mem_strdup) &&
	   HAS(mem_calloc) && HAS(read_request_file) && HAS(require_admin),
	   "host_services has and fills every member");
#undef HAS
}

int main(void)
{
	struct module m;
	char *path = NULL;
	struct request req;
	struct ocikp_buf ann = { 0 }, opts = { 0 };
	char *params[2] = { "mock://k", NULL };

	host_growth();
	host_ctx_init(&root.pub, &h, NULL);
	if (!mkdtemp(dir) || chmod(dir, 0755) || install("/ocikp-mock.so", "ocikp-mock.so", 0755) ||
	    install("/ocikp-mock-badabi.so", "bad.so", 0755) || install("/ocikp-mock.so", "ww.so", 0757) ||
	    install("/ocikp-mock-v1.so", "v1.so", 0755) || install("/ocikp-mock-large.so", "large.so", 0755) ||
	    install("/ocikp-mock-small.so", "small.so", 0755) ||
	    install("/ocikp-mock-unresolved.so", "unresolved.so", 0755)) {
		printf("Bail out! cannot set up %s from OCIKP_MODULES\n", dir);
		return 1;
	}
	h.plugin_dir = dir;
	ok(open_mod("ocikp-mock.so", &m) == OCIKP_OK && m.desc && !strcmp(m.desc->name, "mock"),
	   "loads the mock: %s", h.err.msg);
	ok(m.fd >= 0 && m.path && strstr(m.path, "/ocikp-mock.so"), "keeps the checked fd open");
	loader_close(&m);
	ok(m.fd == -1 && m.desc == NULL, "close resets");
	ok(open_mod("bad.so", &m) == OCIKP_CONFIG && strstr(h.err.msg, "ABI 99"), "ABI refused: %s", h.err.msg);
	ok(open_mod("ww.so", &m) == OCIKP_CONFIG && strstr(h.err.msg, "writable"), "world-writable refused: %s", h.err.msg);
	ok(open_mod("unresolved.so", &m) == OCIKP_CONFIG &&
	   strstr(h.err.msg, "unresolved.so: cannot load: unresolved symbol ocikp_mock_missing_function") &&
	   !strstr(h.err.msg, "/proc/"), "unresolved symbol refused at load: %s", h.err.msg);
	ok(open_mod("small.so", &m) == OCIKP_CONFIG && m.desc == NULL &&
	   strstr(h.err.msg, "too small (16 < "), "short descriptor refused: %s", h.err.msg);
	ok(open_mod("v1.so", &m) == OCIKP_OK && m.desc->wrap && m.desc->unwrap,
	   "a module built against the v1 header loads: %s", h.err.msg);
	loader_close(&m);
	ok(open_mod("large.so", &m) == OCIKP_OK && m.desc->size == sizeof(struct ocikp_backend) &&
	   !strcmp(m.desc->name, "mock"),
	   "a larger descriptor loads; the host's copy holds what it knows: %s", h.err.msg);
	loader_close(&m);
	ok(loader_resolve(&root.pub, dir, "a.so", &path) == OCIKP_OK && strstr(path, "/a.so"), "bare name resolves");
	free(path);
	ok(loader_resolve(&root.pub, dir, "sub/a.so", &path) == OCIKP_CONFIG && !path, "relative path refused");
	ok(loader_resolve(&root.pub, dir, "/etc/passwd", &path) == OCIKP_CONFIG, "absolute path outside refused");
	ok(loader_resolve(&root.pub, dir, "..", &path) == OCIKP_CONFIG, "'..' refused");
	ok(loader_resolve(&root.pub, "/nonexistent-dir", "a.so", &path) == OCIKP_CONFIG, "missing plugin dir");

	/* Routing over the mock: a three-recipient envelope. */
	memset(&req, 0, sizeof(req));
	h.conf.n_backends = 0;
	ok(conf_load(&root.pub, (const char *[]){ NULL }, &h.conf) == OCIKP_OK, "empty conf");
	{
		FILE *f;
		char conf_dir[600], file[700];
		snprintf(conf_dir, sizeof(conf_dir), "%s/conf", dir);
		mkdir(conf_dir, 0755);
		snprintf(file, sizeof(file), "%s/50-mock.conf", conf_dir);
		f = fopen(file, "w");
		fputs("backend = mock\nmodule = ocikp-mock.so\nschemes = mock\n", f);
		fclose(f);
		conf_free(&h.conf);
		ok(conf_load(&root.pub, (const char *[]){ conf_dir, NULL }, &h.conf) == OCIKP_OK, "mock conf");
	}
	req.op = OP_WRAP;
	req.params = (char *[]){ "mock://a", "mock://k", NULL };
	req.n_params = 2;
	buf_append(&req.optsdata, "{\"symkey\":1}", 12);
	ok(route_wrap(&h, &root.pub, &req, &ann) == OCIKP_OK && strstr((char *)ann.data, "{\"ocikp\":1,\"recipients\":[{\"key_url\":\"mock://a\""),
	   "two recipients make an envelope: %.60s", ann.data);
	req.op = OP_UNWRAP;
	req.annotation = ann;
	req.params = params;
	req.n_params = 1;
	ok(route_unwrap(&h, &root.pub, &req, &opts) == OCIKP_OK && opts.len == 12 &&
	   !memcmp(opts.data, "{\"symkey\":1}", 12), "unwrap opens the recipient the dc names");
	req.n_params = 0;
	req.params = (char *[]){ NULL };
	buf_free(&opts);
	ok(route_unwrap(&h, &root.pub, &req, &opts) == OCIKP_NOT_MINE && opts.len == 0 &&
	   strstr(h.err.msg, "no recipient could be opened: 1 (mock): no decrypt parameter for mock://a; 2 (mock)"),
	   "no dc: not mine, both reasons: %s", h.err.msg);
	buf_free(&ann);
	buf_free(&req.optsdata);
	conf_free(&h.conf);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return tap_done();
}
