/*
 * Where KEKs live on this machine: raw 32-byte KEK files (wrap), CoCo's
 * offline_fs JSON files (unwrap; guest-components
 * confidential-data-hub/kms/src/plugins/kbs/offline_fs.rs), the sample KEK,
 * and `ocikp kbs keygen`, which makes both (generate_keys.sh's job).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "kbs.h"

#define OFFLINE_MAX (1024 * 1024)	/* bytes of one offline_fs JSON file */
#define OFFLINE_FILES_MAX 16
#define DEFAULT_OFFLINE "/etc/aa-offline_fs_kbc-keys.json,/etc/aa-offline_fs_kbc-resources.json"

/* coco_keyprovider's hard-coded test KEK (enc_mods/mod.rs), also the
 * legacy sample KBC's. */
const unsigned char kbs_sample_kek[KBS_KEK_LEN] = {
	0xd9, 0x9b, 0x77, 0x05, 0xb0, 0xba, 0x7a, 0x16, 0x82, 0x95, 0xb3, 0xa3, 0x36, 0x72, 0x70, 0xb0,
	0xdd, 0x9b, 0x37, 0x1b, 0xf5, 0x14, 0xca, 0x8b, 0x9b, 0xa7, 0xf0, 0xa3, 0x37, 0x11, 0xda, 0xea,
};

int kbs_kek_file(struct ocikp_ctx *ctx, const char *path, unsigned char kek[KBS_KEK_LEN])
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf buf = { 0 };
	int rc;

	if (!OCIKP_HOST_HAS(h, read_private_file)) {
		ocikp_errorf(ctx, "this ocikp is too old for the kbs backend (no read_private_file)");
		return OCIKP_CONFIG;
	}
	/* The file comes from the request (keypath=), not from the drop-ins:
	 * under ocikpd it is read with the caller's rights.  A host without
	 * read_request_file is exec-only, where the two are the same. */
	if (OCIKP_HOST_HAS(h, read_request_file))
		rc = h->read_request_file(ctx, "KEK file", path, KBS_KEK_LEN, &buf);
	else
		rc = h->read_private_file(ctx, "KEK file", path, KBS_KEK_LEN, &buf);
	if (rc == OCIKP_CONFIG)
		rc = OCIKP_BAD_INPUT;
	if (rc == OCIKP_OK && buf.len != KBS_KEK_LEN) {
		ocikp_errorf(ctx, "KEK file %s: must hold exactly %d bytes, not %zu", path,
			     KBS_KEK_LEN, buf.len);
		rc = OCIKP_BAD_INPUT;
	}
	if (rc == OCIKP_OK)
		memcpy(kek, buf.data, KBS_KEK_LEN);
	h->buf_free(&buf);
	return rc;
}

/* ---- offline_fs ---- */

struct file_list {
	char *copy;			/* the lists, split in place */
	const char *path[OFFLINE_FILES_MAX];
	size_t n;
};

static int list_add(struct ocikp_ctx *ctx, struct file_list *l, char *s, const char *origin)
{
	char *tok, *save = NULL, *end;

	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!*tok)
			continue;
		if (tok[0] != '/') {
			ocikp_errorf(ctx, "%s: offline key file %.200s is not an absolute path", origin, tok);
			return OCIKP_CONFIG;
		}
		if (l->n == OFFLINE_FILES_MAX) {
			ocikp_errorf(ctx, "%s: more than %d offline key files", origin, OFFLINE_FILES_MAX);
			return OCIKP_CONFIG;
		}
		l->path[l->n++] = tok;
	}
	return OCIKP_OK;
}

/* kbs.offline_files (else CoCo's two defaults), then
 * OFFLINE_FS_KBC_EXTRA_FILE_PATH, in that order. */
static int offline_files(struct ocikp_ctx *ctx, struct file_list *l)
{
	const char *opt = ocikp_conf(ctx, "offline_files");
	const char *extra = secure_getenv("OFFLINE_FS_KBC_EXTRA_FILE_PATH");
	size_t a, b;
	int rc;

	memset(l, 0, sizeof(*l));
	if (!opt)
		opt = DEFAULT_OFFLINE;
	if (!extra)
		extra = "";
	a = strlen(opt);
	b = strlen(extra);
	l->copy = malloc(a + b + 2);
	if (!l->copy) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	memcpy(l->copy, opt, a + 1);
	memcpy(l->copy + a + 1, extra, b + 1);
	rc = list_add(ctx, l, l->copy, "kbs.offline_files");
	if (rc == OCIKP_OK)
		rc = list_add(ctx, l, l->copy + a + 1, "OFFLINE_FS_KBC_EXTRA_FILE_PATH");
	return rc;
}

