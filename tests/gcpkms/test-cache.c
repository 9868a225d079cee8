/*
 * plugins/gcpkms/gcpkms-cache.c on the real host services (state_dir,
 * state_lock, JSON), the credential functions stubbed (cred-stub.c).
 *
 * As root the cache is /run/ocikp/gcpkms, shared with real use: every
 * identity here is unique to this run and its files are removed at the
 * end; then a forked child runs the same cases again as uid 65534 with an
 * XDG_RUNTIME_DIR of its own (the user's side), numbering on from the
 * parent.  As another user only the user's side runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "ocikp.h"
#include "gcpkms.h"
#include "cred-stub.h"
#include "../unit/tap.h"

#define MAX_IDS 64
#define PARALLEL 8
#define WATCHDOG_S 60

static struct host h;
static struct backend_ctx root;
static struct ocikp_ctx *ctx = &root.pub;
static struct gcpkms_opts opts;
static char sdir[512];		/* the state directory under test */
static char tmpd[64];		/* scratch: debug log, counters, symlink targets */
static char ids[MAX_IDS][65];	/* identities used, for the clean-up */
static int n_ids;
static const char *side;	/* "root" or "user", in the test names */

static void skip(const char *desc, const char *why)
{
	printf("ok %d - %s: %s # SKIP %s\n", ++tap_n, side, desc, why);
}

static long long now_s(void)
{
	return (long long)time(NULL);
}

/* A credential of this run's own, so real cache files are never touched. */
static struct gcp_cred new_cred(void)
{
	struct gcp_cred c;

	if (n_ids == MAX_IDS)
		exit(99);
	snprintf(c.hex, sizeof(c.hex), "%048x%08x%08x", 0xcace, (unsigned)getpid(),
		 (unsigned)n_ids);
	memcpy(ids[n_ids++], c.hex, sizeof(c.hex));
	return c;
}

static const char *cache_path(const struct gcp_cred *c)
{
	static char p[700];

	snprintf(p, sizeof(p), "%s/token-%s.json", sdir, c->hex);
	return p;
}

/* token_get with a clean error line; the token left in tok. */
static int get(struct ocikp_ctx *x, struct gcp_cred *c, const struct ocikp_buf *stale,
	       struct ocikp_buf *tok)
{
	buf_free(tok);
	h.err.msg[0] = '\0';
	return token_get(x, &opts, c, stale, tok);
}

static const char *str(const struct ocikp_buf *b)
{
	return b->data ? (const char *)b->data : "";
}

/* A file as another exec, or someone else, might have left it. */
static void put_file(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    fchmod(fd, mode) != 0 || close(fd) != 0)
		exit(99);
}

static void put_cache(const struct gcp_cred *c, const char *token, long long expires_at,
		      mode_t mode)
{
	char text[512];

	snprintf(text, sizeof(text), "{\"v\":1,\"access_token\":\"%s\",\"expires_at\":%lld}",
		 token, expires_at);
	put_file(cache_path(c), text, mode);
}

