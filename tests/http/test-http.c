/*
 * lib/http.c on the real host services, against tests/http/server.py.
 * argv[1]: the directory tests/http/http.sh prepared (CAs, ports, the
 * server's request log).  Debug lines are on and captured, so the end can
 * check that no header, query or body ever reached one.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "ocikp.h"
#include "http.h"
#include "../unit/tap.h"

#define TOKEN "Authorization: Bearer S3CRET-TOKEN-MARK"
#define QUERY "?key=QUERY-MARK"
#define BODY_MARK "BODY-MARK"

static struct host h;
static struct backend_ctx root;
static struct ocikp_ctx *ctx = &root.pub;
static const char *dir;
static int port_good, port_wronghost, port_plain;
static char ca_a[512], ca_b[512], debug_log[512];
static int leaks;	/* error lines holding a marker */
static long elapsed;	/* of the last call, ms */

static const char *const token_hdrs[] = { "X-Test: x-value", TOKEN, NULL };

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec * 1000 + t.tv_nsec / 1000000);
}

static bool has_marker(const char *s)
{
	return strstr(s, "MARK") || strstr(s, "S3CRET") || strstr(s, "?");
}

/* No deadline (ms < 0), or one ms from now. */
static void deadline(long ms)
{
	memset(&h.deadline, 0, sizeof(h.deadline));
	if (ms >= 0)
		deadline_set(&h.deadline, ms);
}

/* One request with the token header and a query; resp is left for the
 * caller to check and free. */
static int call_url(const char *method, const char *url, const struct http_opts *o,
		    const char *body, struct http_resp *r)
{
	struct http_req req = { .method = method, .url = url, .headers = token_hdrs };
	long start = now_ms();
	int rc;

	if (body) {
		req.body = body;
		req.body_len = strlen(body);
		req.content_type = "application/json";
	}
	h.err.msg[0] = '\0';
	rc = http_request(ctx, o, &req, r);
	elapsed = now_ms() - start;
	if (has_marker(h.err.msg))
		leaks++;
	return rc;
}

static const char *url_of(const char *scheme, int port, const char *path)
{
	static char url[256];

	snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s" QUERY, scheme, port, path);
	return url;
}

static int call(const char *method, const char *path, const struct http_opts *o,
		const char *body, struct http_resp *r)
{
	return call_url(method, url_of("https", port_good, path), o, body, r);
}

/* How often the server saw "METHOD PATH". */
static int seen(const char *line)
{
	char path[600], buf[256];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/requests.log", dir);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		n += !strcmp(buf, line);
	}
	fclose(f);
	return n;
}

static const char *body_of(const struct http_resp *r)
{
	return r->body.data ? (const char *)r->body.data : "";
}

static struct http_opts trusted(void)
{
	struct http_opts o = { .ca_file = ca_a };
	return o;
}

