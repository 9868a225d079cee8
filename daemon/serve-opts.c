/*
 * The serve.* drop-in options of a configuration generation: who may call
 * (allow_users, allow_groups, admin_users, admin_groups), allow_remote,
 * max_requests and stop_timeout.  Checked whole at start and at each
 * reload, so a typo is refused then, not at the first request.
 */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include "ocikpd.h"

#define MAX_REQUESTS_DEFAULT 16
#define MAX_REQUESTS_LIMIT 256
#define STOP_TIMEOUT_DEFAULT 10		/* seconds */
#define STOP_TIMEOUT_LIMIT 3600

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Where a serve.* option was set ("file:line"), for its error messages. */
static const char *option_origin(const struct conf *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->n_options; i++)
		if (!strncmp(c->options[i].key, "serve.", 6) &&
		    !strcmp(c->options[i].key + 6, key))
			return c->options[i].origin;
	return "?";
}

/* A user or group name -> its id. */
static bool name_id(const char *name, bool group, unsigned *id)
{
	struct passwd *p;
	struct group *g;

	if (group) {
		g = getgrnam(name);
		if (g)
			*id = g->gr_gid;
		return g != NULL;
	}
	p = getpwnam(name);
	if (p)
		*id = p->pw_uid;
	return p != NULL;
}

/* "alice, 1000 bob" -> ids.  Names are resolved now, so a typo is a
 * configuration error at start or reload, not a refusal at 3 a.m.  The
 * error names the drop-in line and the entry's position, never the entry:
 * the line is the admin's to read, the log may be anyone's. */
static int id_list(struct ocikp_ctx *ctx, const struct conf *c, const char *key,
		   const char *value, bool groups, unsigned **out, size_t *n_out)
{
	char *copy = strdup(value), *tok, *save = NULL;
	unsigned *ids = NULL, *grown, id;
	size_t n = 0;
	int rc = OCIKP_OK;

	if (!copy)
		return OCIKP_INTERNAL;
	for (tok = strtok_r(copy, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
		if (is_number(tok) && strlen(tok) < 10) {
			id = (unsigned)strtoul(tok, NULL, 10);
		} else if (!name_id(tok, groups, &id)) {
			err_set(ctx, "%s: serve.%s: entry %zu is no %s on this system (names or "
				"numeric ids, separated by spaces or commas)",
				option_origin(c, key), key, n + 1, groups ? "group" : "user");
			rc = OCIKP_CONFIG;
			break;
		}
		grown = realloc(ids, (n + 1) * sizeof(*ids));
		if (!grown) {
			rc = OCIKP_INTERNAL;
			break;
		}
		ids = grown;
		ids[n++] = id;
	}
	free(copy);
	if (rc != OCIKP_OK) {
		free(ids);
		return rc;
	}
	*out = ids;
	*n_out = n;
	return OCIKP_OK;
}

static int yes_no(struct ocikp_ctx *ctx, const char *key, const char *v, bool *out)
{
	if (!v)
		return OCIKP_OK;
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else {
		err_set(ctx, "serve.%s must be yes or no", key);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

int serve_options(struct gen *g, struct ocikp_ctx *ctx)
{
	const struct conf *c = &g->base.conf;
	const char *v;
	int rc;

	rc = yes_no(ctx, "allow_remote", conf_option(c, "serve", "allow_remote"),
		    &g->allow_remote);
	if (rc == OCIKP_OK && (v = conf_option(c, "serve", "allow_users")))
		rc = id_list(ctx, c, "allow_users", v, false, &g->allow_uids,
			     &g->n_allow_uids);
	if (rc == OCIKP_OK && (v = conf_option(c, "serve", "allow_groups")))
		rc = id_list(ctx, c, "allow_groups", v, true, &g->allow_gids,
			     &g->n_allow_gids);
	if (rc == OCIKP_OK && (v = conf_option(c, "serve", "admin_users")))
		rc = id_list(ctx, c, "admin_users", v, false, &g->admin_uids,
			     &g->n_admin_uids);
	if (rc == OCIKP_OK && (v = conf_option(c, "serve", "admin_groups")))
		rc = id_list(ctx, c, "admin_groups", v, true, &g->admin_gids,
			     &g->n_admin_gids);
	g->allow_any = !conf_option(c, "serve", "allow_users") &&
		       !conf_option(c, "serve", "allow_groups");
	g->max_requests = MAX_REQUESTS_DEFAULT;
	if (rc == OCIKP_OK && (v = conf_option(c, "serve", "max_requests"))) {
		if (!is_number(v) || strlen(v) > 4 || atol(v) < 1 ||
		    atol(v) > MAX_REQUESTS_LIMIT) {
			err_set(ctx, "serve.max_requests must be a whole number from 1 to %d",
				MAX_REQUESTS_LIMIT);
			rc = OCIKP_CONFIG;
		} else {
			g->max_requests = atol(v);
		}
	}
	g->stop_timeout_ms = STOP_TIMEOUT_DEFAULT * 1000L;
	if (rc == OCIKP_OK && (v = conf_option(c, "serve", "stop_timeout"))) {
		if (!is_number(v) || strlen(v) > 4 || atol(v) < 1 ||
		    atol(v) > STOP_TIMEOUT_LIMIT) {
			err_set(ctx, "serve.stop_timeout must be a whole number of seconds "
				"from 1 to %d", STOP_TIMEOUT_LIMIT);
			rc = OCIKP_CONFIG;
		} else {
			g->stop_timeout_ms = atol(v) * 1000L;
		}
	}
	return rc;
}
