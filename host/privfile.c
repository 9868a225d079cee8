/*
 * Reading secrets (key files, credentials): one policy for every backend,
 * the checks OpenSSH makes of a private key.  The file is opened without
 * following a symlink and without blocking on a FIFO, and everything is
 * checked on the open descriptor, so what is checked is what is read.
 * A file the request names (not the drop-ins) is opened, under ocikpd,
 * with the caller's identity (caller.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "ocikp.h"

/* Drop what was appended past `start` (cleansed): a failed read leaves
 * `out` as it was. */
static void truncate_to(struct ocikp_buf *out, size_t start)
{
	if (!out->data || out->len <= start)
		return;
	OPENSSL_cleanse(out->data + start, out->len - start);
	out->len = start;
}

static int open_private(struct ocikp_ctx *ctx, const char *what, const char *path, int *fd)
{
	struct stat st;

	*fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (*fd >= 0)
		return OCIKP_OK;
	/* O_NOFOLLOW says ELOOP; say what it means. */
	if (errno == ELOOP && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		err_set(ctx, "%s %s: a symbolic link (name the file itself)", what, path);
	else
		err_set(ctx, "%s %s: %s", what, path, strerror(errno));
	return OCIKP_CONFIG;
}

/* Root or the caller: under ocikpd the peer (c), else this process. */
static bool owner_ok(const struct caller *c, uid_t uid)
{
	return c ? uid == 0 || uid == c->uid : trust_owner(uid);
}

/* Regular, owned by root or the caller, private, small enough.  Under
 * ocikpd the caller opened fd itself, so it may learn the mode and owner. */
static int check_private(struct ocikp_ctx *ctx, const char *what, const char *path, int fd,
			 size_t max, const struct caller *c)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		err_set(ctx, "%s %s: %s", what, path, strerror(errno));
		return OCIKP_CONFIG;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(ctx, "%s %s: not a regular file", what, path);
		return OCIKP_CONFIG;
	}
	if (!owner_ok(c, st.st_uid)) {
		err_set(ctx, "%s %s: owned by uid %u, not root or the caller", what, path,
			(unsigned)st.st_uid);
		return OCIKP_CONFIG;
	}
	if (st.st_mode & 077) {
		err_set(ctx, "%s %s: accessible by group or others (mode %03o, want 600)", what,
			path, (unsigned)(st.st_mode & 0777));
		return OCIKP_CONFIG;
	}
	if ((unsigned long long)st.st_size > max) {
		err_set(ctx, "%s %s: larger than %zu bytes", what, path, max);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

/* Read to the end, at most max bytes: the size fstat saw is only a hint
 * (the file may change under us), so one byte more than allowed is asked
 * for to tell "too big" from "done". */
static int read_all(struct ocikp_ctx *ctx, const char *what, const char *path, int fd,
		    size_t max, struct ocikp_buf *out)
{
	size_t got = 0, want;
	unsigned char *p;
	ssize_t n;

	for (;;) {
		want = max - got >= 65536 ? 65536 : max - got + 1;
		p = buf_extend(out, want);
		if (!p) {
			err_set(ctx, "%s %s: out of memory", what, path);
			return OCIKP_INTERNAL;
		}
		n = read(fd, p, want);
		/* Give back what this read did not fill. */
		out->len -= want - (n > 0 ? (size_t)n : 0);
		out->data[out->len] = '\0';
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(ctx, "%s %s: %s", what, path, strerror(errno));
			return OCIKP_CONFIG;
		}
		if (n == 0)
			return OCIKP_OK;
		got += (size_t)n;
		if (got > max) {
			err_set(ctx, "%s %s: larger than %zu bytes", what, path, max);
			return OCIKP_CONFIG;
		}
	}
}

/* Open, check, read; out is left as it was on failure.  c: the ocikpd
 * caller whose identity `open` ran with, or NULL. */
static int read_opened(struct ocikp_ctx *ctx, const char *what, const char *path, int fd,
		       size_t max, const struct caller *c, struct ocikp_buf *out)
{
	size_t start = out->len;
	int rc;

	rc = check_private(ctx, what, path, fd, max, c);
	if (rc == OCIKP_OK)
		rc = read_all(ctx, what, path, fd, max, out);
	close(fd);
	if (rc != OCIKP_OK)
		truncate_to(out, start);
	return rc;
}

static int check_path(struct ocikp_ctx *ctx, const char **what, const char *path)
{
	if (!*what)
		*what = "private file";
	if (!path || path[0] != '/') {
		err_set(ctx, "%s %s: not an absolute path", *what, path ? path : "(none)");
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

int read_private_file(struct ocikp_ctx *ctx, const char *what, const char *path,
		      size_t max, struct ocikp_buf *out)
{
	int fd, rc;

	rc = check_path(ctx, &what, path);
	if (rc == OCIKP_OK)
		rc = open_private(ctx, what, path, &fd);
	if (rc != OCIKP_OK)
		return rc;
	return read_opened(ctx, what, path, fd, max, NULL, out);
}

/* The open as the caller.  A file it may not open is refused without a
 * word of its mode or owner: only what the caller's own open said. */
static int open_as_caller(struct ocikp_ctx *ctx, const struct caller *c, const char *what,
			  const char *path, int *fd)
{
	struct caller_saved saved;
	struct stat st;
	int rc, e;

	rc = caller_enter(ctx, c, &saved);
	if (rc != OCIKP_OK)
		return rc;
	*fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	e = errno;
	/* O_NOFOLLOW says ELOOP; lstat too as the caller, then back. */
	if (*fd < 0 && e == ELOOP && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		e = 0;
	caller_leave(&saved);
	if (*fd >= 0)
		return OCIKP_OK;
	if (!e) {
		err_set(ctx, "%s %s: a symbolic link (name the file itself)", what, path);
		return OCIKP_CONFIG;
	}
	err_set(ctx, "cannot read %s %s: %s", what, path, strerror(e));
	return e == EACCES || e == EPERM ? OCIKP_PERMISSION : OCIKP_CONFIG;
}

int read_request_file(struct ocikp_ctx *ctx, const char *what, const char *path,
		      size_t max, struct ocikp_buf *out)
{
	const struct caller *c = host_of(ctx)->caller;
	int fd, rc;

	if (!c)
		return read_private_file(ctx, what, path, max, out);
	rc = check_path(ctx, &what, path);
	if (rc == OCIKP_OK)
		rc = open_as_caller(ctx, c, what, path, &fd);
	if (rc != OCIKP_OK)
		return rc;
	return read_opened(ctx, what, path, fd, max, c, out);
}
