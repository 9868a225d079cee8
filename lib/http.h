/*
 * One HTTPS request over libcurl, for the network backends (gcpkms, kbs).
 *
 * A convenience library linked into each module that needs it, not a host
 * service: the `ocikp` binary never links libcurl.  It does one job: send a
 * request the caller built, bounded in time and size, retried only where a
 * retry can help, and hand back the status and body.  Building requests
 * (JSON, forms, tokens) and reading answers stay with the caller, through
 * the host's services.
 *
 * What every request gets, with no way to turn it off:
 *  - TLS with peer and host name verification, against the system store or
 *    the configured ca_file; https:// only, except plain http:// when the
 *    caller sets HTTP_PLAIN_LOCAL and the host is a loopback or link-local
 *    address, or sets HTTP_PLAIN_ANY (below).  No redirects are followed.  Proxies come only from
 *    https_proxy/HTTPS_PROXY (http_proxy for plain http:// to any host),
 *    minus no_proxy/NO_PROXY; ALL_PROXY is ignored.  SSLKEYLOGFILE and
 *    QLOGDIR are cleared before libcurl starts (http_env_scrub).
 *  - Answers with header lines over HTTP_MAX_HEADERS bytes are refused;
 *    of an answer's Set-Cookie lines only the first HTTP_MAX_COOKIES
 *    are read.
 *  - Each attempt bounded by the connect and total timeouts and by the
 *    request's deadline (ctx->host->deadline_ms), whichever ends first;
 *    CURLOPT_NOSIGNAL, since SIGALRM is the host's.
 *  - A response body of at most HTTP_MAX_BODY bytes, kept in a host
 *    cleansing buffer.
 *  - Up to HTTP_MAX_ATTEMPTS attempts, retrying only HTTP 408, 429, 503 and
 *    504 (from a proxy refusing CONNECT, those and 502), a refused or reset
 *    connection and an empty reply; not a proxy's other refusals nor
 *    oversized headers, which are the same every time; with jittered
 *    exponential backoff (100 ms doubling, at most 2 s) or the server's
 *    Retry-After when longer, never sleeping past the deadline.  Any
 *    method is retried: send only requests that are safe to repeat (KMS
 *    encrypt/decrypt, token and resource fetches are).
 *  - libcurl on the host's cleansing allocator (its copies of headers and
 *    bodies hold tokens), set up on the first request; so a host older than
 *    0.2 (no mem_* services) is refused with OCIKP_INTERNAL.
 *  - Error and debug lines that name the method, the URL's host and path
 *    and the status; never its query, a header or a body.
 *
 * Thread safety: requests on different ctx may run at once.  libcurl's
 * global set-up runs once per process under a lock (and libcurl >= 7.84
 * built thread-safe locks it too); a module calls http_global_cleanup at
 * most from its fini.
 */
#ifndef OCIKP_LIB_HTTP_H
#define OCIKP_LIB_HTTP_H

#include <stddef.h>
#include <ocikp/backend.h>

#define HTTP_MAX_BODY (64 * 1024)	/* bytes of a response body, at most */
#define HTTP_MAX_HEADERS (256 * 1024)	/* bytes of an answer's header lines, at most */
#define HTTP_MAX_COOKIES 16	/* Set-Cookie lines of an answer read, at most */
#define HTTP_MAX_ATTEMPTS 4
#define HTTP_CONNECT_TIMEOUT_MS 5000L	/* defaults of struct http_opts */
#define HTTP_TIMEOUT_MS 30000L

/* Flags of struct http_opts. */
#define HTTP_PLAIN_LOCAL 1u	/* allow http:// to a local address (below) */
#define HTTP_PLAIN_ANY 2u	/* allow http:// to any host (below) */

struct http_pool;

struct http_opts {
	long connect_timeout_ms;	/* 0: HTTP_CONNECT_TIMEOUT_MS */
	long timeout_ms;		/* one attempt, all told; 0: HTTP_TIMEOUT_MS */
	const char *ca_file;		/* PEM CA certificates, trusted instead of the
					 * system's (not in addition); NULL: the system's */
	unsigned flags;			/* HTTP_PLAIN_LOCAL, HTTP_PLAIN_ANY */
	struct http_pool *pool;		/* connections kept across requests; NULL:
					 * none, each request connects afresh */
	const char *client_cert;	/* PEM certificate for TLS client authentication
					 * (with client_key); NULL: none */
	const struct ocikp_buf *client_key;	/* its PEM private key, read by the caller as
					 * a secret; libcurl's copy is on the cleansing
					 * allocator */
	int attempts;			/* at most this many (a probe that must not
					 * linger: IMDS); 0: HTTP_MAX_ATTEMPTS */
};

/*
 * Plain http:// is for the metadata servers a credential itself names (GCE,
 * cloud instance metadata), which speak nothing else.  With
 * HTTP_PLAIN_LOCAL, the URL's host must be an address in 127.0.0.0/8, ::1,
 * 169.254.0.0/16 or fe80::/10, AWS's fd00:ec2::23 (EKS Pod Identity) or
 * fd00:ec2::254 (IMDS over IPv6), or one of the names `localhost` and
 * `metadata.google.internal`; and every address libcurl connects to is
 * checked again against those ranges right before connecting (so a name
 * cannot resolve elsewhere), with no proxy.  Anything else is refused
 * before any connection is made.
 *
 * HTTP_PLAIN_ANY is for a user who asked for plain HTTP to a server of
 * their own in so many words (kbs.allow_http = yes: what travels is already
 * encrypted to the caller's key, and the caller warns that a network
 * attacker can still withhold it): http:// to any host, through the
 * environment's proxy like https://.  It takes precedence over
 * HTTP_PLAIN_LOCAL.
 */

