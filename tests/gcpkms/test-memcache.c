/*
 * The gcpkms backend kept loaded as ocikpd keeps it (host/pool.c: loaded
 * and inited once, each request a view of its own): N wraps in one
 * process, then one unwrap of the last annotation; fini when the pool is
 * freed.  After each call it runs HOOK with the call's number, where
 * tests/gcpkms/memcache.sh reads the fake's counters and changes the world
 * (removes the token file, revokes tokens, lets time pass).
 *
 * Usage: test-memcache CONFDIR PLUGINDIR KEYURL N [HOOK]
 * OCIKP_TEST_BACKEND names another backend than gcpkms (tests/kbs/keep.sh).
 * Prints "call I: ok" or "call I: <error line>" for each call on stdout;
 * exits 0 when every call succeeded.  OCIKP_DEBUG=1: debug lines on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include "ocikp.h"

#define OPTS "{\"symkey\":\"bWVtY2FjaGUgdGVzdCBsYXllciBrZXkgMDEyMzQ1Njc=\"}"
#define CALL_MS 30000

struct run {
	struct pool *pool;
	const struct host *base;
	const struct conf_backend *cb;
	const char *key;
	struct ocikp_buf ann;	/* the last wrap's annotation */
};

/* One request, as ocikpd makes it: a host of its own over the shared
 * configuration and pool, a view of the backend, its own deadline. */
static int call(struct run *r, int unwrap, char *line, size_t size)
{
	struct host rh = *r->base;
	struct backend_ctx *view = NULL;
	struct ocikp_buf in = { 0 }, out = { 0 };
	const char *dc[] = { r->key, NULL };
	ocikp_json *doc = NULL;
	int rc;

	memset(&rh.err, 0, sizeof(rh.err));
	rh.pool = r->pool;
	deadline_set(&rh.deadline, CALL_MS);
	rc = pool_get(r->pool, &rh, r->cb, &view);
	if (rc == OCIKP_OK && !unwrap) {
		rc = buf_append(&in, OPTS, strlen(OPTS));
		if (rc == OCIKP_OK)
			rc = backend_wrap(view, r->key, &in, &out);
		if (rc == OCIKP_OK) {
			buf_free(&r->ann);
			rc = buf_append(&r->ann, out.data, out.len);
		}
	} else if (rc == OCIKP_OK) {
		rc = host_services.json_parse(&view->pub, "annotation", r->ann.data, r->ann.len,
					      &doc);
		if (rc == OCIKP_OK)
			rc = backend_unwrap(view, doc, dc, &out);
		if (rc == OCIKP_OK && (out.len != strlen(OPTS) || memcmp(out.data, OPTS, out.len))) {
			err_set(&view->pub, "unwrap gave other options back");
			rc = OCIKP_INTERNAL;
		}
		host_services.json_free(doc);
	}
	backend_close(view);
	if (rc == OCIKP_OK)
		snprintf(line, size, "ok");
	else
		host_error_line(&rh, rc, line, size);
	buf_free(&in);
	buf_free(&out);
	return rc;
}

int main(int argc, char **argv)
{
	static struct host base;
	static struct backend_ctx root;
	const char *dirs[2] = { NULL, NULL }, *name;
	struct run r = { 0 };
	char line[OCIKP_ERR_MAX + 64], cmd[4096];
	int i, n, rc, failed = 0;

	/* As ocikp's main: OpenSSL on the cleansing allocator first, no dumps
	 * (the shim's report checks it), private files. */
	alloc_hook_openssl();
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	umask(077);
	if (argc < 5 || argc > 6 || (n = atoi(argv[4])) < 1) {
		fprintf(stderr, "usage: test-memcache CONFDIR PLUGINDIR KEYURL N [HOOK]\n");
		return 2;
	}
	if (getenv("OCIKP_DEBUG") && !strcmp(getenv("OCIKP_DEBUG"), "1"))
		debug_enable(true);
	base.plugin_dir = argv[2];
	host_ctx_init(&root.pub, &base, NULL);
	ctx_enter(&root.pub);
	dirs[0] = argv[1];
	rc = conf_load(&root.pub, dirs, &base.conf);
	if (!(name = getenv("OCIKP_TEST_BACKEND")))
		name = "gcpkms";
	r.cb = rc == OCIKP_OK ? conf_backend_named(&base.conf, name) : NULL;
	r.pool = r.cb ? pool_new(&base) : NULL;
	if (!r.pool) {
		fprintf(stderr, "test-memcache: no %s backend in %s: %s\n", name, argv[1],
			base.err.msg);
		return 1;
	}
	r.base = &base;
	r.key = argv[3];

	for (i = 1; i <= n + 1; i++) {
		if (call(&r, i > n, line, sizeof(line)) != OCIKP_OK)
			failed++;
		printf("call %d: %s\n", i, line);
		fflush(stdout);
		if (argc == 6) {
			snprintf(cmd, sizeof(cmd), "'%s' %d", argv[5], i);
			if (system(cmd) != 0) {
				printf("call %d: the hook failed\n", i);
				failed++;
			}
		}
	}
	pool_free(r.pool);	/* the backend's fini */
	buf_free(&r.ann);
	conf_free(&base.conf);
	return failed ? 1 : 0;
}
