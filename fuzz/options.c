/* Target: drop-in option values, as an admin writes them: the input is one
 * drop-in file, read by the host's parser (conf_load), and what it sets is
 * then read by the option parsers that come after it:
 *   serve.*             daemon/serve-opts.c serve_options (names resolved
 *                       through NSS, as ocikpd does at start and reload)
 *   <backend>.connect_timeout, .http_timeout, .ca_file
 *                       lib/http.c http_opts_load, for each backend that
 *                       calls it (kbs, gcpkms, awskms, vault)
 *   tpm.tcti, tpm.tpm_path
 *                       plugins/tpm/tpm-tcti.c choose_tcti and
 *                       choose_tpm_path, which check the transport, its
 *                       settings and the device or socket path; included
 *                       for them (static).  They stop before the TCTI is
 *                       loaded: no TPM or simulator is contacted.
 * The file is fuzz_dropin's (fuzz.h). */
#include "fuzz.h"
#include "http.h"
#include "ocikpd.h"
#include "../plugins/tpm/tpm-tcti.c"

static void serve(struct ocikp_ctx *ctx)
{
	struct gen g;

	memset(&g, 0, sizeof(g));
	g.base = fuzz_host;	/* its conf: the input's */
	serve_options(&g, ctx);
	free(g.allow_uids);
	free(g.allow_gids);
	free(g.admin_uids);
	free(g.admin_gids);
}

static void http(void)
{
	static const char *const users[] = { "kbs", "gcpkms", "awskms", "vault" };
	static struct backend_ctx b;
	struct http_opts o;
	size_t i;

	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		host_ctx_init(&b.pub, &fuzz_host, users[i]);
		http_opts_load(&b.pub, "", &o);
	}
}

static void tcti(void)
{
	static struct backend_ctx b;
	struct ocikp_ctx *ctx = &b.pub;
	const char *v;
	struct choice c;
	char label[256];

	host_ctx_init(ctx, &fuzz_host, "tpm");
	if ((v = ocikp_conf(ctx, "tcti")))
		choose_tcti(ctx, v, &c, label, sizeof(label));
	if ((v = ocikp_conf(ctx, "tpm_path")))
		choose_tpm_path(ctx, v, &c, label, sizeof(label));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocikp_ctx *ctx = fuzz_ctx();

	if (fuzz_dropin(data, size, &fuzz_host.conf) == OCIKP_OK) {
		serve(ctx);
		http();
		tcti();
	}
	conf_free(&fuzz_host.conf);
	return 0;
}
