/*
 * One HTTPS request over libcurl for the network backends (see http.h).
 *
 * The shape: check the URL before anything connects, set up one easy handle
 * with every safety option fixed, then a loop of attempts, each bounded by
 * the sooner of the configured timeouts and the request's deadline, with a
 * backoff sleep between them that never runs past that deadline.  Lines
 * for the user name the URL as "host[:port]/path" only: a query may hold a
 * key name or token, and headers and bodies always may.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <curl/curl.h>
#include "http.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

#define BACKOFF_FIRST_MS 100L
#define BACKOFF_MAX_MS 2000L
#define OPT_TIMEOUT_MAX_S 3600L
#define WHERE_MAX 256

/* ---- libcurl's global set-up ---------------------------------------------- */

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static bool global_done;

/* Variables that make libcurl (and OpenSSL builds with key logging) write
 * what decrypts our connections, bearer tokens and KEKs in them, to a
 * file: SSLKEYLOGFILE, read once when libcurl starts; QLOGDIR for QUIC
 * (unused here, cleared all the same).  libcurl-env(3) lists no others
 * outside debug builds. */
static const char *const secret_log_vars[] = { "SSLKEYLOGFILE", "QLOGDIR", NULL };

void http_env_scrub(void)
{
	size_t i;

	for (i = 0; secret_log_vars[i]; i++)
		if (getenv(secret_log_vars[i]))
			unsetenv(secret_log_vars[i]);
}

/* libcurl copies header lines (a bearer token) and keeps transfer buffers
 * in its own allocations: on the host's allocator each is wiped when freed.
 * The allocator must be in place before libcurl allocates anything, so this
 * runs before the first handle, once per process. */
static int global_init(struct ocikp_ctx *ctx)
{
	const struct ocikp_host *h = ctx->host;
	CURLcode c = CURLE_OK;

	if (!OCIKP_HOST_HAS(h, mem_calloc)) {
		ocikp_errorf(ctx, "the ocikp host is too old for HTTP (no cleansing allocator)");
		return OCIKP_INTERNAL;
	}
	pthread_mutex_lock(&global_lock);
	if (!global_done) {
		http_env_scrub();
		c = curl_global_init_mem(CURL_GLOBAL_DEFAULT, h->mem_malloc, h->mem_free,
					 h->mem_realloc, h->mem_strdup, h->mem_calloc);
		global_done = c == CURLE_OK;
	}
	pthread_mutex_unlock(&global_lock);
	if (c != CURLE_OK) {
		ocikp_errorf(ctx, "libcurl failed to start: %s", curl_easy_strerror(c));
		return OCIKP_INTERNAL;
	}
	return OCIKP_OK;
}

void http_global_cleanup(void)
{
	pthread_mutex_lock(&global_lock);
	if (global_done)
		curl_global_cleanup();
	global_done = false;
	pthread_mutex_unlock(&global_lock);
}

/* ---- connections kept across requests --------------------------------------- */

struct http_pool {
	pthread_mutex_t lock;		/* guards share and failed */
	pthread_mutex_t data[CURL_LOCK_DATA_LAST];	/* libcurl's, one per kind */
	CURLSH *share;
	bool failed;			/* the share could not be made: go without */
};

struct http_pool *http_pool_new(void)
{
	struct http_pool *p = calloc(1, sizeof(*p));
	size_t i;

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&p->data[i], NULL);
	return p;
}