struct http_req {
	const char *method;		/* "GET", "POST", ... */
	const char *url;
	const char *const *headers;	/* "Name: value", NULL-terminated; may be NULL.
					 * Values are treated as secrets. */
	const void *body;		/* NULL: no body */
	size_t body_len;
	const char *content_type;	/* of the body; NULL: application/x-www-form-urlencoded */
	const char *want_cookie;	/* a cookie name: its value from the answer's
					 * Set-Cookie goes to resp->cookie; NULL: none.
					 * Only the first HTTP_MAX_COOKIES Set-Cookie
					 * lines of an answer are read. */
};

struct http_resp {
	long status;			/* the last answer's HTTP status; 0: none */
	struct ocikp_buf body;		/* its body (cleansing); release with http_resp_free */
	long retry_after_s;		/* its Retry-After in seconds (either form); 0: none */
	struct ocikp_buf cookie;	/* req->want_cookie's value if that answer set it
					 * (the last Set-Cookie for the name wins); a
					 * session credential: cleansing, never in a line */
};

/*
 * Send req and wait for the final answer.  resp must be zeroed before the
 * first call (a reused one is emptied); release it with http_resp_free
 * whatever the result.  o may be NULL (all defaults).
 *
 * Returns OCIKP_OK when an answer came with a status the caller maps by
 * its own API: 2xx, and 4xx other than 408 and 429.  So a 401, 403 or 404 is
 * OCIKP_OK with resp->status set and no error line: the caller decides what
 * it means (backend.h lists the usual mapping); http_fail helps it say so.
 * Anything else has set one error line and returns:
 *   OCIKP_UNAVAILABLE  timeouts, the deadline, DNS and connection failures,
 *                      HTTP 408, 429 and 5xx (after the retries), an answer
 *                      over HTTP_MAX_BODY or HTTP_MAX_HEADERS, a TLS
 *                      failure other than an untrusted certificate
 *   OCIKP_CONFIG       a URL that is not https:// (nor local http:// with
 *                      HTTP_PLAIN_LOCAL), an unusable ca_file, a server
 *                      certificate that does not verify, a 3xx (redirects
 *                      are never followed: the URL is wrong), a proxy
 *                      refusing CONNECT with a 4xx (403, 407...)
 *   OCIKP_BAD_INPUT    a malformed URL, one with user:password@
 *   OCIKP_INTERNAL     a malformed header or method (a line break would
 *                      add a header), out of memory, libcurl not starting
 * resp keeps the last answer's status and body, if any, in every case.
 */
int http_request(struct ocikp_ctx *ctx, const struct http_opts *o, const struct http_req *req,
		 struct http_resp *resp);

void http_resp_free(struct ocikp_ctx *ctx, struct http_resp *resp);

/*
 * Fill o from this backend's drop-in options `<prefix>connect_timeout` and
 * `<prefix>http_timeout` (whole seconds, 1 to 3600) and `<prefix>ca_file`
 * (an absolute path), the defaults for those unset; prefix may be "".
 * flags is left 0.  o->ca_file points into the host's configuration.
 * OCIKP_CONFIG, naming the option but not its value, if one is malformed.
 */
int http_opts_load(struct ocikp_ctx *ctx, const char *prefix, struct http_opts *o);

/*
 * For the caller refusing an answer: set the error line
 * "<METHOD> <host>/<path>: HTTP <status>[: why]" and return rc.
 */
int http_fail(struct ocikp_ctx *ctx, const struct http_req *req, const struct http_resp *resp,
	      int rc, const char *why);

/*
 * Clear the variables that would make libcurl log TLS secrets
 * (SSLKEYLOGFILE, QLOGDIR) from the process environment.  The first
 * request does it before libcurl starts; a module calls it from its init
 * too, and a host before its threads start, since unsetenv is not safe
 * beside other threads' getenv.
 */
void http_env_scrub(void);

/*
 * Connections kept across requests, for a backend that stays loaded
 * (ocikpd): libcurl's connection cache, TLS sessions and DNS answers in one
 * share, so a call after the first reuses an open TLS connection (or at
 * least resumes the session) instead of a TCP and TLS handshake.  A server
 * closing a kept connection costs a new one, not a failed request (libcurl
 * retries a reused connection that died).  Safe for requests on several
 * threads at once.  The share is made on the first request that names the
 * pool (after libcurl's allocator is in place), so an exec that sends
 * nothing pays nothing.  http_pool_new: NULL when out of memory (requests
 * then go without).  http_pool_free closes the connections and frees the
 * sessions (their buffers wiped by the host's allocator, OpenSSL cleanses a
 * session's master secret); call it from fini, before
 * http_global_cleanup, with no request running.  NULL is a no-op.
 */
struct http_pool *http_pool_new(void);
void http_pool_free(struct http_pool *p);

/* Undo the libcurl set-up, at most from a module's fini. */
void http_global_cleanup(void);

#endif