static const char *slurp(const char *path)
{
	static char buf[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* What the cache file holds: its token ("" if none) and expiry. */
static const char *cached(const struct gcp_cred *c, long long *expires_at)
{
	static char token[256];
	const char *text = slurp(cache_path(c));
	ocikp_json *doc;
	const char *t, *e;

	token[0] = '\0';
	*expires_at = 0;
	if (json_parse(ctx, "cache file", text, strlen(text), &doc) != OCIKP_OK) {
		h.err.msg[0] = '\0';
		return token;
	}
	t = json_string(json_get(doc, "access_token"));
	e = json_number(json_get(doc, "expires_at"));
	if (t && json_type(json_get(doc, "v")) == OCIKP_JSON_NUMBER &&
	    !strcmp(json_number(json_get(doc, "v")), "1") && json_object_len(doc) == 3) {
		snprintf(token, sizeof(token), "%s", t);
		*expires_at = strtoll(e, NULL, 10);
	}
	json_free(doc);
	return token;
}

/* The file a fresh write leaves: regular, 0600, ours, holding tok, with
 * the stub's lifetime. */
static bool fresh_file(const struct gcp_cred *c, const struct ocikp_buf *tok)
{
	struct stat st;
	long long exp;
	const char *t = cached(c, &exp);

	return lstat(cache_path(c), &st) == 0 && S_ISREG(st.st_mode) &&
	       (st.st_mode & 07777) == 0600 && st.st_uid == geteuid() && tok->len &&
	       !strcmp(t, str(tok)) && exp > now_s() + stub.expires_in - 60 &&
	       exp <= now_s() + stub.expires_in;
}

static bool absent(const char *path)
{
	struct stat st;

	return lstat(path, &st) != 0 && errno == ENOENT;
}

/* Temporary files left in the state directory. */
static int leftovers(void)
{
	DIR *d = opendir(sdir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, ".token-", 7);
	if (d)
		closedir(d);
	return n;
}

static void test_miss_hit(void)
{
	struct ocikp_buf tok = { 0 };
	struct gcp_cred c = new_cred();
	int calls = stub.calls, rc;
	char first[128];
	struct stat st;

	rc = get(ctx, &c, NULL, &tok);
	ok(rc == OCIKP_OK && stub.calls == calls + 1 && strstr(str(&tok), STUB_MARK) &&
	   !h.err.msg[0], "%s: a miss fetches: rc %d, %d fetch(es), error '%s'", side, rc,
	   stub.calls - calls, h.err.msg);
	ok(fresh_file(&c, &tok), "%s:   ...and writes token-<identity>.json: regular, 0600, ours, "
	   "the token and its expiry", side);
	ok(leftovers() == 0, "%s:   ...leaving no temporary file", side);
	snprintf(first, sizeof(first), "%s", str(&tok));

	rc = get(ctx, &c, NULL, &tok);
	ok(rc == OCIKP_OK && stub.calls == calls + 1 && !strcmp(first, str(&tok)),
	   "%s: a hit does not fetch", side);
	ok(lstat(cache_path(&c), &st) == 0 && (st.st_mode & 07777) == 0600,
	   "%s:   ...and the file is left as it was", side);
	buf_free(&tok);
}

static void test_twenty(void)
{
	struct ocikp_buf tok = { 0 };
	struct gcp_cred c = new_cred();
	int calls = stub.calls, i, same = 0;
	char first[128] = "";

	for (i = 0; i < 20; i++) {
		if (get(ctx, &c, NULL, &tok) != OCIKP_OK)
			break;
		if (i == 0)
			snprintf(first, sizeof(first), "%s", str(&tok));
		same += !strcmp(first, str(&tok));
	}
	ok(i == 20 && same == 20 && stub.calls == calls + 1,
	   "%s: 20 calls, 1 fetch (%d), the same token each time", side, stub.calls - calls);
	buf_free(&tok);
}

/* A planted cache file that must not be used: a fresh token is fetched and
 * written in its place. */
static void expect_refetch(struct gcp_cred *c, const char *planted, const char *what)
{
	struct ocikp_buf tok = { 0 };
	int calls = stub.calls, rc;

	rc = get(ctx, c, NULL, &tok);
	ok(rc == OCIKP_OK && stub.calls == calls + 1 && strcmp(str(&tok), planted) &&
	   fresh_file(c, &tok) && !h.err.msg[0] && leftovers() == 0,
	   "%s: %s: ignored, a fresh token fetched and written in its place (rc %d, %d "
	   "fetch(es), error '%s')", side, what, rc, stub.calls - calls, h.err.msg);
	buf_free(&tok);
}

static void test_expiry(void)
{
	struct ocikp_buf tok = { 0 };
	struct gcp_cred c = new_cred();
	int calls;

	put_cache(&c, "ya29." STUB_MARK "-near", now_s() + GCP_TOKEN_MARGIN_S - 10, 0600);
	expect_refetch(&c, "ya29." STUB_MARK "-near", "a token within the margin of expiry");
	put_cache(&c, "ya29." STUB_MARK "-expired", now_s() - 10, 0600);
	expect_refetch(&c, "ya29." STUB_MARK "-expired", "an expired token");

	put_cache(&c, "ya29." STUB_MARK "-good", now_s() + GCP_TOKEN_MARGIN_S + 60, 0600);
	calls = stub.calls;
	ok(get(ctx, &c, NULL, &tok) == OCIKP_OK && stub.calls == calls &&
	   !strcmp(str(&tok), "ya29." STUB_MARK "-good"),
	   "%s: a token a minute beyond the margin is used", side);
	buf_free(&tok);
}

static void test_stale(void)
{
	struct ocikp_buf a = { 0 }, b = { 0 }, tok = { 0 };
	struct gcp_cred c = new_cred();
	int calls = stub.calls, rc;

	get(ctx, &c, NULL, &a);
	rc = get(ctx, &c, &a, &b);
	ok(rc == OCIKP_OK && stub.calls == calls + 2 && b.len && strcmp(str(&a), str(&b)) &&
	   fresh_file(&c, &b),
	   "%s: stale equal to the cached token: a fresh one, cached in its place", side);
	rc = get(ctx, &c, &a, &tok);
	ok(rc == OCIKP_OK && stub.calls == calls + 2 && !strcmp(str(&tok), str(&b)),
	   "%s: stale differs from the cached token (another exec refreshed): used, no fetch",
	   side);

	put_cache(&c, str(&a), now_s() + 3000, 0600);
	stub.fail = OCIKP_UNAVAILABLE;
	rc = get(ctx, &c, &a, &tok);
	stub.fail = 0;
	ok(rc == OCIKP_UNAVAILABLE && tok.len == 0 && strstr(h.err.msg, "stub:") &&
	   absent(cache_path(&c)),
	   "%s: a refused token is dropped from the cache even when the fetch fails: %s", side,
	   h.err.msg);
	buf_free(&a);
	buf_free(&b);
	buf_free(&tok);
}

static void test_untrusted(void)
{
	static const char *const bad[][2] = {
		{ "{\"v\":1,\"access_token\":", "corrupt JSON" },
		{ "", "an empty file" },
		{ "[]", "an array" },
		{ "{\"v\":2,\"access_token\":\"ya29.S3CRET-v2\",\"expires_at\":99999999999}",
		  "version 2" },
		{ "{\"v\":\"1\",\"access_token\":\"ya29.S3CRET-v\",\"expires_at\":99999999999}",
		  "a string version" },
		{ "{\"v\":1,\"access_token\":7,\"expires_at\":99999999999}", "a number for a token" },
		{ "{\"v\":1,\"access_token\":\"\",\"expires_at\":99999999999}", "an empty token" },
		{ "{\"v\":1,\"access_token\":\"ya29 S3CRET\",\"expires_at\":99999999999}",
		  "a token with a space" },
		{ "{\"v\":1,\"access_token\":\"ya29.S3CRET\\r\\nX: y\",\"expires_at\":99999999999}",
		  "a token with CR LF" },
		{ "{\"v\":1,\"access_token\":\"ya29.S3CRET-s\",\"expires_at\":\"99999999999\"}",
		  "expires_at a string" },
		{ "{\"v\":1,\"access_token\":\"ya29.S3CRET-f\",\"expires_at\":9.9e10}",
		  "expires_at not an integer" },
		{ "{\"v\":1,\"access_token\":\"ya29.S3CRET-o\",\"expires_at\":99999999999999999999999}",
		  "expires_at out of range" },
		{ "{\"v\":1,\"access_token\":\"ya29.S3CRET-m\",\"expires_at\":-9223372036854775808}",
		  "expires_at the least 64-bit integer" },
		{ "{\"v\":1,\"access_token\":\"ya29.S3CRET-n\",\"expires_at\":-1}",
		  "a negative expires_at" },
		{ "{\"v\":1,\"access_token\":\"ya29.S3CRET-x\",\"expires_at\":9223372036854775807}",
		  "expires_at the greatest 64-bit integer" },
		{ "{\"v\":1,\"access_token\":\"ya29.S3CRET-d\",\"expires_at\":99999999999}",
		  "expires_at centuries ahead" },
		{ "{\"v\":1,\"expires_at\":99999999999}", "no token" },
	};
	char target[128], big[40000], text[512];
	struct gcp_cred c = new_cred();
	struct stat st;
	size_t i;

	/* A symlink to a file that would pass every check. */
	snprintf(target, sizeof(target), "%s/target.json", tmpd);
	snprintf(text, sizeof(text), "{\"v\":1,\"access_token\":\"ya29." STUB_MARK
		 "-target\",\"expires_at\":%lld}", now_s() + 3000);
	put_file(target, text, 0600);
	unlink(cache_path(&c));
	if (symlink(target, cache_path(&c)) != 0)
		exit(99);
	expect_refetch(&c, "ya29." STUB_MARK "-target", "a symlink (to a good cache file)");
	ok(!strcmp(slurp(target), text) && lstat(target, &st) == 0 && S_ISREG(st.st_mode) &&
	   (st.st_mode & 07777) == 0600, "%s:   ...whose target is untouched", side);

	put_cache(&c, "ya29." STUB_MARK "-group", now_s() + 3000, 0640);
	expect_refetch(&c, "ya29." STUB_MARK "-group", "a group-readable file");
	put_cache(&c, "ya29." STUB_MARK "-other", now_s() + 3000, 0604);
	expect_refetch(&c, "ya29." STUB_MARK "-other", "a world-readable file");
	put_cache(&c, "ya29." STUB_MARK "-gw", now_s() + 3000, 0620);
	expect_refetch(&c, "ya29." STUB_MARK "-gw", "a group-writable file");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_file(cache_path(&c), bad[i][0], 0600);
		expect_refetch(&c, "", bad[i][1]);
	}

	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"v\":1,\"access_token\":\"ya29." STUB_MARK
		 "-big\",\"expires_at\":%lld}", now_s() + 3000);
	memcpy(big + 36000, text, strlen(text));	/* past 2 * GCP_TOKEN_MAX + 1 KiB */
	put_file(cache_path(&c), big, 0600);
	expect_refetch(&c, "ya29." STUB_MARK "-big", "a file over 33 KiB (valid JSON)");

	unlink(cache_path(&c));
	if (mkfifo(cache_path(&c), 0600) != 0)
		exit(99);
	expect_refetch(&c, "", "a FIFO (no wait for a writer)");

	if (geteuid() == 0) {
		put_cache(&c, "ya29." STUB_MARK "-foreign", now_s() + 3000, 0600);
		if (chown(cache_path(&c), 65534, 65534) != 0)
			exit(99);
		expect_refetch(&c, "ya29." STUB_MARK "-foreign", "a file owned by uid 65534");
	} else {
		skip("a file owned by another user", "needs root to chown");
	}

	/* A directory in its place: not replaceable, so the token is used
	 * uncached and the temporary file removed. */
	{
		struct ocikp_buf tok = { 0 };
		int calls = stub.calls, rc;

		unlink(cache_path(&c));
		if (mkdir(cache_path(&c), 0700) != 0)
			exit(99);
		rc = get(ctx, &c, NULL, &tok);
		ok(rc == OCIKP_OK && stub.calls == calls + 1 && tok.len && !h.err.msg[0] &&
		   lstat(cache_path(&c), &st) == 0 && S_ISDIR(st.st_mode) && leftovers() == 0,
		   "%s: a directory in the file's place: the token used uncached, no temporary "
		   "file left: %s", side, h.err.msg);
		rmdir(cache_path(&c));
		buf_free(&tok);
	}
}