/* One offline_fs file's text, parsed: a JSON object. */
static int offline_parse(struct ocikp_ctx *ctx, const char *file, const struct ocikp_buf *text,
			 ocikp_json **doc)
{
	const struct ocikp_host *h = ctx->host;
	int rc = h->json_parse(ctx, file, text->data, text->len, doc);

	if (rc == OCIKP_OK && h->json_type(*doc) != OCIKP_JSON_OBJECT) {
		ocikp_errorf(ctx, "offline key file %s: not a JSON object", file);
		rc = OCIKP_CONFIG;
	}
	/* A broken key file is this machine's configuration, not the image's. */
	if (rc == OCIKP_BAD_INPUT)
		rc = OCIKP_CONFIG;
	if (rc != OCIKP_OK) {
		h->json_free(*doc);
		*doc = NULL;
	}
	return rc;
}

/* Read one offline_fs file; OCIKP_NOT_MINE if it does not exist. */
static int offline_read(struct ocikp_ctx *ctx, const char *file, struct ocikp_buf *text)
{
	struct stat st;

	if (lstat(file, &st) != 0 && errno == ENOENT) {
		ocikp_debugf(ctx, "offline key file %s: missing, skipped", file);
		return OCIKP_NOT_MINE;
	}
	return ctx->host->read_private_file(ctx, "offline key file", file, OFFLINE_MAX, text);
}

/* Read and parse one offline_fs file; OCIKP_NOT_MINE if it does not exist. */
static int offline_load(struct ocikp_ctx *ctx, const char *file, ocikp_json **doc)
{
	struct ocikp_buf text = { 0 };
	int rc = offline_read(ctx, file, &text);

	*doc = NULL;
	if (rc == OCIKP_OK)
		rc = offline_parse(ctx, file, &text, doc);
	ctx->host->buf_free(&text);
	return rc;
}

/* The last member named path in doc (a later duplicate wins, as in a map). */
static const ocikp_json *member(const struct ocikp_host *h, const ocikp_json *doc, const char *path)
{
	const ocikp_json *v = NULL;
	size_t i, n = h->json_object_len(doc);

	for (i = 0; i < n; i++)
		if (strcmp(h->json_object_key_at(doc, i), path) == 0)
			v = h->json_object_value_at(doc, i);
	return v;
}

static int offline_value(struct ocikp_ctx *ctx, const char *file, const char *path,
			 const ocikp_json *v, unsigned char kek[KBS_KEK_LEN])
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf raw = { 0 };
	int rc;

	if (!h->json_string(v)) {
		ocikp_errorf(ctx, "offline key file %s: %s is not a base64 string", file, path);
		return OCIKP_CONFIG;
	}
	rc = h->b64_decode(ctx, "offline key", h->json_string(v), h->json_string_len(v), 0, &raw);
	if (rc == OCIKP_OK && raw.len != KBS_KEK_LEN)
		rc = OCIKP_BAD_INPUT;
	if (rc == OCIKP_BAD_INPUT) {
		ocikp_errorf(ctx, "offline key file %s: %s is not the base64 of %d bytes", file, path,
			     KBS_KEK_LEN);
		rc = OCIKP_CONFIG;
	}
	if (rc == OCIKP_OK)
		memcpy(kek, raw.data, KBS_KEK_LEN);
	h->buf_free(&raw);
	return rc;
}

/* path in one offline_fs file's text: OCIKP_OK with kek, OCIKP_NOT_MINE
 * when the file does not hold it, OCIKP_CONFIG when it is malformed. */
static int offline_find(struct ocikp_ctx *ctx, const char *file, const struct ocikp_buf *text,
			const char *path, unsigned char kek[KBS_KEK_LEN])
{
	const ocikp_json *v;
	ocikp_json *doc = NULL;
	int rc = offline_parse(ctx, file, text, &doc);

	if (rc == OCIKP_OK && !(v = member(ctx->host, doc, path)))
		rc = OCIKP_NOT_MINE;
	else if (rc == OCIKP_OK)
		rc = offline_value(ctx, file, path, v, kek);
	ctx->host->json_free(doc);
	return rc;
}

