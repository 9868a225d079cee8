/*
 * Who is calling, and what it may hold.
 *
 * A unix caller is known by SO_PEERCRED and SO_PEERGROUPS; a TCP caller is
 * not known at all.  Both are checked against serve.allow_users /
 * allow_groups as soon as the connection is accepted, so a refused caller
 * never takes a connection slot, a thread or a byte of the request budget.
 *
 * Shares: every caller (a uid for unix callers, one shared "tcp" caller
 * for every TCP connection) may hold at most half of the connections and
 * half of the request bytes the daemon buffers, so one caller filling its
 * share still leaves the other half to everyone else.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <nghttp2/nghttp2.h>
#include "ocikpd.h"

/* One caller's holdings: connections open, request bytes buffered.  Entries
 * live while a connection of theirs does (refs). */
struct share {
	bool tcp;
	uid_t uid;
	int refs;
	size_t conns;
	long bytes;
};

static pthread_mutex_t shares_lock = PTHREAD_MUTEX_INITIALIZER;
/* One per caller with a connection, or with a job still holding a closed
 * one: twice the connections is room enough. */
#define SHARES_MAX (2 * CONN_MAX)
static struct share shares[SHARES_MAX];

/* SO_PEERGROUPS, the whole list (as it was at connect): the kernel answers
 * ERANGE with the size it needs; ask again with that.  Any failure refuses
 * the caller: a partial list is a wrong one. */
static int read_groups(int fd, struct peer *p)
{
	socklen_t len = 32 * sizeof(gid_t), asked;
	gid_t *g = NULL, *grown;

	for (;;) {
		if (len > (socklen_t)(NGROUPS_MAX * sizeof(gid_t)))
			break;
		asked = len;
		grown = realloc(g, len ? len : sizeof(gid_t));
		if (!grown)
			break;
		g = grown;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
			p->groups = g;
			p->n_groups = (int)(len / sizeof(gid_t));
			return 0;
		}
		if (errno != ERANGE || len <= asked)
			break;	/* ERANGE must say a larger size: never loop */
	}
	free(g);
	return -1;
}

static int read_cred(int fd, bool is_unix, struct peer *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	memset(p, 0, sizeof(*p));
	if (!is_unix)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
		return -1;
	p->has_cred = true;
	p->uid = cred.uid;
	p->gid = cred.gid;
	return read_groups(fd, p);
}

static bool in_list(const unsigned *ids, size_t n, unsigned id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

bool peer_allowed(const struct gen *g, const struct peer *p, char *why, size_t size)
{
	int i;

	if (g->allow_any)
		return true;
	if (!p->has_cred) {
		snprintf(why, size, "ocikpd: the caller of a TCP connection is unknown and "
			 "serve.allow_users/allow_groups are set: use the unix socket");
		return false;
	}
	if (in_list(g->allow_uids, g->n_allow_uids, p->uid) ||
	    in_list(g->allow_gids, g->n_allow_gids, p->gid))
		return true;
	for (i = 0; i < p->n_groups; i++)
		if (in_list(g->allow_gids, g->n_allow_gids, p->groups[i]))
			return true;
	snprintf(why, size, "ocikpd: uid %u (gid %u) is not allowed by serve.allow_users or "
		 "serve.allow_groups", (unsigned)p->uid, (unsigned)p->gid);
	return false;
}

/* A refusing daemon must not become a log flood: one line a second at
 * most, with the number left out. */
/* The host's view of the caller (host/caller.c): whose identity a file the
 * request names is opened with, and whether serve.admin_users /
 * admin_groups list it (uid, primary gid or a supplementary group). */
void peer_caller(const struct gen *g, const struct peer *p, struct caller *c)
{
	int i;

	memset(c, 0, sizeof(*c));
	c->known = p->has_cred;
	if (!c->known)
		return;		/* over TCP: no identity, never an admin */
	c->uid = p->uid;
	c->gid = p->gid;
	c->groups = p->groups;
	c->n_groups = p->n_groups;
	c->admin = in_list(g->admin_uids, g->n_admin_uids, p->uid) ||
		   in_list(g->admin_gids, g->n_admin_gids, p->gid);
	for (i = 0; i < p->n_groups && !c->admin; i++)
		c->admin = in_list(g->admin_gids, g->n_admin_gids, p->groups[i]);
}

static void log_refusal(const char *why)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static time_t last;
	static unsigned long quiet;
	time_t now = time(NULL);

	pthread_mutex_lock(&lock);
	if (now != last) {
		if (quiet)
			fprintf(stderr, "ocikpd: refused a connection: %s (and %lu more since)\n",
				why, quiet);
		else
			fprintf(stderr, "ocikpd: refused a connection: %s\n", why);
		last = now;
		quiet = 0;
	} else {
		quiet++;
	}
	pthread_mutex_unlock(&lock);
}

