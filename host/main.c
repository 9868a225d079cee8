/*
 * ocikp: one key provider binary for OCIcrypt.
 *
 * Without a command it speaks the exec protocol: one request on stdin, one
 * answer on stdout.  Every failure prints exactly one line on stderr and
 * nothing on stdout.  See ocikp(1).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "ocikp.h"

#ifndef PKGLIBDIR
#define PKGLIBDIR "/usr/lib/ocikp"
#endif

static const char usage_text[] =
	"usage: ocikp [OPTIONS]                 answer one OCIcrypt request on stdin\n"
	"       ocikp [OPTIONS] list            show backends, modules and drop-ins\n"
	"       ocikp [OPTIONS] inspect [ANN]   describe an annotation (base64 or JSON;\n"
	"                                       an argument, a file, or stdin)\n"
	"       ocikp [OPTIONS] BACKEND CMD...  a backend's own command\n"
	"                                       (e.g. ocikp sample keygen FILE)\n"
	"options:\n"
	"  --provider=NAME    read Parameters[NAME] (default: ocikp)\n"
	"  --config-dir=DIRS  drop-in directories, ':'-separated (env OCIKP_CONFIG_DIR)\n"
	"  --plugin-dir=DIR   backend modules (env OCIKP_PLUGIN_DIR; default " PKGLIBDIR ")\n"
	"  --tpmPath=P --adc=F --kmsURI=U   accepted for existing ocicrypt.json files\n"
	"  --verbose          debug lines on stderr (env OCIKP_DEBUG=1); never secrets\n"
	"  --help, --version\n"
	"exit codes:\n"
	"  0 success          1 internal error     2 usage\n"
	"  3 bad input        4 no key opens it    5 backend unavailable (device, keyring, server)\n"
	"  6 configuration or module refused\n";

struct options {
	const char *provider;
	char *config_dirs;
	const char *config_dirs_from;	/* "--config-dir" or the variable, for errors */
	const char *plugin_dir;
	const char *compat[N_COMPAT_FLAGS];
	int first_arg;
};

static int parse_options(int argc, char **argv, struct options *o)
{
	int i;
	size_t k;

	o->provider = "ocikp";
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			exit(EXIT_OK);
		} else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			debug_enable(true);
		} else if (!strcmp(a, "--version")) {
			printf("ocikp %s (backend ABI %u)\n", PACKAGE_VERSION, OCIKP_BACKEND_ABI);
			exit(EXIT_OK);
		} else if (!strncmp(a, "--provider=", 11)) {
			o->provider = a + 11;
		} else if (!strncmp(a, "--config-dir=", 13)) {
			o->config_dirs = (char *)a + 13;
			o->config_dirs_from = "--config-dir";
		} else if (!strncmp(a, "--plugin-dir=", 13)) {
			o->plugin_dir = a + 13;
		} else if ((!strcmp(a, "--provider") || !strcmp(a, "--config-dir") ||
			    !strcmp(a, "--plugin-dir")) && i + 1 < argc) {
			const char *v = argv[++i];
			if (a[2] == 'p' && a[3] == 'r')
				o->provider = v;
			else if (a[2] == 'c')
				o->config_dirs = (char *)v, o->config_dirs_from = "--config-dir";
			else
				o->plugin_dir = v;
		} else {
			k = compat_flag_index(a);
			if (k == N_COMPAT_FLAGS) {
				fprintf(stderr, "ocikp: unknown option '%s' (see ocikp --help)\n", a);
				return EXIT_USAGE;
			}
			o->compat[k] = a + strlen(compat_flags[k].flag);
		}
	}
	if (!o->provider[0]) {
		fprintf(stderr, "ocikp: --provider needs a name\n");
		return EXIT_USAGE;
	}
	host_env_defaults(&o->config_dirs, &o->config_dirs_from, &o->plugin_dir);
	o->first_arg = i;
	return EXIT_OK;
}

/* Exec protocol: request on stdin, answer on stdout. */
static int serve_request(struct host *h, struct ocikp_ctx *ctx, const char *provider,
			 struct ocikp_buf *answer)
{
	struct ocikp_buf raw = { 0 };
	int rc;

