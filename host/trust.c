/*
 * Which files and directories the host trusts: the checks sudo and OpenSSH
 * make before reading anyone's code or configuration.  Shared by the module
 * loader, the drop-in reader and the private-file reader.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ocikp.h"

bool trust_owner(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* The mode checks shared by a module, its directory and their ancestors. */
int trust_stat(struct ocikp_ctx *ctx, const char *path, const struct stat *st, bool want_dir,
	       bool sticky_ok)
{
	if (want_dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
		err_set(ctx, "%s: not a %s", path, want_dir ? "directory" : "regular file");
		return OCIKP_CONFIG;
	}
	if (!trust_owner(st->st_uid)) {
		err_set(ctx, "%s: owned by uid %u, not root or the caller", path,
			(unsigned)st->st_uid);
		return OCIKP_CONFIG;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(sticky_ok && (st->st_mode & S_ISVTX) && st->st_uid == 0)) {
		err_set(ctx, "%s: writable by group or others (mode %03o%s)", path,
			(unsigned)(st->st_mode & 0777),
			st->st_mode & S_ISVTX ? ", sticky: safe only as an ancestor" : "");
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

/* Check every ancestor of the (already canonical) path `dir`, and `dir`. */
int trust_dir_chain(struct ocikp_ctx *ctx, const char *dir)
{
	char path[PATH_MAX];
	struct stat st;
	char *slash;
	bool first = true;
	int rc;

	if (strlen(dir) >= sizeof(path)) {
		err_set(ctx, "%.64s...: path longer than %d bytes", dir, PATH_MAX - 1);
		return OCIKP_CONFIG;
	}
	if (dir[0] != '/') {
		err_set(ctx, "%s: not an absolute path", dir);
		return OCIKP_CONFIG;
	}
	strcpy(path, dir);
	for (;;) {
		if (lstat(path[0] ? path : "/", &st) != 0) {
			err_set(ctx, "%s: %s", path[0] ? path : "/", strerror(errno));
			return OCIKP_CONFIG;
		}
		rc = trust_stat(ctx, path[0] ? path : "/", &st, true, !first);
		if (rc != OCIKP_OK)
			return rc;
		if (!path[0])
			return OCIKP_OK;
		slash = strrchr(path, '/');	/* never NULL: the path is absolute */
		*slash = '\0';
		first = false;
	}
}