void http_pool_free(struct http_pool *p)
{
	size_t i;

	if (!p)
		return;
	if (p->share)	/* closes the kept connections, frees the TLS sessions */
		curl_share_cleanup(p->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&p->data[i]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* libcurl takes one lock per kind of shared data; the connection cache and
 * the session cache are touched by every transfer at its start and end. */
static void share_lock(CURL *c, curl_lock_data d, curl_lock_access a, void *arg)
{
	struct http_pool *p = arg;

	(void)c;
	(void)a;
	pthread_mutex_lock(&p->data[d < CURL_LOCK_DATA_LAST ? d : CURL_LOCK_DATA_NONE]);
}

static void share_unlock(CURL *c, curl_lock_data d, void *arg)
{
	struct http_pool *p = arg;

	(void)c;
	pthread_mutex_unlock(&p->data[d < CURL_LOCK_DATA_LAST ? d : CURL_LOCK_DATA_NONE]);
}

static CURLSH *share_make(struct http_pool *p)
{
	CURLSH *s = curl_share_init();
	CURLSHcode e = s ? CURLSHE_OK : CURLSHE_NOMEM;

#define SSET(opt, val) do { if (!e) e = curl_share_setopt(s, opt, val); } while (0)
	SSET(CURLSHOPT_LOCKFUNC, share_lock);
	SSET(CURLSHOPT_UNLOCKFUNC, share_unlock);
	SSET(CURLSHOPT_USERDATA, p);
	SSET(CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	SSET(CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	SSET(CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
#undef SSET
	if (e && s) {
		curl_share_cleanup(s);
		s = NULL;
	}
	return s;
}

/* The pool's share, made on first use; NULL: connect afresh (no pool, or
 * libcurl would not make one, said once). */
static CURLSH *pool_share(struct ocikp_ctx *ctx, struct http_pool *p)
{
	CURLSH *s;

	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	if (!p->share && !p->failed) {
		p->share = share_make(p);
		if (!p->share) {
			p->failed = true;
			ocikp_debugf(ctx, "HTTP: libcurl made no connection share; every request "
				     "connects afresh");
		}
	}
	s = p->share;
	pthread_mutex_unlock(&p->lock);
	return s;
}

/* ---- time ------------------------------------------------------------------ */

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec * 1000 + t.tv_nsec / 1000000);
}

static void sleep_ms(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	/* absolute, so a signal (the host's own) does not stretch the wait */
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) != 0)
		;
}

/* The n-th backoff (n from 1): doubling from BACKOFF_FIRST_MS up to
 * BACKOFF_MAX_MS, then a random point in its upper half, so clients that
 * failed together do not come back together. */
static long backoff_ms(int n)
{
	long base = BACKOFF_FIRST_MS;
	struct timespec t;
	uint64_t r;

	while (--n > 0 && base < BACKOFF_MAX_MS)
		base *= 2;
	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	clock_gettime(CLOCK_MONOTONIC, &t);
	r = ((uint64_t)t.tv_nsec ^ (uint64_t)(uintptr_t)&t) * 0x9e3779b97f4a7c15ULL;
	return base / 2 + (long)((r >> 33) % (uint64_t)(base / 2 + 1));
}

static long deadline_left(struct ocikp_ctx *ctx)
{
	return ctx->host->deadline_ms(ctx);
}

/* ---- the target: checked before anything connects ------------------------ */

struct target {
	CURLU *url;
	bool plain;		/* http:// */
	bool plain_any;		/* ...to any host (HTTP_PLAIN_ANY), else to a local address */
	char where[WHERE_MAX];	/* "host[:port]/path" for lines */
};

/* fd00:ec2::23 (EKS Pod Identity) and fd00:ec2::254 (EC2 IMDS): the two
 * unique-local addresses AWS's own credential formats name. */
static bool aws_ula(const struct in6_addr *a)
{
	static const unsigned char pre[14] = { 0xfd, 0x00, 0x0e, 0xc2 };

	return !memcmp(a->s6_addr, pre, sizeof(pre)) &&
	       ((a->s6_addr[14] == 0x00 && a->s6_addr[15] == 0x23) ||
		(a->s6_addr[14] == 0x02 && a->s6_addr[15] == 0x54));	/* groups are hex */
}

/* Loopback or link-local: where the metadata servers live. */
static bool addr_local(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		return (a >> 24) == 127 || (a >> 16) == 0xa9fe;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		struct sockaddr_in v4 = { .sin_family = AF_INET };

		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) || aws_ula(a))
			return true;
		if (!IN6_IS_ADDR_V4MAPPED(a))
			return false;
		memcpy(&v4.sin_addr, &a->s6_addr[12], 4);
		return addr_local((const struct sockaddr *)&v4);
	}
	return false;
}

/* A URL host (IPv6 in brackets, as libcurl gives it) that may take plain
 * HTTP: a local address literal, or a name the metadata services use. */
static bool host_local(const char *host)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	char lit[64];
	size_t n = strlen(host);

	if (!strcasecmp(host, "localhost") || !strcasecmp(host, "metadata.google.internal"))
		return true;
	if (inet_pton(AF_INET, host, &v4.sin_addr) == 1)
		return addr_local((struct sockaddr *)&v4);
	if (n < 3 || n - 2 >= sizeof(lit) || host[0] != '[' || host[n - 1] != ']')
		return false;
	memcpy(lit, host + 1, n - 2);
	lit[n - 2] = '\0';
	return inet_pton(AF_INET6, lit, &v6.sin6_addr) == 1 &&
	       addr_local((struct sockaddr *)&v6);
}