static void test_ok(void)
{
	struct http_opts o = trusted();
	struct http_resp r = { 0 };
	int rc;

	rc = call("GET", "/json", &o, NULL, &r);
	ok(rc == OCIKP_OK && r.status == 200 && strstr(body_of(&r), "\"ok\": true") &&
	   seen("GET /json") == 1, "GET 200 with a JSON body: rc %d, HTTP %ld, %s, %s", rc,
	   r.status, body_of(&r), h.err.msg);
	rc = call("POST", "/echo", &o, "{\"k\":\"" BODY_MARK "\"}", &r);
	ok(rc == OCIKP_OK && r.status == 200 &&
	   strstr(body_of(&r), "\"method\": \"POST\"") &&
	   strstr(body_of(&r), "\"body\": \"{\\\"k\\\":\\\"" BODY_MARK "\\\"}\"") &&
	   strstr(body_of(&r), "\"ctype\": \"application/json\"") &&
	   strstr(body_of(&r), "\"auth\": \"Bearer S3CRET-TOKEN-MARK\"") &&
	   strstr(body_of(&r), "\"xtest\": \"x-value\"") &&
	   strstr(body_of(&r), "\"expect\": null"),
	   "POST with a body and headers: all arrived (HTTP %ld, %zu bytes)", r.status,
	   r.body.len);	/* the body holds the token: not printed, stdio keeps copies */
	rc = call("PUT", "/echo", &o, NULL, &r);
	ok(rc == OCIKP_OK && strstr(body_of(&r), "\"method\": \"PUT\""), "another method");
	rc = call("GET", "/404", &o, NULL, &r);
	ok(rc == OCIKP_OK && r.status == 404 && strstr(body_of(&r), "no such key") &&
	   !h.err.msg[0], "a 404 is the caller's to map: rc %d, HTTP %ld, no error line", rc,
	   r.status);
	{
		struct http_req req = { .method = "GET", .url = url_of("https", port_good, "/404") };
		char want[128];

		snprintf(want, sizeof(want), "GET 127.0.0.1:%d/404: HTTP 404: no such key",
			 port_good);
		ok(http_fail(ctx, &req, &r, OCIKP_WRONG_KEY, "no such key") == OCIKP_WRONG_KEY &&
		   !strcmp(h.err.msg, want), "http_fail: %s", h.err.msg);
	}
	http_resp_free(ctx, &r);
	ok(r.body.data == NULL && r.status == 0, "http_resp_free empties it");
}

static void test_tls(void)
{
	struct http_opts o = { 0 };
	struct http_resp r = { 0 };
	int rc;

	rc = call("GET", "/json", &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "TLS: server certificate not trusted"),
	   "the system store does not know the test CA: %s", h.err.msg);
	o.ca_file = ca_b;
	rc = call("GET", "/json", &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "TLS: server certificate not trusted") &&
	   strstr(h.err.msg, "check ca_file"), "a certificate from another CA: %s", h.err.msg);
	o.ca_file = ca_a;
	rc = call("GET", "/json", &o, NULL, &r);
	ok(rc == OCIKP_OK && r.status == 200, "the same server with the right ca_file: %s",
	   h.err.msg);
	rc = call_url("GET", url_of("https", port_wronghost, "/json"), &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "not trusted") &&
	   seen("GET /json") == 2, "a certificate for another host name: %s", h.err.msg);
	o.ca_file = "/nonexistent/ca.pem";
	rc = call("GET", "/json", &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "/nonexistent/ca.pem"),
	   "a missing ca_file: %s", h.err.msg);
	http_resp_free(ctx, &r);
}