int kbs_offline_kek(struct ocikp_ctx *ctx, const char *path, unsigned char kek[KBS_KEK_LEN])
{
	const struct ocikp_host *h = ctx->host;
	struct file_list l;
	struct ocikp_buf text = { 0 };
	unsigned char found[KBS_KEK_LEN];
	size_t i;
	int rc, got = 0;

	if (!OCIKP_HOST_HAS(h, json_object_value_at)) {
		ocikp_errorf(ctx, "this ocikp is too old for the kbs backend");
		return OCIKP_CONFIG;
	}
	rc = offline_files(ctx, &l);
	for (i = 0; rc == OCIKP_OK && i < l.n; i++) {
		rc = offline_read(ctx, l.path[i], &text);
		/* Every file is read, so a later one overrides an earlier one
		 * and a malformed one is reported wherever it stands. */
		if (rc == OCIKP_OK)
			rc = offline_find(ctx, l.path[i], &text, path, found);
		if (rc == OCIKP_OK) {
			ocikp_debugf(ctx, "offline key file %s has %s", l.path[i], path);
			got = 1;
		}
		if (rc == OCIKP_NOT_MINE)	/* missing, or without path */
			rc = OCIKP_OK;
		h->buf_free(&text);
	}
	free(l.copy);
	if (rc == OCIKP_OK && !got)
		rc = OCIKP_NOT_MINE;
	if (rc == OCIKP_OK)
		memcpy(kek, found, KBS_KEK_LEN);
	OPENSSL_cleanse(found, sizeof(found));
	return rc;
}

/* ---- ocikp kbs keygen ---- */

static int write_all(int fd, const void *p, size_t n)
{
	const unsigned char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The offline JSON file as it is, or NULL if it does not exist yet. */
static int keygen_json_read(struct ocikp_ctx *ctx, const char *file, ocikp_json **doc)
{
	int rc = offline_load(ctx, file, doc);

	return rc == OCIKP_NOT_MINE ? OCIKP_OK : rc;
}

/* doc with "path": b64(kek) added, or replacing the member of that name. */
static int keygen_json_text(struct ocikp_ctx *ctx, const ocikp_json *doc, const char *path,
			    const unsigned char kek[KBS_KEK_LEN], struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_jgen *g = h->jgen_new();
	size_t i, n = doc ? h->json_object_len(doc) : 0;
	int done = 0;
	const char *k;

	if (!g)
		return OCIKP_INTERNAL;
	h->jgen_map_open(g);
	for (i = 0; i < n; i++) {
		k = h->json_object_key_at(doc, i);
		if (strcmp(k, path) == 0 && done)
			continue;	/* a duplicate: one copy is enough */
		h->jgen_key(g, k);
		if (strcmp(k, path) == 0) {
			h->jgen_b64(g, kek, KBS_KEK_LEN);
			done = 1;
		} else {
			h->jgen_value(g, h->json_object_value_at(doc, i));
		}
	}
	if (!done) {
		h->jgen_key(g, path);
		h->jgen_b64(g, kek, KBS_KEK_LEN);
	}
	h->jgen_map_close(g);
	if (h->jgen_finish(g, out) != OCIKP_OK)
		return OCIKP_INTERNAL;
	return h->buf_append(out, "\n", 1);
}

/* Replace file by text atomically: a 0600 temporary file beside it, synced,
 * renamed over it, and the directory synced. */
static int write_atomic(struct ocikp_ctx *ctx, const char *file, const struct ocikp_buf *text)
{
	char tmp[4200], dir[4200];
	int fd, dfd, rc = OCIKP_CONFIG;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", file) >= (int)sizeof(tmp)) {
		ocikp_errorf(ctx, "%s: path too long", file);
		return OCIKP_BAD_INPUT;
	}
	fd = mkstemp(tmp);	/* mode 0600 */
	if (fd < 0) {
		ocikp_errorf(ctx, "%s: %s", tmp, strerror(errno));
		return OCIKP_CONFIG;
	}
	if (write_all(fd, text->data, text->len) != 0 || fsync(fd) != 0)
		ocikp_errorf(ctx, "%s: %s", tmp, strerror(errno));
	else if (rename(tmp, file) != 0)
		ocikp_errorf(ctx, "%s: %s", file, strerror(errno));
	else
		rc = OCIKP_OK;
	close(fd);
	if (rc != OCIKP_OK) {
		unlink(tmp);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", file);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return OCIKP_OK;
}

static int keygen_usage(struct ocikp_ctx *ctx)
{
	ocikp_errorf(ctx, "usage: ocikp kbs keygen [--offline-json FILE] KEYFILE --kid kbs:///REPO/TYPE/TAG");
	return OCIKP_BAD_INPUT;
}

struct keygen_args {
	const char *keyfile, *json, *kid;
};

static int keygen_args(struct ocikp_ctx *ctx, int argc, char *const argv[], struct keygen_args *a)
{
	int i;

	memset(a, 0, sizeof(*a));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--kid") == 0 && i + 1 < argc && !a->kid)
			a->kid = argv[++i];
		else if (strncmp(argv[i], "--kid=", 6) == 0 && !a->kid)
			a->kid = argv[i] + 6;
		else if (strcmp(argv[i], "--offline-json") == 0 && i + 1 < argc && !a->json)
			a->json = argv[++i];
		else if (strncmp(argv[i], "--offline-json=", 15) == 0 && !a->json)
			a->json = argv[i] + 15;
		else if (argv[i][0] != '-' && !a->keyfile)
			a->keyfile = argv[i];
		else
			return keygen_usage(ctx);
	}
	if (!a->keyfile || !a->kid)
		return keygen_usage(ctx);
	if (a->json && a->json[0] != '/') {
		ocikp_errorf(ctx, "--offline-json: %s is not an absolute path", a->json);
		return OCIKP_BAD_INPUT;
	}
	return OCIKP_OK;
}

