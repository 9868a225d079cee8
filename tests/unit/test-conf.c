/* host/conf.c: drop-in merge, masking, precedence and line errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;
static char top[] = "/tmp/ocikp-conf-XXXXXX";

static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", top, dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static int load(struct conf *c)
{
	char etc[256], run[256], lib[256];
	const char *dirs[] = { etc, run, lib, NULL };

	snprintf(etc, sizeof(etc), "%s/etc", top);
	snprintf(run, sizeof(run), "%s/run", top);
	snprintf(lib, sizeof(lib), "%s/lib", top);
	h.err.msg[0] = '\0';
	return conf_load(&root.pub, dirs, c);
}

static int load_one(const char *text)
{
	struct conf c;
	int rc;

	put("etc", "90-case.conf", text);
	rc = load(&c);
	conf_free(&c);
	return rc;
}

/* "p*" patterns (CoCo's kbs+<plugin>://): a listed scheme wins, then the
 * longest pattern; a pattern only in schemes, never two owners of one. */
static void test_scheme_patterns(void)
{
	struct conf c;
	const struct conf_backend *b;
	char path[512];
	static const char *const bad[] = { "*", "kbs*x", "kbs+**", "Kbs*", "+*" };
	size_t i;

	put("etc", "70-kbs.conf", "backend = kbs\nmodule = ocikp-kbs.so\nschemes = kbs kbs+*\n");
	put("etc", "71-pk.conf", "backend = pk\nmodule = ocikp-pk.so\nschemes = kbs+pkcs11 kbs+pk*\n");
	ok(load(&c) == OCIKP_OK, "kbs drop-ins load: %s", h.err.msg);
	b = conf_backend_for_scheme(&c, "kbs+default");
	ok(b && !strcmp(b->name, "kbs"), "kbs+default routed by kbs+*");
	b = conf_backend_for_scheme(&c, "kbs+pkcs11");
	ok(b && !strcmp(b->name, "pk"), "a drop-in listing kbs+pkcs11 itself wins");
	b = conf_backend_for_scheme(&c, "kbs+pkx");
	ok(b && !strcmp(b->name, "pk"), "the longest pattern (kbs+pk*) wins over kbs+*");
	ok(!conf_backend_for_scheme(&c, "kbs+") && !conf_backend_for_scheme(&c, "kbsx") &&
	   !conf_backend_for_scheme(&c, "kbs+*"),
	   "kbs+ (nothing after the prefix), kbsx and kbs+* itself routed nowhere");
	conf_free(&c);

	put("etc", "71-pk.conf", "backend = pk\nmodule = ocikp-pk.so\nschemes = kbs+*\n");
	ok(load(&c) == OCIKP_CONFIG && strstr(h.err.msg, "'kbs+*' already routed"),
	   "two backends with one pattern refused: %s", h.err.msg);
	conf_free(&c);
	put("etc", "71-pk.conf", "backend = pk\nmodule = ocikp-pk.so\nopaque_schemes = kbs+*\n");
	ok(load(&c) == OCIKP_CONFIG && strstr(h.err.msg, "invalid"),
	   "a pattern in opaque_schemes refused: %s", h.err.msg);
	conf_free(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "backend = pk\nmodule = ocikp-pk.so\nschemes = %s\n", bad[i]);
		put("etc", "71-pk.conf", text);
		ok(load(&c) == OCIKP_CONFIG && strstr(h.err.msg, "invalid"),
		   "pattern '%s' refused: %s", bad[i], h.err.msg);
		conf_free(&c);
	}
	snprintf(path, sizeof(path), "%s/etc/70-kbs.conf", top);
	unlink(path);
	snprintf(path, sizeof(path), "%s/etc/71-pk.conf", top);
	unlink(path);
}

/* conf_load on explicit directories (NULL-terminated). */
static int load_dirs(const char *const *dirs)
{
	struct conf c;
	int rc;

	h.err.msg[0] = '\0';
	rc = conf_load(&root.pub, dirs, &c);
	conf_free(&c);
	return rc;
}

/* A fresh directory under top, with mode (chmod: no umask), holding one
 * good drop-in.  Returns a static path. */
static const char *mkdir_mode(const char *rel, mode_t mode)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	mkdir(path, 0755);
	put(rel, "10-ok.conf", "mock.x = 1\n");
	chmod(path, mode);
	return path;
}