static void test_plain(void)
{
	struct http_opts o = trusted();
	struct http_resp r = { 0 };
	int before = seen("GET /json"), rc;
	char url[128];

	rc = call_url("GET", url_of("http", port_plain, "/json"), &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "plain http:// is refused") &&
	   seen("GET /json") == before, "http:// refused without the flag: %s", h.err.msg);
	o.flags = HTTP_PLAIN_LOCAL;
	rc = call_url("GET", url_of("http", port_plain, "/json"), &o, NULL, &r);
	ok(rc == OCIKP_OK && r.status == 200 && seen("GET /json") == before + 1,
	   "http:// to 127.0.0.1 with HTTP_PLAIN_LOCAL: %s", h.err.msg);
	snprintf(url, sizeof(url), "http://localhost:%d/json", port_plain);
	rc = call_url("GET", url, &o, NULL, &r);
	ok(rc == OCIKP_OK && r.status == 200, "http://localhost with the flag: %s", h.err.msg);
	rc = call_url("GET", "http://10.1.2.3/computeMetadata/v1/" QUERY, &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "only to a loopback or link-local") &&
	   elapsed < tap_slack(200), "http:// to 10.1.2.3 refused before connecting (%ld ms): %s",
	   elapsed, h.err.msg);
	rc = call_url("GET", "http://example.invalid/x", &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "only to a loopback or link-local") &&
	   r.status == 0 && r.body.len == 0,
	   "http:// to a name other than the metadata one (the last answer cleared): %s",
	   h.err.msg);
	rc = call_url("GET", "http://[fe80::1]:1/x", &o, NULL, &r);
	ok(rc != OCIKP_CONFIG, "http:// to fe80::1 passes the check (then fails to connect): %s",
	   h.err.msg);
	/* AWS's EKS Pod Identity and IMDS IPv6 addresses; nothing else in fd00::/8
	 * (one short attempt: the address may route somewhere and not answer) */
	o.attempts = 1;
	o.connect_timeout_ms = 500;
	rc = call_url("GET", "http://[fd00:ec2::23]:1/x", &o, NULL, &r);
	ok(rc != OCIKP_CONFIG, "http:// to fd00:ec2::23 passes the check: %s", h.err.msg);
	rc = call_url("GET", "http://[fd00:ec2::254]:1/x", &o, NULL, &r);
	ok(rc != OCIKP_CONFIG, "http:// to fd00:ec2::254 passes the check: %s", h.err.msg);
	rc = call_url("GET", "http://[fd00:ec2::24]:1/x", &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "only to a loopback or link-local"),
	   "http:// to fd00:ec2::24 refused: %s", h.err.msg);
	o.attempts = 0;
	o.connect_timeout_ms = 0;
	o.flags = HTTP_PLAIN_ANY;
	rc = call_url("GET", url_of("http", port_plain, "/json"), &o, NULL, &r);
	ok(rc == OCIKP_OK && r.status == 200, "http:// with HTTP_PLAIN_ANY: %s", h.err.msg);
	o.flags = HTTP_PLAIN_LOCAL;
	rc = call_url("GET", "ftp://127.0.0.1/x", &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "only https://"), "ftp://: %s", h.err.msg);
	rc = call_url("GET", "https://user:pw@127.0.0.1/x", &o, NULL, &r);
	ok(rc == OCIKP_BAD_INPUT && strstr(h.err.msg, "user:password@") &&
	   !strstr(h.err.msg, "pw"), "user:password@ refused: %s", h.err.msg);
	rc = call_url("GET", "no scheme at all " BODY_MARK, &o, NULL, &r);
	ok(rc == OCIKP_BAD_INPUT && strstr(h.err.msg, "malformed URL"),
	   "a malformed URL, not quoted: %s", h.err.msg);
	http_resp_free(ctx, &r);
}

static void test_redirect_and_size(void)
{
	struct http_opts o = trusted();
	struct http_resp r = { 0 };
	int before = seen("GET /json"), rc;

	rc = call("GET", "/redirect", &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && r.status == 302 && seen("GET /redirect") == 1 &&
	   seen("GET /json") == before && strstr(h.err.msg, "HTTP 302: redirects are not followed"),
	   "a 302 is not followed: %s", h.err.msg);
	rc = call("GET", "/big", &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && strstr(h.err.msg, "answer larger than 64 KiB refused") &&
	   r.body.len == 0, "64 KiB + 1 with a Content-Length: %s", h.err.msg);
	rc = call("GET", "/big-nolen", &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && strstr(h.err.msg, "answer larger than 64 KiB refused") &&
	   r.body.len <= HTTP_MAX_BODY, "200 KiB without a length, cut at the cap (%zu kept): %s",
	   r.body.len, h.err.msg);
	rc = call("GET", "/exact", &o, NULL, &r);
	ok(rc == OCIKP_OK && r.body.len == HTTP_MAX_BODY, "exactly 64 KiB is fine: %s",
	   h.err.msg);
	http_resp_free(ctx, &r);
}

