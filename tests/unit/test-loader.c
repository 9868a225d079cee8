/* host/loader.c and host/route.c against the mock backend module. */
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

int main(void)
{
	struct module m;
	char *path = NULL;
	struct request req;
	struct ocikp_buf ann = { 0 }, opts = { 0 };
	char *params[2] = { "mock://k", NULL };

	host_ctx_init(&root.pub, &h, NULL);
	if (!mkdtemp(dir) || chmod(dir, 0755) || install("/ocikp-mock.so", "ocikp-mock.so", 0755) ||
	    install("/ocikp-mock-badabi.so", "bad.so", 0755) || install("/ocikp-mock.so", "ww.so", 0757)) {
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