static void test_timeout(void)
{
	struct conf c;
	char path[512];
	static const char *const bad[] = { "0", "3601", "", "-1", "1.5", "60s", " 5x",
					   "99999999999999999999999", "0x10" };
	size_t i;

	put("etc", "90-case.conf", "timeout = 30\nbackend = mock\ntimeout = 5\n");
	ok(load(&c) == OCIKP_OK && c.timeout_ms == 30000 &&
	   conf_backend_named(&c, "mock")->timeout_ms == 5000 &&
	   conf_backend_named(&c, "tpm")->timeout_ms == 0,
	   "timeout: global before any section, per backend inside one: %s", h.err.msg);
	conf_free(&c);
	put("etc", "90-case.conf", "backend = tpm\ntimeout = 3600\n");
	ok(load(&c) == OCIKP_OK && c.timeout_ms == 0 &&
	   conf_backend_named(&c, "tpm")->timeout_ms == 3600000,
	   "timeout: a section's leaves the global unset; 3600 is allowed: %s", h.err.msg);
	conf_free(&c);
	put("etc", "90-case.conf", "timeout = 1\n");
	ok(load(&c) == OCIKP_OK && c.timeout_ms == 1000, "timeout = 1 is allowed");
	conf_free(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "timeout = %s\n", bad[i]);
		ok(load_one(path) == OCIKP_CONFIG &&
		   strstr(h.err.msg, ":1: timeout must be whole seconds from 1 to 3600"),
		   "timeout '%s' refused: %s", bad[i], h.err.msg);
	}
}

/* Nothing a drop-in holds reaches the error line beyond a well-formed key:
 * the file may be a symlink to anything root can read. */