/* "host[:port]/path" of an already parsed URL, for lines. */
static void target_where(struct target *t)
{
	char *host = NULL, *port = NULL, *path = NULL;

	curl_url_get(t->url, CURLUPART_HOST, &host, 0);
	curl_url_get(t->url, CURLUPART_PORT, &port, 0);
	curl_url_get(t->url, CURLUPART_PATH, &path, 0);
	snprintf(t->where, sizeof(t->where), "%s%s%s%s", host ? host : "?", port ? ":" : "",
		 port ? port : "", path ? path : "/");
	curl_free(host);
	curl_free(port);
	curl_free(path);
}

static bool url_has(CURLU *u, CURLUPart part)
{
	char *s = NULL;
	bool has = curl_url_get(u, part, &s, 0) == CURLUE_OK && s;

	curl_free(s);
	return has;
}

/* Parse req->url and decide whether it may be used at all. */
static int target_open(struct ocikp_ctx *ctx, const struct http_opts *o, const char *method,
		       const char *url, struct target *t)
{
	char *scheme = NULL, *host = NULL;
	CURLUcode uc;
	int rc = OCIKP_OK;

	memset(t, 0, sizeof(*t));
	if (!(t->url = curl_url()))
		return OCIKP_INTERNAL;
	uc = curl_url_set(t->url, CURLUPART_URL, url ? url : "", 0);
	if (uc != CURLUE_OK) {	/* never quoted: it may hold a query */
		ocikp_errorf(ctx, "%s: malformed URL (%s)", method, curl_url_strerror(uc));
		return OCIKP_BAD_INPUT;
	}
	target_where(t);
	if (url_has(t->url, CURLUPART_USER) || url_has(t->url, CURLUPART_PASSWORD)) {
		ocikp_errorf(ctx, "%s %s: a URL with user:password@ is refused", method, t->where);
		return OCIKP_BAD_INPUT;
	}
	curl_url_get(t->url, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(t->url, CURLUPART_HOST, &host, 0);
	if (scheme && !strcmp(scheme, "https")) {
		/* the one good case */
	} else if (!scheme || strcmp(scheme, "http")) {
		ocikp_errorf(ctx, "%s %s: only https:// URLs are allowed", method, t->where);
		rc = OCIKP_CONFIG;
	} else if (o->flags & HTTP_PLAIN_ANY) {
		t->plain = t->plain_any = true;
	} else if (!(o->flags & HTTP_PLAIN_LOCAL)) {
		ocikp_errorf(ctx, "%s %s: plain http:// is refused, use https://", method, t->where);
		rc = OCIKP_CONFIG;
	} else if (!host || !host_local(host)) {
		ocikp_errorf(ctx, "%s %s: plain http:// only to a loopback or link-local address",
			     method, t->where);
		rc = OCIKP_CONFIG;
	} else {
		t->plain = true;
	}
	curl_free(scheme);
	curl_free(host);
	return rc;
}

static void target_close(struct target *t)
{
	curl_url_cleanup(t->url);
	t->url = NULL;
}

/* ---- one transfer's state ------------------------------------------------- */

struct xfer {
	struct ocikp_ctx *ctx;
	struct http_resp *resp;
	const char *want_cookie;
	bool too_big, oom, not_local;
	bool in_headers;	/* a status line came, its blank line not yet */
	bool headers_big;	/* over HTTP_MAX_HEADERS: refused */
	size_t header_bytes;	/* of this attempt, every answer's */
	unsigned cookies;	/* Set-Cookie lines of the current answer */
	char errbuf[CURL_ERROR_SIZE];
};

/* Keep the body in the caller's cleansing buffer; stop the transfer at the
 * cap rather than read what we would refuse anyway. */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	struct ocikp_buf *b = &x->resp->body;

	n *= size;
	if (n > HTTP_MAX_BODY - b->len) {
		x->too_big = true;
		return 0;
	}
	if (x->ctx->host->buf_append(b, data, n) != OCIKP_OK) {
		x->oom = true;
		return 0;
	}
	return n;
}

/* ---- the answer's header lines ------------------------------------------- */

static bool line_is(const char *l, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && !strncasecmp(l, prefix, k);
}

/* One Set-Cookie value, "name=value; attributes": keep the value when the
 * name is the one wanted (the last such line wins).  No cookie jar: the
 * caller keeps a session cookie for the requests that follow, and an
 * attribute (Path, Expires) is not read: how long a session lives the
 * caller learns elsewhere (kbs: its token's exp) or from a 401. */