static void test_fetch_outcomes(void)
{
	struct ocikp_buf tok = { 0 };
	struct gcp_cred c = new_cred();
	int calls = stub.calls, rc;

	stub.fail = OCIKP_CONFIG;
	rc = get(ctx, &c, NULL, &tok);
	stub.fail = 0;
	ok(rc == OCIKP_CONFIG && tok.len == 0 && !strcmp(h.err.msg, "stub: token endpoint refused") &&
	   absent(cache_path(&c)) && leftovers() == 0,
	   "%s: a failed fetch: its status and error line, nothing cached: %s", side, h.err.msg);

	stub.expires_in = GCP_TOKEN_MARGIN_S - 100;
	calls = stub.calls;
	rc = get(ctx, &c, NULL, &tok);
	ok(rc == OCIKP_OK && tok.len && absent(cache_path(&c)) && stub.calls == calls + 1,
	   "%s: a fresh token within the margin of expiry: returned, not cached", side);
	rc = get(ctx, &c, NULL, &tok);
	ok(rc == OCIKP_OK && stub.calls == calls + 2, "%s:   ...so the next call fetches", side);
	stub.expires_in = 3600;

	/* A token added to what the caller's buffer already holds. */
	buf_free(&tok);
	buf_append(&tok, "prefix:", 7);
	h.err.msg[0] = '\0';
	rc = token_get(ctx, &opts, &c, NULL, &tok);
	ok(rc == OCIKP_OK && !strncmp(str(&tok), "prefix:ya29.", 12) && fresh_file(&c, &(struct ocikp_buf){
		.data = tok.data + 7, .len = tok.len - 7 }),
	   "%s: the token is appended to tok; only the token is cached", side);
	buf_free(&tok);
}