static void test_no_quoting(void)
{
	static const char *const cases[] = {
		"backend = S3CRET-MARK\n",
		"backend = x\nmodule = x.so\nschemes = x S3CRET-MARK\n",
		"backend = x\nenabled = S3CRET-MARK\n",
		"root:S3CRET-MARK = 1\n",
		"root:$6$S3CRET-MARK.x = 1\n",
		"S3CRET-MARK$ = 1\n",
		"timeout = S3CRET-MARK\n",
		"x.y = S3CRET-MARK\nS3CRET-MARK\n",
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(load_one(cases[i]) == OCIKP_CONFIG && h.err.msg[0] &&
		   !strstr(h.err.msg, "S3CRET") && !strstr(h.err.msg, "MARK"),
		   "case %zu: no file content in the error: %s", i + 1, h.err.msg);
	ok(load_one("root:$6$x = 1\n") == OCIKP_CONFIG && strstr(h.err.msg, ":1: invalid key") &&
	   !strstr(h.err.msg, "root"), "a malformed key is not quoted: %s", h.err.msg);
	ok(load_one("Some_key-1 = 1\n") == OCIKP_CONFIG &&
	   strstr(h.err.msg, ":1: unknown key 'Some_key-1'"),
	   "a well-formed unknown key is quoted: %s", h.err.msg);
}

/* Drop-in directories are trusted as the plugin directory is. */
static void test_dirs(void)
{
	char sticky[512], parent[512], inner[600], mask[600];
	const char *dirs[CONF_MAX_DIRS + 2] = { NULL };
	struct conf c;
	size_t i;

	dirs[0] = mkdir_mode("ww", 0777);
	ok(load_dirs(dirs) == OCIKP_CONFIG &&
	   strstr(h.err.msg, "drop-in directory ") && strstr(h.err.msg, "/ww refused: ") &&
	   strstr(h.err.msg, "writable by group or others (mode 777)"),
	   "a world-writable drop-in directory: %s", h.err.msg);
	dirs[0] = mkdir_mode("gw", 0775);
	ok(load_dirs(dirs) == OCIKP_CONFIG && strstr(h.err.msg, "mode 775"),
	   "a group-writable drop-in directory: %s", h.err.msg);
	snprintf(sticky, sizeof(sticky), "%s", mkdir_mode("sticky", 01777));
	dirs[0] = sticky;
	ok(load_dirs(dirs) == OCIKP_CONFIG && strstr(h.err.msg, "mode 777"),
	   "a sticky directory itself (like /tmp) is refused: %s", h.err.msg);
	dirs[0] = "/tmp";
	ok(load_dirs(dirs) == OCIKP_CONFIG && strstr(h.err.msg, "drop-in directory /tmp refused"),
	   "/tmp itself is refused: %s", h.err.msg);
	snprintf(parent, sizeof(parent), "%s", mkdir_mode("parent", 0755));
	snprintf(inner, sizeof(inner), "%s/inner", parent);
	mkdir(inner, 0755);
	chmod(parent, 0775);
	dirs[0] = inner;
	ok(load_dirs(dirs) == OCIKP_CONFIG && strstr(h.err.msg, "/inner refused: ") &&
	   strstr(h.err.msg, "/parent: writable by group"),
	   "a group-writable parent: %s", h.err.msg);
	chmod(parent, 0755);
	ok(load_dirs(dirs) == OCIKP_OK, "the same directory once its parent is fixed: %s",
	   h.err.msg);
	if (geteuid() == 0) {
		/* root: the sticky one may be root's own, and chown works */
		snprintf(inner, sizeof(inner), "%s/good", sticky);
		mkdir(inner, 0755);
		ok(load_dirs(dirs) == OCIKP_OK,
		   "a good directory under a root-owned sticky ancestor: %s", h.err.msg);
		dirs[0] = mkdir_mode("other", 0755);
		ok(chown(dirs[0], 65534, 65534) == 0 && load_dirs(dirs) == OCIKP_CONFIG &&
		   strstr(h.err.msg, "owned by uid 65534, not root or the caller"),
		   "a directory owned by another uid: %s", h.err.msg);
		dirs[0] = mkdir_mode("mask", 0755);
		snprintf(mask, sizeof(mask), "%s/10-ok.conf", dirs[0]);
		unlink(mask);
		ok(symlink("/dev/null", mask) == 0 && lchown(mask, 65534, 65534) == 0 &&
		   load_dirs(dirs) == OCIKP_CONFIG &&
		   strstr(h.err.msg, "10-ok.conf: mask symlink owned by uid 65534"),
		   "a /dev/null mask owned by another uid is refused: %s", h.err.msg);
		ok(lchown(mask, 0, 0) == 0 && load_dirs(dirs) == OCIKP_OK,
		   "the same mask owned by root: %s", h.err.msg);
	} else {
		ok(1, "# SKIP sticky ancestor, other owners: not root");
		ok(1, "# SKIP not root");
		ok(1, "# SKIP not root");
		ok(1, "# SKIP not root");
	}
	dirs[0] = "/nonexistent/ocikp.d";
	ok(load_dirs(dirs) == OCIKP_OK, "a missing directory is skipped: %s", h.err.msg);
	for (i = 0; i <= CONF_MAX_DIRS; i++)
		dirs[i] = "/nonexistent/ocikp.d";
	dirs[i] = NULL;
	ok(load_dirs(dirs) == OCIKP_CONFIG && strstr(h.err.msg, "more than 15 drop-in directories"),
	   "16 directories: %s", h.err.msg);
	dirs[1] = NULL;
	snprintf(mask, sizeof(mask), "%s/etc/50-mock.conf", top);
	ok(symlink("/dev/null", mask) == 0 && load(&c) == OCIKP_OK && c.n_masked == 1 &&
	   strstr(c.masked[0], "/etc/50-mock.conf"), "the masked file is recorded: %s",
	   c.n_masked ? c.masked[0] : h.err.msg);
	conf_free(&c);
	unlink(mask);
}

int main(void)
{
	struct conf c;
	char path[512];
	const char *d;

	host_ctx_init(&root.pub, &h, NULL);
	if (!mkdtemp(top))
		return 1;
	for (d = "etc"; d; d = !strcmp(d, "etc") ? "run" : !strcmp(d, "run") ? "lib" : NULL) {
		snprintf(path, sizeof(path), "%s/%s", top, d);
		mkdir(path, 0755);
	}
	put("lib", "50-tpm.conf", "# packaged\nbackend = tpm\nmodule = ocikp-tpm.so\nschemes = tpm\ntpm.tcti = device:/dev/tpmrm0\n");
	put("lib", "50-sample.conf", "backend = sample\nmodule = ocikp-sample.so\nschemes = sample\n");
	put("lib", "50-mock.conf", "backend = mock\nmodule = ocikp-mock.so\nschemes = mock\n");
	put("run", "50-tpm.conf", "backend = tpm\nmodule = ocikp-tpm.so\nschemes = tpm\ntpm.tcti = swtpm:port=1\n");
	put("etc", "60-local.conf", "tpm.tcti = swtpm:port=2   # admin override\n");
	put("lib", "README", "not a drop-in\n");
	put("lib", ".hidden.conf", "garbage\n");
	snprintf(path, sizeof(path), "%s/etc/50-mock.conf", top);
	if (symlink("/dev/null", path) != 0)
		return 1;

	ok(load(&c) == OCIKP_OK, "loads three directories: %s", h.err.msg);
	ok(c.n_files == 3, "three files read (mock masked, README and dotfile skipped): %zu", c.n_files);
	ok(conf_backend_for_scheme(&c, "tpm") && !strcmp(conf_backend_for_scheme(&c, "tpm")->name, "tpm"),
	   "tpm routed");
	ok(conf_backend_for_scheme(&c, "mock") == NULL, "/dev/null symlink masks 50-mock.conf");
	ok(!strcmp(conf_option(&c, "tpm", "tcti"), "swtpm:port=2"),
	   "later file overrides option, inline comment dropped: %s", conf_option(&c, "tpm", "tcti"));
	ok(strstr(conf_backend_named(&c, "tpm")->origin, "/run/50-tpm.conf:1") != NULL,
	   "/run hides /usr/lib of the same name: %s", conf_backend_named(&c, "tpm")->origin);
	ok(conf_option(&c, "tpm", "nope") == NULL && conf_option(&c, "tp", "m.tcti") == NULL,
	   "option lookup is exact");
	test_scheme_patterns();
	ok(conf_add_builtin(&c) == OCIKP_OK && conf_backend_named(&c, "sample") &&
	   strstr(conf_backend_named(&c, "sample")->origin, "/lib/50-sample.conf:1"),
	   "no built-in when sample is configured");
	conf_free(&c);

	unlink(path);
	put("etc", "99-off.conf", "backend = sample\nenabled = no\n");
	ok(load(&c) == OCIKP_OK && conf_backend_for_scheme(&c, "sample") == NULL,
	   "enabled = no removes the route");
	ok(conf_add_builtin(&c) == OCIKP_OK && conf_backend_for_scheme(&c, "sample") == NULL,
	   "a disabled sample is not replaced by the built-in");
	conf_free(&c);
	snprintf(path, sizeof(path), "%s/etc/99-off.conf", top);
	unlink(path);

	ok(load_one("backend = x\nmodule = m.so\n") == OCIKP_CONFIG && strstr(h.err.msg, "has no schemes"),
	   "backend without schemes: %s", h.err.msg);
	ok(load_one("backend = x\nschemes = x\n") == OCIKP_CONFIG && strstr(h.err.msg, "has no module"),
	   "backend without module: %s", h.err.msg);
	ok(load_one("\n\nfoo = bar\n") == OCIKP_CONFIG && strstr(h.err.msg, "90-case.conf:3: unknown key 'foo'"),
	   "unknown key with file:line: %s", h.err.msg);
	ok(load_one("module = x.so\n") == OCIKP_CONFIG && strstr(h.err.msg, ":1: 'module' before any"),
	   "module outside a section: %s", h.err.msg);
	ok(load_one("just words\n") == OCIKP_CONFIG && strstr(h.err.msg, ":1: expected 'key = value'"),
	   "line without '=': %s", h.err.msg);
	ok(load_one("backend = Bad/Name\n") == OCIKP_CONFIG && strstr(h.err.msg, "invalid backend name"),
	   "bad backend name: %s", h.err.msg);
	ok(load_one("backend = y\nmodule = y.so\nschemes = ok ../evil\n") == OCIKP_CONFIG &&
	   strstr(h.err.msg, ":3: scheme 2 in the list is invalid") && !strstr(h.err.msg, "evil"),
	   "bad scheme: its position, not its text: %s", h.err.msg);
	ok(load_one("backend = y\nmodule = y.so\nschemes = tpm\n") == OCIKP_CONFIG &&
	   strstr(h.err.msg, "scheme 'tpm' already routed to backend 'tpm'"),
	   "two backends for one scheme: %s", h.err.msg);
	ok(load_one("backend = y\nenabled = maybe\n") == OCIKP_CONFIG && strstr(h.err.msg, "yes or no"),
	   "bad boolean: %s", h.err.msg);
	ok(load_one(" = v\n") == OCIKP_CONFIG && strstr(h.err.msg, "missing key"),
	   "empty key: %s", h.err.msg);
	ok(load_one("Tpm.x = 1\n") == OCIKP_CONFIG && strstr(h.err.msg, "invalid option name"),
	   "bad option name: %s", h.err.msg);
	ok(load_one("# only a comment\n\n   \n") == OCIKP_OK, "comments and blank lines");
	snprintf(path, sizeof(path), "%s/etc/90-case.conf", top);
	chmod(path, 0666);
	ok(load_one("tpm.a = b\n") == OCIKP_CONFIG && strstr(h.err.msg, "writable by group or others"),
	   "world-writable drop-in refused: %s", h.err.msg);
	unlink(path);
	test_timeout();
	test_no_quoting();
	unlink(path);
	test_dirs();
	snprintf(path, sizeof(path), "rm -rf '%s'", top);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
