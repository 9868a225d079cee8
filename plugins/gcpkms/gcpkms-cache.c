/*
 * Access tokens cached in memory, and across execs.
 *
 * In memory: ocikpd keeps the backend loaded across requests, so the
 * tokens live in the state init hangs on backend_data, keyed by the same
 * identity and held to the same margin as the files.  A warm daemon then
 * touches neither the state directory nor the network for a token.  No
 * lock: the backend is not OCIKP_BACKEND_CONCURRENT, so the host calls it
 * one request at a time.  Each request's ctx is a copy of init's, so the
 * state is changed through the pointer, never by setting backend_data.
 *
 * Across execs: ocicrypt runs ocikp once per layer; without a cache every
 * exec would ask the token endpoint again.  One file per credential identity,
 * token-<identity hex>.json in the backend's state directory, holds
 * {"v":1,"access_token":"...","expires_at":UNIX}.  The directory is the
 * caller's alone (the host checks every level on every call), yet a file
 * in it is still checked before use, and anything odd is ignored and
 * replaced, never trusted or repaired.
 *
 * Readers take no lock: files only ever appear whole, by rename.  A miss
 * takes state_lock and looks again before fetching, so parallel execs that
 * all miss fetch once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "gcpkms.h"

/* bytes of a cache file, at most: room for a token as long as any fetched
 * (GCP_TOKEN_MAX, each byte escaped at worst), so every token fetched can
 * be reused, and the rest of the file */
#define CACHE_MAX (2 * GCP_TOKEN_MAX + 1024)
#define HEX_LEN 64
#define MEMO_SLOTS 4		/* identities kept in memory; one is the usual */

/* One identity's token in memory; tok is a host buffer (wiped when freed). */
struct memo {
	char hex[HEX_LEN + 1];		/* "": a free slot */
	struct ocikp_buf tok;
	long long expires_at;
};

struct gcpkms_state {
	struct memo slot[MEMO_SLOTS];
	struct http_pool *pool;		/* KMS and token connections, kept */
};

struct cache {
	int dfd;			/* the state directory; -1: no cache */
	char hex[HEX_LEN + 1];		/* the credential's identity */
	char lock[8 + HEX_LEN];		/* token-<hex> (state_lock adds .lock) */
	char file[16 + HEX_LEN];	/* token-<hex>.json */
};

static long long now_s(void)
{
	return (long long)time(NULL);
}

/* The state directory's services, and json_number for the file's numbers. */
static bool host_can_cache(const struct ocikp_host *h)
{
	return OCIKP_HOST_HAS(h, state_unlock) && OCIKP_HOST_HAS(h, json_number);
}

/* Open the state directory for c's cache file; k->dfd stays -1 (and a
 * debug line says why) when there is none to use. */
static void cache_open(struct ocikp_ctx *ctx, struct gcp_cred *c, const char *hex,
		       struct cache *k)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf dir = { 0 };
	struct stat st;
	int fd;

	memset(k, 0, sizeof(*k));
	k->dfd = -1;
	if (!host_can_cache(h)) {
		ocikp_debugf(ctx, "token cache off: this ocikp has no state directory");
		return;
	}
	if (!hex) {
		ocikp_debugf(ctx, "token cache off: no identity for %s", cred_describe(c));
		return;
	}
	memcpy(k->hex, hex, sizeof(k->hex));
	snprintf(k->lock, sizeof(k->lock), "token-%s", k->hex);
	snprintf(k->file, sizeof(k->file), "token-%s.json", k->hex);

	if (h->state_dir(ctx, &dir) != OCIKP_OK) {
		/* Its reason is in the error line, which a backend cannot read. */
		ocikp_error_clear(ctx);
		ocikp_debugf(ctx, "token cache off: no usable state directory%s",
			     geteuid() != 0 && !getenv("XDG_RUNTIME_DIR") ?
			     " (XDG_RUNTIME_DIR is unset)" : "");
		h->buf_free(&dir);
		return;
	}
	/* state_dir checked every level just now; the same checks on the
	 * descriptor we keep close the gap since. */
	fd = open((const char *)dir.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) ||
			st.st_uid != geteuid() || (st.st_mode & 077))) {
		close(fd);
		fd = -1;
		errno = EPERM;
	}
	if (fd < 0)
		ocikp_debugf(ctx, "token cache off: %s: %s", (const char *)dir.data,
			     strerror(errno));
	k->dfd = fd;
	h->buf_free(&dir);
}

