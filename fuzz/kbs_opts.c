/* Target: the kbs backend's drop-in options, the input being a drop-in
 * file read by the host's parser (conf_load, as the dropin target does),
 * then every kbs option read as the backend reads it: the RCAR set-up
 * (rcar_open: http_opts_load, opt_url, opt_tee, kid_address), the
 * registration URL (kbs_url) and the admin claims (claim_opt), the yes/no
 * options (kbs_opt_bool), kbs.sources (sources) and kbs.offline_files
 * (offline_files).  The module files are included for their static
 * functions.  An accepted kbs.url is what the requests are built on: the
 * checks below hold for every one. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz.h"
#include "../plugins/kbs/kbs-rcar.c"
#undef DETAIL_MAX	/* each file's own */
#include "../plugins/kbs/kbs-register.c"
/* kbs-keys.c's own write_all, not the host's (ocikp.h) of that name */
#define write_all kbs_keys_write_all
#include "../plugins/kbs/kbs-keys.c"
#undef write_all
#include "../plugins/kbs/ocikp-kbs.c"

/* The input as the one drop-in, loaded into the host's configuration. */
static int dropin_load(const uint8_t *data, size_t size)
{
	conf_free(&fuzz_host.conf);
	return fuzz_dropin(data, size, &fuzz_host.conf);
}

static void rcar_options(struct ocikp_ctx *ctx)
{
	struct rcar r;
	size_t n;

	if (rcar_open(ctx, "kbs://kbs.example:8080/default/image-kek/1", &r) == OCIKP_OK) {
		n = strlen(r.url);
		if ((strncmp(r.url, "https://", 8) &&
		     (strncmp(r.url, "http://", 7) || !(r.o.flags & HTTP_PLAIN_ANY))) ||
		    !n || r.url[n - 1] == '/' || strpbrk(r.url, "?#@ ") ||
		    (r.tee != KBS_TEE_EC && r.tee != KBS_TEE_RSA))
			abort();
	}
	rcar_close(&r);
}

static void register_options(struct ocikp_ctx *ctx)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf claims = { 0 };
	ocikp_jgen *g;
	const char *url;
	int yes;

	kbs_url(ctx, &url);
	kbs_opt_bool(ctx, "allow_replace", &yes);
	if (!(g = h->jgen_new()))
		abort();
	h->jgen_map_open(g);
	claim_opt(ctx, g, "role", "admin_role");
	claim_opt(ctx, g, "iss", "admin_iss");
	claim_opt(ctx, g, "aud", "admin_aud");
	h->jgen_map_close(g);
	h->jgen_finish(g, &claims);
	h->buf_free(&claims);
}

static void unwrap_options(struct ocikp_ctx *ctx)
{
	enum source list[SOURCES_MAX];
	struct file_list l;
	size_t n, i;
	int allow = 0;

	kbs_opt_bool(ctx, "allow_sample", &allow);
	if (sources(ctx, allow, list, &n) == OCIKP_OK) {
		if (n > 4)	/* each of three at most once, and sample */
			abort();
	}
	if (offline_files(ctx, &l) == OCIKP_OK)
		for (i = 0; i < l.n; i++)
			if (l.path[i][0] != '/')
				abort();
	free(l.copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	struct ocikp_ctx *ctx;

	if (dropin_load(data, size) != OCIKP_OK)
		return 0;
	host_ctx_init(&b.pub, &fuzz_host, "kbs");
	ctx = &b.pub;
	rcar_options(ctx);
	register_options(ctx);
	unwrap_options(ctx);
	return 0;
}