	rc = request_read(ctx, 0, &raw);
	if (rc == OCIKP_OK)
		rc = host_handle(h, ctx, provider, -1, &raw, answer);
	buf_free(&raw);
	return rc;
}

int main(int argc, char **argv)
{
	struct host h;
	struct backend_ctx root;	/* the host's own context */
	struct ocikp_ctx *ctx = &root.pub;
	struct options o;
	struct ocikp_buf out = { 0 };
	int rc, code, hooked;

	/* Setuid, the command line and OCIKP_* would let any caller point this
	 * process's rights at files of their choosing: refuse before reading
	 * them.  ocikp needs no privilege it was not started with. */
	if (getauxval(AT_SECURE)) {
		fputs("ocikp: refusing to run setuid or setgid (run it as the user whose "
		      "keys it uses)\n", stderr);
		/* _exit: nothing is set up, and no library's exit handler should
		 * run with borrowed privileges (a sanitizer's leak check, for one,
		 * cannot ptrace a setgid process and fails). */
		_exit(EXIT_CONFIG);
	}
	/* Before anything allocates: OpenSSL's freed blocks are wiped too. */
	hooked = alloc_hook_openssl();
	/* One request, then exit: OpenSSL's exit handler would free (and so
	 * wipe) every table it built, a tenth of an exec's instructions, for
	 * memory the kernel takes back anyway.  Blocks that held key material
	 * were freed, and wiped, when the request was done with them. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
	/* Key material must not end up in a core dump, and a closed stdout
	 * must be an error we report, not a silent death. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	umask(077);

	memset(&o, 0, sizeof(o));
	memset(&h, 0, sizeof(h));
	code = parse_options(argc, argv, &o);
	if (code != EXIT_OK)
		return code;
	h.plugin_dir = o.plugin_dir;
	host_ctx_init(ctx, &h, NULL);
	ctx_enter(ctx);
	/* Something (a preloaded library) used OpenSSL first: carry on, but
	 * say so to whoever debugs a leak. */
	if (hooked != OCIKP_OK)
		debugf(ctx, "OpenSSL allocated before main; its freed blocks are not cleansed");

	rc = host_config_load(&h, ctx, o.config_dirs, o.config_dirs_from, o.compat);
	if (rc != OCIKP_OK) {
		/* reported below */
	} else if (o.first_arg >= argc) {
		/* One budget for the whole request, stdin included; the
		 * backstop ends a backend that ignores it. */
		deadline_set(&h.deadline, h.conf.timeout_ms > 0 ? h.conf.timeout_ms
								 : OCIKP_TIMEOUT_DEFAULT_MS);
		h.backstop = true;
		backstop_arm(&h.deadline, NULL);
		debugf(ctx, "%zu drop-in files read; time budget %ld ms", h.conf.n_files,
		       deadline_left_ms(&h.deadline));
		rc = serve_request(&h, ctx, o.provider, &out);
		/* disarmed only after the answer is written, below: a reader
		 * that never drains stdout is bounded too */
	} else if (!strcmp(argv[o.first_arg], "list")) {
		rc = admin_list(&h, ctx, &out);
	} else if (!strcmp(argv[o.first_arg], "inspect")) {
		rc = argc - o.first_arg > 2 ? OCIKP_HOST_USAGE
		   : admin_inspect(&h, ctx, argv[o.first_arg + 1], &out);
		if (rc == OCIKP_HOST_USAGE)
			err_set(ctx, "inspect takes at most one argument");
	} else {
		rc = admin_backend_command(&h, ctx, argv[o.first_arg], argc - o.first_arg - 1,
					   argv + o.first_arg + 1, &out);
	}

	if (rc == OCIKP_OK && write_all(1, out.data, out.len) != 0) {
		if (errno == ETIME) {
			err_set(ctx, "cannot write the answer: stdout not drained within the time "
				"budget (drop-in 'timeout')");
			rc = OCIKP_UNAVAILABLE;
		} else {
			err_set(ctx, "cannot write the answer: %m");
			rc = OCIKP_INTERNAL;
		}
	}
	backstop_disarm();
	code = ocikp_status_exit(rc);
	if (rc != OCIKP_OK) {
		char line[OCIKP_ERR_MAX + 64];

		host_error_line(&h, rc, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	buf_free(&out);
	conf_free(&h.conf);
	return code;
}
