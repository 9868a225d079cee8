/*
 * Configuration generations and the workers that run requests.
 *
 * A generation is what the drop-ins said at start or at the last SIGHUP,
 * with the backends it has loaded.  Each request takes a reference to the
 * current one and runs on it to the end; the old generation (and its
 * modules, through fini) goes when its last request does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ocikpd.h"

/* Jobs in flight (queued or running) for one peer uid, all its connections;
 * TCP callers, whose uid is unknown, share one count. */
#define UID_JOBS_MAX 128
#define UID_TCP ((uid_t)-1)

/* A backend called one at a time (a TPM): its jobs wait here, not in a
 * worker, while one worker runs them in turn. */
struct lane {
	struct lane *next;
	const void *key;	/* pool_lane() */
	struct job *head, *tail;
	bool busy;		/* a worker holds it */
};

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

static void result_error(struct job *j, int code, const char *msg)
{
	j->code = code;
	snprintf(j->message, sizeof(j->message), "%s", msg);
	buf_free(&j->answer);
}

/* Parse and route on the generation current now; the job keeps it. */
static void prepare_job(struct daemon *d, struct job *j)
{
	struct host h;
	struct backend_ctx root;
	struct ocikp_ctx *prev;
	size_t i, n_serial = 0;
	const void *key, *lane = NULL;
	int rc;

	j->gen = gen_current(d);
	j->prepared = true;
	/* checked at accept (peer.c); again here for a SIGHUP that narrowed the lists */
	if (!peer_allowed(j->gen, j->peer, j->message, sizeof(j->message))) {
		j->code = GRPC_PERMISSION_DENIED;
		return;
	}
	h = j->gen->base;
	memset(&h.err, 0, sizeof(h.err));
	h.pool = j->gen->pool;
	host_ctx_init(&root.pub, &h, NULL);
	prev = ctx_enter(&root.pub);
	rc = host_prepare(&h, &root.pub, d->provider, j->op, &j->json, &j->prep);
	ctx_enter(prev);
	buf_free(&j->json);	/* parsed: its secrets are in prep now */
	if (rc != OCIKP_OK) {
		j->code = grpc_code_of(rc);
		host_error_line(&h, rc, j->message, sizeof(j->message));
		return;
	}
	for (i = 0; i < j->prep.n_backends; i++)
		if ((key = pool_lane(j->gen->pool, j->prep.backends[i]))) {
			lane = key;
			n_serial++;
		}
	/* two serial backends: no lane, each lock wait is bounded instead */
	j->lane = n_serial == 1 ? lane : NULL;
	j->code = -1;	/* to run */
}

static void run_job(struct job *j)
{
	struct host h = j->gen->base;	/* this request's: its error line, its deadline */
	struct backend_ctx root;
	struct ocikp_ctx *prev;
	struct caller who;	/* the caller's rights, not the daemon's */
	int rc;

	peer_caller(j->gen, j->peer, &who);
	h.caller = &who;
	memset(&h.err, 0, sizeof(h.err));
	h.deadline = j->deadline;
	h.pool = j->gen->pool;
	h.backstop = false;
	h.served_by = NULL;
	h.cancelled = &j->cancelled;
	host_ctx_init(&root.pub, &h, NULL);
	prev = ctx_enter(&root.pub);
	rc = host_run(&h, &root.pub, &j->prep, &j->answer);
	if (rc == OCIKP_OK) {
		j->code = GRPC_OK;
	} else {
		j->code = deadline_left_ms(&j->deadline) == 0 ? GRPC_DEADLINE_EXCEEDED
							       : grpc_code_of(rc);
		host_error_line(&h, rc, j->message, sizeof(j->message));
		buf_free(&j->answer);
	}
	prepared_free(&j->prep);	/* the request may hold keys: gone as soon as done */
	ctx_enter(prev);
	log_request(j->op, h.served_by, j->code, &j->started, j->peer, j->message);
}

/* ---- per-uid counts (under q_lock) ------------------------------------------ */

static uid_t uid_of(const struct job *j)
{
	return j->peer->has_cred ? j->peer->uid : UID_TCP;
}

/* The slot of uid, or a free one; NULL when the table is full (then no
 * count is kept: 64 uids busy at once is not a flood from one). */
static struct uid_slot *uid_slot(struct daemon *d, uid_t uid)
{
	struct uid_slot *free_slot = NULL;
	size_t i;

	for (i = 0; i < UID_SLOTS; i++) {
		if (d->uids[i].n && d->uids[i].uid == uid)
			return &d->uids[i];
		if (!d->uids[i].n && !free_slot)
			free_slot = &d->uids[i];
	}
	if (free_slot)
		free_slot->uid = uid;
	return free_slot;
}

static bool uid_take(struct daemon *d, struct job *j)
{
	struct uid_slot *u = uid_slot(d, uid_of(j));

	if (!u)
		return true;
	if (u->n >= UID_JOBS_MAX)
		return false;
	u->n++;
	j->uid_counted = true;
	return true;
}

static void uid_release(struct daemon *d, struct job *j)
{
	struct uid_slot *u;

	if (!j->uid_counted)
		return;
	pthread_mutex_lock(&d->q_lock);
	u = uid_slot(d, uid_of(j));
	if (u && u->n)
		u->n--;
	pthread_mutex_unlock(&d->q_lock);
	j->uid_counted = false;
}

