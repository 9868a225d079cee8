/*
 * The temporary-credential cache (credcache.h): memory, then a 0600 JSON
 * file {"value": "...", "expires_at": N} per identity in the state
 * directory, then a fetch under the state lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "credcache.h"

#define FILE_MAX (2 * CREDCACHE_VALUE_MAX + 256)	/* JSON escapes at most double */

void credcache_identity(const char *const *parts, size_t n, char id[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	size_t i;

	/* each part with its NUL: ("ab","c") and ("a","bc") differ */
	EVP_DigestInit_ex(m, EVP_sha256(), NULL);
	for (i = 0; i < n; i++)
		EVP_DigestUpdate(m, parts[i] ? parts[i] : "", strlen(parts[i] ? parts[i] : "") + 1);
	EVP_DigestFinal_ex(m, md, NULL);
	EVP_MD_CTX_free(m);
	for (i = 0; i < 32; i++) {
		id[2 * i] = hex[md[i] >> 4];
		id[2 * i + 1] = hex[md[i] & 15];
	}
	id[64] = '\0';
}

void credcache_clear(struct ocikp_ctx *ctx, struct credcache *mem)
{
	if (!mem)
		return;
	ctx->host->buf_free(&mem->value);
	mem->id[0] = '\0';
	mem->expires_at = 0;
}

static int fresh(long long expires_at, int margin_s)
{
	return expires_at - (long long)time(NULL) > margin_s;
}

static int value_ok(const char *v, size_t n)
{
	size_t i;

	if (n == 0 || n > CREDCACHE_VALUE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((v[i] >= 0x20 && v[i] <= 0x7e) || v[i] == '\n'))
			return 0;
	return 1;
}

static int same(const struct ocikp_buf *a, const char *b, size_t n)
{
	return a && a->len == n && !memcmp(a->data, b, n);
}

/* value as a C string into out (len without the NUL). */
static int put_value(struct ocikp_ctx *ctx, struct ocikp_buf *out, const void *v, size_t n)
{
	int rc = ctx->host->buf_append(out, v, n + 1);

	if (rc == OCIKP_OK) {
		out->len--;
		out->data[out->len] = '\0';
	}
	return rc;
}

/* DIR/PREFIX-<id>.json; OCIKP_NOT_MINE without a usable state directory. */
static int cache_path(struct ocikp_ctx *ctx, const char *prefix, const char *id,
		      struct ocikp_buf *file)
{
	const struct ocikp_host *h = ctx->host;

	if (!OCIKP_HOST_HAS(h, state_unlock) || h->state_dir(ctx, file) != OCIKP_OK) {
		ocikp_error_clear(ctx);
		ocikp_debugf(ctx, "no usable state directory: credentials kept in memory only");
		h->buf_free(file);
		return OCIKP_NOT_MINE;
	}
	file->len = strlen((const char *)file->data);
	h->buf_append(file, "/", 1);
	h->buf_append(file, prefix, strlen(prefix));
	h->buf_append(file, "-", 1);
	h->buf_append(file, id, strlen(id));
	return h->buf_append(file, ".json", 6);
}

/* The file's value if it is ours (owner, mode, size, form) and fresh. */
static int file_read(struct ocikp_ctx *ctx, const char *file, int margin_s,
		     struct ocikp_buf *out, long long *expires_at)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf raw = { 0 };
	ocikp_json *doc = NULL;
	const ocikp_json *v;
	const char *n, *end;
	struct stat st;
	int rc = OCIKP_NOT_MINE;

	/* read_private_file takes root's files too: here only our own count */
	if (lstat(file, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) || st.st_size > FILE_MAX)
		return OCIKP_NOT_MINE;
	if (h->read_private_file(ctx, "credential cache", file, FILE_MAX, &raw) == OCIKP_OK &&
	    h->json_parse(ctx, "credential cache", raw.data, raw.len, &doc) == OCIKP_OK &&
	    h->json_type(doc) == OCIKP_JSON_OBJECT) {
		v = h->json_get(doc, "value");
		n = h->json_number(h->json_get(doc, "expires_at"));
		if (h->json_string(v) && value_ok(h->json_string(v), h->json_string_len(v)) &&
		    n && *n) {
			errno = 0;
			*expires_at = strtoll(n, (char **)&end, 10);
			if (!*end && !errno && fresh(*expires_at, margin_s))
				rc = put_value(ctx, out, h->json_string(v), h->json_string_len(v));
		}
	}
	if (rc != OCIKP_OK)
		ocikp_error_clear(ctx);	/* an odd file is replaced, never an error */
	h->json_free(doc);
	h->buf_free(&raw);
	return rc;
}