/* Read the whole file (at most CACHE_MAX bytes) into raw; false if larger
 * or unreadable. */
static bool read_small(int fd, const struct ocikp_host *h, struct ocikp_buf *raw)
{
	unsigned char *p = h->buf_extend(raw, CACHE_MAX + 1);
	size_t got = 0;
	ssize_t n;

	if (!p)
		return false;
	while (got <= CACHE_MAX) {
		n = read(fd, p + got, CACHE_MAX + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > CACHE_MAX)
		return false;
	raw->len = got;
	return true;
}

/* Something an Authorization header can carry as it is: printable ASCII,
 * no space (no header or JSON trickery from a file gone wrong). */
static bool token_chars_ok(const char *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i] < 0x21 || t[i] > 0x7e)
			return false;
	return n > 0;
}

static bool same_token(const struct ocikp_buf *a, const char *t, size_t n)
{
	return a && a->len == n && CRYPTO_memcmp(a->data, t, n) == 0;
}

/* Check a parsed cache file at time now; append its token to tok when
 * usable, else return why not.  *refused: it holds `stale`. */
static const char *cache_parse(struct ocikp_ctx *ctx, const ocikp_json *doc, long long now,
			       const struct ocikp_buf *stale, struct ocikp_buf *tok,
			       bool *refused, long long *left, long long *expires_at_out)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *v = h->json_get(doc, "v"), *at = h->json_get(doc, "access_token"),
			 *exp = h->json_get(doc, "expires_at");
	const char *t, *num;
	long long expires_at;
	size_t n;
	char *end;

	if (h->json_type(doc) != OCIKP_JSON_OBJECT || h->json_type(v) != OCIKP_JSON_NUMBER ||
	    strcmp(h->json_number(v), "1") != 0)
		return "not a version 1 cache file";
	if (h->json_type(at) != OCIKP_JSON_STRING || h->json_type(exp) != OCIKP_JSON_NUMBER)
		return "no access_token or expires_at";
	t = h->json_string(at);
	n = h->json_string_len(at);
	if (n > GCP_TOKEN_MAX || !token_chars_ok(t, n))
		return "not a usable token";
	num = h->json_number(exp);
	errno = 0;
	expires_at = strtoll(num, &end, 10);
	if (errno || end == num || *end)
		return "expires_at not an integer";
	/* Bounded before any arithmetic: strtoll takes LLONG_MIN, and no token
	 * is fetched for longer than GCP_TOKEN_LIFETIME_MAX, so a later expiry
	 * is a file gone wrong. */
	if (expires_at < 0 || expires_at > now + GCP_TOKEN_LIFETIME_MAX)
		return "expires_at out of range";
	*left = expires_at - now;
	if (*left <= GCP_TOKEN_MARGIN_S)
		return *left <= 0 ? "expired" : "expires within the margin";
	if (same_token(stale, t, n)) {
		*refused = true;
		return "the token KMS refused";
	}
	if (h->buf_append(tok, t, n) != OCIKP_OK)
		return "out of memory";
	*expires_at_out = expires_at;
	return NULL;
}

const char *cache_check(struct ocikp_ctx *ctx, const void *raw, size_t len, long long now,
			const struct ocikp_buf *stale, struct ocikp_buf *tok, bool *refused,
			long long *left, long long *expires_at)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_json *doc = NULL;
	const char *why;

	*refused = false;
	if (h->json_parse(ctx, "token cache", raw, len, &doc) != OCIKP_OK) {
		ocikp_error_clear(ctx);
		return "not valid JSON";
	}
	why = cache_parse(ctx, doc, now, stale, tok, refused, left, expires_at);
	h->json_free(doc);
	return why;
}

