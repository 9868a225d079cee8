/*
 * Drop-in configuration.
 *
 * Directories are searched highest priority first (/etc, /run, /usr/lib); a
 * file name found in a higher directory hides the same name lower down, and a
 * symlink to /dev/null hides it without replacing it.  The surviving files are
 * read in name order, so "60-local.conf" overrides "50-tpm.conf" key by key.
 *
 *   backend = NAME          start (or reopen) the section of backend NAME
 *   module  = FILE.so       a bare file name in the plugin directory
 *   schemes = a b c         URL schemes routed to it (scheme://...);
 *                           "p*" routes every longer scheme starting p
 *                           (CoCo's kbs+<plugin>://) no drop-in lists
 *   opaque_schemes = a b    schemes routed to it without "//" too
 *                           (scheme:..., as RFC 7512's pkcs11:)
 *   enabled = yes|no
 *   timeout = SECONDS       before any `backend =` in a file: the request's
 *                           time budget; inside a section: that backend's,
 *                           which can only shorten the budget
 *   NAME.option = value     a backend option, allowed anywhere
 *
 * Every problem is reported as "file:line: message" and fails the whole run:
 * a half-read configuration could route a key to the wrong place.  The
 * directories get the plugin directory's owner and mode checks, and a mask
 * counts only if root or the caller made it.  Messages never quote a value:
 * a drop-in can be a symlink to any file root can read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ocikp.h"

#define CONF_MAX_FILE (64 * 1024)
#define CONF_MAX_FILES 256

#ifndef CONFDIRS
#define CONFDIRS "/etc/ocikp.d:/run/ocikp.d:/usr/lib/ocikp.d"
#endif

const char *const *conf_default_dirs(void)
{
	static char storage[] = CONFDIRS;
	static const char *dirs[8];
	char *p, *save = NULL;
	size_t n = 0;

	if (dirs[0])
		return dirs;
	for (p = strtok_r(storage, ":", &save); p && n < 7; p = strtok_r(NULL, ":", &save))
		dirs[n++] = p;
	dirs[n] = NULL;
	return dirs;
}

struct dropin {
	char *name;
	size_t dir;	/* index into the opened directories */
};

/* A drop-in directory, checked and opened: files are read relative to fd,
 * so what was checked is what gets read. */
struct dropin_dir {
	const char *path;	/* as given: used in messages and origins */
	int fd;			/* -1: missing, skipped */
};

static int dropin_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dropin *)a)->name, ((const struct dropin *)b)->name);
}

static bool is_conf_name(const char *name)
{
	size_t len = strlen(name);

	return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".conf") == 0;
}

/* Put "drop-in directory DIR refused: " before the trust check's message, so
 * the one line names the directory even when an ancestor is at fault. */
static void dir_refused(struct ocikp_ctx *ctx, const char *dir)
{
	char why[OCIKP_ERR_MAX];

	snprintf(why, sizeof(why), "%s", host_of(ctx)->err.msg);
	err_set(ctx, "drop-in directory %s refused: %s", dir, why[0] ? why : "failed");
}

/* Open one drop-in directory, trusted as the plugin directory is: owned by
 * root or the caller, writable by nobody else, and so is every ancestor (a
 * root-owned sticky ancestor such as /tmp is fine, a sticky directory itself
 * is not: anyone could drop a file into it).  A missing one is skipped. */
static int open_dropin_dir(struct ocikp_ctx *ctx, const char *dir, int *fd_out)
{
	char *real = realpath(dir, NULL);
	struct stat st;
	int fd = -1, rc;

	*fd_out = -1;
	if (!real) {
		if (errno == ENOENT || errno == ENOTDIR)
			return OCIKP_OK;
		err_set(ctx, "drop-in directory %s: %s", dir, strerror(errno));
		return OCIKP_CONFIG;
	}
	rc = trust_dir_chain(ctx, real);
	if (rc == OCIKP_OK) {
		fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			err_set(ctx, "%s: %s", real, strerror(errno));
			rc = OCIKP_CONFIG;
		} else if (fstat(fd, &st) != 0) {
			err_set(ctx, "%s: %s", real, strerror(errno));
			rc = OCIKP_CONFIG;
		} else {
			/* Again on what was opened: the name may have moved. */
			rc = trust_stat(ctx, real, &st, true, false);
		}
	}
	if (rc != OCIKP_OK) {
		dir_refused(ctx, dir);
		if (fd >= 0)
			close(fd);
	} else {
		*fd_out = fd;
	}
	free(real);
	return rc;
}