static void file_write(struct ocikp_ctx *ctx, const char *file, const struct ocikp_buf *value,
		       long long expires_at)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf json = { 0 }, tmp = { 0 };
	char sfx[32], num[32];
	unsigned char r[8];
	ocikp_jgen *g = h->jgen_new();
	int fd = -1, ok = 0;

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));	/* O_EXCL still refuses a clash */
	snprintf(sfx, sizeof(sfx), ".%02x%02x%02x%02x%02x%02x%02x%02x.tmp", r[0], r[1], r[2], r[3],
		 r[4], r[5], r[6], r[7]);
	snprintf(num, sizeof(num), "%lld", expires_at);
	h->jgen_map_open(g);
	h->jgen_key(g, "value");
	h->jgen_string(g, (const char *)value->data, value->len);
	h->jgen_key(g, "expires_at");
	h->jgen_number(g, num, strlen(num));
	h->jgen_map_close(g);
	h->buf_append(&tmp, file, strlen(file));
	if (h->jgen_finish(g, &json) == OCIKP_OK && h->buf_append(&tmp, sfx, strlen(sfx) + 1) == OCIKP_OK) {
		fd = open((const char *)tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  0600);
		ok = fd >= 0 && write(fd, json.data, json.len) == (ssize_t)json.len;
		if (fd >= 0 && close(fd) != 0)
			ok = 0;
		/* rename replaces whatever was there, a foreign file included */
		if (ok && rename((const char *)tmp.data, file) != 0)
			ok = 0;
		if (!ok) {
			ocikp_debugf(ctx, "credentials not cached: %s", strerror(errno));
			if (fd >= 0)
				unlink((const char *)tmp.data);
		}
	}
	h->buf_free(&json);
	h->buf_free(&tmp);
}

/* Drop the file if it still holds the refused value. */
static void file_drop(struct ocikp_ctx *ctx, const char *file, const struct ocikp_buf *stale)
{
	struct ocikp_buf v = { 0 };
	long long exp;

	if (file_read(ctx, file, 0, &v, &exp) == OCIKP_OK && same(stale, (const char *)v.data, v.len))
		unlink(file);
	ctx->host->buf_free(&v);
}

static int mem_get(struct ocikp_ctx *ctx, struct credcache *mem, const char *id, int margin_s,
		   const struct ocikp_buf *stale, struct ocikp_buf *out)
{
	if (!mem || !mem->id[0] || strcmp(mem->id, id))
		return OCIKP_NOT_MINE;
	if (!fresh(mem->expires_at, margin_s) ||
	    same(stale, (const char *)mem->value.data, mem->value.len)) {
		credcache_clear(ctx, mem);
		return OCIKP_NOT_MINE;
	}
	return put_value(ctx, out, mem->value.data, mem->value.len);
}

static void mem_put(struct ocikp_ctx *ctx, struct credcache *mem, const char *id,
		    const struct ocikp_buf *v, long long expires_at)
{
	if (!mem)
		return;
	credcache_clear(ctx, mem);
	if (put_value(ctx, &mem->value, v->data, v->len) != OCIKP_OK)
		return;
	snprintf(mem->id, sizeof(mem->id), "%s", id);
	mem->expires_at = expires_at;
}

int credcache_get(struct ocikp_ctx *ctx, struct credcache *mem, const char *prefix,
		  const char *id, int margin_s, const struct ocikp_buf *stale,
		  credcache_fetch_fn fetch, void *arg, struct ocikp_buf *out,
		  long long *expires_at, int *fetched)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf file = { 0 };
	char lockname[128];
	long long exp = 0;
	size_t before = out->len;
	int lfd = -1, rc, have_file;

	if (fetched)
		*fetched = 0;
	if (!expires_at)
		expires_at = &exp;
	if (mem_get(ctx, mem, id, margin_s, stale, out) == OCIKP_OK) {
		*expires_at = mem->expires_at;
		return OCIKP_OK;
	}
	have_file = cache_path(ctx, prefix, id, &file) == OCIKP_OK;
	if (have_file && stale)
		file_drop(ctx, (const char *)file.data, stale);
	if (have_file && file_read(ctx, (const char *)file.data, margin_s, out, &exp) == OCIKP_OK) {
		mem_put(ctx, mem, id, out, exp);
		h->buf_free(&file);
		*expires_at = exp;
		return OCIKP_OK;
	}
	snprintf(lockname, sizeof(lockname), "%s-%s", prefix, id);
	if (have_file && h->state_lock(ctx, lockname, &lfd) != OCIKP_OK) {
		h->buf_free(&file);
		return OCIKP_UNAVAILABLE;
	}
	if (have_file && file_read(ctx, (const char *)file.data, margin_s, out, &exp) == OCIKP_OK) {
		rc = OCIKP_OK;	/* another exec fetched meanwhile */
	} else {
		if (fetched)
			*fetched = 1;
		rc = fetch(ctx, arg, out, &exp);
		if (rc == OCIKP_OK && (out->len == before ||
				       !value_ok((const char *)out->data + before, out->len - before))) {
			ocikp_errorf(ctx, "credential cache: the fetched value is unusable");
			rc = OCIKP_INTERNAL;
		}
		if (rc == OCIKP_OK)
			rc = put_value(ctx, out, "", 0);	/* the NUL */
		/* a lifetime within the margin is used once, never kept */
		if (rc == OCIKP_OK && have_file && fresh(exp, margin_s)) {
			struct ocikp_buf v = { out->data + before, out->len - before, 0 };

			file_write(ctx, (const char *)file.data, &v, exp);
		}
	}
	if (rc == OCIKP_OK && fresh(exp, margin_s)) {
		struct ocikp_buf v = { out->data + before, out->len - before, 0 };

		mem_put(ctx, mem, id, &v, exp);
	}
	if (have_file)
		h->state_unlock(lfd);
	h->buf_free(&file);
	*expires_at = exp;
	return rc;
}