static void test_retries(void)
{
	struct http_opts o = trusted();
	struct http_resp r = { 0 };
	int rc;

	rc = call("GET", "/flaky503", &o, NULL, &r);
	ok(rc == OCIKP_OK && r.status == 200 && seen("GET /flaky503") == 3,
	   "503 twice, then 200: %d requests, %ld ms: %s", seen("GET /flaky503"), elapsed,
	   h.err.msg);
	rc = call("POST", "/504", &o, "{}", &r);
	ok(rc == OCIKP_OK && r.status == 200 && seen("POST /504") == 2,
	   "504 then 200, a POST: %d requests", seen("POST /504"));
	rc = call("GET", "/reset", &o, NULL, &r);
	ok(rc == OCIKP_OK && r.status == 200 && seen("GET /reset") == 2,
	   "a reset connection is retried: %d requests: %s", seen("GET /reset"), h.err.msg);
	rc = call("GET", "/always503", &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && seen("GET /always503") == HTTP_MAX_ATTEMPTS &&
	   strstr(h.err.msg, "HTTP 503 after 4 attempts") && elapsed < tap_slack(2500) &&
	   strstr(body_of(&r), "busy"),
	   "503 for good: %d requests in %ld ms: %s", seen("GET /always503"), elapsed, h.err.msg);
	rc = call("GET", "/429", &o, NULL, &r);
	ok(rc == OCIKP_OK && r.status == 200 && seen("GET /429") == 2 && elapsed >= 950 &&
	   elapsed < tap_slack(2500), "429 with Retry-After: 1 waits about 1 s: %ld ms", elapsed);
	rc = call("GET", "/500", &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && seen("GET /500") == 1 && elapsed < tap_slack(1000) &&
	   strstr(h.err.msg, "HTTP 500"), "500 is not retried: %d request, %ld ms: %s",
	   seen("GET /500"), elapsed, h.err.msg);
	http_resp_free(ctx, &r);
}

/* A port that listened a moment ago: connections are refused. */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &n);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* A server that accepts (the kernel completes the handshake) and never
 * answers. */
static int hung_server(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &n))
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_time(void)
{
	struct http_opts o = trusted();
	struct http_resp r = { 0 };
	int port = 0, fd, rc;

	rc = call_url("GET", url_of("https", closed_port(), "/x"), &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && strstr(h.err.msg, "after 4 attempts") && elapsed < tap_slack(2000),
	   "connection refused: retried, then given up in %ld ms: %s", elapsed, h.err.msg);
	fd = hung_server(&port);
	o.timeout_ms = 1000;
	rc = call_url("GET", url_of("https", port, "/x"), &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && strstr(h.err.msg, ": timed out after") && elapsed >= 950 &&
	   elapsed < tap_slack(2500), "a hung server, bounded by the total timeout (1 s): %ld ms: %s",
	   elapsed, h.err.msg);
	o.timeout_ms = 5000;
	deadline(400);
	rc = call_url("GET", url_of("https", port, "/x"), &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && strstr(h.err.msg, "the request's time budget ran out") &&
	   elapsed >= 350 && elapsed < tap_slack(1200),
	   "a hung server, bounded by the sooner deadline (0.4 s): %ld ms: %s", elapsed,
	   h.err.msg);
	close(fd);
	deadline(2000);
	rc = call("GET", "/429long", &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && seen("GET /429long") == 1 && elapsed < tap_slack(1000) &&
	   r.retry_after_s == 5 && strstr(h.err.msg, "HTTP 429; not retrying") &&
	   strstr(h.err.msg, "would pass the request's deadline"),
	   "Retry-After: 5 with 2 s left: stops at once (%ld ms): %s", elapsed, h.err.msg);
	deadline(0);
	rc = call("GET", "/json", &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && strstr(h.err.msg, "ran out before attempt 1"),
	   "no time left: no attempt: %s", h.err.msg);
	deadline(-1);
	http_resp_free(ctx, &r);
}

