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
 *   schemes = a b c         URL schemes routed to it
 *   enabled = yes|no
 *   timeout = SECONDS       before any `backend =` in a file: the request's
 *                           time budget; inside a section: that backend's,
 *                           which can only shorten the budget
 *   NAME.option = value     a backend option, allowed anywhere
 *
 * Every problem is reported as "file:line: message" and fails the whole run:
 * a half-read configuration could route a key to the wrong place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
	const char *dir;
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

/* Collect the visible file names, higher directories first. */
static int collect(struct ocikp_ctx *ctx, const char *const *dirs, struct dropin **out,
		   size_t *n_out)
{
	struct dropin *list = NULL;
	size_t n = 0, i;
	const char *const *d;
	int rc = OCIKP_OK;

	for (d = dirs; *d; d++) {
		DIR *dir = opendir(*d);
		struct dirent *e;

		if (!dir) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue;
			err_set(ctx, "%s: cannot read drop-in directory: %s", *d, strerror(errno));
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
				err_set(ctx, "%s: more than %d drop-in files", *d, CONF_MAX_FILES);
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
			list[n++].dir = *d;
		}
		closedir(dir);
		if (rc != OCIKP_OK)
			break;
	}
	if (rc == OCIKP_OK && n > 1)
		qsort(list, n, sizeof(*list), dropin_cmp);
	*out = list;
	*n_out = n;
	return rc;
}

/* Read one drop-in, refusing files others could have written.  Sets *masked
 * for a symlink to /dev/null. */
static int read_dropin(struct ocikp_ctx *ctx, const char *path, struct ocikp_buf *text,
		       bool *masked)
{
	char target[16];
	ssize_t tl;
	struct stat st;
	int fd, rc = OCIKP_CONFIG;
	ssize_t got;

	*masked = false;
	tl = readlink(path, target, sizeof(target) - 1);
	if (tl == 9 && memcmp(target, "/dev/null", 9) == 0) {
		*masked = true;
		return OCIKP_OK;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		err_set(ctx, "%s: cannot open: %s", path, strerror(errno));
		return OCIKP_CONFIG;
	}
	if (fstat(fd, &st) != 0) {
		err_set(ctx, "%s: cannot stat: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		err_set(ctx, "%s: not a regular file", path);
	} else if (st.st_uid != 0 && st.st_uid != geteuid()) {
		err_set(ctx, "%s: owned by uid %u, not root or the caller", path,
			(unsigned)st.st_uid);
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		err_set(ctx, "%s: writable by group or others (mode %03o)", path,
			(unsigned)(st.st_mode & 0777));
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

/* "a b,c" -> {"a","b","c",NULL}; NULL with *bad set to the offender. */
static char **split_schemes(char *value, const char **bad)
{
	char **v = NULL, *tok, *save = NULL;
	size_t n = 0;

	*bad = NULL;
	for (tok = strtok_r(value, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		char **grown;
		if (!scheme_valid(tok, strlen(tok))) {
			*bad = tok;
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
		*bad = "";
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
			err_set(ctx, "%s:%u: invalid backend name '%s'", path, line, value);
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
		if (!ok)
			err_set(ctx, "%s:%u: invalid option name '%s'", path, line, key);
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
	} else if (strcmp(key, "module") && strcmp(key, "schemes") && strcmp(key, "enabled")) {
		err_set(ctx, "%s:%u: unknown key '%s'", path, line, key);
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
	} else if (!strcmp(key, "schemes")) {
		const char *bad;
		char **v = split_schemes(value, &bad);
		if (!v && bad) {
			err_set(ctx, "%s:%u: invalid scheme '%s'", path, line, bad);
		} else if (!v) {
			rc = OCIKP_INTERNAL;
		} else {
			free_strv((*section)->schemes);
			(*section)->schemes = v;
			rc = OCIKP_OK;
		}
	} else if (!parse_bool(value, &(*section)->enabled)) {
		err_set(ctx, "%s:%u: enabled must be yes or no, not '%s'", path, line, value);
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

/* Every enabled backend is complete and no scheme has two owners. */
static int conf_validate(struct ocikp_ctx *ctx, struct conf *conf)
{
	size_t i, j;
	char **s, **t;

	for (i = 0; i < conf->n_backends; i++) {
		struct conf_backend *b = &conf->backends[i];
		if (!b->enabled)
			continue;
		if (!b->module || !b->schemes) {
			err_set(ctx, "%s: backend '%s' has no %s", b->origin, b->name,
				b->module ? "schemes" : "module");
			return OCIKP_CONFIG;
		}
		for (j = 0; j < i; j++) {
			if (!conf->backends[j].enabled)
				continue;
			for (s = b->schemes; *s; s++)
				for (t = conf->backends[j].schemes; *t; t++)
					if (!strcmp(*s, *t)) {
						err_set(ctx, "%s: scheme '%s' already routed to backend '%s' (%s)",
							b->origin, *s, conf->backends[j].name,
							conf->backends[j].origin);
						return OCIKP_CONFIG;
					}
		}
	}
	return OCIKP_OK;
}

int conf_load(struct ocikp_ctx *ctx, const char *const *dirs, struct conf *conf)
{
	struct dropin *list = NULL;
	size_t n = 0, i;
	int rc;

	memset(conf, 0, sizeof(*conf));
	rc = collect(ctx, dirs, &list, &n);
	for (i = 0; i < n && rc == OCIKP_OK; i++) {
		struct ocikp_buf text = { 0 };
		char *path = NULL;
		bool masked;

		if (asprintf(&path, "%s/%s", list[i].dir, list[i].name) < 0) {
			rc = OCIKP_INTERNAL;
			break;
		}
		rc = read_dropin(ctx, path, &text, &masked);
		if (rc == OCIKP_OK && !masked) {
			char **files = realloc(conf->files, (conf->n_files + 1) * sizeof(*files));
			if (!files) {
				rc = OCIKP_INTERNAL;
			} else {
				conf->files = files;
				files[conf->n_files++] = path;
				path = NULL;
				rc = text.data ? parse_dropin(ctx, conf, files[conf->n_files - 1],
							      (char *)text.data, text.len) : OCIKP_OK;
			}
		}
		free(path);
		buf_free(&text);
	}
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
	}
	for (i = 0; i < conf->n_options; i++) {
		free(conf->options[i].key);
		free(conf->options[i].value);
		free(conf->options[i].origin);
	}
	for (i = 0; i < conf->n_files; i++)
		free(conf->files[i]);
	free(conf->backends);
	free(conf->options);
	free(conf->files);
	memset(conf, 0, sizeof(*conf));
}

const struct conf_backend *conf_backend_for_scheme(const struct conf *conf, const char *scheme)
{
	size_t i;
	char **s;

	for (i = 0; i < conf->n_backends; i++) {
		if (!conf->backends[i].enabled)
			continue;
		for (s = conf->backends[i].schemes; s && *s; s++)
			if (!strcmp(*s, scheme))
				return &conf->backends[i];
	}
	return NULL;
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
	const char *bad;
	char schemes[] = "sample";

	if (conf_backend_named(conf, "sample") || conf_backend_for_scheme(conf, "sample"))
		return OCIKP_OK;
	b = backend_get(conf, "sample");
	if (!b || !(b->module = strdup("ocikp-sample.so")) ||
	    !(b->origin = strdup("built-in default")) ||
	    !(b->schemes = split_schemes(schemes, &bad)))
		return OCIKP_INTERNAL;
	return OCIKP_OK;
}
