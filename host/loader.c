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
 *    the file cannot be swapped between the check and dlopen; without /proc
 *    there is no such name, and the load is refused;
 *  - every symbol is bound at load (RTLD_NOW), so a module that is not fully
 *    linked is refused here rather than dying in the middle of a wrap;
 *  - the descriptor's ABI number and size are checked before any call, and
 *    the host works on its own copy of it, holding only what `size` covers.
 * Any doubt refuses the load.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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

/* A member added after version 1 is read only through OCIKP_BACKEND_HAS: a
 * module built against an older header has a smaller `size` and lacks it.
 * Growing struct ocikp_backend means teaching desc_copy() the new member. */
_Static_assert(sizeof(struct ocikp_backend) ==
	       offsetof(struct ocikp_backend, flags) + sizeof(uint64_t),
	       "struct ocikp_backend grew: copy the new member in desc_copy()");

/* The host's copy of a checked descriptor: the version-1 members, then each
 * later member only if `size` covers it, the rest zero (absent).  A newer
 * module's members this host does not know are left behind.  Working on a
 * copy means no caller ever has to compare `size` itself. */
static struct ocikp_backend *desc_copy(const struct ocikp_backend *d)
{
	struct ocikp_backend *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	memcpy(c, d, OCIKP_BACKEND_V1_SIZE);
	if (OCIKP_BACKEND_HAS(d, flags))
		c->flags = d->flags;
	/* Later members go here, each under OCIKP_BACKEND_HAS. */
	/* The copy holds no more than this host knows. */
	if (c->size > sizeof(*c))
		c->size = sizeof(*c);
	return c;
}

