/*
 * The caller's rights, not the daemon's (DESIGN.md): under ocikpd a file
 * the request names is opened with the caller's identity, and an operation
 * with the admin's credentials is allowed only to the callers the admin
 * lists.  In exec mode (no struct caller) both are the process's own.
 *
 * Linux keeps credentials per thread; glibc's setgroups() and setuid()
 * change every thread of the process (SIGSETXID), so the worker switches
 * only its own with setfsuid(), setfsgid() and the raw setgroups syscall.
 * An fsuid other than 0 also drops CAP_DAC_OVERRIDE and the other
 * filesystem capabilities from the thread's effective set, so the kernel
 * checks the open exactly as it would for the caller; setting it back to
 * 0 raises them again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include "ocikp.h"

/* This thread's supplementary groups, not the process's (glibc's wrapper
 * would change every thread). */
static int thread_setgroups(int n, const gid_t *groups)
{
	return (int)syscall(SYS_setgroups, (size_t)n, groups);
}

/* setfsuid()/setfsgid() return the old value whether or not they worked;
 * an invalid id (-1) changes nothing and tells the current one. */
static bool set_fsuid(uid_t uid)
{
	setfsuid(uid);
	return (uid_t)setfsuid((uid_t)-1) == uid;
}

static bool set_fsgid(gid_t gid)
{
	setfsgid(gid);
	return (gid_t)setfsgid((gid_t)-1) == gid;
}

static int save_identity(struct caller_saved *s)
{
	int n = getgroups(0, NULL);

	memset(s, 0, sizeof(*s));
	s->fsuid = (uid_t)setfsuid((uid_t)-1);
	s->fsgid = (gid_t)setfsgid((gid_t)-1);
	if (n < 0)
		return -1;
	s->groups = malloc(((size_t)n + 1) * sizeof(gid_t));
	if (!s->groups)
		return -1;
	s->n_groups = getgroups(n, s->groups);
	return s->n_groups < 0 ? -1 : 0;
}

/* Back to the saved identity, undoing only what was changed (putting back
 * the same groups would need CAP_SETGID too): the fsuid first, which gives
 * back the capabilities the rest needs.  A worker left with a caller's
 * identity would serve the next request with it, which is never
 * survivable: a failure here (impossible once the identity could be
 * taken) ends the daemon. */
void caller_leave(struct caller_saved *s)
{
	if (!s->groups)
		return;
	if ((s->taken >= 3 && !set_fsuid(s->fsuid)) || (s->taken >= 2 && !set_fsgid(s->fsgid)) ||
	    (s->taken >= 1 && thread_setgroups(s->n_groups, s->groups) != 0))
		abort();
	free(s->groups);
	s->groups = NULL;
	s->taken = 0;
}

/* Groups, fsgid, then fsuid (last: it drops the filesystem capabilities);
 * 0, or the errno of the step that failed (setfsuid and setfsgid say
 * nothing in errno: a refusal is EPERM). */
static int take(const struct caller *c, struct caller_saved *s)
{
	if (thread_setgroups(c->n_groups, c->groups) != 0)
		return errno;
	s->taken = 1;
	if (!set_fsgid(c->gid))
		return EPERM;
	s->taken = 2;
	if (!set_fsuid(c->uid))
		return EPERM;
	s->taken = 3;
	return 0;
}

int caller_enter(struct ocikp_ctx *ctx, const struct caller *c, struct caller_saved *s)
{
	int e;

	if (!c->known) {
		memset(s, 0, sizeof(*s));
		err_set(ctx, "the caller of a TCP connection is unknown: a file the request names "
			"is read only for a unix socket caller");
		return OCIKP_PERMISSION;
	}
	if (save_identity(s) != 0) {
		e = errno;
		free(s->groups);
		s->groups = NULL;
		err_set(ctx, "cannot save this thread's identity: %s", strerror(e));
		return OCIKP_INTERNAL;
	}
	/* A seccomp filter (the shipped unit's ~@privileged) answers -1. */
	e = s->fsuid == (uid_t)-1 || s->fsgid == (gid_t)-1 ? EPERM : take(c, s);
	if (e) {
		caller_leave(s);
		err_set(ctx, "ocikpd cannot take the identity of uid %u to read a file the request "
			"names (it needs CAP_SETUID and CAP_SETGID): %s", (unsigned)c->uid,
			strerror(e));
		return OCIKP_PERMISSION;
	}
	return OCIKP_OK;
}

int require_admin(struct ocikp_ctx *ctx, const char *what)
{
	const struct caller *c = host_of(ctx)->caller;

	if (!c || c->admin)
		return OCIKP_OK;
	if (!c->known)
		err_set(ctx, "%s: the caller of a TCP connection is unknown, and only callers listed "
			"in serve.admin_users or serve.admin_groups may", what);
	else
		err_set(ctx, "%s: uid %u is not listed in serve.admin_users or serve.admin_groups",
			what, (unsigned)c->uid);
	return OCIKP_PERMISSION;
}