static void test_headers(void)
{
	static const char *const crlf[] = { "X-A: 1\r\nX-Evil: S3CRET-MARK", NULL };
	static const char *const nocolon[] = { "S3CRET-MARK", NULL };
	struct http_opts o = trusted();
	struct http_req req = { .method = "GET", .url = url_of("https", port_good, "/json"),
				.headers = crlf };
	struct http_resp r = { 0 };

	h.err.msg[0] = '\0';
	ok(http_request(ctx, &o, &req, &r) == OCIKP_INTERNAL &&
	   strstr(h.err.msg, "request header 1 is malformed") && !has_marker(h.err.msg),
	   "a header with a line break: %s", h.err.msg);
	req.headers = nocolon;
	ok(http_request(ctx, &o, &req, &r) == OCIKP_INTERNAL && !has_marker(h.err.msg),
	   "a header without a colon: %s", h.err.msg);
	req.headers = NULL;
	req.body = "{}";
	req.body_len = 2;
	req.content_type = "application/json\r\nX-Evil: 1";
	ok(http_request(ctx, &o, &req, &r) == OCIKP_INTERNAL &&
	   strstr(h.err.msg, "request header 0 is malformed"),
	   "a content type with a line break: %s", h.err.msg);
	req.method = "get x";
	ok(http_request(ctx, &o, &req, &r) == OCIKP_INTERNAL, "a bad method: %s", h.err.msg);
	http_resp_free(ctx, &r);
}

/* Set-Cookie: the named cookie's value (the last line for it), only when
 * asked for; emptied on the next request. */
static void test_cookie(void)
{
	struct http_opts o = trusted();
	struct http_req req = { .method = "GET", .url = url_of("https", port_good, "/cookie"),
				.want_cookie = "sid" };
	struct http_resp r = { 0 };

	ok(http_request(ctx, &o, &req, &r) == OCIKP_OK && r.cookie.len == 18 &&
	   !strcmp((char *)r.cookie.data, "S3CRET-COOKIE-MARK"),
	   "Set-Cookie: the wanted cookie's value, attributes and blanks cut");
	req.want_cookie = "nope";
	ok(http_request(ctx, &o, &req, &r) == OCIKP_OK && r.cookie.len == 0,
	   "Set-Cookie: a cookie the answer did not set: none");
	req.want_cookie = NULL;
	ok(http_request(ctx, &o, &req, &r) == OCIKP_OK && r.cookie.len == 0,
	   "Set-Cookie: not asked for: none");
	http_resp_free(ctx, &r);
}

/* A flood of Set-Cookie lines, on a 503 and then on the 200: one pass over
 * them, and only the first HTTP_MAX_COOKIES read (sid=v1..v20 lead, so the
 * one kept is v16).  The bound is the drop-in default http_timeout, far
 * above what one pass costs even on a loaded machine. */
static void test_cookie_flood(void)
{
	struct http_opts o = trusted();
	struct http_req req = { .method = "GET", .url = url_of("https", port_good, "/cookieflood"),
				.want_cookie = "sid" };
	struct http_resp r = { 0 };
	long start = now_ms();
	int rc;

	h.err.msg[0] = '\0';
	rc = http_request(ctx, &o, &req, &r);
	elapsed = now_ms() - start;
	ok(rc == OCIKP_OK && r.status == 200 && seen("GET /cookieflood") == 2 &&
	   elapsed < HTTP_TIMEOUT_MS, "14,000 Set-Cookie lines, 503 then 200: done in %ld ms "
	   "(bound %ld): %s", elapsed, HTTP_TIMEOUT_MS, h.err.msg);
	ok(r.cookie.len == 3 && !memcmp(r.cookie.data, "v16", 3),
	   "only the first %d Set-Cookie lines are read: sid=%.*s kept", HTTP_MAX_COOKIES,
	   (int)(r.cookie.len < 16 ? r.cookie.len : 16), r.cookie.data ? (char *)r.cookie.data : "");
	http_resp_free(ctx, &r);
}

/* 408 is retried like 503; oversized headers are not, whichever limit
 * (ours or libcurl's single-line one) refuses them. */
