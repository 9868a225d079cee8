/*
 * Loading a backend module without trusting the file system more than we
 * must (the checks sudo and OpenSSH make before running anyone's code):
 *
 *  - the module is a bare name under the plugin directory, or an absolute
 *    path that resolves to a file directly inside it;
 *  - the file is opened with O_NOFOLLOW and checked with fstat: a regular file
 *    owned by root or the caller and writable by nobody else;
 *  - the plugin directory and every ancestor are owned by root or the caller
 *    and not writable by others; a root-owned sticky ancestor (/tmp) is
 *    tolerated, but never as the module's own directory;
 *  - the checked descriptor itself is what gets loaded (/proc/self/fd/N), so
 *    the file cannot be swapped between the check and dlopen;
 *  - the descriptor's ABI number and size are checked before any call.
 * Any doubt refuses the load.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ltdl.h>
#include "ocikp.h"

/* The canonical path of `module` inside `plugin_dir`, or a refusal. */
int loader_resolve(struct ocikp_ctx *ctx, const char *plugin_dir, const char *module,
		   char **path_out)
{
	char *dir = realpath(plugin_dir, NULL), *path = NULL;
	const char *name = module;
	int rc = OCIKP_CONFIG;

	*path_out = NULL;
	if (!dir) {
		err_set(ctx, "plugin directory %s: %s", plugin_dir, strerror(errno));
		return OCIKP_CONFIG;
	}
	if (strchr(module, '/')) {
		/* An absolute path is accepted only if it names a file directly
		 * in the plugin directory once resolved. */
		char *real = module[0] == '/' ? realpath(module, NULL) : NULL;
		size_t dl = strlen(dir);
		if (!real || strncmp(real, dir, dl) != 0 || real[dl] != '/' ||
		    strchr(real + dl + 1, '/')) {
			err_set(ctx, "module %s: outside the plugin directory %s", module, dir);
			free(real);
			goto out;
		}
		/* Keep the name as written: a symlink in the directory must
		 * still be refused by O_NOFOLLOW below. */
		name = strrchr(module, '/') + 1;
		free(real);
	}
	if (!name[0] || name[0] == '.') {
		err_set(ctx, "module '%s': not a plain file name", module);
		goto out;
	}
	if (asprintf(&path, "%s/%s", dir, name) < 0) {
		rc = OCIKP_INTERNAL;
		goto out;
	}
	*path_out = path;
	rc = OCIKP_OK;
out:
	free(dir);
	return rc;
}

static int ltdl_ready(struct ocikp_ctx *ctx)
{
	static bool done;

	if (!done && lt_dlinit() != 0) {
		err_set(ctx, "libltdl: %s", lt_dlerror());
		return OCIKP_INTERNAL;
	}
	done = true;
	return OCIKP_OK;
}

static int check_descriptor(struct ocikp_ctx *ctx, const char *path,
			    const struct ocikp_backend *d)
{
	if (d->abi != OCIKP_BACKEND_ABI) {
		err_set(ctx, "%s: backend ABI %u, this ocikp speaks %u", path,
			(unsigned)d->abi, OCIKP_BACKEND_ABI);
		return OCIKP_CONFIG;
	}
	if (d->size < sizeof(struct ocikp_backend)) {
		err_set(ctx, "%s: backend descriptor too small (%u < %zu bytes)", path,
			(unsigned)d->size, sizeof(struct ocikp_backend));
		return OCIKP_CONFIG;
	}
	if (!d->name || !d->schemes || !d->wrap || !d->unwrap) {
		err_set(ctx, "%s: backend descriptor incomplete", path);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

int loader_open(struct ocikp_ctx *ctx, const char *plugin_dir, const char *module,
		struct module *m)
{
	char *path = NULL, *slash, fdpath[64];
	struct stat st;
	lt_dladvise advise = NULL;
	int rc;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	rc = loader_resolve(ctx, plugin_dir, module, &path);
	if (rc != OCIKP_OK)
		goto fail;
	slash = strrchr(path, '/');
	*slash = '\0';
	rc = trust_dir_chain(ctx, path);
	*slash = '/';
	if (rc != OCIKP_OK)
		goto fail;
	m->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (m->fd < 0) {
		err_set(ctx, "%s: %s", path, errno == ELOOP ? "is a symbolic link" : strerror(errno));
		rc = OCIKP_CONFIG;
		goto fail;
	}
	if (fstat(m->fd, &st) != 0) {
		err_set(ctx, "%s: %s", path, strerror(errno));
		rc = OCIKP_CONFIG;
		goto fail;
	}
	rc = trust_stat(ctx, path, &st, false, false);
	if (rc != OCIKP_OK)
		goto fail;
	rc = ltdl_ready(ctx);
	if (rc != OCIKP_OK)
		goto fail;
	/* Load the very file checked above.  The fd stays open while the
	 * module is loaded: libltdl caches handles by name. */
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", m->fd);
	if (access(fdpath, F_OK) != 0)
		snprintf(fdpath, sizeof(fdpath), "%s", "");
	if (lt_dladvise_init(&advise) != 0 || lt_dladvise_local(&advise) != 0) {
		rc = OCIKP_INTERNAL;
		goto fail;
	}
	m->handle = lt_dlopenadvise(fdpath[0] ? fdpath : path, advise);
	lt_dladvise_destroy(&advise);
	if (!m->handle) {
		err_set(ctx, "%s: cannot load: %s", path, lt_dlerror());
		rc = OCIKP_CONFIG;
		goto fail;
	}
	m->desc = lt_dlsym(m->handle, OCIKP_BACKEND_SYMBOL);
	if (!m->desc) {
		err_set(ctx, "%s: no symbol %s", path, OCIKP_BACKEND_SYMBOL);
		rc = OCIKP_CONFIG;
		goto fail;
	}
	rc = check_descriptor(ctx, path, m->desc);
	if (rc != OCIKP_OK)
		goto fail;
	m->path = path;
	return OCIKP_OK;
fail:
	if (m->handle)
		lt_dlclose(m->handle);	/* refused: unload before it is used */
	if (m->fd >= 0)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	free(path);
	return rc;
}

/* A module that was used stays mapped, and its fd open, until the process
 * exits (a moment later): the libraries it pulled in (GLib, tpm2-tss) keep
 * process-wide state that does not survive being unloaded, and libltdl
 * caches handles by name, so /proc/self/fd/N must not be reused. */
void loader_close(struct module *m)
{
	free(m->path);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}
