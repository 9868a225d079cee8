/* host/caller.c and read_request_file: a file the request names is opened
 * with the caller's identity on this thread only, and the thread is root
 * again after every call, a failed one too.  Needs root (setfsuid). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;
static char top[] = "/tmp/ocikp-caller-XXXXXX";
static gid_t groups0[64];
static int n_groups0;

static const char *at(const char *name)
{
	static char path[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/%s", top, name);
	return path[i];
}

static void put(const char *name, uid_t uid, gid_t gid, mode_t mode)
{
	int fd = open(at(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16 || fchown(fd, uid, gid) != 0 ||
	    fchmod(fd, mode) != 0)
		exit(99);
	close(fd);
}

/* This thread is root again: fsuid, fsgid and groups as at the start. */
static bool restored(void)
{
	gid_t g[64];
	int n = getgroups(64, g);

	return setfsuid((uid_t)-1) == 0 && setfsgid((gid_t)-1) == 0 && n == n_groups0 &&
	       !memcmp(g, groups0, (size_t)n * sizeof(gid_t));
}

static int rd(const char *path, struct ocikp_buf *out)
{
	h.err.msg[0] = '\0';
	buf_free(out);
	return read_request_file(&root.pub, "key file", path, 64, out);
}

/* Says nothing a caller could not stat itself. */
static bool discreet(void)
{
	return !strstr(h.err.msg, "mode") && !strstr(h.err.msg, "owned") &&
	       !strstr(h.err.msg, "uid");
}

/* Drop (or raise again) one capability from this thread's effective set. */
static int cap_effective(int cap, bool on)
{
	struct __user_cap_header_struct hd = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &hd, d) != 0)
		return -1;
	if (on)
		d[cap / 32].effective |= 1u << (cap % 32);
	else
		d[cap / 32].effective &= ~(1u << (cap % 32));
	return (int)syscall(SYS_capset, &hd, d);
}

static pthread_barrier_t bar;
static int other_rc;

/* Another worker holding a caller's identity meanwhile. */
static void *other(void *arg)
{
	struct caller_saved s;
	struct backend_ctx b;

	host_ctx_init(&b.pub, &h, "kbs");
	other_rc = caller_enter(&b.pub, arg, &s);
	pthread_barrier_wait(&bar);	/* taken */
	pthread_barrier_wait(&bar);	/* the main thread has looked */
	if (other_rc == OCIKP_OK) {
		other_rc = setfsuid((uid_t)-1) == 65534 ? OCIKP_OK : OCIKP_INTERNAL;
		caller_leave(&s);
	}
	return NULL;
}