static void test_retry_classes(void)
{
	struct http_opts o = trusted();
	struct http_resp r = { 0 };
	int rc;

	rc = call("GET", "/408", &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && seen("GET /408") == HTTP_MAX_ATTEMPTS &&
	   strstr(h.err.msg, "HTTP 408 after 4 attempts"),
	   "408 is retried, then unavailable: %d requests: %s", seen("GET /408"), h.err.msg);
	rc = call("GET", "/bigheaders", &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && seen("GET /bigheaders") == 1 &&
	   strstr(h.err.msg, "answer headers larger than 256 KiB refused"),
	   "380 KB of header lines: refused, not retried: %d requests: %s",
	   seen("GET /bigheaders"), h.err.msg);
	rc = call("GET", "/bigline", &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && seen("GET /bigline") == 1 &&
	   strstr(h.err.msg, "answer headers larger than"),
	   "one 120 KB header line: refused, not retried: %d requests: %s",
	   seen("GET /bigline"), h.err.msg);
	http_resp_free(ctx, &r);
}

/* How many CONNECTs the proxy saw for host:port. */
static int connects(const char *hostport)
{
	char line[300];

	snprintf(line, sizeof(line), "CONNECT %s", hostport);
	return seen(line);
}

/* Proxies: https_proxy/HTTPS_PROXY and no_proxy, never ALL_PROXY; a proxy's
 * refusal of the tunnel is final, its 408 retried.  The plain listener is
 * the proxy. */
static void test_proxy(void)
{
	struct http_opts o = trusted();
	struct http_resp r = { 0 };
	char proxy[64], good[64];
	int before, rc;

	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", port_plain);
	snprintf(good, sizeof(good), "127.0.0.1:%d", port_good);
	unsetenv("no_proxy");
	setenv("https_proxy", proxy, 1);
	before = connects(good);
	rc = call("GET", "/json", &o, NULL, &r);
	ok(rc == OCIKP_OK && r.status == 200 && connects(good) == before + 1,
	   "https_proxy: through the proxy: %s", h.err.msg);
	setenv("no_proxy", "127.0.0.1", 1);
	rc = call("GET", "/json", &o, NULL, &r);
	ok(rc == OCIKP_OK && connects(good) == before + 1, "no_proxy exempts the host: %s",
	   h.err.msg);
	unsetenv("no_proxy");
	unsetenv("https_proxy");
	setenv("HTTPS_PROXY", proxy, 1);
	rc = call("GET", "/json", &o, NULL, &r);
	ok(rc == OCIKP_OK && connects(good) == before + 2, "HTTPS_PROXY too: %s", h.err.msg);
	unsetenv("HTTPS_PROXY");
	setenv("ALL_PROXY", proxy, 1);
	setenv("all_proxy", proxy, 1);
	rc = call("GET", "/json", &o, NULL, &r);
	ok(rc == OCIKP_OK && connects(good) == before + 2,
	   "ALL_PROXY and all_proxy are ignored: %d CONNECTs: %s", connects(good) - before - 2,
	   h.err.msg);
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");
	setenv("https_proxy", proxy, 1);
	rc = call_url("GET", "https://refuse.invalid/x" QUERY, &o, NULL, &r);
	ok(rc == OCIKP_CONFIG && connects("refuse.invalid:443") == 1 &&
	   strstr(h.err.msg, "the proxy refused the tunnel: HTTP 403"),
	   "a proxy refusing CONNECT: a configuration error, not retried: %d CONNECTs: %s",
	   connects("refuse.invalid:443"), h.err.msg);
	rc = call_url("GET", "https://busy.invalid/x" QUERY, &o, NULL, &r);
	ok(rc == OCIKP_UNAVAILABLE && connects("busy.invalid:443") == HTTP_MAX_ATTEMPTS &&
	   strstr(h.err.msg, "proxy CONNECT: HTTP 408 after 4 attempts"),
	   "a proxy's 408 is retried, then unavailable: %d CONNECTs: %s",
	   connects("busy.invalid:443"), h.err.msg);
	unsetenv("https_proxy");
	setenv("no_proxy", "*", 1);
	http_resp_free(ctx, &r);
}

