/*
 * host/statedir.c: the per-user cache directory and its locks.
 *
 * As root it checks /run/ocikp/<a backend name of its own> (removed at the
 * end), then runs itself again as uid 65534 (setpriv) with XDG_RUNTIME_DIR
 * set, for the user's side; that run prints "ok"/"not ok" lines without
 * numbers, which the parent numbers.  As another user only the user's side
 * runs, in-process.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;
static bool child_mode;	/* lines without numbers, for the parent */

#define check(cond, ...) do { \
	if (child_mode) { \
		printf("%s", (cond) ? "ok " : "not ok "); \
		printf(__VA_ARGS__); \
		printf("\n"); \
	} else { \
		ok(cond, __VA_ARGS__); \
	} \
} while (0)

static void skip(const char *desc, const char *why)
{
	printf("ok %d - %s # SKIP %s\n", ++tap_n, desc, why);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? st.st_mode : 0;
}

/* state_dir; the path in *path (a static buffer), the status returned. */
static int sdir(char *path, size_t size)
{
	struct ocikp_buf b = { 0 };
	int rc;

	h.err.msg[0] = '\0';
	rc = state_dir(&root.pub, &b);
	snprintf(path, size, "%s", rc == OCIKP_OK ? (char *)b.data : "");
	buf_free(&b);
	return rc;
}

/* Checks of the backend's directory `dir` (under `top`, the level above)
 * that hold for root and users alike. */
static void common_checks(const char *dir)
{
	char path[512], moved[600];
	int rc, fd, p[2];
	long t0;
	pid_t pid;
	char c;

	rc = sdir(path, sizeof(path));
	check(rc == OCIKP_OK && !strcmp(path, dir), "state_dir makes %s: %s", dir, h.err.msg);
	check((mode_of(dir) & 07777) == 0700 && S_ISDIR(mode_of(dir)), "created mode 0700");
	check(sdir(path, sizeof(path)) == OCIKP_OK, "a second call finds it as it is");

	chmod(dir, 0750);
	rc = sdir(path, sizeof(path));
	check(rc == OCIKP_CONFIG && strstr(h.err.msg, "accessible by group or others (mode 750"),
	      "a group-accessible directory is refused, not repaired: %s", h.err.msg);
	check((mode_of(dir) & 0777) == 0750, "  ...and left as it was");
	chmod(dir, 0700);

	snprintf(moved, sizeof(moved), "%s.moved", dir);
	if (rename(dir, moved) != 0 || symlink(moved, dir) != 0)
		exit(99);
	rc = sdir(path, sizeof(path));
	check(rc == OCIKP_CONFIG && strstr(h.err.msg, "a symbolic link"),
	      "a symlink in the directory's place (to a good one) is refused: %s", h.err.msg);
	fd = -1;
	rc = state_lock(&root.pub, "token", &fd);
	check(rc == OCIKP_CONFIG && fd == -1, "  ...and so is a lock in it");
	unlink(dir);
	rename(moved, dir);

	rc = state_lock(&root.pub, "../token", &fd);
	check(rc != OCIKP_OK && fd == -1 && strstr(h.err.msg, "not a plain file name"),
	      "a lock name with a '/' is refused: %s", h.err.msg);

	/* The lock: a child holds it until told to go. */
	if (pipe(p) != 0)
		exit(99);
	pid = fork();
	if (pid == 0) {
		int lfd;

		close(p[1]);
		if (state_lock(&root.pub, "token", &lfd) != OCIKP_OK)
			_exit(1);
		kill(getppid(), SIGUSR1);
		if (read(p[0], &c, 1) < 0)	/* until the parent closes */
			c = 0;
		state_unlock(lfd);
		_exit(0);
	}
	close(p[0]);
	{
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigwait(&set, &sig);
	}
	deadline_set(&h.deadline, 300);
	t0 = now_ms();
	rc = state_lock(&root.pub, "token", &fd);
	t0 = now_ms() - t0;
	check(rc == OCIKP_UNAVAILABLE && fd == -1 && strstr(h.err.msg, "still held"),
	      "a lock another process holds: OCIKP_UNAVAILABLE at the deadline: %s", h.err.msg);
	check(t0 >= 280 && t0 < tap_slack(1500), "  ...after waiting until the deadline (%ld ms of 300)", t0);
	close(p[1]);	/* the child lets go */
	deadline_set(&h.deadline, 5000);
	h.err.msg[0] = '\0';
	t0 = now_ms();
	rc = state_lock(&root.pub, "token", &fd);
	t0 = now_ms() - t0;
	check(rc == OCIKP_OK && fd >= 0, "taken once the other holder lets go (%ld ms): %s", t0,
	      h.err.msg);
	snprintf(path, sizeof(path), "%s/token.lock", dir);
	check((mode_of(path) & 07777) == 0600 && S_ISREG(mode_of(path)), "the lock file is 0600");
	waitpid(pid, &rc, 0);
	check(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "the child held the lock");
	state_unlock(fd);
	rc = state_lock(&root.pub, "token", &fd);
	check(rc == OCIKP_OK, "unlock, lock again");
	state_unlock(fd);
	state_unlock(-1);	/* a no-op */
}