/* The share of p's caller, made on first use; NULL when the table is full. */
static struct share *share_get(const struct peer *p)
{
	struct share *free_slot = NULL;
	size_t i;

	for (i = 0; i < SHARES_MAX; i++) {
		struct share *s = &shares[i];
		if (!s->refs) {
			if (!free_slot)
				free_slot = s;
		} else if (s->tcp == !p->has_cred && (!p->has_cred || s->uid == p->uid)) {
			return s;
		}
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->tcp = !p->has_cred;
		free_slot->uid = p->uid;
	}
	return free_slot;
}

/* 0 when the caller may have this connection, else the HTTP/2 error code
 * to close it with (p is then released). */
int peer_admit(struct daemon *d, int fd, bool is_unix, struct peer *p, char *why, size_t size)
{
	struct share *s;
	struct gen *g;
	bool ok;

	if (read_cred(fd, is_unix, p) != 0) {
		snprintf(why, size, "cannot read the caller's credentials (%s)", strerror(errno));
		log_refusal(why);
		peer_release(p);
		return NGHTTP2_INADEQUATE_SECURITY;
	}
	g = gen_current(d);
	ok = peer_allowed(g, p, why, size);
	gen_unref(g);
	if (!ok) {
		log_refusal(why + (strncmp(why, "ocikpd: ", 8) ? 0 : 8));
		peer_release(p);
		return NGHTTP2_INADEQUATE_SECURITY;
	}
	pthread_mutex_lock(&shares_lock);
	s = share_get(p);
	if (s && s->conns < CONN_MAX / 2) {
		s->refs++;
		s->conns++;
		p->share = s;
	}
	pthread_mutex_unlock(&shares_lock);
	if (!p->share) {
		if (s && p->has_cred)
			snprintf(why, size, "uid %u holds %d connections, its share",
				 (unsigned)p->uid, CONN_MAX / 2);
		else if (s)
			snprintf(why, size, "TCP callers hold %d connections, their share",
				 CONN_MAX / 2);
		else
			snprintf(why, size, "%d callers hold connections", SHARES_MAX);
		log_refusal(why);
		peer_release(p);
		return NGHTTP2_ENHANCE_YOUR_CALM;
	}
	return 0;
}

void peer_conn_closed(struct peer *p)
{
	if (!p->share)
		return;
	pthread_mutex_lock(&shares_lock);
	p->share->conns--;
	pthread_mutex_unlock(&shares_lock);
}

bool peer_bytes_take(struct peer *p, long n, long budget)
{
	bool ok = false;

	if (!p->share)
		return true;
	pthread_mutex_lock(&shares_lock);
	if (p->share->bytes + n <= budget / 2) {
		p->share->bytes += n;
		ok = true;
	}
	pthread_mutex_unlock(&shares_lock);
	return ok;
}

void peer_bytes_put(struct peer *p, long n)
{
	if (!p->share || !n)
		return;
	pthread_mutex_lock(&shares_lock);
	p->share->bytes -= n;
	pthread_mutex_unlock(&shares_lock);
}

void peer_release(struct peer *p)
{
	if (p->share) {
		pthread_mutex_lock(&shares_lock);
		p->share->refs--;
		pthread_mutex_unlock(&shares_lock);
	}
	free(p->groups);
	memset(p, 0, sizeof(*p));
}

static void frame_head(uint8_t *h, size_t len, uint8_t type)
{
	h[0] = (uint8_t)(len >> 16);
	h[1] = (uint8_t)(len >> 8);
	h[2] = (uint8_t)len;
	h[3] = type;
	memset(h + 4, 0, 5);	/* no flags, stream 0 */
}

/* A refused caller gets our SETTINGS and a GOAWAY saying why (its debug
 * data), written once without waiting: it is owed nothing more, and the
 * accept loop must not block on it. */
void peer_refuse(int fd, int h2_error, const char *why)
{
	uint8_t out[9 + 9 + 8 + 200];
	size_t n = strlen(why) > 200 ? 200 : strlen(why);

	frame_head(out, 0, NGHTTP2_SETTINGS);
	frame_head(out + 9, 8 + n, NGHTTP2_GOAWAY);
	memset(out + 18, 0, 4);	/* last stream: none was processed */
	out[22] = (uint8_t)(h2_error >> 24);
	out[23] = (uint8_t)(h2_error >> 16);
	out[24] = (uint8_t)(h2_error >> 8);
	out[25] = (uint8_t)h2_error;
	memcpy(out + 26, why, n);
	if (send(fd, out, 26 + n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* gone already, or not reading: it is closed all the same */
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}

void peer_drop(struct peer *p)
{
	peer_conn_closed(p);
	peer_release(p);
}