/* 8 processes on an empty cache, each fetch taking 200 ms: one fetch. */
static void test_parallel(void)
{
	struct gcp_cred c = new_cred();
	char count[128], tokens[128], line[256], first[256] = "";
	int p[2], i, status, good = 0, lines = 0, same = 0;
	pid_t pids[PARALLEL];
	struct stat st;
	FILE *f;

	snprintf(count, sizeof(count), "%s/fetches", tmpd);
	snprintf(tokens, sizeof(tokens), "%s/tokens", tmpd);
	unlink(count);
	unlink(tokens);
	if (pipe(p) != 0)
		exit(99);
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < PARALLEL; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct ocikp_buf tok = { 0 };
			char c1;
			int rc, fd;

			close(p[1]);
			if (read(p[0], &c1, 1) < 0)	/* until the parent closes: all at once */
				_exit(3);
			stub.count_file = count;
			stub.sleep_ms = 200;
			rc = get(ctx, &c, NULL, &tok);
			fd = open(tokens, O_WRONLY | O_APPEND | O_CREAT, 0600);
			if (fd < 0 || buf_append(&tok, "\n", 1) != OCIKP_OK ||
			    write(fd, tok.data, tok.len) != (ssize_t)tok.len)
				_exit(2);
			close(fd);
			_exit(rc == OCIKP_OK && strstr(str(&tok), STUB_MARK) ? 0 : 1);
		}
	}
	close(p[0]);
	close(p[1]);
	for (i = 0; i < PARALLEL; i++)
		if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			good++;
	ok(good == PARALLEL, "%s: %d processes at once on an empty cache: each got a token (%d)",
	   side, PARALLEL, good);
	ok(stat(count, &st) == 0 && st.st_size == 1,
	   "%s:   ...with exactly 1 fetch among them (%lld)", side, (long long)st.st_size);
	f = fopen(tokens, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!lines++)
			snprintf(first, sizeof(first), "%s", line);
		same += !strcmp(first, line);
	}
	if (f)
		fclose(f);
	ok(lines == PARALLEL && same == PARALLEL, "%s:   ...the same token for all", side);
}

