/*
 * Configuration generations and the workers that run requests.
 *
 * A generation is what the drop-ins said at start or at the last SIGHUP,
 * with the backends it has loaded.  Each request takes a reference to the
 * current one and runs on it to the end; the old generation (and its
 * modules, through fini) goes when its last request does.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ocikpd.h"

#define MAX_REQUESTS_DEFAULT 16
#define MAX_REQUESTS_LIMIT 256

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

static int serve_options(struct gen *g, struct ocikp_ctx *ctx)
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
	return rc;
}

int gen_load(struct daemon *d, struct ocikp_ctx *ctx, struct gen **out)
{
	struct gen *g = calloc(1, sizeof(*g));
	int rc;

	*out = NULL;
	if (!g)
		return OCIKP_INTERNAL;
	atomic_init(&g->refs, 1);
	g->base.plugin_dir = d->plugin_dir;
	rc = host_config_load(&g->base, ctx, d->config_dirs, d->config_dirs_from, d->compat);
	if (rc == OCIKP_OK)
		rc = serve_options(g, ctx);
	if (rc == OCIKP_OK && !(g->pool = pool_new(&g->base)))
		rc = OCIKP_INTERNAL;
	if (rc != OCIKP_OK) {
		gen_unref(g);
		return rc;
	}
	*out = g;
	return OCIKP_OK;
}

void gen_unref(struct gen *g)
{
	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	pool_free(g->pool);
	conf_free(&g->base.conf);
	free(g->allow_uids);
	free(g->allow_gids);
	free(g->admin_uids);
	free(g->admin_gids);
	free(g);
}

struct gen *gen_current(struct daemon *d)
{
	struct gen *g;

	pthread_mutex_lock(&d->gen_lock);
	g = d->gen;
	atomic_fetch_add(&g->refs, 1);
	pthread_mutex_unlock(&d->gen_lock);
	return g;
}

void log_request(int rpc, const char *backend, int code, const struct timespec *started,
		 const struct peer *peer, const char *message)
{
	struct timespec now;
	double ms;
	char uid[16] = "-", gid[16] = "-", esc[TEXT_ESCAPE_SIZE(OCIKP_ERR_MAX + 64)];

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (double)(now.tv_sec - started->tv_sec) * 1e3 +
	     (double)(now.tv_nsec - started->tv_nsec) / 1e6;
	/* the message quotes the request: escaped, as ocikp inspect shows it */
	text_escape(esc, sizeof(esc), message, strlen(message));
	if (peer->has_cred) {
		snprintf(uid, sizeof(uid), "%u", (unsigned)peer->uid);
		snprintf(gid, sizeof(gid), "%u", (unsigned)peer->gid);
	}
	fprintf(stderr, "ocikpd: %s backend=%s status=%s ms=%.2f uid=%s gid=%s%s%s\n",
		rpc == OP_WRAP ? "WrapKey" : rpc == OP_UNWRAP ? "UnWrapKey" : "unknown-method",
		backend ? backend : "-", grpc_code_name(code), ms, uid, gid,
		code ? ": " : "", code ? esc : "");
}

static void run_job(struct daemon *d, struct job *j)
{
	struct gen *g = gen_current(d);
	struct host h = g->base;	/* this request's: its error line, its deadline */
	struct backend_ctx root;
	struct ocikp_ctx *prev;
	struct caller who;	/* the caller's rights, not the daemon's */
	int rc;

	peer_caller(g, j->peer, &who);
	h.caller = &who;
	memset(&h.err, 0, sizeof(h.err));
	h.deadline = j->deadline;
	h.pool = g->pool;
	h.backstop = false;
	h.served_by = NULL;
	host_ctx_init(&root.pub, &h, NULL);
	prev = ctx_enter(&root.pub);
	/* checked at accept (peer.c); again here for a SIGHUP that narrowed the lists */
	if (!peer_allowed(g, j->peer, j->message, sizeof(j->message))) {
		j->code = GRPC_PERMISSION_DENIED;
	} else {
		rc = host_handle(&h, &root.pub, d->provider, j->op, &j->json, &j->answer);
		if (rc == OCIKP_OK) {
			j->code = GRPC_OK;
		} else {
			j->code = deadline_left_ms(&j->deadline) == 0 ? GRPC_DEADLINE_EXCEEDED
								       : grpc_code_of(rc);
			host_error_line(&h, rc, j->message, sizeof(j->message));
			buf_free(&j->answer);
		}
	}
	buf_free(&j->json);	/* the request may hold keys: gone as soon as done */
	ctx_enter(prev);
	log_request(j->op, h.served_by, j->code, &j->started, j->peer, j->message);
	gen_unref(g);
}

static void *worker(void *arg)
{
	struct daemon *d = arg;
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&d->q_lock);
		d->n_idle_workers++;
		while (!d->q_head && !d->workers_quit)
			pthread_cond_wait(&d->q_cond, &d->q_lock);
		d->n_idle_workers--;
		j = d->q_head;
		if (j) {
			d->q_head = j->next;
			if (!d->q_head)
				d->q_tail = NULL;
		}
		pthread_mutex_unlock(&d->q_lock);
		if (!j)
			return NULL;	/* stopping, queue drained */
		j->next = NULL;
		run_job(d, j);
		conn_job_done(j->conn, j);
	}
}

/* Workers are made when a request finds none idle, up to n: a daemon that
 * sees one request at a time keeps one thread (and its stack) warm. */
int work_start(struct daemon *d, size_t n)
{
	d->workers = calloc(n, sizeof(*d->workers));
	if (!d->workers)
		return OCIKP_INTERNAL;
	d->max_workers = n;
	return OCIKP_OK;
}

void work_submit(struct daemon *d, struct job *j)
{
	pthread_mutex_lock(&d->q_lock);
	if (d->q_tail)
		d->q_tail->next = j;
	else
		d->q_head = j;
	d->q_tail = j;
	if (d->n_idle_workers == 0 && d->n_workers < d->max_workers &&
	    pthread_create(&d->workers[d->n_workers], NULL, worker, d) == 0)
		d->n_workers++;	/* else a busy worker takes it next */
	else
		pthread_cond_signal(&d->q_cond);
	pthread_mutex_unlock(&d->q_lock);
}

/* After the connections have drained: the workers leave once the queue is
 * empty. */
void work_stop(struct daemon *d)
{
	size_t i;

	pthread_mutex_lock(&d->q_lock);
	d->workers_quit = true;
	pthread_cond_broadcast(&d->q_cond);
	pthread_mutex_unlock(&d->q_lock);
	for (i = 0; i < d->n_workers; i++)	/* no new one: workers_quit is set */
		pthread_join(d->workers[i], NULL);
	free(d->workers);
	d->workers = NULL;
	d->n_workers = 0;
}

void job_free(struct job *j)
{
	if (!j)
		return;
	buf_free(&j->json);
	buf_free(&j->answer);
	free(j);
}