/* Collect the visible file names, higher directories first. */
static int collect(struct ocikp_ctx *ctx, const struct dropin_dir *dirs, size_t n_dirs,
		   struct dropin **out, size_t *n_out)
{
	struct dropin *list = NULL;
	size_t n = 0, i, d;
	int rc = OCIKP_OK;

	for (d = 0; d < n_dirs && rc == OCIKP_OK; d++) {
		int fd = dirs[d].fd >= 0 ? dup(dirs[d].fd) : -1;
		DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *e;

		if (dirs[d].fd < 0)
			continue;
		if (!dir) {
			err_set(ctx, "%s: cannot read drop-in directory: %s", dirs[d].path,
				strerror(errno));
			if (fd >= 0)
				close(fd);
			rc = OCIKP_CONFIG;
			break;
		}
		while ((e = readdir(dir))) {
			if (!is_conf_name(e->d_name))
				continue;
			for (i = 0; i < n && strcmp(list[i].name, e->d_name) != 0; i++)
				;
			if (i < n)
				continue;	/* hidden by a higher directory */
			if (n == CONF_MAX_FILES) {
				err_set(ctx, "%s: more than %d drop-in files", dirs[d].path,
					CONF_MAX_FILES);
				rc = OCIKP_CONFIG;
				break;
			}
			struct dropin *grown = realloc(list, (n + 1) * sizeof(*list));
			if (!grown || !(grown[n].name = strdup(e->d_name))) {
				list = grown ? grown : list;
				rc = OCIKP_INTERNAL;
				break;
			}
			list = grown;
			list[n++].dir = d;
		}
		closedir(dir);
	}
	if (rc == OCIKP_OK && n > 1)
		qsort(list, n, sizeof(*list), dropin_cmp);
	*out = list;
	*n_out = n;
	return rc;
}

/* A symlink to /dev/null masks the name, but only if root or the caller made
 * it: the directory's owner could chown one to someone else, and a mask
 * decides as much as a file does.  Sets *masked. */
static int check_mask(struct ocikp_ctx *ctx, int dirfd, const char *name, const char *path,
		      bool *masked)
{
	char target[16];
	struct stat st;
	ssize_t tl;

	*masked = false;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(st.st_mode))
		return OCIKP_OK;	/* open() reports a vanished file */
	tl = readlinkat(dirfd, name, target, sizeof(target) - 1);
	if (tl != 9 || memcmp(target, "/dev/null", 9) != 0)
		return OCIKP_OK;
	if (!trust_owner(st.st_uid)) {
		err_set(ctx, "%s: mask symlink owned by uid %u, not root or the caller", path,
			(unsigned)st.st_uid);
		return OCIKP_CONFIG;
	}
	*masked = true;
	return OCIKP_OK;
}

/* Read one drop-in, refusing files others could have written. */
static int read_dropin(struct ocikp_ctx *ctx, int dirfd, const char *name, const char *path,
		       struct ocikp_buf *text)
{
	struct stat st;
	int fd, rc = OCIKP_CONFIG;
	ssize_t got;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		err_set(ctx, "%s: cannot open: %s", path, strerror(errno));
		return OCIKP_CONFIG;
	}
	if (fstat(fd, &st) != 0) {
		err_set(ctx, "%s: cannot stat: %s", path, strerror(errno));
	} else if (trust_stat(ctx, path, &st, false, false) != OCIKP_OK) {
		/* the module's rules: a regular file of root's or the caller's,
		 * writable by nobody else */
	} else if (st.st_size > CONF_MAX_FILE) {
		err_set(ctx, "%s: larger than %d bytes", path, CONF_MAX_FILE);
	} else {
		unsigned char *p = buf_extend(text, (size_t)st.st_size);
		rc = p ? OCIKP_OK : OCIKP_INTERNAL;
		if (p) {
			got = read(fd, p, (size_t)st.st_size);
			if (got != st.st_size) {
				err_set(ctx, "%s: short read", path);
				rc = OCIKP_CONFIG;
			}
		}
	}
	close(fd);
	return rc;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static bool name_valid(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-'))
			return false;
	return true;
}

/* A key may be quoted back in an error only if it looks like one: a drop-in
 * can be a symlink to any file root can read, and its bytes must not reach
 * stderr.  Values are never quoted. */
#define KEY_QUOTE_MAX 64

static bool key_quotable(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return n > 0 && n <= KEY_QUOTE_MAX;
}