/* SSLKEYLOGFILE was set before the first request: libcurl never saw it. */
static void test_keylog(const char *keylog)
{
	ok(access(keylog, F_OK) != 0 && !getenv("SSLKEYLOGFILE"),
	   "SSLKEYLOGFILE cleared before libcurl started: no key log written");
}

static void test_opts(void)
{
	struct http_opts o;

	ok(http_opts_load(ctx, "", &o) == OCIKP_OK && o.connect_timeout_ms == 5000 &&
	   o.timeout_ms == 30000 && !o.ca_file && !o.flags, "options: the defaults");
	conf_set_option(&h.conf, "mock.connect_timeout", "2", "t");
	conf_set_option(&h.conf, "mock.http_timeout", "3600", "t");
	conf_set_option(&h.conf, "mock.ca_file", "/etc/x.pem", "t");
	ok(http_opts_load(ctx, "", &o) == OCIKP_OK && o.connect_timeout_ms == 2000 &&
	   o.timeout_ms == 3600000 && !strcmp(o.ca_file, "/etc/x.pem"), "options: set");
	conf_set_option(&h.conf, "mock.token_http_timeout", "9", "t");
	ok(http_opts_load(ctx, "token_", &o) == OCIKP_OK && o.connect_timeout_ms == 5000 &&
	   o.timeout_ms == 9000 && !o.ca_file, "options with a prefix");
	conf_set_option(&h.conf, "mock.http_timeout", "5s-S3CRET-MARK", "t");
	ok(http_opts_load(ctx, "", &o) == OCIKP_CONFIG &&
	   strstr(h.err.msg, "option mock.http_timeout must be whole seconds from 1 to 3600") &&
	   !has_marker(h.err.msg), "a bad timeout, its value not quoted: %s", h.err.msg);
	conf_set_option(&h.conf, "mock.http_timeout", "0", "t");
	ok(http_opts_load(ctx, "", &o) == OCIKP_CONFIG, "http_timeout 0 refused");
	conf_set_option(&h.conf, "mock.http_timeout", "3601", "t");
	ok(http_opts_load(ctx, "", &o) == OCIKP_CONFIG, "http_timeout 3601 refused");
	conf_set_option(&h.conf, "mock.http_timeout", "30", "t");
	conf_set_option(&h.conf, "mock.ca_file", "ca.pem", "t");
	ok(http_opts_load(ctx, "", &o) == OCIKP_CONFIG &&
	   strstr(h.err.msg, "mock.ca_file must be an absolute path"), "a relative ca_file: %s",
	   h.err.msg);
}

