/* host/privfile.c: the one policy for reading a secret file. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;
static char top[] = "/tmp/ocikp-privfile-XXXXXX";

static const char *at(const char *name)
{
	static char path[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/%s", top, name);
	return path[i];
}

static void put(const char *name, const char *text, size_t len, mode_t mode)
{
	int fd = open(at(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		exit(99);
	close(fd);
	chmod(at(name), mode);
}

/* Read `name` (max bytes) into a buffer holding "pre"; the status, and the
 * error line in h.err.msg. */
static int rd(const char *path, size_t max, struct ocikp_buf *out)
{
	h.err.msg[0] = '\0';
	buf_free(out);
	buf_append(out, "pre", 3);
	return read_private_file(&root.pub, "key file", path, max, out);
}

static void skip(const char *desc, const char *why)
{
	printf("ok %d - %s # SKIP %s\n", ++tap_n, desc, why);
}

int main(void)
{
	struct ocikp_buf b = { 0 };
	char big[5000];
	int rc;

	host_ctx_init(&root.pub, &h, "sample");
	if (!mkdtemp(top))
		return 1;
	chmod(top, 0755);
	put("good.key", "0123456789abcdef0123456789abcdef", 32, 0600);
	memset(big, 'x', sizeof(big));
	put("big.key", big, sizeof(big), 0600);
	put("group.key", "secret-secret", 13, 0640);
	put("other.key", "secret-secret", 13, 0604);
	put("ro.key", "secret-secret", 13, 0400);
	put("empty.key", "", 0, 0600);

	rc = rd(at("good.key"), 32, &b);
	ok(rc == OCIKP_OK && b.len == 35 && !memcmp(b.data, "pre0123456789abcdef", 19) &&
	   b.data[b.len] == '\0', "a good file is appended in full, NUL-terminated: %s", h.err.msg);
	ok(rd(at("ro.key"), 64, &b) == OCIKP_OK && b.len == 16, "mode 0400 is fine");
	ok(rd(at("empty.key"), 64, &b) == OCIKP_OK && b.len == 3, "an empty file reads as nothing");
	ok(rd(at("big.key"), sizeof(big), &b) == OCIKP_OK && b.len == 3 + sizeof(big),
	   "a file of exactly max bytes, longer than one read: %s", h.err.msg);

	rc = rd(at("big.key"), sizeof(big) - 1, &b);
	ok(rc == OCIKP_CONFIG && b.len == 3 && strstr(h.err.msg, "larger than 4999 bytes") &&
	   strstr(h.err.msg, "key file /tmp/ocikp-privfile-"),
	   "too big: refused, names what and the path, out untouched: %s", h.err.msg);
	rc = rd(at("group.key"), 64, &b);
	ok(rc == OCIKP_CONFIG && b.len == 3 &&
	   strstr(h.err.msg, "accessible by group or others (mode 640, want 600)"),
	   "group-readable refused: %s", h.err.msg);
	rc = rd(at("other.key"), 64, &b);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "(mode 604"), "other-readable refused: %s",
	   h.err.msg);
	ok(!strstr(h.err.msg, "secret"), "the error never holds contents");

	if (symlink(at("good.key"), at("link.key")) != 0)
		return 1;
	rc = rd(at("link.key"), 64, &b);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "link.key: a symbolic link"),
	   "a symlink to a good file is refused: %s", h.err.msg);
	mkdir(at("dir.key"), 0700);
	rc = rd(at("dir.key"), 64, &b);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "dir.key: not a regular file"),
	   "a directory is refused: %s", h.err.msg);
	if (mkfifo(at("fifo.key"), 0600) != 0)
		return 1;
	rc = rd(at("fifo.key"), 64, &b);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "fifo.key: not a regular file"),
	   "a FIFO is refused without blocking on its open: %s", h.err.msg);
	rc = rd("good.key", 64, &b);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "key file good.key: not an absolute path"),
	   "a relative path is refused: %s", h.err.msg);
	rc = rd(at("absent.key"), 64, &b);
	ok(rc == OCIKP_CONFIG && strstr(h.err.msg, "absent.key: No such file"),
	   "a missing file: %s", h.err.msg);
	ok(!strncmp(h.err.msg, "key file ", 9) && !strchr(h.err.msg, '\n'),
	   "one line, starting with what was read");

	if (geteuid() == 0) {
		if (chown(at("good.key"), 65534, 65534) != 0)
			return 1;
		rc = rd(at("good.key"), 64, &b);
		ok(rc == OCIKP_CONFIG && b.len == 3 &&
		   strstr(h.err.msg, "owned by uid 65534, not root or the caller"),
		   "as root: a 0600 file owned by uid 65534 is refused: %s", h.err.msg);
	} else {
		skip("a 0600 file owned by another uid is refused", "needs root to chown");
	}

	buf_free(&b);
	snprintf(big, sizeof(big), "rm -rf '%s'", top);
	if (system(big) != 0)
		return 1;
	return tap_done();
}
