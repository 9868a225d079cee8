/*
 * A backend's private cache directory and locks in it.
 *
 * Caches (tokens, fetched certificates) must not be readable or
 * replaceable by anyone else, so every level is opened with O_NOFOLLOW
 * relative to the one checked before it, created 0700 when missing, and
 * checked (a directory, owned by the caller, no group or other bits) on
 * every call: a symlink or a directory someone else made is refused, never
 * repaired.  One exception: root's /run/ocikp also holds ocikpd's socket,
 * which group `ocikp` must reach, so that level may be 0755 (never
 * writable by others); the backends' directories below stay 0700.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "ocikp.h"

#define LOCK_POLL_MIN_MS 5
#define LOCK_POLL_MAX_MS 100

/* A single path component we may create: not empty, no '/', not . or .. */
static bool plain_name(const char *s)
{
	return s && s[0] && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") &&
	       strlen(s) <= 200;
}

/* A directory of ours: owned by the caller, no group or other bits (or,
 * `listable`, none that let others write). */
static int check_dir(struct ocikp_ctx *ctx, const char *path, int fd, bool listable)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		err_set(ctx, "state directory %s: %s", path, strerror(errno));
		return OCIKP_CONFIG;
	}
	if (!S_ISDIR(st.st_mode)) {
		err_set(ctx, "state directory %s: not a directory", path);
		return OCIKP_CONFIG;
	}
	if (st.st_uid != geteuid()) {
		err_set(ctx, "state directory %s: owned by uid %u, not the caller (uid %u)", path,
			(unsigned)st.st_uid, (unsigned)geteuid());
		return OCIKP_CONFIG;
	}
	if (st.st_mode & (listable ? 022 : 077)) {
		err_set(ctx, "state directory %s: %s by group or others (mode %03o, want %s)",
			path, listable ? "writable" : "accessible",
			(unsigned)(st.st_mode & 07777), listable ? "755 or 700" : "700");
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

/* Open `name` under dirfd as a directory, never through a symlink. */
static int open_dir_at(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int open_fail(struct ocikp_ctx *ctx, int dirfd, const char *name, const char *path)
{
	struct stat st;

	if ((errno == ELOOP || errno == ENOTDIR) &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		err_set(ctx, "state directory %s: a symbolic link, refused", path);
	else if (errno == ENOTDIR)
		err_set(ctx, "state directory %s: not a directory", path);
	else
		err_set(ctx, "state directory %s: %s", path, strerror(errno));
	return OCIKP_CONFIG;
}

/* One level below dirfd: open it, or create it 0700 and open what is
 * there then (another exec may have made it meanwhile); then check it. */
static int enter_level(struct ocikp_ctx *ctx, int dirfd, const char *name, const char *path,
		       bool listable, int *fd_out)
{
	int fd = open_dir_at(dirfd, name), rc;

	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(dirfd, name, listable ? 0755 : 0700) != 0 && errno != EEXIST)
			return open_fail(ctx, dirfd, name, path);
		fd = open_dir_at(dirfd, name);
	}
	if (fd < 0)
		return open_fail(ctx, dirfd, name, path);
	rc = check_dir(ctx, path, fd, listable);
	if (rc != OCIKP_OK) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return OCIKP_OK;
}

/* Where caches live: /run for root; for a user $XDG_RUNTIME_DIR, which
 * must be theirs alone (pam_systemd makes it so). */
static int open_base(struct ocikp_ctx *ctx, const char **base, int *fd_out)
{
	struct stat st;
	int fd;

	if (geteuid() == 0) {
		*base = "/run";
		fd = open(*base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0) {
			err_set(ctx, "state directory: /run: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			return OCIKP_CONFIG;
		}
		if (trust_stat(ctx, *base, &st, true, false) != OCIKP_OK) {
			close(fd);
			return OCIKP_CONFIG;
		}
		*fd_out = fd;
		return OCIKP_OK;
	}
	*base = secure_getenv("XDG_RUNTIME_DIR");
	if (!*base || (*base)[0] != '/') {
		err_set(ctx, "state directory: XDG_RUNTIME_DIR is %s (want an absolute path)",
			*base ? "relative" : "unset");
		return OCIKP_CONFIG;
	}
	fd = open(*base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err_set(ctx, "state directory: XDG_RUNTIME_DIR %s: %s", *base, strerror(errno));
		return OCIKP_CONFIG;
	}
	if (check_dir(ctx, *base, fd, false) != OCIKP_OK) {
		close(fd);
		return OCIKP_CONFIG;
	}
	*fd_out = fd;
	return OCIKP_OK;
}

/* The backend's directory, open (its fd in *fd_out) and checked; its path
 * appended to out when out is not NULL. */
static int open_state_dir(struct ocikp_ctx *ctx, struct ocikp_buf *out, int *fd_out)
{
	struct ocikp_buf path = { 0 };
	const char *base;
	int basefd = -1, topfd = -1, rc;

	*fd_out = -1;
	if (!plain_name(ctx->backend)) {
		err_set(ctx, "state directory: no usable backend name");
		return OCIKP_INTERNAL;
	}
	rc = open_base(ctx, &base, &basefd);
	if (rc == OCIKP_OK)
		rc = buf_printf(&path, "%s/ocikp", base);
	if (rc == OCIKP_OK)
		rc = enter_level(ctx, basefd, "ocikp", (char *)path.data, geteuid() == 0, &topfd);
	if (rc == OCIKP_OK)
		rc = buf_printf(&path, "/%s", ctx->backend);
	if (rc == OCIKP_OK)
		rc = enter_level(ctx, topfd, ctx->backend, (char *)path.data, false, fd_out);
	if (rc == OCIKP_OK && out)
		rc = buf_append(out, path.data, path.len);
	if (rc != OCIKP_OK && *fd_out >= 0) {
		close(*fd_out);
		*fd_out = -1;
	}
	if (topfd >= 0)
		close(topfd);
	if (basefd >= 0)
		close(basefd);
	buf_free(&path);
	return rc;
}

int state_dir(struct ocikp_ctx *ctx, struct ocikp_buf *out)
{
	int fd, rc = open_state_dir(ctx, out, &fd);

	if (fd >= 0)
		close(fd);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* flock, polling with LOCK_NB until the deadline: no timer or signal to
 * set up, and the wait is short when the other holder is quick. */
static int lock_wait(struct ocikp_ctx *ctx, int fd, const char *name)
{
	long left, step = LOCK_POLL_MIN_MS;

	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return OCIKP_OK;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			err_set(ctx, "state lock %s: %s", name, strerror(errno));
			return OCIKP_CONFIG;
		}
		left = ctx->host->deadline_ms(ctx);
		if (left <= 0) {
			err_set(ctx, "state lock %s: still held by another process at the deadline",
				name);
			return OCIKP_UNAVAILABLE;
		}
		sleep_ms(step < left ? step : left);
		if (step < LOCK_POLL_MAX_MS)
			step *= 2;
	}
}

int state_lock(struct ocikp_ctx *ctx, const char *name, int *fd_out)
{
	char file[256];
	struct stat st;
	int dirfd, fd, rc;

	*fd_out = -1;
	if (!plain_name(name) || name[0] == '.') {
		err_set(ctx, "state lock: '%s' is not a plain file name", name ? name : "");
		return OCIKP_INTERNAL;
	}
	rc = open_state_dir(ctx, NULL, &dirfd);
	if (rc != OCIKP_OK)
		return rc;
	snprintf(file, sizeof(file), "%s.lock", name);
	fd = openat(dirfd, file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
				 O_NONBLOCK, 0600);
	close(dirfd);
	if (fd < 0) {
		err_set(ctx, "state lock %s: %s", file, strerror(errno));
		return OCIKP_CONFIG;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		err_set(ctx, "state lock %s: not a regular file of the caller's", file);
		close(fd);
		return OCIKP_CONFIG;
	}
	rc = lock_wait(ctx, fd, file);
	if (rc != OCIKP_OK) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return OCIKP_OK;
}

/* Closing the only descriptor of the open file releases its flock. */
void state_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
