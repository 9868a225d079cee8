/*
 * Where ocikpd listens: a unix socket (the default; its file mode and the
 * `ocikp` group decide who may call), a loopback TCP port, or the sockets
 * systemd passes (socket activation).  The protocol has no authentication,
 * so a non-loopback address needs serve.allow_remote.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include "ocikpd.h"

#define SOCKET_GROUP "ocikp"

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return sa->sa_family == AF_UNIX;
}

static void sockname(int fd, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(out, size, "fd %d", fd);
		return;
	}
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
		snprintf(out, size, "unix:%.*s", (int)sizeof(un->sun_path),
			 un->sun_path[0] ? un->sun_path : "(unnamed)");
		return;
	}
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, size, "%s:%u", host, port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, size, "[%s]:%u", host, port);
	}
}

/* A socket file left by an earlier run is replaced; anything else at the
 * path, or a socket someone still answers on, is not ours to remove. */
static int clear_stale(struct ocikp_ctx *ctx, const char *path, const struct sockaddr_un *un)
{
	struct stat st;
	int fd, alive;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? OCIKP_OK : (err_set(ctx, "%s: %m", path), OCIKP_CONFIG);
	if (!S_ISSOCK(st.st_mode)) {
		err_set(ctx, "%s exists and is not a socket", path);
		return OCIKP_CONFIG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return OCIKP_INTERNAL;
	alive = connect(fd, (const struct sockaddr *)un, sizeof(*un)) == 0;
	close(fd);
	if (alive) {
		err_set(ctx, "%s: another server is listening there", path);
		return OCIKP_UNAVAILABLE;
	}
	if (unlink(path) != 0) {
		err_set(ctx, "cannot remove the stale socket %s: %m", path);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

/* 0660 and group `ocikp` when that group exists (the packages create it);
 * else 0600, only for this user, with a warning: refusing to start would
 * take the keys away from the one user who can still call. */
static void socket_access(struct ocikp_ctx *ctx, const char *path)
{
	struct group *g = getgrnam(SOCKET_GROUP);

	/* not through a symlink, should one be there (check_dir makes it unlikely) */
	if (g && fchownat(AT_FDCWD, path, (uid_t)-1, g->gr_gid, AT_SYMLINK_NOFOLLOW) == 0 &&
	    chmod(path, 0660) == 0)
		return;
	if (g)
		fprintf(stderr, "ocikpd: warning: cannot give %s to group %s (%m): mode 0600, "
			"this user only\n", path, SOCKET_GROUP);
	else
		fprintf(stderr, "ocikpd: warning: no group %s: %s is mode 0600, this user "
			"only\n", SOCKET_GROUP, path);
	(void)ctx;
}

/* Outside systemd nobody made /run/ocikp: make the one missing level,
 * 0755 (the socket's own mode decides who may connect), as the socket
 * unit's DirectoryMode does. */
static int make_parent(struct ocikp_ctx *ctx, const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return OCIKP_OK;
	*slash = '\0';
	if (lstat(dir, &st) == 0 || errno != ENOENT)
		return OCIKP_OK;	/* there (bind reports what is wrong with it) */
	if (mkdir(dir, 0755) != 0 || chmod(dir, 0755) != 0) {
		err_set(ctx, "cannot create %s for the socket: %m", dir);
		return OCIKP_UNAVAILABLE;
	}
	return OCIKP_OK;
}

/* bind() and then chown/chmod by path are safe only where nobody else can
 * swap the socket file for a symlink or another file in between: refuse a
 * directory someone else owns, or that others may write to without the
 * sticky bit (with it they cannot rename or remove our file). */
static int check_dir(struct ocikp_ctx *ctx, const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';	/* the root directory */
	else if (slash)
		*slash = '\0';
	if (stat(dir, &st) != 0) {
		err_set(ctx, "unix:%s: its directory %s: %m", path, dir);
		return OCIKP_UNAVAILABLE;
	}
	if (!trust_owner(st.st_uid)) {
		err_set(ctx, "unix:%s: its directory %s belongs to uid %u, not root or this user: "
			"it could replace the socket", path, dir, (unsigned)st.st_uid);
		return OCIKP_UNAVAILABLE;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		err_set(ctx, "unix:%s: its directory %s is writable by others (mode %04o) without "
			"the sticky bit: use one only this user can write, such as /run/ocikp",
			path, dir, (unsigned)(st.st_mode & 07777));
		return OCIKP_UNAVAILABLE;
	}
	return OCIKP_OK;
}

static int open_unix(struct ocikp_ctx *ctx, const char *path, struct listener *l)
{
	struct sockaddr_un un;
	mode_t old;
	int fd, rc;

	if (path[0] != '/') {
		err_set(ctx, "--listen=unix:%s: the path must be absolute", path);
		return OCIKP_HOST_USAGE;
	}
	if (strlen(path) >= sizeof(un.sun_path)) {
		err_set(ctx, "--listen=unix:%s: path too long", path);
		return OCIKP_HOST_USAGE;
	}
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	strcpy(un.sun_path, path);
	rc = make_parent(ctx, path);
	if (rc == OCIKP_OK)
		rc = check_dir(ctx, path);
	if (rc == OCIKP_OK)
		rc = clear_stale(ctx, path, &un);
	if (rc != OCIKP_OK)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return OCIKP_INTERNAL;
	old = umask(0177);	/* never reachable by others, even for a moment */
	rc = bind(fd, (const struct sockaddr *)&un, sizeof(un));
	umask(old);
	if (rc != 0 || listen(fd, 128) != 0) {
		err_set(ctx, "cannot listen on unix:%s: %m", path);
		close(fd);
		return OCIKP_UNAVAILABLE;
	}
	socket_access(ctx, path);
	l->fd = fd;
	l->unlink_path = strdup(path);
	snprintf(l->name, sizeof(l->name), "unix:%s", path);
	return OCIKP_OK;
}

/* HOST:PORT or [V6]:PORT. */
static int split_hostport(struct ocikp_ctx *ctx, const char *spec, char *host, size_t hsize,
			  const char **port)
{
	const char *colon;
	size_t n;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':')
			goto bad;
		n = (size_t)(end - spec - 1);
		colon = end + 1;
		spec++;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			goto bad;
		n = (size_t)(colon - spec);
	}
	if (!n || n >= hsize || !colon[1])
		goto bad;
	memcpy(host, spec, n);
	host[n] = '\0';
	*port = colon + 1;
	return OCIKP_OK;
bad:
	err_set(ctx, "--listen: '%s' is neither unix:PATH nor HOST:PORT", spec);
	return OCIKP_HOST_USAGE;
}

static int open_tcp(struct ocikp_ctx *ctx, const char *spec, bool allow_remote,
		    struct listener *l)
{
	struct addrinfo hints, *ai = NULL;
	char host[256];
	const char *port;
	int fd = -1, rc, one = 1;

	rc = split_hostport(ctx, spec, host, sizeof(host), &port);
	if (rc != OCIKP_OK)
		return rc;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
		err_set(ctx, "--listen=%s: cannot resolve the address", spec);
		return OCIKP_HOST_USAGE;
	}
	if (!is_loopback(ai->ai_addr)) {
		if (!allow_remote) {
			err_set(ctx, "--listen=%s: not a loopback address; the key-provider protocol "
				"has no authentication (set serve.allow_remote = yes in a drop-in to "
				"listen there anyway)", spec);
			rc = OCIKP_CONFIG;
			goto out;
		}
		fprintf(stderr, "ocikpd: warning: listening on %s beyond loopback "
			"(serve.allow_remote): the protocol has no authentication; anyone who "
			"reaches it can ask for keys\n", spec);
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = OCIKP_INTERNAL;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
		err_set(ctx, "cannot listen on %s: %m", spec);
		rc = OCIKP_UNAVAILABLE;
		goto out;
	}
	l->fd = fd;
	fd = -1;
	sockname(l->fd, l->name, sizeof(l->name));	/* the real port when 0 was asked */
	rc = OCIKP_OK;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return rc;
}

