/*
 * Backends kept loaded across requests (ocikpd).  The exec path opens each
 * backend for one request and closes it; the daemon opens it once per
 * configuration generation and hands every request its own view of it: a
 * context of the request's own (its error line, its deadline) over the
 * shared module and backend_data.
 *
 * A backend whose descriptor lacks OCIKP_BACKEND_CONCURRENT (every ABI v1
 * module) is called by one thread at a time; init and fini always run
 * alone, under one process-wide lock, since libraries such as libcurl set
 * global state there.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ocikp.h"

struct pooled {
	const struct conf_backend *cb;
	struct backend_ctx *b;	/* NULL until a request first needs it */
	pthread_mutex_t serial;
	atomic_bool concurrent;	/* loaded, and declared OCIKP_BACKEND_CONCURRENT */
};

struct pool {
	pthread_mutex_t lock;	/* guards the entries' `b` */
	struct host base;	/* the generation's: conf, plugin_dir; owns no errors that matter */
	struct pooled *entries;
	size_t n;
};

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

struct pool *pool_new(const struct host *base)
{
	struct pool *p = calloc(1, sizeof(*p));
	size_t i;

	if (!p)
		return NULL;
	p->entries = calloc(base->conf.n_backends ? base->conf.n_backends : 1,
			    sizeof(*p->entries));
	if (!p->entries) {
		free(p);
		return NULL;
	}
	p->base = *base;
	p->base.pool = NULL;
	p->n = base->conf.n_backends;
	for (i = 0; i < p->n; i++) {
		p->entries[i].cb = &base->conf.backends[i];
		pthread_mutex_init(&p->entries[i].serial, NULL);
	}
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

static struct pooled *entry_for(struct pool *p, const struct conf_backend *cb)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->entries[i].cb == cb)
			return &p->entries[i];
	return NULL;
}

/* A pool lock, held by another request through a backend's init (a TPM's
 * can take seconds): waited for until this request's deadline at most. */
static int lock_by(pthread_mutex_t *m, struct host *h, const struct conf_backend *cb)
{
	struct backend_ctx named;
	struct timespec at;
	long left = deadline_left_ms(&h->deadline);

	if (left == LONG_MAX) {
		pthread_mutex_lock(m);
		return OCIKP_OK;
	}
	clock_gettime(CLOCK_MONOTONIC, &at);
	at.tv_sec += left / 1000;
	at.tv_nsec += (left % 1000) * 1000000L;
	at.tv_sec += at.tv_nsec / 1000000000L;
	at.tv_nsec %= 1000000000L;
	if (pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &at) == 0)
		return OCIKP_OK;
	host_ctx_init(&named.pub, h, cb->name);
	err_set(&named.pub, "busy: another request was opening the backend until this one's "
		"deadline");
	return OCIKP_UNAVAILABLE;
}

/* Open (once) the backend of `cb` and give request `h` its own view of it.
 * A failed open is not remembered: the next request tries again, so a
 * TPM or keyring that comes back is picked up without a reload. */
int pool_get(struct pool *p, struct host *h, const struct conf_backend *cb,
	     struct backend_ctx **out)
{
	struct pooled *e = entry_for(p, cb);
	struct backend_ctx *view;
	int rc = OCIKP_OK;

	*out = NULL;
	if (!e)
		return OCIKP_INTERNAL;
	rc = lock_by(&p->lock, h, cb);
	if (rc != OCIKP_OK)
		return rc;
	if (!e->b && (rc = lock_by(&init_lock, h, cb)) == OCIKP_OK) {
		rc = backend_open(h, cb, &e->b);	/* an init failure is this request's error */
		pthread_mutex_unlock(&init_lock);
		if (rc == OCIKP_OK) {
			e->b->host = &p->base;
			atomic_store(&e->concurrent,
				     (e->b->mod.desc->flags & OCIKP_BACKEND_CONCURRENT) != 0);
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (rc != OCIKP_OK)
		return rc;
	view = malloc(sizeof(*view));
	if (!view)
		return OCIKP_INTERNAL;
	*view = *e->b;
	view->host = h;
	memset(&view->deadline, 0, sizeof(view->deadline));
	view->loaded = view->inited = false;	/* backend_close frees only the view */
	/* desc is the loader's copy: a v1 module's flags read as 0 */
	if (!(view->mod.desc->flags & OCIKP_BACKEND_CONCURRENT))
		view->serial = &e->serial;
	*out = view;
	return OCIKP_OK;
}

/* The end of a generation: no request holds a view any more. */
void pool_free(struct pool *p)
{
	size_t i;

	if (!p)
		return;
	pthread_mutex_lock(&init_lock);
	for (i = 0; i < p->n; i++) {
		backend_close(p->entries[i].b);
		pthread_mutex_destroy(&p->entries[i].serial);
	}
	pthread_mutex_unlock(&init_lock);
	pthread_mutex_destroy(&p->lock);
	free(p->entries);
	free(p);
}

/* `ocikpd --check`: open every enabled backend now, as a request would.
 * Returns the first failure (its line in h's error slot), naming it. */
int pool_open_all(struct pool *p, struct host *h, const char **failed)
{
	struct backend_ctx *view;
	size_t i;
	int rc;

	for (i = 0; i < p->n; i++) {
		if (!p->entries[i].cb->enabled)
			continue;
		rc = pool_get(p, h, p->entries[i].cb, &view);
		backend_close(view);
		if (rc != OCIKP_OK) {
			*failed = p->entries[i].cb->name;
			return rc;
		}
	}
	return OCIKP_OK;
}

/* Read without p->lock: that lock is held through a backend's init. */
const void *pool_lane(struct pool *p, const struct conf_backend *cb)
{
	struct pooled *e = entry_for(p, cb);

	return e && !atomic_load(&e->concurrent) ? e : NULL;
}