/* A user's side: $XDG_RUNTIME_DIR must be theirs, 0700. */
static void user_checks(void)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char dir[512], path[512];
	int rc;

	deadline_set(&h.deadline, 5000);
	snprintf(dir, sizeof(dir), "%s/ocikp/sample", xdg);
	common_checks(dir);

	snprintf(path, sizeof(path), "%s/ocikp", xdg);
	check((mode_of(path) & 07777) == 0700, "the ocikp level too is made 0700");

	chmod(xdg, 0755);
	rc = sdir(path, sizeof(path));
	check(rc == OCIKP_CONFIG && strstr(h.err.msg, "accessible by group or others (mode 755"),
	      "XDG_RUNTIME_DIR of mode 0755 is refused: %s", h.err.msg);
	chmod(xdg, 0700);

	setenv("XDG_RUNTIME_DIR", "/tmp", 1);
	rc = sdir(path, sizeof(path));
	check(rc == OCIKP_CONFIG && (strstr(h.err.msg, "owned by uid 0, not the caller") ||
				     strstr(h.err.msg, "/tmp: accessible")),
	      "XDG_RUNTIME_DIR owned by another user (/tmp) is refused: %s", h.err.msg);
	setenv("XDG_RUNTIME_DIR", "run/user", 1);
	rc = sdir(path, sizeof(path));
	check(rc == OCIKP_CONFIG && strstr(h.err.msg, "XDG_RUNTIME_DIR is relative"),
	      "a relative XDG_RUNTIME_DIR is refused: %s", h.err.msg);
	unsetenv("XDG_RUNTIME_DIR");
	rc = sdir(path, sizeof(path));
	check(rc == OCIKP_CONFIG && strstr(h.err.msg, "XDG_RUNTIME_DIR is unset"),
	      "no XDG_RUNTIME_DIR: refused, one line: %s", h.err.msg);
	setenv("XDG_RUNTIME_DIR", xdg, 1);
}

/* Run ourselves as uid 65534 under setpriv; number its lines. */
static void as_nobody(const char *self)
{
	char xdg[] = "/tmp/ocikp-statedir-XDG-XXXXXX", exe[600], cmd[1400], line[1024];
	FILE *f;
	int status, n = 0;

	if (!mkdtemp(xdg) || chown(xdg, 65534, 65534) != 0 || chmod(xdg, 0700) != 0)
		exit(99);
	/* The build tree may not be searchable by nobody: a copy it can run. */
	snprintf(exe, sizeof(exe), "%s.exe", xdg);
	snprintf(cmd, sizeof(cmd), "install -m 0755 '%s' '%s'", self, exe);
	if (system(cmd) != 0)
		exit(99);
	snprintf(cmd, sizeof(cmd),
		 "XDG_RUNTIME_DIR='%s' setpriv --reuid=65534 --regid=65534 --clear-groups '%s' --child",
		 xdg, exe);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "ok ", 3)) {
			ok(1, "uid 65534: %s", line + 3);
			n++;
		} else if (!strncmp(line, "not ok ", 7)) {
			ok(0, "uid 65534: %s", line + 7);
			n++;
		}
	}
	status = f ? pclose(f) : -1;
	ok(n >= 15 && status == 0, "the run as uid 65534 finished (%d checks, status %d)", n,
	   status);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", xdg, exe);
	if (system(cmd) != 0)
		exit(99);
}

int main(int argc, char **argv)
{
	char name[64], dir[128], path[512], cmd[300];
	sigset_t set;
	int rc;

	/* The lock test's child signals readiness with SIGUSR1. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (argc > 1 && !strcmp(argv[1], "--child")) {
		child_mode = true;
		setvbuf(stdout, NULL, _IOLBF, 0);
		host_ctx_init(&root.pub, &h, "sample");
		user_checks();
		return 0;
	}
	if (geteuid() != 0) {
		char xdg[] = "/tmp/ocikp-statedir-XDG-XXXXXX";

		if (!mkdtemp(xdg) || chmod(xdg, 0700) != 0)
			return 99;
		setenv("XDG_RUNTIME_DIR", xdg, 1);
		host_ctx_init(&root.pub, &h, "sample");
		user_checks();
		skip("root: /run/ocikp/<backend>", "not root");
		skip("a directory owned by another uid is refused", "needs root to chown");
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", xdg);
		return system(cmd) == 0 ? tap_done() : 99;
	}

	/* Root: /run/ocikp/<our own name>, so a real backend's is never touched. */
	snprintf(name, sizeof(name), "unit-test-%ld", (long)getpid());
	snprintf(dir, sizeof(dir), "/run/ocikp/%s", name);
	host_ctx_init(&root.pub, &h, name);
	deadline_set(&h.deadline, 5000);
	common_checks(dir);
	if (chown(dir, 65534, 65534) != 0)
		return 99;
	rc = sdir(path, sizeof(path));
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "owned by uid 65534, not the caller"),
	   "a 0700 directory owned by another uid is refused: %s", h.err.msg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 99;
	host_ctx_init(&root.pub, &h, "..");
	ok(sdir(path, sizeof(path)) != OCIKP_OK, "a backend name that is not a plain name: %s",
	   h.err.msg);

	if (access("/usr/bin/setpriv", X_OK) == 0 || access("/bin/setpriv", X_OK) == 0) {
		ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

		if (n <= 0)
			return 99;
		path[n] = '\0';
		as_nobody(path);
	}
	else
		skip("the user's side as uid 65534", "no setpriv");
	return tap_done();
}