/* fd 2 into a file from here on; returns the saved one. */
static int capture_stderr(void)
{
	int saved = dup(2), fd;

	snprintf(debug_log, sizeof(debug_log), "%s/debug.log", dir);
	fd = open(debug_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	return saved;
}

/* ---- connections kept in a pool ------------------------------------------ */

#define POOL_THREADS 4
#define POOL_CALLS 8

struct pool_run {
	struct http_pool *pool;
	int good;
};

/* One thread's requests, each on a context of its own as ocikpd gives one
 * per request, all through the same pool. */
static void *pool_thread(void *arg)
{
	struct pool_run *pr = arg;
	struct host th = { 0 };
	struct backend_ctx tc = { 0 };
	struct http_opts o = trusted();
	struct http_resp r = { 0 };
	struct http_req req = { .method = "GET", .url = url_of("https", port_good, "/json"),
				.headers = token_hdrs };
	int i, good = 0;

	host_ctx_init(&tc.pub, &th, "mock");
	ctx_enter(&tc.pub);
	o.pool = pr->pool;
	for (i = 0; i < POOL_CALLS; i++)
		good += http_request(&tc.pub, &o, &req, &r) == OCIKP_OK && r.status == 200;
	http_resp_free(&tc.pub, &r);
	pr->good = good;
	return NULL;
}

static void test_pool(void)
{
	struct pool_run runs[POOL_THREADS];
	pthread_t t[POOL_THREADS];
	struct http_opts o = trusted();
	struct http_resp r = { 0 };
	int i, good = 0, tls0 = seen("TLS"), tls1, tls2;

	deadline(-1);
	for (i = 0; i < 3; i++)
		good += call("GET", "/json", &o, NULL, &r) == OCIKP_OK && r.status == 200;
	tls1 = seen("TLS");
	ok(good == 3 && tls1 - tls0 == 3, "no pool: 3 requests, %d TLS connections", tls1 - tls0);

	o.pool = http_pool_new();
	for (i = 0; i < POOL_THREADS; i++) {
		runs[i].pool = o.pool;
		runs[i].good = 0;
		pthread_create(&t[i], NULL, pool_thread, &runs[i]);
	}
	for (good = 0, i = 0; i < POOL_THREADS; i++) {
		pthread_join(t[i], NULL);
		good += runs[i].good;
	}
	tls2 = seen("TLS");
	ok(o.pool && good == POOL_THREADS * POOL_CALLS && tls2 - tls1 >= 1 &&
	   tls2 - tls1 <= POOL_THREADS, "a pool, %d threads: %d of %d requests, %d TLS connections",
	   POOL_THREADS, good, POOL_THREADS * POOL_CALLS, tls2 - tls1);
	for (good = 0, i = 0; i < 5; i++)
		good += call("GET", "/json", &o, NULL, &r) == OCIKP_OK && r.status == 200;
	ok(good == 5 && seen("TLS") == tls2, "then 5 requests on the kept connections, %d new",
	   seen("TLS") - tls2);
	http_resp_free(ctx, &r);
	http_pool_free(o.pool);
	http_pool_free(NULL);
}

/* Back to the real stderr, the lines copied there as TAP comments; checks
 * that no debug line held a marker. */
static void check_debug(int saved)
{
	char line[1024];
	int n = 0, bad = 0, retries = 0;
	FILE *f;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (!(f = fopen(debug_log, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		n += strstr(line, "attempt ") != NULL;
		retries += strstr(line, ": retrying in ") != NULL;
		bad += has_marker(line) != 0;
		printf("# %s", line);
	}
	fclose(f);
	ok(n > 20 && retries >= 5 && bad == 0,
	   "debug lines: %d attempts, %d retry waits, %d with a header, query or body", n,
	   retries, bad);
	ok(leaks == 0, "no error line held a header value, a query or a body: %d did", leaks);
}

static bool read_ports(void)
{
	char path[600];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/ports", dir);
	if (!(f = fopen(path, "r")))
		return false;
	n = fscanf(f, "good=%d wronghost=%d plain=%d", &port_good, &port_wronghost, &port_plain);
	fclose(f);
	return n == 3;
}

int main(int argc, char **argv)
{
	char keylog[600];
	int saved;

	if (argc != 2)
		return 2;
	dir = argv[1];
	alloc_hook_openssl();	/* as ocikp's main does, before anything allocates */
	host_ctx_init(ctx, &h, "mock");
	snprintf(ca_a, sizeof(ca_a), "%s/a-ca.pem", dir);
	snprintf(ca_b, sizeof(ca_b), "%s/b-ca.pem", dir);
	if (!read_ports()) {
		printf("1..1\nnot ok 1 - the server's ports\n");
		return 1;
	}
	setenv("no_proxy", "*", 1);	/* whatever the machine's proxy, the server is here */
	snprintf(keylog, sizeof(keylog), "%s/keylog", dir);
	setenv("SSLKEYLOGFILE", keylog, 1);	/* must never be honoured */
	debug_enable(true);
	saved = capture_stderr();
	test_ok();
	test_tls();
	test_plain();
	test_redirect_and_size();
	test_retries();
	test_time();
	test_headers();
	test_cookie();
	test_cookie_flood();
	test_retry_classes();
	test_proxy();
	test_keylog(keylog);
	test_opts();
	test_pool();
	check_debug(saved);
	http_global_cleanup();
	conf_free(&h.conf);
	return tap_done();
}
