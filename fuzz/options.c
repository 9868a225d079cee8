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
 * The file lives on /dev/shm when there is one (no disk write per run). */
#include "fuzz.h"
#include "http.h"
#include "ocikpd.h"
#include "../plugins/tpm/tpm-tcti.c"

static char dir[64], path[96];

static void remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/dev/shm/ocikp-fuzz-options-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "/tmp/ocikp-fuzz-options-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	chmod(dir, 0755);
	snprintf(path, sizeof(path), "%s/50-f.conf", dir);
	atexit(remove_dir);
}

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
	const char *dirs[] = { dir, NULL };
	struct ocikp_ctx *ctx;
	FILE *f;

	if (!path[0])
		setup();
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	chmod(path, 0644);
	ctx = fuzz_ctx();
	if (conf_load(ctx, dirs, &fuzz_host.conf) == OCIKP_OK) {
		serve(ctx);
		http();
		tcti();
	}
	conf_free(&fuzz_host.conf);
	return 0;
}