/* No usable state directory: every call fetches, and no error is left. */
static void test_no_state_dir(void)
{
	struct ocikp_host old_host = host_services;
	struct backend_ctx other;
	struct ocikp_buf tok = { 0 };
	struct gcp_cred c = new_cred();
	char name[64], path[700], parent[600];
	int calls, rc1, rc2;

	/* A host older than state_dir. */
	old_host.size = offsetof(struct ocikp_host, state_dir);
	host_ctx_init(&other.pub, &h, "gcpkms");
	other.pub.host = &old_host;
	calls = stub.calls;
	rc1 = get(&other.pub, &c, NULL, &tok);
	rc2 = get(&other.pub, &c, NULL, &tok);
	ok(rc1 == OCIKP_OK && rc2 == OCIKP_OK && stub.calls == calls + 2 && tok.len &&
	   !h.err.msg[0] && absent(cache_path(&c)),
	   "%s: a host without state_dir: a fetch per call, nothing cached, no error", side);

	/* A state directory the host refuses (group-accessible). */
	snprintf(parent, sizeof(parent), "%s", sdir);
	snprintf(name, sizeof(name), "gcpkms-unit-%ld", (long)getpid());
	snprintf(path, sizeof(path), "%s/%s", dirname(parent), name);
	if (mkdir(path, 0700) != 0 || chmod(path, 0750) != 0)
		exit(99);
	host_ctx_init(&other.pub, &h, name);
	calls = stub.calls;
	rc1 = get(&other.pub, &c, NULL, &tok);
	rc2 = get(&other.pub, &c, NULL, &tok);
	ok(rc1 == OCIKP_OK && rc2 == OCIKP_OK && stub.calls == calls + 2 && tok.len &&
	   !h.err.msg[0], "%s: a state directory the host refuses (mode 0750): a fetch per call, "
	   "no error left: '%s'", side, h.err.msg);
	ok(rmdir(path) == 0, "%s:   ...and nothing written in it", side);

	if (geteuid() != 0) {
		char *xdg = strdup(getenv("XDG_RUNTIME_DIR"));

		unsetenv("XDG_RUNTIME_DIR");
		calls = stub.calls;
		rc1 = get(ctx, &c, NULL, &tok);
		rc2 = get(ctx, &c, NULL, &tok);
		ok(rc1 == OCIKP_OK && rc2 == OCIKP_OK && stub.calls == calls + 2 && tok.len &&
		   !h.err.msg[0], "%s: XDG_RUNTIME_DIR unset: a fetch per call, no error left",
		   side);
		setenv("XDG_RUNTIME_DIR", xdg, 1);
		free(xdg);
	} else {
		skip("XDG_RUNTIME_DIR unset", "root uses /run");
	}
	buf_free(&tok);
}