static char *origin_of(const char *path, unsigned line)
{
	char *s = NULL;

	if (asprintf(&s, "%s:%u", path, line) < 0)
		return NULL;
	return s;
}

static void free_strv(char **v)
{
	char **p;

	for (p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* "p*": a valid scheme prefix and a final star, the only pattern there is;
 * it matches schemes longer than p that start with p. */
static bool scheme_pattern(const char *s)
{
	size_t len = strlen(s);

	return len >= 2 && s[len - 1] == '*' && scheme_valid(s, len - 1);
}

/* "a b,c" -> {"a","b","c",NULL}; NULL with *bad set to the offender's
 * position (1-based; 0: the list is empty), or NULL without memory.
 * patterns: "p*" is allowed too (schemes, not opaque_schemes). */
static char **split_schemes(char *value, bool patterns, size_t *bad)
{
	char **v = NULL, *tok, *save = NULL;
	size_t n = 0;

	*bad = SIZE_MAX;
	for (tok = strtok_r(value, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		char **grown;
		if (!scheme_valid(tok, strlen(tok)) && !(patterns && scheme_pattern(tok))) {
			*bad = n + 1;
			free_strv(v);
			return NULL;
		}
		grown = realloc(v, (n + 2) * sizeof(*v));
		if (!grown || !(grown[n] = strdup(tok))) {
			free_strv(grown ? grown : v);
			return NULL;
		}
		v = grown;
		v[++n] = NULL;
	}
	if (!v)
		*bad = 0;
	return v;
}

static struct conf_backend *backend_get(struct conf *conf, const char *name)
{
	size_t i;
	struct conf_backend *grown;

	for (i = 0; i < conf->n_backends; i++)
		if (strcmp(conf->backends[i].name, name) == 0)
			return &conf->backends[i];
	grown = realloc(conf->backends, (conf->n_backends + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	conf->backends = grown;
	memset(&grown[conf->n_backends], 0, sizeof(*grown));
	grown[conf->n_backends].name = strdup(name);
	grown[conf->n_backends].enabled = true;
	if (!grown[conf->n_backends].name)
		return NULL;
	return &grown[conf->n_backends++];
}

int conf_set_option(struct conf *conf, const char *key, const char *value, const char *origin)
{
	size_t i;
	struct conf_option *o = NULL, *grown;

	for (i = 0; i < conf->n_options; i++)
		if (strcmp(conf->options[i].key, key) == 0)
			o = &conf->options[i];
	if (!o) {
		grown = realloc(conf->options, (conf->n_options + 1) * sizeof(*grown));
		if (!grown)
			return OCIKP_INTERNAL;
		conf->options = grown;
		o = &grown[conf->n_options++];
		memset(o, 0, sizeof(*o));
		if (!(o->key = strdup(key)))
			return OCIKP_INTERNAL;
	}
	free(o->value);
	free(o->origin);
	o->value = strdup(value);
	o->origin = strdup(origin);
	return o->value && o->origin ? OCIKP_OK : OCIKP_INTERNAL;
}

#define TIMEOUT_MAX_S 3600

/* "SECONDS": 1..TIMEOUT_MAX_S, digits only. */
static bool parse_timeout(const char *v, long *ms)
{
	long s = 0;

	if (!*v)
		return false;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || s > TIMEOUT_MAX_S)
			return false;
		s = s * 10 + (*v - '0');
	}
	if (s < 1 || s > TIMEOUT_MAX_S)
		return false;
	*ms = s * 1000;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

/* One line "key = value" of path:line into conf.  *section tracks the
 * current backend. */
static int parse_line(struct ocikp_ctx *ctx, struct conf *conf, const char *path,
		      unsigned line, char *text, struct conf_backend **section)
{
	char *eq, *key, *value, *hash, *origin;
	int rc = OCIKP_CONFIG;

	eq = strchr(text, '=');
	if (!eq) {
		err_set(ctx, "%s:%u: expected 'key = value'", path, line);
		return OCIKP_CONFIG;
	}
	*eq = '\0';
	key = trim(text);
	value = eq + 1;
	for (hash = value; (hash = strchr(hash, '#')); hash++)	/* " # comment" */
		if (hash > value && (hash[-1] == ' ' || hash[-1] == '\t')) {
			*hash = '\0';
			break;
		}
	value = trim(value);
	origin = origin_of(path, line);
	if (!origin)
		return OCIKP_INTERNAL;

	if (!*key) {
		err_set(ctx, "%s:%u: missing key before '='", path, line);
	} else if (!strcmp(key, "backend")) {
		if (!name_valid(value)) {
			err_set(ctx, "%s:%u: invalid backend name (a-z first, then a-z, 0-9, _ or -)",
				path, line);
		} else if (!(*section = backend_get(conf, value))) {
			rc = OCIKP_INTERNAL;
		} else {
			free((*section)->origin);
			(*section)->origin = origin;
			origin = NULL;
			rc = OCIKP_OK;
		}
	} else if (strchr(key, '.')) {
		char *dot = strchr(key, '.');
		*dot = '\0';
		bool ok = name_valid(key) && dot[1];
		*dot = '.';
		if (!ok && key_quotable(key))
			err_set(ctx, "%s:%u: invalid option name '%s'", path, line, key);
		else if (!ok)
			err_set(ctx, "%s:%u: invalid key", path, line);
		else
			rc = conf_set_option(conf, key, value, origin);
	} else if (!strcmp(key, "timeout")) {
		long ms;
		if (!parse_timeout(value, &ms))
			err_set(ctx, "%s:%u: timeout must be whole seconds from 1 to %d", path,
				line, TIMEOUT_MAX_S);
		else if (*section)
			(*section)->timeout_ms = ms, rc = OCIKP_OK;
		else
			conf->timeout_ms = ms, rc = OCIKP_OK;
	} else if (strcmp(key, "module") && strcmp(key, "schemes") &&
		   strcmp(key, "opaque_schemes") && strcmp(key, "enabled")) {
		if (key_quotable(key))
			err_set(ctx, "%s:%u: unknown key '%s'", path, line, key);
		else
			err_set(ctx, "%s:%u: invalid key", path, line);
	} else if (!*section) {
		err_set(ctx, "%s:%u: '%s' before any 'backend ='", path, line, key);
	} else if (!strcmp(key, "module")) {
		if (!*value) {
			err_set(ctx, "%s:%u: empty module", path, line);
		} else {
			free((*section)->module);
			(*section)->module = strdup(value);
			rc = (*section)->module ? OCIKP_OK : OCIKP_INTERNAL;
		}
	} else if (!strcmp(key, "schemes") || !strcmp(key, "opaque_schemes")) {
		char ***list = !strcmp(key, "schemes") ? &(*section)->schemes
						       : &(*section)->opaque_schemes;
		size_t bad;
		bool patterns = list == &(*section)->schemes;
		char **v = split_schemes(value, patterns, &bad);
		if (!v && bad == 0) {
			err_set(ctx, "%s:%u: empty %s", path, line, key);
		} else if (!v && bad != SIZE_MAX) {
			err_set(ctx, "%s:%u: scheme %zu in the list is invalid (a-z first, then a-z, 0-9, +, . or -; 32 at most%s)",
				path, line, bad, patterns ? "; or such a prefix and a final *" : "");
		} else if (!v) {
			rc = OCIKP_INTERNAL;
		} else {
			free_strv(*list);
			*list = v;
			rc = OCIKP_OK;
		}
	} else if (!parse_bool(value, &(*section)->enabled)) {
		err_set(ctx, "%s:%u: enabled must be yes or no", path, line);
	} else {
		rc = OCIKP_OK;
	}
	free(origin);
	return rc;
}

static int parse_dropin(struct ocikp_ctx *ctx, struct conf *conf, const char *path,
			char *text, size_t len)
{
	struct conf_backend *section = NULL;
	char *line, *next;
	unsigned lineno = 0;
	int rc = OCIKP_OK;

	if (strlen(text) != len) {
		err_set(ctx, "%s: contains a NUL byte", path);
		return OCIKP_CONFIG;
	}
	for (line = text; line && rc == OCIKP_OK; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line = trim(line);
		if (*line == '\0' || *line == '#')
			continue;
		rc = parse_line(ctx, conf, path, lineno, line, &section);
	}
	return rc;
}

/* Does backend b route scheme, in either list? */
static bool routes(const struct conf_backend *b, const char *scheme)
{
	char **s;

	for (s = b->schemes; s && *s; s++)
		if (!strcmp(*s, scheme))
			return true;
	for (s = b->opaque_schemes; s && *s; s++)
		if (!strcmp(*s, scheme))
			return true;
	return false;
}

/* Scheme s of backend i already routed by an earlier enabled backend?  (In
 * both lists of one backend it is fine: routed with and without "//".) */
static int scheme_taken(struct ocikp_ctx *ctx, const struct conf *conf, size_t i, const char *s)
{
	const struct conf_backend *b = &conf->backends[i];
	size_t j;

	for (j = 0; j < i; j++)
		if (conf->backends[j].enabled && routes(&conf->backends[j], s)) {
			err_set(ctx, "%s: scheme '%s' already routed to backend '%s' (%s)",
				b->origin, s, conf->backends[j].name, conf->backends[j].origin);
			return OCIKP_CONFIG;
		}
	return OCIKP_OK;
}

/* Every enabled backend is complete and no scheme has two owners. */
static int conf_validate(struct ocikp_ctx *ctx, struct conf *conf)
{
	size_t i;
	char **s;

	for (i = 0; i < conf->n_backends; i++) {
		struct conf_backend *b = &conf->backends[i];
		if (!b->enabled)
			continue;
		if (!b->module || (!b->schemes && !b->opaque_schemes)) {
			err_set(ctx, "%s: backend '%s' has no %s", b->origin, b->name,
				b->module ? "schemes" : "module");
			return OCIKP_CONFIG;
		}
		for (s = b->schemes; s && *s; s++)
			if (scheme_taken(ctx, conf, i, *s) != OCIKP_OK)
				return OCIKP_CONFIG;
		for (s = b->opaque_schemes; s && *s; s++)
			if (scheme_taken(ctx, conf, i, *s) != OCIKP_OK)
				return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

static int strv_push(char ***v, size_t *n, char *s)
{
	char **grown = realloc(*v, (*n + 1) * sizeof(**v));

	if (!grown)
		return OCIKP_INTERNAL;
	*v = grown;
	grown[(*n)++] = s;
	return OCIKP_OK;
}

int conf_load(struct ocikp_ctx *ctx, const char *const *dirs, struct conf *conf)
{
	struct dropin_dir open_dirs[CONF_MAX_DIRS];
	struct dropin *list = NULL;
	size_t n = 0, n_dirs = 0, i;
	int rc = OCIKP_OK;

	memset(conf, 0, sizeof(*conf));
	for (; dirs[n_dirs] && rc == OCIKP_OK; n_dirs++) {
		if (n_dirs == CONF_MAX_DIRS) {
			err_set(ctx, "more than %d drop-in directories", CONF_MAX_DIRS);
			rc = OCIKP_CONFIG;
			break;
		}
		open_dirs[n_dirs].path = dirs[n_dirs];
		rc = open_dropin_dir(ctx, dirs[n_dirs], &open_dirs[n_dirs].fd);
	}
	if (rc == OCIKP_OK)
		rc = collect(ctx, open_dirs, n_dirs, &list, &n);
	for (i = 0; i < n && rc == OCIKP_OK; i++) {
		struct ocikp_buf text = { 0 };
		const struct dropin_dir *d = &open_dirs[list[i].dir];
		char *path = NULL;
		bool masked;

		if (asprintf(&path, "%s/%s", d->path, list[i].name) < 0) {
			rc = OCIKP_INTERNAL;
			break;
		}
		rc = check_mask(ctx, d->fd, list[i].name, path, &masked);
		if (rc == OCIKP_OK && masked) {
			rc = strv_push(&conf->masked, &conf->n_masked, path);
			path = rc == OCIKP_OK ? NULL : path;
		} else if (rc == OCIKP_OK) {
			rc = read_dropin(ctx, d->fd, list[i].name, path, &text);
			if (rc == OCIKP_OK)
				rc = strv_push(&conf->files, &conf->n_files, path);
			if (rc == OCIKP_OK) {
				path = NULL;
				rc = parse_dropin(ctx, conf, conf->files[conf->n_files - 1],
						  (char *)text.data, text.len);
			}
		}
		free(path);
		buf_free(&text);
	}
	for (i = 0; i < n_dirs; i++)
		if (open_dirs[i].fd >= 0)
			close(open_dirs[i].fd);
	for (i = 0; i < n; i++)
		free(list[i].name);
	free(list);
	if (rc == OCIKP_OK)
		rc = conf_validate(ctx, conf);
	return rc;
}

void conf_free(struct conf *conf)
{
	size_t i;

	for (i = 0; i < conf->n_backends; i++) {
		free(conf->backends[i].name);
		free(conf->backends[i].module);
		free(conf->backends[i].origin);
		free_strv(conf->backends[i].schemes);
		free_strv(conf->backends[i].opaque_schemes);
	}
	for (i = 0; i < conf->n_options; i++) {
		free(conf->options[i].key);
		free(conf->options[i].value);
		free(conf->options[i].origin);
	}
	for (i = 0; i < conf->n_files; i++)
		free(conf->files[i]);
	for (i = 0; i < conf->n_masked; i++)
		free(conf->masked[i]);
	free(conf->masked);
	free(conf->backends);
	free(conf->options);
	free(conf->files);
	memset(conf, 0, sizeof(*conf));
}

/* The length of the longest "p*" of b's schemes that matches scheme, or 0. */
static size_t pattern_match(const struct conf_backend *b, const char *scheme)
{
	size_t best = 0, len = strlen(scheme);
	char **s;

	for (s = b->schemes; s && *s; s++) {
		size_t plen = strlen(*s) - 1;
		if ((*s)[plen] == '*' && len > plen && !strncmp(*s, scheme, plen) && plen > best)
			best = plen;
	}
	return best;
}

/* The backend a drop-in routes scheme to: one that lists it, else the one
 * with the longest matching pattern (two backends with the same pattern
 * are refused when the configuration is read). */
static const struct conf_backend *backend_listing(const struct conf *conf, const char *scheme)
{
	const struct conf_backend *best = NULL;
	size_t i, best_len = 0;

	if (strchr(scheme, '*'))	/* a pattern names no key URL's scheme */
		return NULL;
	for (i = 0; i < conf->n_backends; i++)
		if (conf->backends[i].enabled && routes(&conf->backends[i], scheme))
			return &conf->backends[i];
	for (i = 0; i < conf->n_backends; i++) {
		size_t len = conf->backends[i].enabled ? pattern_match(&conf->backends[i], scheme) : 0;
		if (len > best_len) {
			best = &conf->backends[i];
			best_len = len;
		}
	}
	return best;
}

/* An enabled backend lists scheme in opaque_schemes. */
static bool opaque_scheme(const struct conf *conf, const char *scheme)
{
	size_t i;
	char **s;

	for (i = 0; i < conf->n_backends; i++)
		for (s = conf->backends[i].opaque_schemes;
		     conf->backends[i].enabled && s && *s; s++)
			if (!strcmp(*s, scheme))
				return true;
	return false;
}

/* Only the schemes a drop-in marks opaque route without "//": every other
 * backend still receives scheme://... and nothing else. */
int conf_key_scheme(const struct conf *conf, const char *url, char *scheme, size_t size)
{
	const char *colon;
	size_t len;

	if (key_scheme(url, scheme, size) == OCIKP_OK)
		return OCIKP_OK;
	colon = strchr(url, ':');
	if (!colon)
		return OCIKP_BAD_INPUT;
	len = (size_t)(colon - url);
	if (len >= size || !scheme_valid(url, len))
		return OCIKP_BAD_INPUT;
	memcpy(scheme, url, len);
	scheme[len] = '\0';
	return opaque_scheme(conf, scheme) ? OCIKP_OK : OCIKP_BAD_INPUT;
}

const struct conf_backend *conf_backend_for_scheme(const struct conf *conf, const char *scheme)
{
	return backend_listing(conf, scheme);
}

const struct conf_backend *conf_backend_named(const struct conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->n_backends; i++)
		if (!strcmp(conf->backends[i].name, name))
			return &conf->backends[i];
	return NULL;
}

const char *conf_option(const struct conf *conf, const char *backend, const char *key)
{
	size_t i, bl = strlen(backend);

	for (i = 0; i < conf->n_options; i++) {
		const char *k = conf->options[i].key;
		if (!strncmp(k, backend, bl) && k[bl] == '.' && !strcmp(k + bl + 1, key))
			return conf->options[i].value;
	}
	return NULL;
}

/* The embedded default: the sample backend answers sample:// when no drop-in
 * says otherwise, so a fresh install works without any configuration. */
int conf_add_builtin(struct conf *conf)
{
	struct conf_backend *b;
	size_t bad;
	char schemes[] = "sample";

	if (conf_backend_named(conf, "sample") || conf_backend_for_scheme(conf, "sample"))
		return OCIKP_OK;
	b = backend_get(conf, "sample");
	if (!b || !(b->module = strdup("ocikp-sample.so")) ||
	    !(b->origin = strdup("built-in default")) ||
	    !(b->schemes = split_schemes(schemes, false, &bad)))
		return OCIKP_INTERNAL;
	return OCIKP_OK;
}
