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
	   strstr(h.err.msg, "invalid scheme '../evil'"), "bad scheme: %s", h.err.msg);
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
	snprintf(path, sizeof(path), "rm -rf '%s'", top);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