static int keygen_message(struct ocikp_ctx *ctx, const struct keygen_args *a, const char *kid,
			  const char *path, struct ocikp_buf *out)
{
	char msg[9000];

	snprintf(msg, sizeof(msg), "wrote a %d-byte KEK for %s to %s (mode 0600)\n", KBS_KEK_LEN,
		 kid, a->keyfile);
	if (a->json)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "added %s to %s\n", path,
			 a->json);
	return ctx->host->buf_append(out, msg, strlen(msg));
}

int kbs_keygen(struct ocikp_ctx *ctx, int argc, char *const argv[], struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf text = { 0 };
	struct keygen_args a;
	unsigned char kek[KBS_KEK_LEN];
	char kid[KBS_KID_MAX];
	const char *path;
	ocikp_json *doc = NULL;
	int fd = -1, rc;

	rc = keygen_args(ctx, argc, argv, &a);
	if (rc == OCIKP_OK)
		rc = kbs_kid_normalize(ctx, a.kid, kid, &path);
	/* Read the JSON file first: nothing is made if it is unusable. */
	if (rc == OCIKP_OK && a.json)
		rc = keygen_json_read(ctx, a.json, &doc);
	if (rc != OCIKP_OK)
		goto out;
	if (RAND_bytes(kek, sizeof(kek)) != 1) {
		ocikp_errorf(ctx, "no random bytes for a KEK");
		rc = OCIKP_INTERNAL;
		goto out;
	}
	if (a.json) {
		rc = keygen_json_text(ctx, doc, path, kek, &text);
		if (rc != OCIKP_OK)
			goto out;
	}
	fd = open(a.keyfile, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ocikp_errorf(ctx, "%s: %s", a.keyfile, strerror(errno));
		rc = OCIKP_CONFIG;
		goto out;
	}
	if (write_all(fd, kek, sizeof(kek)) != 0 || fsync(fd) != 0) {
		ocikp_errorf(ctx, "%s: %s", a.keyfile, strerror(errno));
		rc = OCIKP_CONFIG;
	}
	close(fd);
	if (rc == OCIKP_OK && a.json)
		rc = write_atomic(ctx, a.json, &text);
	if (rc != OCIKP_OK)
		unlink(a.keyfile);	/* no KEK file without its JSON entry */
	if (rc == OCIKP_OK)
		rc = keygen_message(ctx, &a, kid, path, out);
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	h->json_free(doc);
	h->buf_free(&text);
	return rc;
}