static int check_descriptor(struct ocikp_ctx *ctx, const char *path,
			    const struct ocikp_backend *d)
{
	if (d->abi != OCIKP_BACKEND_ABI) {
		err_set(ctx, "%s: backend ABI %u, this ocikp speaks %u", path,
			(unsigned)d->abi, OCIKP_BACKEND_ABI);
		return OCIKP_CONFIG;
	}
	/* Any size from version 1 up: larger is a newer module, whose extra
	 * members this host does not read. */
	if (!OCIKP_BACKEND_HAS(d, fini)) {
		err_set(ctx, "%s: backend descriptor too small (%u < %zu bytes)", path,
			(unsigned)d->size, (size_t)OCIKP_BACKEND_V1_SIZE);
		return OCIKP_CONFIG;
	}
	if (!d->name || !d->schemes || !d->wrap || !d->unwrap) {
		err_set(ctx, "%s: backend descriptor incomplete", path);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

/* The name under which the checked descriptor `fd` is loaded, which must be
 * that very file.  Without /proc (a chroot, a bare container) the only other
 * name is the path, which may be swapped after the checks: refuse. */
static int fd_name(struct ocikp_ctx *ctx, const char *path, int fd, const struct stat *st,
		   char *name, size_t size)
{
	struct stat pst;

	snprintf(name, size, "/proc/self/fd/%d", fd);
	if (stat(name, &pst) != 0) {
		if (errno == ENOENT)
			err_set(ctx, "%s: /proc is not mounted: cannot load the checked file",
				path);
		else
			err_set(ctx, "%s: cannot load the checked file: %s: %s", path, name,
				strerror(errno));
		return OCIKP_CONFIG;
	}
	if (pst.st_dev != st->st_dev || pst.st_ino != st->st_ino) {
		err_set(ctx, "%s: %s is not the checked file (is /proc a procfs?)", path, name);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

/* Open the module with every symbol bound now.  libltdl's own dlopen is
 * lazy, so a module calling a function no library provides would load,
 * list as fine, and then end the process (exit 127) at the first call;
 * binding first, as p11-kit does, refuses it here.  libltdl then opens the
 * same, already bound object.  The error names the symbol (dlerror() says
 * "NAME: undefined symbol: SYM") and the module's real path, not /proc. */
static int bind_now(struct ocikp_ctx *ctx, const char *path, const char *fdpath,
		    void **out)
{
	static const char undef[] = "undefined symbol: ";
	const char *e, *why;
	size_t n = strlen(fdpath);

	*out = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
	if (*out)
		return OCIKP_OK;
	e = dlerror();
	if (!e)
		e = "unknown dlopen error";
	why = !strncmp(e, fdpath, n) && !strncmp(e + n, ": ", 2) ? e + n + 2 : e;
	if (!strncmp(why, undef, sizeof(undef) - 1))
		err_set(ctx, "%s: cannot load: unresolved symbol %s", path,
			why + sizeof(undef) - 1);
	else
		err_set(ctx, "%s: cannot load: %s", path, why);
	return OCIKP_CONFIG;
}

/* Module files loaded in this process, by device and inode, with the fd
 * whose /proc name libltdl knows them by.  ocikpd opens the modules again
 * at each reload: the same file takes the fd it already has (libltdl hands
 * back its handle), so reloads do not pile up descriptors; a replaced file
 * (a package upgrade) is a new inode and loads anew. */
struct mapped {
	dev_t dev;
	ino_t ino;
	int fd;
};
static struct mapped *mapped;
static size_t n_mapped;
static pthread_mutex_t mapped_lock = PTHREAD_MUTEX_INITIALIZER;

static int mapped_fd(const struct stat *st)
{
	size_t i;
	int fd = -1;

	pthread_mutex_lock(&mapped_lock);
	for (i = 0; i < n_mapped && fd < 0; i++)
		if (mapped[i].dev == st->st_dev && mapped[i].ino == st->st_ino)
			fd = mapped[i].fd;
	pthread_mutex_unlock(&mapped_lock);
	return fd;
}

static void mapped_add(const struct stat *st, int fd)
{
	struct mapped *grown;

	pthread_mutex_lock(&mapped_lock);
	grown = realloc(mapped, (n_mapped + 1) * sizeof(*grown));
	if (grown) {	/* else the next load of it takes a new fd: no harm */
		mapped = grown;
		mapped[n_mapped++] = (struct mapped){ st->st_dev, st->st_ino, fd };
	}
	pthread_mutex_unlock(&mapped_lock);
}

int loader_open(struct ocikp_ctx *ctx, const char *plugin_dir, const char *module,
		struct module *m)
{
	bool reused = false;
	int shared;
	char *path = NULL, *slash, fdpath[64];
	const struct ocikp_backend *desc;
	struct stat st;
	lt_dladvise advise = NULL;
	void *bound;
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
	shared = mapped_fd(&st);
	if (shared >= 0) {
		close(m->fd);
		m->fd = shared;
		reused = true;
	}
	rc = fd_name(ctx, path, m->fd, &st, fdpath, sizeof(fdpath));
	if (rc != OCIKP_OK)
		goto fail;
	rc = ltdl_ready(ctx);
	if (rc != OCIKP_OK)
		goto fail;
	rc = bind_now(ctx, path, fdpath, &bound);
	if (rc != OCIKP_OK)
		goto fail;
	/* libltdl keeps the module from here: dlopen of the same name hands it
	 * the object just bound (the dynamic linker maps a file once).  The fd
	 * stays open while the module is loaded: libltdl caches handles by
	 * name. */
	if (lt_dladvise_init(&advise) != 0 || lt_dladvise_local(&advise) != 0) {
		rc = OCIKP_INTERNAL;
		goto fail;
	}
	m->handle = lt_dlopenadvise(fdpath, advise);
	lt_dladvise_destroy(&advise);
	dlclose(bound);	/* libltdl holds its own reference now, or none */
	if (!m->handle) {
		err_set(ctx, "%s: cannot load: %s", path, lt_dlerror());
		rc = OCIKP_CONFIG;
		goto fail;
	}
	desc = lt_dlsym(m->handle, OCIKP_BACKEND_SYMBOL);
	if (!desc) {
		err_set(ctx, "%s: no symbol %s", path, OCIKP_BACKEND_SYMBOL);
		rc = OCIKP_CONFIG;
		goto fail;
	}
	rc = check_descriptor(ctx, path, desc);
	if (rc != OCIKP_OK)
		goto fail;
	m->desc = desc_copy(desc);
	if (!m->desc) {
		rc = OCIKP_INTERNAL;
		goto fail;
	}
	m->path = path;
	if (!reused)
		mapped_add(&st, m->fd);
	return OCIKP_OK;
fail:
	if (m->handle)
		lt_dlclose(m->handle);	/* refused: unload (or drop our reference) */
	if (m->fd >= 0 && !reused)
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
	free((void *)m->desc);	/* the host's copy; the module stays mapped */
	free(m->path);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}