static int capture_stderr(const char *log)
{
	int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (saved < 0 || fd < 0)
		exit(99);
	dup2(fd, 2);
	close(fd);
	return saved;
}

/* The debug lines said why, and never held a token. */
static void check_debug(int saved, const char *log)
{
	static const char *const want[] = {
		"a symbolic link, ignored", "accessible by group or others, ignored",
		"not valid JSON, ignored", "not a regular file, ignored",
		"too large or unreadable, ignored", "expires within the margin, ignored",
		"expired, ignored", "the token KMS refused, ignored", "not a usable token, ignored",
		"not a version 1 cache file, ignored", "hit, ", "none yet", "written, ",
		"token cache off: no usable state directory",
		"token cache off: this ocikp has no state directory", "used, not cached",
	};
	static char all[1 << 17];
	size_t i, len = 0;
	int n = 0, leak = 0, missing = 0;
	char line[1024];
	FILE *f;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(log, "r");
	while (f && fgets(line, sizeof(line), f)) {
		n++;
		leak += strstr(line, STUB_MARK) != NULL;
		if (len + strlen(line) < sizeof(all)) {
			memcpy(all + len, line, strlen(line) + 1);
			len += strlen(line);
		}
	}
	if (f)
		fclose(f);
	ok(n > 0 && leak == 0, "%s: %d debug lines, none holding a token (%d did)", side, n,
	   leak);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(all, want[i])) {
			printf("# no debug line with '%s'\n", want[i]);
			missing++;
		}
	if (geteuid() == 0 && !strstr(all, "owned by another user, ignored")) {
		printf("# no debug line with 'owned by another user'\n");
		missing++;
	}
	ok(missing == 0, "%s: the debug lines say why a file was ignored", side);
}