/* systemd's sockets: stream sockets only, and the loopback rule holds for
 * them too (a .socket unit is configuration like a drop-in). */
static int take_activated(struct ocikp_ctx *ctx, int n, bool allow_remote,
			  struct listener *out, size_t *n_out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int i, fd;

	if (n > LISTEN_MAX) {
		err_set(ctx, "systemd passed %d sockets; at most %d", n, LISTEN_MAX);
		return OCIKP_CONFIG;
	}
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			err_set(ctx, "systemd passed fd %d, not a listening stream socket", fd);
			return OCIKP_CONFIG;
		}
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
		    !is_loopback((struct sockaddr *)&ss) && !allow_remote) {
			sockname(fd, out[i].name, sizeof(out[i].name));
			err_set(ctx, "socket %s from systemd is not loopback; set "
				"serve.allow_remote = yes to serve it", out[i].name);
			return OCIKP_CONFIG;
		}
		out[i].fd = fd;
		out[i].unlink_path = NULL;	/* systemd owns the file */
		sockname(fd, out[i].name, sizeof(out[i].name));
		*n_out = (size_t)i + 1;
	}
	return OCIKP_OK;
}

int listen_open(struct ocikp_ctx *ctx, const char *const *specs, size_t n_specs,
		bool allow_remote, struct listener *out, size_t *n_out)
{
	int n = sd_listen_fds(1), rc = OCIKP_OK;
	size_t i;

	*n_out = 0;
	if (n > 0) {
		if (n_specs)
			debugf(ctx, "socket activation: the --listen addresses are not used");
		return take_activated(ctx, n, allow_remote, out, n_out);
	}
	if (n_specs > LISTEN_MAX) {
		err_set(ctx, "at most %d --listen addresses", LISTEN_MAX);
		return OCIKP_HOST_USAGE;
	}
	for (i = 0; i < n_specs && rc == OCIKP_OK; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		/* ocicrypt.json spells it unix:///path: take that too */
		if (!strncmp(specs[i], "unix://", 7))
			rc = open_unix(ctx, specs[i] + 7, &out[i]);
		else if (!strncmp(specs[i], "unix:", 5))
			rc = open_unix(ctx, specs[i] + 5, &out[i]);
		else
			rc = open_tcp(ctx, specs[i], allow_remote, &out[i]);
		if (rc == OCIKP_OK)
			*n_out = i + 1;
	}
	if (rc != OCIKP_OK) {
		listen_close(out, *n_out);
		*n_out = 0;
	}
	return rc;
}

void listen_close(struct listener *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (l[i].fd >= 0)
			close(l[i].fd);
		l[i].fd = -1;
		if (l[i].unlink_path)
			unlink(l[i].unlink_path);
		free(l[i].unlink_path);
		l[i].unlink_path = NULL;
	}
}
