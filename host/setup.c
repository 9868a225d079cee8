/*
 * The configuration a run starts from: the drop-in directories named on
 * the command line or in OCIKP_CONFIG_DIR, and the flags of the
 * single-purpose providers.  Shared by ocikp and ocikpd (which reads it
 * again on SIGHUP), so both see the same keys the same way.
 */
#include <stdlib.h>
#include <string.h>
#include "ocikp.h"

#ifndef PKGLIBDIR
#define PKGLIBDIR "/usr/lib/ocikp"
#endif

/* Flags of the single-purpose providers, so an admin swaps only the binary
 * path in ocicrypt.json.  Each becomes a backend option. */
const struct compat_flag compat_flags[N_COMPAT_FLAGS] = {
	{ "--tpmPath=", "tpm.tpm_path" },
	{ "--adc=", "gcpkms.credentials" },
	{ "--kmsURI=", "gcpkms.kms_uri" },
};

size_t compat_flag_index(const char *arg)
{
	size_t k;

	for (k = 0; k < N_COMPAT_FLAGS; k++)
		if (!strncmp(arg, compat_flags[k].flag, strlen(compat_flags[k].flag)))
			break;
	return k;
}

/* What the environment adds to the command line: debug lines with
 * OCIKP_DEBUG=1, and the drop-in and module directories where no option
 * named them.  secure_getenv: never under setuid (refused anyway).
 * SSLKEYLOGFILE and QLOGDIR go: they make libcurl, in a network module,
 * write the keys of connections that carry tokens and KEKs to a file;
 * cleared here, before any thread or module, as lib/http does again. */
void host_env_defaults(char **config_dirs, const char **from, const char **plugin_dir)
{
	const char *debug = secure_getenv("OCIKP_DEBUG");

	unsetenv("SSLKEYLOGFILE");
	unsetenv("QLOGDIR");

	if (debug && !strcmp(debug, "1"))
		debug_enable(true);
	if (!*config_dirs) {
		*config_dirs = secure_getenv("OCIKP_CONFIG_DIR");
		*from = "OCIKP_CONFIG_DIR";
	}
	if (!*plugin_dir)
		*plugin_dir = secure_getenv("OCIKP_PLUGIN_DIR");
	if (!*plugin_dir || !(*plugin_dir)[0])
		*plugin_dir = PKGLIBDIR;
}

/* "a:b:c" into dirs (CONF_MAX_DIRS + 1 slots).  A directory dropped without
 * a word (one too many, or "a::b" from a bad variable expansion) would
 * silently change which files configure the keys, so both are usage errors. */
static int split_dirs(struct ocikp_ctx *ctx, const char *from, char *s, const char **dirs)
{
	size_t n = 0;
	char *colon;

	for (;;) {
		if (n == CONF_MAX_DIRS) {
			err_set(ctx, "%s: more than %d directories", from, CONF_MAX_DIRS);
			return OCIKP_HOST_USAGE;
		}
		colon = strchr(s, ':');
		if (colon)
			*colon = '\0';
		if (!*s) {
			err_set(ctx, "%s: entry %zu is empty", from, n + 1);
			return OCIKP_HOST_USAGE;
		}
		dirs[n++] = s;
		if (!colon)
			break;
		s = colon + 1;
	}
	dirs[n] = NULL;
	return OCIKP_OK;
}

int host_config_load(struct host *h, struct ocikp_ctx *ctx, const char *config_dirs,
		     const char *from, const char *const *compat)
{
	const char *dirs[CONF_MAX_DIRS + 1];
	const char *const *list = conf_default_dirs();
	char *copy = NULL;
	size_t k;
	int rc = OCIKP_OK;

	if (config_dirs && config_dirs[0]) {
		copy = strdup(config_dirs);	/* split in place; ocikpd reads it again */
		if (!copy)
			return OCIKP_INTERNAL;
		rc = split_dirs(ctx, from, copy, dirs);
		list = dirs;
	}
	if (rc == OCIKP_OK)
		rc = conf_load(ctx, list, &h->conf);
	if (rc == OCIKP_OK)
		rc = conf_add_builtin(&h->conf);
	for (k = 0; rc == OCIKP_OK && k < N_COMPAT_FLAGS; k++)
		if (compat[k])
			rc = conf_set_option(&h->conf, compat_flags[k].option, compat[k],
					     compat_flags[k].flag);
	free(copy);
	return rc;
}
