/* The tpm backend serving many requests in one process, as in ocikpd: the
 * host's pool (host/pool.c) keeps the backend loaded, and each request goes
 * through host_handle() with its own view of it.  Driven by
 * tests/tpm/reuse.sh over stdin and stdout, one line each way, so the
 * script can restart the TPM between two requests of this one process:
 *
 *   in:  a path of an exec-protocol request file
 *   out: "ok MS" or "fail MS EXIT <the error line ocikp would print>"
 *
 * MS: the wall time of host_handle(), in milliseconds.  Configuration as
 * for ocikp: OCIKP_CONFIG_DIR (one dir), OCIKP_PLUGIN_DIR, OCIKP_DEBUG=1
 * (debug lines on stderr).  At the end of input the pool is freed: the
 * backend's fini runs, as at ocikpd's exit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ocikp.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int read_file(const char *path, struct ocikp_buf *out)
{
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(out, chunk, n);
	fclose(f);
	return 0;
}

/* One request on its own host view over the shared configuration and pool,
 * as ocikpd makes one per request. */
static void one_request(const struct host *base, struct pool *pool, const char *path)
{
	struct host h = *base;
	struct backend_ctx req;
	struct ocikp_buf raw = { 0 }, answer = { 0 };
	char line[OCIKP_ERR_MAX + 64];
	double t0;
	int rc;

	h.pool = pool;
	h.err.msg[0] = '\0';
	h.err.who = NULL;
	host_ctx_init(&req.pub, &h, NULL);
	ctx_enter(&req.pub);
	if (read_file(path, &raw) != 0) {
		printf("fail 0 2 cannot read %s\n", path);
		return;
	}
	deadline_set(&h.deadline, base->conf.timeout_ms > 0 ? base->conf.timeout_ms
							   : OCIKP_TIMEOUT_DEFAULT_MS);
	t0 = now_ms();
	rc = host_handle(&h, &req.pub, "ocikp", -1, &raw, &answer);
	t0 = now_ms() - t0;
	ctx_enter(NULL);
	if (rc == OCIKP_OK) {
		printf("ok %.2f\n", t0);
	} else {
		host_error_line(&h, rc, line, sizeof(line));
		printf("fail %.2f %d %s\n", t0, ocikp_status_exit(rc), line);
	}
	buf_free(&raw);
	buf_free(&answer);
}

int main(void)
{
	struct host h;
	struct backend_ctx root;
	struct pool *pool;
	const char *dirs[2] = { getenv("OCIKP_CONFIG_DIR"), NULL };
	const char *debug = getenv("OCIKP_DEBUG");
	char path[4096];
	int rc;

	alloc_hook_openssl();
	signal(SIGPIPE, SIG_IGN);	/* as the daemon: a TPM's closed socket is an error */
	setvbuf(stdout, NULL, _IOLBF, 0);
	debug_enable(debug && !strcmp(debug, "1"));
	memset(&h, 0, sizeof(h));
	h.plugin_dir = getenv("OCIKP_PLUGIN_DIR");
	host_ctx_init(&root.pub, &h, NULL);
	ctx_enter(&root.pub);
	if (!dirs[0]) {
		fprintf(stderr, "test-reuse: set OCIKP_CONFIG_DIR\n");
		return 2;
	}
	rc = conf_load(&root.pub, dirs, &h.conf);
	if (rc == OCIKP_OK)
		rc = conf_add_builtin(&h.conf);
	if (rc != OCIKP_OK) {
		fprintf(stderr, "test-reuse: configuration: %s\n", h.err.msg);
		return 6;
	}
	pool = pool_new(&h);
	if (!pool)
		return 1;
	while (fgets(path, sizeof(path), stdin)) {
		path[strcspn(path, "\n")] = '\0';
		if (path[0])
			one_request(&h, pool, path);
	}
	pool_free(pool);	/* fini: the kept connection closed, transient EKs flushed */
	conf_free(&h.conf);
	printf("done\n");
	return 0;
}