static void cookie_line(struct xfer *x, const char *v, size_t n)
{
	const struct ocikp_host *h = x->ctx->host;
	size_t nl = strlen(x->want_cookie), vl;

	for (; n && (*v == ' ' || *v == '\t'); v++, n--)
		;
	if (n <= nl || strncmp(v, x->want_cookie, nl) || v[nl] != '=')
		return;
	v += nl + 1;
	n -= nl + 1;
	for (vl = 0; vl < n && v[vl] != ';' && v[vl] != '\r' && v[vl] != '\n'; vl++)
		;
	for (; vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'); vl--)
		;
	/* out of memory leaves it empty: the caller finds no cookie */
	h->buf_free(&x->resp->cookie);
	h->buf_append(&x->resp->cookie, v, vl);
}

/* Each header line once, as it arrives: one pass however many there are
 * (libcurl's curl_easy_header and curl_easy_nextheader walk the whole list
 * per call, quadratic over a flood of lines).  Only the final answer's
 * cookies count, and only its first HTTP_MAX_COOKIES Set-Cookie lines. */
static size_t on_header(char *l, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;

	n *= size;
	x->header_bytes += n;
	if (x->header_bytes > HTTP_MAX_HEADERS) {
		x->headers_big = true;
		return 0;
	}
	if (line_is(l, n, "HTTP/")) {	/* a new answer: a proxy's, a 1xx, the final one */
		x->in_headers = true;
		x->cookies = 0;
		x->ctx->host->buf_free(&x->resp->cookie);
	} else if (n <= 2 && (l[0] == '\r' || l[0] == '\n')) {
		x->in_headers = false;
	} else if (line_is(l, n, "Set-Cookie:") && x->want_cookie &&
		   ++x->cookies <= HTTP_MAX_COOKIES) {
		cookie_line(x, l + 11, n - 11);
	}
	return n;
}

/* Plain HTTP: every address tried must itself be local, so a name cannot
 * lead a token request elsewhere. */
static curl_socket_t on_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = arg;

	(void)purpose;
	if (!addr_local(&a->addr)) {
		x->not_local = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ---- setting up the handle ------------------------------------------------- */

static bool method_ok(const char *m)
{
	size_t n = 0;

	for (; m && *m; m++, n++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return n > 0 && n <= 16;
}

/* One header line onto the list; a line break would smuggle another header
 * in, so it is refused, naming the line by its number only. */
static int header_add(struct ocikp_ctx *ctx, const char *where, const struct http_req *req,
		      size_t i, const char *line, struct curl_slist *l)
{
	if (strpbrk(line, "\r\n") || !strchr(line, ':') || *line == ':') {
		ocikp_errorf(ctx, "%s %s: request header %zu is malformed", req->method, where, i);
		return OCIKP_INTERNAL;
	}
	return curl_slist_append(l, line) ? OCIKP_OK : OCIKP_INTERNAL;
}

/* The header list: the caller's lines (1, 2, ...), then the body's type
 * (0 in an error line). */
static int headers_build(struct ocikp_ctx *ctx, const char *where, const struct http_req *req,
			 struct curl_slist **out)
{
	char ct[256];
	size_t i;
	int rc = OCIKP_OK;

	/* no "Expect: 100-continue" round trip before a body */
	if (!(*out = curl_slist_append(NULL, "Expect:")))
		return OCIKP_INTERNAL;
	for (i = 0; !rc && req->headers && req->headers[i]; i++)
		rc = header_add(ctx, where, req, i + 1, req->headers[i], *out);
	if (!rc && req->body) {
		if (snprintf(ct, sizeof(ct), "Content-Type: %s", req->content_type ?
			     req->content_type : "application/x-www-form-urlencoded") >=
		    (int)sizeof(ct))
			ct[0] = '\0';	/* refused just below */
		rc = header_add(ctx, where, req, 0, ct, *out);
	}
	return rc;
}

static CURLcode set_method(CURL *c, const struct http_req *req)
{
	CURLcode e = CURLE_OK;

	if (!strcmp(req->method, "GET") && !req->body)
		return curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	if (strcmp(req->method, "POST"))
		e = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	if (!e && (req->body || !strcmp(req->method, "POST"))) {
		/* not copied: libcurl reads the caller's (cleansing) buffer */
		e = curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		if (!e)
			e = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
					     (curl_off_t)(req->body ? req->body_len : 0));
	}
	return e;
}

/* The first of these variables set and not empty, else NULL. */
static const char *env_first(const char *a, const char *b)
{
	const char *v = getenv(a);

	if ((!v || !*v) && b)
		v = getenv(b);
	return v && *v ? v : NULL;
}

/* The proxy, fixed here rather than left to libcurl's own look-up, which
 * also takes ALL_PROXY/all_proxy: that variable is often set for other
 * tools (a desktop's SOCKS proxy), and the container tools ocicrypt runs
 * under (Go's net/http) ignore it, so an admin's https_proxy/no_proxy is
 * the whole story here too.  https:// takes https_proxy or HTTPS_PROXY;
 * plain http:// to any host http_proxy, lowercase only as libcurl does (a
 * CGI request can set HTTP_PROXY); no_proxy or NO_PROXY exempts hosts.
 * A metadata server is never behind a proxy. */
static CURLcode proxy_setup(CURL *c, const struct target *t)
{
	const char *proxy = NULL, *no_proxy = env_first("no_proxy", "NO_PROXY");
	CURLcode e;

	if (!t->plain)
		proxy = env_first("https_proxy", "HTTPS_PROXY");
	else if (t->plain_any)
		proxy = env_first("http_proxy", NULL);
	e = curl_easy_setopt(c, CURLOPT_PROXY, proxy ? proxy : "");
	if (!e && proxy && no_proxy)
		e = curl_easy_setopt(c, CURLOPT_NOPROXY, no_proxy);
	return e;
}

/* Everything that holds for every attempt. */
static CURLcode handle_setup(CURL *c, const struct http_opts *o, const struct target *t,
			     const struct http_req *req, struct curl_slist *hdrs, struct xfer *x)
{
	CURLcode e = CURLE_OK;
	CURLSH *share = pool_share(x->ctx, o->pool);

#define SET(opt, val) do { if (!e) e = curl_easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_CURLU, t->url);	/* the URL exactly as checked */
	SET(CURLOPT_PROTOCOLS_STR, t->plain ? "http" : "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);	/* SIGALRM is the host's backstop */
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (o->ca_file) {
		/* the private CA alone: a system CA directory would widen it */
		SET(CURLOPT_CAINFO, o->ca_file);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	if (o->client_cert && o->client_key) {
		struct curl_blob key = { o->client_key->data, o->client_key->len, CURL_BLOB_COPY };

		SET(CURLOPT_SSLCERT, o->client_cert);
		SET(CURLOPT_SSLCERTTYPE, "PEM");
		SET(CURLOPT_SSLKEY_BLOB, &key);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (!e)
		e = proxy_setup(c, t);
	if (t->plain && !t->plain_any) {
		SET(CURLOPT_OPENSOCKETFUNCTION, on_socket);
		SET(CURLOPT_OPENSOCKETDATA, x);
	}
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_USERAGENT, "ocikp/" PACKAGE_VERSION);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_BODY);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	if (share)	/* libcurl matches a kept connection on host, TLS and proxy settings */
		SET(CURLOPT_SHARE, share);
#undef SET
	return e ? e : set_method(c, req);
}

/* ---- attempts -------------------------------------------------------------- */

enum verdict { V_DONE, V_RETRY, V_FAIL };

struct attempt {
	CURLcode code;
	long elapsed_ms;
	long limit_ms;		/* the total timeout this attempt had */
	bool by_deadline;	/* ...and it was the deadline's */
	long proxy_status;	/* the proxy's refusal of CONNECT; 0: none */
};

/* Why a transfer failed, for a line: libcurl's detail when it has one. */
static const char *curl_why(const struct xfer *x, CURLcode code)
{
	return x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
}

/* 408: the server (or a proxy) gave up waiting on us, a passing state
 * like 429 and 503, and no answer to the request the caller could map. */
static bool retryable_status(long s)
{
	return s == 408 || s == 429 || s == 503 || s == 504;
}

/* Header lines past our cap, or past libcurl's own (one line over
 * CURL_MAX_HTTP_HEADER fails as out of memory, a block over its total as a
 * receive error, both before the blank line): the server's answer, the
 * same on every try. */
static bool headers_refused(const struct xfer *x, CURLcode code)
{
	if (x->headers_big)
		return true;
	if (!x->in_headers)
		return false;
	return code == CURLE_OUT_OF_MEMORY ||
	       (code == CURLE_RECV_ERROR &&
		x->header_bytes + CURL_MAX_HTTP_HEADER >= HTTP_MAX_HEADERS);
}

/* The proxy's answer to CONNECT when it refused the tunnel, else 0. */
static long proxy_refusal(CURL *c)
{
	long s = 0;

	if (curl_easy_getinfo(c, CURLINFO_HTTP_CONNECTCODE, &s) != CURLE_OK)
		return 0;
	return s >= 300 ? s : 0;
}

/* A proxy that refused the tunnel: retried only when it says it is busy or
 * cannot reach the server now (its 502), like a direct connection. */
static bool retryable_proxy(long s)
{
	return retryable_status(s) || s == 502;
}

static bool retryable_code(CURLcode c)
{
	return c == CURLE_COULDNT_CONNECT || c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR ||
	       c == CURLE_GOT_NOTHING;
}

/* One error line for a transfer that did not complete; its status. */
static int transfer_fail(struct ocikp_ctx *ctx, const char *method, const char *where,
			 const struct xfer *x, const struct attempt *a, const char *ca_file)
{
	if (headers_refused(x, a->code)) {
		ocikp_errorf(ctx, "%s %s: answer headers larger than %d KiB refused", method,
			     where, HTTP_MAX_HEADERS / 1024);
		return OCIKP_UNAVAILABLE;
	}
	if (a->proxy_status && a->proxy_status < 500) {
		ocikp_errorf(ctx, "%s %s: the proxy refused the tunnel: HTTP %ld (check "
			     "https_proxy and no_proxy)", method, where, a->proxy_status);
		return OCIKP_CONFIG;
	}
	if (a->proxy_status) {
		ocikp_errorf(ctx, "%s %s: the proxy refused the tunnel: HTTP %ld", method, where,
			     a->proxy_status);
		return OCIKP_UNAVAILABLE;
	}
	switch (a->code) {
	case CURLE_OPERATION_TIMEDOUT:
		ocikp_errorf(ctx, "%s %s: %s after %ld ms (%s)", method, where,
			     a->by_deadline ? "the request's time budget ran out" : "timed out",
			     a->elapsed_ms, curl_why(x, a->code));
		return OCIKP_UNAVAILABLE;
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_WRITE_ERROR:
		if (x->oom) {
			ocikp_errorf(ctx, "%s %s: out of memory", method, where);
			return OCIKP_INTERNAL;
		}
		ocikp_errorf(ctx, "%s %s: answer larger than %d KiB refused", method, where,
			     HTTP_MAX_BODY / 1024);
		return OCIKP_UNAVAILABLE;
	case CURLE_PEER_FAILED_VERIFICATION:
		ocikp_errorf(ctx, "%s %s: TLS: server certificate not trusted (%s)%s", method,
			     where, curl_why(x, a->code),
			     ca_file ? "; check ca_file" : "");
		return OCIKP_CONFIG;
	case CURLE_SSL_CACERT_BADFILE:
		ocikp_errorf(ctx, "%s %s: TLS: ca_file %s unusable (%s)", method, where,
			     ca_file ? ca_file : "(system)", curl_why(x, a->code));
		return OCIKP_CONFIG;
	case CURLE_OUT_OF_MEMORY:
		ocikp_errorf(ctx, "%s %s: out of memory", method, where);
		return OCIKP_INTERNAL;
	default:
		break;
	}
	if (x->not_local) {
		ocikp_errorf(ctx, "%s %s: plain http:// resolved to an address neither loopback "
			     "nor link-local", method, where);
		return OCIKP_CONFIG;
	}
	ocikp_errorf(ctx, "%s %s: %s%s", method, where,
		     a->code == CURLE_SSL_CONNECT_ERROR ? "TLS: " : "", curl_why(x, a->code));
	return OCIKP_UNAVAILABLE;
}

/* What an answer means to us; *rc is set when it is V_FAIL. */
static enum verdict answer_verdict(struct ocikp_ctx *ctx, const char *method, const char *where,
				   long status, int *rc)
{
	if (retryable_status(status))
		return V_RETRY;
	if ((status >= 200 && status < 300) || (status >= 400 && status < 500))
		return V_DONE;
	if (status >= 300 && status < 400) {
		ocikp_errorf(ctx, "%s %s: HTTP %ld: redirects are not followed (check the URL)",
			     method, where, status);
		*rc = OCIKP_CONFIG;
	} else {
		ocikp_errorf(ctx, "%s %s: HTTP %ld from the server", method, where, status);
		*rc = OCIKP_UNAVAILABLE;
	}
	return V_FAIL;
}

/* One attempt: its own time limits, a fresh body, then perform. */
static void attempt_run(CURL *c, struct ocikp_ctx *ctx, const struct http_opts *o,
			struct xfer *x, long left, struct attempt *a)
{
	long total = o->timeout_ms > 0 ? o->timeout_ms : HTTP_TIMEOUT_MS;
	long conn = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : HTTP_CONNECT_TIMEOUT_MS;
	long start = now_ms();
	curl_off_t ra = 0;

	a->by_deadline = left < total;
	a->limit_ms = a->by_deadline ? left : total;
	if (conn > a->limit_ms)
		conn = a->limit_ms;
	ctx->host->buf_free(&x->resp->body);
	ctx->host->buf_free(&x->resp->cookie);
	x->resp->status = 0;
	x->resp->retry_after_s = 0;
	x->too_big = x->oom = x->not_local = x->in_headers = x->headers_big = false;
	x->header_bytes = 0;
	x->cookies = 0;
	x->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, a->limit_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, conn);
	a->code = curl_easy_perform(c);
	a->elapsed_ms = now_ms() - start;
	a->proxy_status = a->code != CURLE_OK ? proxy_refusal(c) : 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->resp->status);
	if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		x->resp->retry_after_s = ra > LONG_MAX / 1000 ? LONG_MAX / 1000 : (long)ra;
	if (a->code != CURLE_OK)	/* a cookie of an answer cut short is not one */
		ctx->host->buf_free(&x->resp->cookie);
}

/* The wait before attempt n+1, or a failure when it would run past the
 * deadline. */
static int retry_wait(struct ocikp_ctx *ctx, const char *method, const char *where, int n,
		      const struct http_resp *resp, const char *last, long *wait)
{
	long left = deadline_left(ctx);

	*wait = backoff_ms(n);
	if (resp->retry_after_s > 0 && resp->retry_after_s * 1000 > *wait)
		*wait = resp->retry_after_s * 1000;
	if (*wait < left)
		return OCIKP_OK;
	ocikp_errorf(ctx, "%s %s: %s; not retrying: the wait (%ld ms) would pass the request's "
		     "deadline (%ld ms left)", method, where, last, *wait, left);
	return OCIKP_UNAVAILABLE;
}

/* The last failure in words, for the retry lines. */
static void describe_last(char *out, size_t n, const struct xfer *x, const struct attempt *a)
{
	if (a->code == CURLE_OK)
		snprintf(out, n, "HTTP %ld", x->resp->status);
	else if (a->proxy_status)
		snprintf(out, n, "proxy CONNECT: HTTP %ld", a->proxy_status);
	else
		snprintf(out, n, "%s", curl_why(x, a->code));
}

static int attempts_loop(CURL *c, struct ocikp_ctx *ctx, const struct http_opts *o,
			 const struct http_req *req, const char *where, struct xfer *x)
{
	struct attempt a;
	char last[CURL_ERROR_SIZE + 32];
	long left, wait;
	int n, rc = OCIKP_OK;
	int max = o->attempts > 0 && o->attempts < HTTP_MAX_ATTEMPTS ? o->attempts : HTTP_MAX_ATTEMPTS;

	for (n = 1;; n++) {
		if ((left = deadline_left(ctx)) <= 0) {
			ocikp_errorf(ctx, "%s %s: the request's time budget ran out before attempt %d",
				     req->method, where, n);
			return OCIKP_UNAVAILABLE;
		}
		attempt_run(c, ctx, o, x, left, &a);
		describe_last(last, sizeof(last), x, &a);
		ocikp_debugf(ctx, "%s %s: attempt %d/%d: %s in %ld ms (limit %ld ms)", req->method,
			     where, n, max, last, a.elapsed_ms, a.limit_ms);
		if (a.code == CURLE_OK) {
			if (answer_verdict(ctx, req->method, where, x->resp->status, &rc) != V_RETRY)
				return rc;
		} else if (a.proxy_status ? !retryable_proxy(a.proxy_status) :
			   !retryable_code(a.code) || x->not_local || headers_refused(x, a.code)) {
			return transfer_fail(ctx, req->method, where, x, &a, o->ca_file);
		}
		if (n >= max) {
			ocikp_errorf(ctx, "%s %s: %s after %d attempts", req->method, where, last, n);
			return OCIKP_UNAVAILABLE;
		}
		if ((rc = retry_wait(ctx, req->method, where, n, x->resp, last, &wait)) != OCIKP_OK)
			return rc;
		ocikp_debugf(ctx, "%s %s: retrying in %ld ms", req->method, where, wait);
		sleep_ms(wait);
	}
}

/* ---- the API ---------------------------------------------------------------- */

int http_request(struct ocikp_ctx *ctx, const struct http_opts *o, const struct http_req *req,
		 struct http_resp *resp)
{
	static const struct http_opts none;
	struct target t;
	struct xfer x = { .ctx = ctx, .resp = resp, .want_cookie = req->want_cookie };
	struct curl_slist *hdrs = NULL;
	CURL *c = NULL;
	int rc;

	if (!o)
		o = &none;
	http_resp_free(ctx, resp);	/* a reused one never shows an earlier answer */
	if (!method_ok(req->method)) {
		ocikp_errorf(ctx, "HTTP: invalid method");
		return OCIKP_INTERNAL;
	}
	if ((rc = global_init(ctx)) != OCIKP_OK)
		return rc;
	if ((rc = target_open(ctx, o, req->method, req->url, &t)) != OCIKP_OK)
		goto out;
	if ((rc = headers_build(ctx, t.where, req, &hdrs)) != OCIKP_OK)
		goto out;
	rc = OCIKP_INTERNAL;
	if (!(c = curl_easy_init()) || handle_setup(c, o, &t, req, hdrs, &x) != CURLE_OK) {
		ocikp_errorf(ctx, "%s %s: libcurl refused the request set-up", req->method, t.where);
		goto out;
	}
	rc = attempts_loop(c, ctx, o, req, t.where, &x);
out:
	curl_easy_cleanup(c);	/* its buffers go back wiped, to the host's allocator */
	curl_slist_free_all(hdrs);
	target_close(&t);
	return rc;
}

void http_resp_free(struct ocikp_ctx *ctx, struct http_resp *resp)
{
	ctx->host->buf_free(&resp->body);
	ctx->host->buf_free(&resp->cookie);
	resp->status = 0;
	resp->retry_after_s = 0;
}

int http_fail(struct ocikp_ctx *ctx, const struct http_req *req, const struct http_resp *resp,
	      int rc, const char *why)
{
	struct target t = { 0 };

	if ((t.url = curl_url()) && curl_url_set(t.url, CURLUPART_URL, req->url, 0) == CURLUE_OK)
		target_where(&t);
	else
		snprintf(t.where, sizeof(t.where), "(URL)");
	ocikp_errorf(ctx, "%s %s: HTTP %ld%s%s", req->method, t.where, resp->status,
		     why ? ": " : "", why ? why : "");
	target_close(&t);
	return rc;
}

/* ---- options ----------------------------------------------------------------- */

/* Whole seconds 1..OPT_TIMEOUT_MAX_S, the form the host's `timeout` takes. */
static int opt_seconds(struct ocikp_ctx *ctx, const char *prefix, const char *name, long *ms)
{
	char key[128];
	const char *v, *p;
	long s = 0;

	snprintf(key, sizeof(key), "%s%s", prefix, name);
	if (!(v = ocikp_conf(ctx, key)))
		return OCIKP_OK;
	for (p = v; *p >= '0' && *p <= '9' && s <= OPT_TIMEOUT_MAX_S; p++)
		s = s * 10 + (*p - '0');
	if (*p || p == v || s < 1 || s > OPT_TIMEOUT_MAX_S) {
		ocikp_errorf(ctx, "option %s.%s must be whole seconds from 1 to %ld", ctx->backend,
			     key, OPT_TIMEOUT_MAX_S);
		return OCIKP_CONFIG;
	}
	*ms = s * 1000;
	return OCIKP_OK;
}

int http_opts_load(struct ocikp_ctx *ctx, const char *prefix, struct http_opts *o)
{
	char key[128];
	int rc;

	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = HTTP_CONNECT_TIMEOUT_MS;
	o->timeout_ms = HTTP_TIMEOUT_MS;
	if (!prefix)
		prefix = "";
	if ((rc = opt_seconds(ctx, prefix, "connect_timeout", &o->connect_timeout_ms)) ||
	    (rc = opt_seconds(ctx, prefix, "http_timeout", &o->timeout_ms)))
		return rc;
	snprintf(key, sizeof(key), "%sca_file", prefix);
	o->ca_file = ocikp_conf(ctx, key);
	if (o->ca_file && o->ca_file[0] != '/') {
		ocikp_errorf(ctx, "option %s.%s must be an absolute path", ctx->backend, key);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}