static void cleanup(bool made_dir)
{
	char path[700];
	int i;

	for (i = 0; i < n_ids; i++) {
		snprintf(path, sizeof(path), "%s/token-%.64s.json", sdir, ids[i]);
		unlink(path);
		snprintf(path, sizeof(path), "%s/token-%.64s.lock", sdir, ids[i]);
		unlink(path);
	}
	if (made_dir)
		rmdir(sdir);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpd);
	if (system(path) != 0)
		exit(99);
}

static void run_all(const char *who)
{
	struct ocikp_buf b = { 0 };
	char log[128];
	bool made_dir;
	int saved;

	side = who;
	n_ids = 0;
	snprintf(tmpd, sizeof(tmpd), "/tmp/ocikp-cache-test-XXXXXX");
	if (!mkdtemp(tmpd))
		exit(99);
	host_ctx_init(ctx, &h, "gcpkms");
	deadline_set(&h.deadline, 30000);
	if (geteuid() == 0)
		snprintf(sdir, sizeof(sdir), "/run/ocikp/gcpkms");
	else
		snprintf(sdir, sizeof(sdir), "%s/ocikp/gcpkms", getenv("XDG_RUNTIME_DIR"));
	made_dir = absent(sdir);
	if (state_dir(ctx, &b) != OCIKP_OK || strcmp(str(&b), sdir)) {
		printf("not ok %d - %s: state directory %s: %s\n", ++tap_n, side, sdir, h.err.msg);
		tap_failed++;
		return;
	}
	buf_free(&b);

	snprintf(log, sizeof(log), "%s/debug.log", tmpd);
	debug_enable(true);
	saved = capture_stderr(log);
	test_miss_hit();
	test_twenty();
	test_expiry();
	test_stale();
	test_untrusted();
	test_fetch_outcomes();
	test_parallel();
	test_no_state_dir();
	check_debug(saved, log);
	debug_enable(false);
	cleanup(made_dir);
}

/* The user's side, as uid 65534 in a child; its counts come back through
 * a pipe so the numbering carries on. */
static void as_nobody(void)
{
	char xdg[] = "/tmp/ocikp-cache-XDG-XXXXXX", cmd[128];
	int p[2], counts[2], status;
	pid_t pid;

	if (!mkdtemp(xdg) || chown(xdg, 65534, 65534) != 0 || chmod(xdg, 0700) != 0 ||
	    pipe(p) != 0)
		exit(99);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		alarm(WATCHDOG_S);
		if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(99);
		setenv("XDG_RUNTIME_DIR", xdg, 1);
		stub.calls = 0;
		run_all("uid 65534");
		fflush(stdout);
		counts[0] = tap_n;
		counts[1] = tap_failed;
		_exit(write(p[1], counts, sizeof(counts)) == sizeof(counts) ? 0 : 99);
	}
	close(p[1]);
	if (read(p[0], counts, sizeof(counts)) == sizeof(counts)) {
		tap_n = counts[0];
		tap_failed = counts[1];
	} else {
		printf("not ok %d - the run as uid 65534 reported nothing\n", ++tap_n);
		tap_failed++;
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the run as uid 65534 finished");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", xdg);
	if (system(cmd) != 0)
		exit(99);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	alloc_hook_openssl();	/* as ocikp's main does, before anything allocates */
	signal(SIGPIPE, SIG_IGN);
	/* A cache that blocks (a FIFO opened without O_NONBLOCK, a lock never
	 * let go) ends the test as a failure instead of hanging make check. */
	alarm(WATCHDOG_S);
	if (geteuid() == 0) {
		run_all("root");
		as_nobody();
	} else {
		char xdg[] = "/tmp/ocikp-cache-XDG-XXXXXX", cmd[128];

		if (!mkdtemp(xdg) || chmod(xdg, 0700) != 0)
			return 99;
		setenv("XDG_RUNTIME_DIR", xdg, 1);
		run_all("user");
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", xdg);
		if (system(cmd) != 0)
			return 99;
	}
	conf_free(&h.conf);
	return tap_done();
}