int main(void)
{
	gid_t g4242[] = { 4242 };
	struct caller nobody = { true, 65534, 65534, NULL, 0, false };
	struct caller member = { true, 65534, 65534, g4242, 1, false };
	struct caller tcp = { false, 0, 0, NULL, 0, false };
	struct ocikp_buf b = { 0 };
	pthread_t t;
	char cmd[600];
	int rc;

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (setfsuid)\n");
		return 0;
	}
	n_groups0 = getgroups(64, groups0);
	host_ctx_init(&root.pub, &h, "kbs");
	if (!mkdtemp(top) || chmod(top, 0755) != 0 || mkdir(at("closed"), 0700) != 0)
		return 99;
	put("root.key", 0, 0, 0600);
	put("nobody.key", 65534, 65534, 0600);
	put("nobody-group.key", 65534, 65534, 0640);
	put("group4242.key", 0, 4242, 0640);
	put("closed/k", 65534, 65534, 0600);
	if (symlink(at("nobody.key"), at("link.key")) != 0)
		return 99;

	/* exec mode: no caller, read_private_file's rules */
	ok(rd(at("root.key"), &b) == OCIKP_OK && b.len == 16, "exec: the process's own rights");

	h.caller = &nobody;
	rc = rd(at("root.key"), &b);
	ok(rc == OCIKP_PERMISSION && b.len == 0 &&
	   strstr(h.err.msg, "cannot read key file ") && strstr(h.err.msg, ": Permission denied") &&
	   discreet(), "uid 65534, a root-only file: PERMISSION, only 'Permission denied': %s",
	   h.err.msg);
	ok(restored(), "... and the thread is root again after the failure");
	rc = rd(at("nobody.key"), &b);
	ok(rc == OCIKP_OK && b.len == 16, "uid 65534, its own 0600 file: read: %s", h.err.msg);
	ok(restored(), "... and the thread is root again after the read");
	rc = rd(at("closed/k"), &b);
	ok(rc == OCIKP_PERMISSION && discreet(),
	   "a file in a directory the caller cannot search: PERMISSION, nothing more: %s",
	   h.err.msg);
	ok(restored(), "... root again");
	rc = rd(at("nobody-group.key"), &b);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "(mode 640, want 600)"),
	   "a file the caller opened: the usual checks, with its mode: %s", h.err.msg);
	rc = rd(at("link.key"), &b);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "a symbolic link") && restored(),
	   "a symlink: refused as before, root again: %s", h.err.msg);
	rc = rd(at("group4242.key"), &b);
	ok(rc == OCIKP_PERMISSION, "without group 4242: root:4242 0640 cannot be opened: %s",
	   h.err.msg);
	h.caller = &member;
	rc = rd(at("group4242.key"), &b);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "mode 640") && restored(),
	   "with group 4242 (the caller's groups): opened, then refused for its mode: %s",
	   h.err.msg);

	/* an identity the daemon cannot take: refused, nothing changed */
	if (cap_effective(CAP_SETUID, false) != 0)
		return 99;
	rc = rd(at("nobody.key"), &b);
	ok(rc == OCIKP_PERMISSION && strstr(h.err.msg, "cannot take the identity of uid 65534") &&
	   restored(), "without CAP_SETUID (groups and fsgid already set): PERMISSION, root "
	   "again: %s", h.err.msg);
	cap_effective(CAP_SETUID, true);
	if (cap_effective(CAP_SETGID, false) != 0)
		return 99;
	rc = rd(at("nobody.key"), &b);
	ok(rc == OCIKP_PERMISSION && strstr(h.err.msg, "CAP_SETGID") && restored(),
	   "without CAP_SETGID: PERMISSION, root again: %s", h.err.msg);
	cap_effective(CAP_SETGID, true);

	h.caller = &tcp;
	rc = rd(at("nobody.key"), &b);
	ok(rc == OCIKP_PERMISSION && strstr(h.err.msg, "TCP connection is unknown") && restored(),
	   "an unknown (TCP) caller: PERMISSION: %s", h.err.msg);

	/* per thread: another worker as uid 65534 leaves this one root */
	h.caller = NULL;
	pthread_barrier_init(&bar, NULL, 2);
	if (pthread_create(&t, NULL, other, &nobody) != 0)
		return 99;
	pthread_barrier_wait(&bar);
	ok(other_rc == OCIKP_OK && restored() && rd(at("root.key"), &b) == OCIKP_OK,
	   "another thread holding uid 65534 leaves this one root: %s", h.err.msg);
	pthread_barrier_wait(&bar);
	pthread_join(t, NULL);
	ok(other_rc == OCIKP_OK, "... and that thread had the caller's fsuid");

	/* require_admin */
	h.err.msg[0] = '\0';
	ok(require_admin(&root.pub, "KEK registration") == OCIKP_OK, "exec: every caller is admin");
	h.caller = &nobody;
	rc = require_admin(&root.pub, "KEK registration");
	ok(rc == OCIKP_PERMISSION && strstr(h.err.msg, "KEK registration: uid 65534") &&
	   strstr(h.err.msg, "serve.admin_users or serve.admin_groups"),
	   "ocikpd, not listed: PERMISSION naming the options: %s", h.err.msg);
	nobody.admin = true;
	ok(require_admin(&root.pub, "KEK registration") == OCIKP_OK, "ocikpd, listed: allowed");
	h.caller = &tcp;
	ok(require_admin(&root.pub, "x") == OCIKP_PERMISSION, "ocikpd over TCP: refused");

	buf_free(&b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		return 99;
	return tap_done();
}