/* The job back to its connection, with its result. */
static void finish(struct daemon *d, struct job *j)
{
	uid_release(d, j);
	prepared_free(&j->prep);
	buf_free(&j->json);
	gen_unref(j->gen);	/* here, not on a connection's small stack: it may unload */
	j->gen = NULL;
	j->done(j);
}

/* Not worth a worker: the caller is gone, its time is up, or we stop. */
static bool drop_early(struct daemon *d, struct job *j)
{
	if (atomic_load(&j->cancelled))
		result_error(j, GRPC_CANCELLED, "ocikpd: cancelled: the caller went away");
	else if (deadline_left_ms(&j->deadline) == 0)
		result_error(j, GRPC_DEADLINE_EXCEEDED,
			     "ocikpd: deadline exceeded: waited in the queue until the deadline");
	else
		return false;
	if (j->code != GRPC_CANCELLED)	/* a cancelled one has nobody to read its line */
		log_request(j->op, NULL, j->code, &j->started, j->peer, j->message);
	finish(d, j);
	return true;
}

/* ---- lanes (under q_lock) ----------------------------------------------------- */

static struct lane *lane_get(struct daemon *d, const void *key)
{
	struct lane *l;

	for (l = d->lanes; l; l = l->next)
		if (l->key == key)
			return l;
	l = calloc(1, sizeof(*l));
	if (l) {
		l->key = key;
		l->next = d->lanes;
		d->lanes = l;
	}
	return l;
}

static void lane_release(struct daemon *d, struct lane *l)
{
	struct lane **p;

	l->busy = false;
	if (l->head)
		return;	/* cannot happen: its holder takes the next first */
	for (p = &d->lanes; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	free(l);
}

static struct job *pop(struct job **head, struct job **tail)
{
	struct job *j = *head;

	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
		j->next = NULL;
	}
	return j;
}

static void push(struct job **head, struct job **tail, struct job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

/* The next job: the held lane's, then the shared queue's.  NULL: leave. */
static struct job *next_job(struct daemon *d, struct lane **held)
{
	struct job *j = NULL;

	pthread_mutex_lock(&d->q_lock);
	if (*held && !(j = pop(&(*held)->head, &(*held)->tail))) {
		lane_release(d, *held);
		*held = NULL;
	}
	if (!j) {
		d->n_idle_workers++;
		while (!d->q_head && !d->workers_quit)
			pthread_cond_wait(&d->q_cond, &d->q_lock);
		d->n_idle_workers--;
		j = pop(&d->q_head, &d->q_tail);
	}
	pthread_mutex_unlock(&d->q_lock);
	return j;
}

/* A job for a serial backend runs in the worker holding its lane: park it
 * there if another worker does (true), else take the lane. */
static bool park(struct daemon *d, struct job *j, struct lane **held)
{
	struct lane *l;
	bool parked = false;

	if (!j->lane || (*held && (*held)->key == j->lane))
		return false;
	pthread_mutex_lock(&d->q_lock);
	l = lane_get(d, j->lane);
	if (l && l->busy) {
		push(&l->head, &l->tail, j);
		parked = true;
	} else if (l) {
		l->busy = true;
		*held = l;	/* a worker holds one lane at most: *held was empty */
	}
	pthread_mutex_unlock(&d->q_lock);
	return parked;
}

static void *worker(void *arg)
{
	struct daemon *d = arg;
	struct lane *held = NULL;
	struct job *j;

	while ((j = next_job(d, &held))) {
		if (drop_early(d, j))
			continue;
		if (!j->prepared) {
			prepare_job(d, j);
			if (j->code >= 0) {	/* refused or malformed */
				log_request(j->op, NULL, j->code, &j->started, j->peer,
					    j->message);
				finish(d, j);
				continue;
			}
			if (park(d, j, &held))
				continue;
		}
		run_job(j);
		finish(d, j);
	}
	return NULL;	/* stopping, queue drained */
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
	bool over;

	pthread_mutex_lock(&d->q_lock);
	over = !uid_take(d, j);
	if (!over) {
		push(&d->q_head, &d->q_tail, j);
		if (d->n_idle_workers == 0 && d->n_workers < d->max_workers &&
		    pthread_create(&d->workers[d->n_workers], NULL, worker, d) == 0)
			d->n_workers++;	/* else a busy worker takes it next */
		else
			pthread_cond_signal(&d->q_cond);
	}
	pthread_mutex_unlock(&d->q_lock);
	if (over) {
		result_error(j, GRPC_RESOURCE_EXHAUSTED, "ocikpd: too many requests in flight "
			     "for this caller; try again");
		log_request(j->op, NULL, j->code, &j->started, j->peer, j->message);
		finish(d, j);
	}
}

/* Jobs waiting, in the shared queue and in the lanes; running ones finish. */
void work_refuse_queued(struct daemon *d)
{
	struct job *list = NULL, *tail = NULL, *j;
	struct lane *l;

	pthread_mutex_lock(&d->q_lock);
	while ((j = pop(&d->q_head, &d->q_tail)))
		push(&list, &tail, j);
	for (l = d->lanes; l; l = l->next)
		while ((j = pop(&l->head, &l->tail)))
			push(&list, &tail, j);
	pthread_mutex_unlock(&d->q_lock);
	while ((j = pop(&list, &tail))) {
		result_error(j, GRPC_UNAVAILABLE, "ocikpd: stopping: the request was not "
			     "started (safe to retry)");
		log_request(j->op, NULL, j->code, &j->started, j->peer, j->message);
		finish(d, j);
	}
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
	prepared_free(&j->prep);
	gen_unref(j->gen);
	free(j);
}