/*
 * The cached token, appended to tok, if the file is there, ours, private,
 * small, well formed, not near expiry and not `stale`.  Anything else is a
 * miss with a debug line saying why; *refused tells the caller that the
 * file holds the token KMS refused.
 */
static bool cache_read(struct ocikp_ctx *ctx, const struct cache *k,
		       const struct ocikp_buf *stale, struct ocikp_buf *tok, bool *refused,
		       long long *expires_at)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf raw = { 0 };
	const char *why = NULL;
	long long left = 0;
	struct stat st;
	int fd;

	*refused = false;
	fd = openat(k->dfd, k->file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			ocikp_debugf(ctx, "token cache: %s: none yet", k->file);
		else
			ocikp_debugf(ctx, "token cache: %s: %s, ignored", k->file,
				     errno == ELOOP ? "a symbolic link" : strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0)
		why = "cannot stat";
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_uid != geteuid())
		why = "owned by another user";
	else if (st.st_mode & 077)
		why = "accessible by group or others";
	else if (st.st_size > CACHE_MAX || !read_small(fd, h, &raw))
		why = "too large or unreadable";
	close(fd);
	if (!why)
		why = cache_check(ctx, raw.data, raw.len, now_s(), stale, tok, refused, &left,
				  expires_at);
	h->buf_free(&raw);
	if (why) {
		ocikp_debugf(ctx, "token cache: %s: %s, ignored", k->file, why);
		return false;
	}
	ocikp_debugf(ctx, "token cache: %s: hit, %lld s left", k->file, left);
	return true;
}

static int write_all_fd(int fd, const unsigned char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A name for the temporary file no other writer can pick: random, and
 * dotted so it never looks like a cache or lock file. */
static bool temp_name(const struct cache *k, char *out, size_t size)
{
	unsigned char r[8];
	bool ok = RAND_bytes(r, sizeof(r)) == 1;

	snprintf(out, size, ".%s.%ld.%02x%02x%02x%02x%02x%02x%02x%02x.tmp", k->file,
		 (long)getpid(), r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	return ok;
}

/*
 * Replace the cache file with {v, access_token, expires_at}: a new file
 * created 0600 beside it, renamed over it (a symlink or anything else in
 * its place is replaced, never followed).  No fsync: the directory is on
 * tmpfs (/run, XDG_RUNTIME_DIR), and were it not, a file lost or torn by a
 * crash is only a miss (it fails to parse), while an fsync per refresh
 * would cost a disk flush.  Failure is a debug line: the token still works.
 */
static void cache_store(struct ocikp_ctx *ctx, const struct cache *k, const unsigned char *t,
			size_t n, long long expires_at)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf text = { 0 };
	char tmp[64 + sizeof(k->file)];
	const char *why = NULL;
	ocikp_jgen *g;
	int fd = -1;

	if (expires_at - now_s() <= GCP_TOKEN_MARGIN_S) {
		ocikp_debugf(ctx, "token cache: a fresh token that expires in %lld s: used, not cached",
			     expires_at - now_s());
		return;
	}
	g = h->jgen_new();
	if (!g) {
		why = "out of memory";
		goto out;
	}
	h->jgen_map_open(g);
	h->jgen_key(g, "v");
	h->jgen_int(g, 1);
	h->jgen_key(g, "access_token");
	h->jgen_string(g, (const char *)t, n);
	h->jgen_key(g, "expires_at");
	h->jgen_int(g, expires_at);
	h->jgen_map_close(g);
	if (h->jgen_finish(g, &text) != OCIKP_OK) {
		ocikp_error_clear(ctx);
		why = "cannot encode";
		goto out;
	}
	if (!temp_name(k, tmp, sizeof(tmp))) {
		why = "no random name";
		goto out;
	}
	fd = openat(k->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		    0600);
	if (fd < 0) {
		why = strerror(errno);
		goto out;
	}
	/* fchmod: a umask may have taken the owner's own bits. */
	if (fchmod(fd, 0600) != 0 || write_all_fd(fd, text.data, text.len) != 0)
		why = strerror(errno);
	if (close(fd) != 0 && !why)
		why = strerror(errno);
	if (!why && renameat(k->dfd, tmp, k->dfd, k->file) != 0)
		why = strerror(errno);
	if (why)
		unlinkat(k->dfd, tmp, 0);
out:
	h->buf_free(&text);
	if (why)
		ocikp_debugf(ctx, "token cache: cannot write %s: %s", k->file, why);
	else
		ocikp_debugf(ctx, "token cache: %s: written, %lld s left", k->file,
			     expires_at - now_s());
}

static int fetch(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		 struct ocikp_buf *tok, long long *expires_at)
{
	ocikp_debugf(ctx, "token cache: fetching a token for %s", cred_describe(c));
	return cred_fetch_token(ctx, o, c, tok, expires_at);
}

/* The state directory's part of token_get: the file, else a fetch (then
 * written to the file); *expires_at is the token's, either way. */
static int file_get(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		    const char *hex, const struct ocikp_buf *stale, struct ocikp_buf *tok,
		    long long *expires_at)
{
	const struct ocikp_host *h = ctx->host;
	size_t start = tok->len;
	struct cache k;
	bool refused;
	int lfd = -1, rc;

	cache_open(ctx, c, hex, &k);
	if (k.dfd < 0)
		return fetch(ctx, o, c, tok, expires_at);

	/* Most execs end here, without the lock. */
	if (cache_read(ctx, &k, stale, tok, &refused, expires_at)) {
		rc = OCIKP_OK;
		goto out;
	}
	rc = h->state_lock(ctx, k.lock, &lfd);
	if (rc == OCIKP_UNAVAILABLE)	/* held by another exec until the deadline */
		goto out;
	if (rc != OCIKP_OK) {
		ocikp_error_clear(ctx);
		ocikp_debugf(ctx, "token cache: cannot lock %s, fetching without caching", k.lock);
		rc = fetch(ctx, o, c, tok, expires_at);
		goto out;
	}
	/* Another exec may have refreshed it while we waited for the lock. */
	if (cache_read(ctx, &k, stale, tok, &refused, expires_at)) {
		rc = OCIKP_OK;
		goto out;
	}
	/* Drop the token KMS refused now, so a failed fetch leaves it nowhere. */
	if (refused)
		unlinkat(k.dfd, k.file, 0);
	rc = fetch(ctx, o, c, tok, expires_at);
	if (rc == OCIKP_OK)
		cache_store(ctx, &k, tok->data + start, tok->len - start, *expires_at);
out:
	if (lfd >= 0)
		h->state_unlock(lfd);
	close(k.dfd);
	return rc;
}

/* ---- in memory ------------------------------------------------------------------ */

int gcpkms_state_new(struct ocikp_ctx *ctx)
{
	struct gcpkms_state *st = calloc(1, sizeof(*st));

	if (!st) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	st->pool = http_pool_new();	/* NULL: each request connects afresh */
	ctx->backend_data = st;
	return OCIKP_OK;
}

struct http_pool *gcpkms_pool(struct ocikp_ctx *ctx)
{
	struct gcpkms_state *st = ctx->backend_data;

	return st ? st->pool : NULL;
}

static void memo_drop(struct ocikp_ctx *ctx, struct memo *m)
{
	ctx->host->buf_free(&m->tok);	/* wipes the token */
	memset(m, 0, sizeof(*m));
}

void gcpkms_state_free(struct ocikp_ctx *ctx)
{
	struct gcpkms_state *st = ctx->backend_data;
	size_t i;

	if (!st)
		return;
	for (i = 0; i < MEMO_SLOTS; i++)
		memo_drop(ctx, &st->slot[i]);
	http_pool_free(st->pool);
	free(st);
	ctx->backend_data = NULL;
}

/* The slot of identity hex, or NULL.  No state (a host that never called
 * init, the unit tests): no memory cache. */
static struct memo *memo_find(struct ocikp_ctx *ctx, const char *hex)
{
	struct gcpkms_state *st = ctx->backend_data;
	size_t i;

	for (i = 0; st && i < MEMO_SLOTS; i++)
		if (st->slot[i].hex[0] && !strcmp(st->slot[i].hex, hex))
			return &st->slot[i];
	return NULL;
}

/* Append the remembered token to tok if it has more than the margin left
 * and is not the one KMS refused; drop it otherwise. */
static bool memo_read(struct ocikp_ctx *ctx, struct memo *m, const struct ocikp_buf *stale,
		      struct ocikp_buf *tok)
{
	long long left = m->expires_at - now_s();
	const char *why = NULL;

	if (left <= GCP_TOKEN_MARGIN_S)
		why = left <= 0 ? "expired" : "expires within the margin";
	else if (same_token(stale, (const char *)m->tok.data, m->tok.len))
		why = "the token KMS refused";
	else if (ctx->host->buf_append(tok, m->tok.data, m->tok.len) != OCIKP_OK)
		why = "out of memory";
	if (why) {
		ocikp_debugf(ctx, "token cache: in memory: %s, dropped", why);
		memo_drop(ctx, m);
		return false;
	}
	ocikp_debugf(ctx, "token cache: in memory, %lld s left", left);
	return true;
}

/* Remember identity hex's token: in its slot, else a free one, else the
 * one that expires first.  The token it replaces is wiped. */
static void memo_store(struct ocikp_ctx *ctx, const char *hex, const unsigned char *t, size_t n,
		       long long expires_at)
{
	struct gcpkms_state *st = ctx->backend_data;
	struct memo *m = memo_find(ctx, hex);
	size_t i;

	if (!st || expires_at - now_s() <= GCP_TOKEN_MARGIN_S)
		return;
	for (i = 0; !m && i < MEMO_SLOTS; i++)
		if (!st->slot[i].hex[0])
			m = &st->slot[i];
	if (!m) {
		m = &st->slot[0];
		for (i = 1; i < MEMO_SLOTS; i++)
			if (st->slot[i].expires_at < m->expires_at)
				m = &st->slot[i];
	}
	memo_drop(ctx, m);
	if (ctx->host->buf_append(&m->tok, t, n) != OCIKP_OK) {
		memo_drop(ctx, m);	/* only a miss next time */
		return;
	}
	memcpy(m->hex, hex, sizeof(m->hex));
	m->expires_at = expires_at;
}

/* The identity of c as 64 hex digits in hex; false if it has none. */
static bool identity(struct gcp_cred *c, char hex[HEX_LEN + 1])
{
	cred_identity(c, hex);
	hex[HEX_LEN] = '\0';
	return strlen(hex) == HEX_LEN && strspn(hex, "0123456789abcdef") == HEX_LEN;
}

int token_get(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
	      const struct ocikp_buf *stale, struct ocikp_buf *tok)
{
	char hex[HEX_LEN + 1];
	bool have_id = identity(c, hex);
	struct memo *m = have_id ? memo_find(ctx, hex) : NULL;
	size_t start = tok->len;
	long long expires_at = 0;
	int rc;

	/* A warm daemon ends here: no file, no network. */
	if (m && memo_read(ctx, m, stale, tok))
		return OCIKP_OK;
	rc = file_get(ctx, o, c, have_id ? hex : NULL, stale, tok, &expires_at);
	if (rc == OCIKP_OK && have_id)
		memo_store(ctx, hex, tok->data + start, tok->len - start, expires_at);
	return rc;
}
