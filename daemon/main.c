/*
 * ocikpd: ocikp's backends as ocicrypt's gRPC KeyProviderService.
 *
 * The main thread owns the listening sockets and the signals: SIGHUP
 * re-reads the drop-ins into a new generation (requests in flight finish
 * on theirs), SIGTERM stops accepting, lets every connection finish what
 * it has in flight (bounded by serve.stop_timeout), and exits 0.  See
 * ocikpd(8).
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ocikpd.h"

#ifndef PKGLIBDIR
#define PKGLIBDIR "/usr/lib/ocikp"
#endif
#define LISTEN_DEFAULT "unix:/run/ocikp/grpc.sock"

static const char usage_text[] =
	"usage: ocikpd [OPTIONS]      serve ocicrypt's gRPC KeyProviderService\n"
	"options:\n"
	"  --listen=unix:PATH       a unix socket (default " LISTEN_DEFAULT ")\n"
	"  --listen=HOST:PORT       a TCP port; loopback only unless serve.allow_remote\n"
	"                           (repeatable; systemd socket activation replaces them)\n"
	"  --provider=NAME          read Parameters[NAME] (default: ocikp)\n"
	"  --config-dir=DIRS        drop-in directories, ':'-separated (env OCIKP_CONFIG_DIR)\n"
	"  --plugin-dir=DIR         backend modules (env OCIKP_PLUGIN_DIR; default " PKGLIBDIR ")\n"
	"  --tpmPath=P --adc=F --kmsURI=U   as for ocikp\n"
	"  --check                  check the configuration and every enabled backend, exit\n"
	"  --verbose                debug lines on stderr (env OCIKP_DEBUG=1); never secrets\n"
	"  --help, --version\n"
	"signals: HUP re-reads the drop-ins; TERM finishes requests in flight (at most\n"
	"serve.stop_timeout, default 10 s) and exits 0\n";

struct dopts {
	const char *listen[LISTEN_MAX + 1];
	size_t n_listen;
	bool check;
};

static int parse(int argc, char **argv, struct daemon *d, struct dopts *o)
{
	int i;
	size_t k;

	d->provider = "ocikp";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			exit(EXIT_OK);
		} else if (!strcmp(a, "--version")) {
			printf("ocikpd %s (backend ABI %u)\n", PACKAGE_VERSION, OCIKP_BACKEND_ABI);
			exit(EXIT_OK);
		} else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			debug_enable(true);
		} else if (!strcmp(a, "--check")) {
			o->check = true;
		} else if (!strncmp(a, "--listen=", 9)) {
			if (o->n_listen == LISTEN_MAX) {
				fprintf(stderr, "ocikpd: at most %d --listen addresses\n", LISTEN_MAX);
				return EXIT_USAGE;
			}
			o->listen[o->n_listen++] = a + 9;
		} else if (!strncmp(a, "--provider=", 11) && a[11]) {
			d->provider = a + 11;
		} else if (!strncmp(a, "--config-dir=", 13)) {
			d->config_dirs = (char *)a + 13;
			d->config_dirs_from = "--config-dir";
		} else if (!strncmp(a, "--plugin-dir=", 13)) {
			d->plugin_dir = a + 13;
		} else if ((k = compat_flag_index(a)) < N_COMPAT_FLAGS) {
			d->compat[k] = a + strlen(compat_flags[k].flag);
		} else {
			fprintf(stderr, "ocikpd: unknown argument '%s' (see ocikpd --help)\n", a);
			return EXIT_USAGE;
		}
	}
	host_env_defaults(&d->config_dirs, &d->config_dirs_from, &d->plugin_dir);
	if (!o->n_listen)
		o->listen[o->n_listen++] = LISTEN_DEFAULT;
	return EXIT_OK;
}

static long timeout_of(const struct gen *g)
{
	return g->base.conf.timeout_ms > 0 ? g->base.conf.timeout_ms : OCIKP_TIMEOUT_DEFAULT_MS;
}

static void report(struct host *h, int rc)
{
	char line[OCIKP_ERR_MAX + 64];

	host_error_line(h, rc, line, sizeof(line));
	fprintf(stderr, "%s\n", line);
}

/* --check: what a first request would do, for every enabled backend. */
static int check(struct daemon *d, struct gen *g)
{
	struct host h = g->base;	/* as a request sees it */
	struct backend_ctx root;
	const char *failed = NULL;
	size_t i, n = 0;
	int rc;

	memset(&h.err, 0, sizeof(h.err));
	h.pool = g->pool;
	host_ctx_init(&root.pub, &h, NULL);
	ctx_enter(&root.pub);
	rc = pool_open_all(g->pool, &h, &failed);
	ctx_enter(NULL);
	if (rc != OCIKP_OK) {
		report(&h, rc);
		return rc;
	}
	for (i = 0; i < g->base.conf.n_backends; i++)
		n += g->base.conf.backends[i].enabled;
	printf("ocikpd: configuration ok (%zu backends, provider name %s)\n", n, d->provider);
	return OCIKP_OK;
}

static void reload(struct daemon *d)
{
	struct host h;
	struct backend_ctx root;
	struct gen *g, *old;
	int rc;

	memset(&h, 0, sizeof(h));
	host_ctx_init(&root.pub, &h, NULL);
	ctx_enter(&root.pub);
	rc = gen_load(d, &root.pub, &g);
	ctx_enter(NULL);
	if (rc != OCIKP_OK) {
		char line[OCIKP_ERR_MAX + 64];
		host_error_line(&h, rc, line, sizeof(line));
		fprintf(stderr, "ocikpd: reload failed, keeping the configuration in use: %s\n",
			line);
		conf_free(&h.conf);
		return;
	}
	pthread_mutex_lock(&d->gen_lock);
	old = d->gen;
	d->gen = g;
	atomic_store(&d->timeout_ms, timeout_of(g));
	atomic_store(&d->stop_timeout_ms, g->stop_timeout_ms);
	pthread_mutex_unlock(&d->gen_lock);
	gen_unref(old);
	fprintf(stderr, "ocikpd: configuration reloaded (%zu drop-in files, %zu backends)\n",
		g->base.conf.n_files, g->base.conf.n_backends);
}

static void accept_one(struct daemon *d, const struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			fprintf(stderr, "ocikpd: accept on %s: %m\n", l->name);
		if (errno == EMFILE || errno == ENFILE)
			usleep(100000);	/* let connections close rather than spin */
		return;
	}
	conn_start(d, fd, ss.ss_family == AF_UNIX);
}

/* Wait for the connections to finish what they hold, at most `ms`. */
static bool drain(struct daemon *d, long ms)
{
	struct deadline until;
	struct timespec at;
	bool done;

	deadline_set(&until, ms);
	clock_gettime(CLOCK_REALTIME, &at);
	at.tv_sec += ms / 1000 + 1;
	pthread_mutex_lock(&d->conns_lock);
	while (d->n_conns && deadline_left_ms(&until) > 0)
		if (pthread_cond_timedwait(&d->conns_cond, &d->conns_lock, &at) == ETIMEDOUT)
			break;
	done = d->n_conns == 0;
	pthread_mutex_unlock(&d->conns_lock);
	return done;
}

static int serve(struct daemon *d, struct listener *ls, size_t n, int sfd)
{
	struct pollfd pfd[LISTEN_MAX + 1];
	struct signalfd_siginfo si;
	size_t i;

	for (i = 0; i < n; i++) {
		pfd[i].fd = ls[i].fd;
		pfd[i].events = POLLIN;
	}
	pfd[n].fd = sfd;
	pfd[n].events = POLLIN;
	for (;;) {
		if (poll(pfd, n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ocikpd: poll: %m\n");
			return EXIT_INTERNAL;
		}
		if (pfd[n].revents & POLLIN) {
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP)
				reload(d);
			else
				return EXIT_OK;	/* TERM or INT: drain */
		}
		for (i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(d, &ls[i]);
	}
}

int main(int argc, char **argv)
{
	static struct daemon d;
	struct dopts o;
	struct host h;
	struct backend_ctx root;
	struct listener ls[LISTEN_MAX];
	size_t n_ls = 0, i;
	sigset_t mask;
	int rc, code, sfd;

	if (getauxval(AT_SECURE)) {
		fputs("ocikpd: refusing to run setuid or setgid\n", stderr);
		_exit(EXIT_CONFIG);
	}
	alloc_hook_openssl();
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	/* Many threads: keep malloc from keeping an arena per thread. */
	mallopt(M_ARENA_MAX, 2);

	memset(&o, 0, sizeof(o));
	code = parse(argc, argv, &d, &o);
	if (code != EXIT_OK)
		return code;
	pthread_mutex_init(&d.gen_lock, NULL);
	pthread_mutex_init(&d.q_lock, NULL);
	pthread_cond_init(&d.q_cond, NULL);
	pthread_mutex_init(&d.conns_lock, NULL);
	pthread_cond_init(&d.conns_cond, NULL);
	pthread_cond_init(&d.idle_cond, NULL);

	memset(&h, 0, sizeof(h));
	host_ctx_init(&root.pub, &h, NULL);
	ctx_enter(&root.pub);
	rc = gen_load(&d, &root.pub, &d.gen);
	if (rc == OCIKP_OK && o.check) {
		rc = check(&d, d.gen);
		gen_unref(d.gen);
		return ocikp_status_exit(rc);
	}
	if (rc == OCIKP_OK)
		rc = listen_open(&root.pub, o.listen, o.n_listen, d.gen->allow_remote, ls, &n_ls);
	if (rc != OCIKP_OK) {
		report(&h, rc);
		gen_unref(d.gen);
		conf_free(&h.conf);
		return ocikp_status_exit(rc);
	}
	ctx_enter(NULL);
	atomic_store(&d.timeout_ms, timeout_of(d.gen));
	atomic_store(&d.stop_timeout_ms, d.gen->stop_timeout_ms);

	/* Signals arrive on the main thread's signalfd only: blocked before
	 * any thread starts, so every thread inherits the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0 || work_start(&d, (size_t)d.gen->max_requests) != OCIKP_OK) {
		fprintf(stderr, "ocikpd: cannot start: %m\n");
		listen_close(ls, n_ls);
		return EXIT_INTERNAL;
	}
	for (i = 0; i < n_ls; i++)
		fprintf(stderr, "ocikpd: listening on %s\n", ls[i].name);

	code = serve(&d, ls, n_ls, sfd);

	/* Drain: no new connections, GOAWAY on the open ones, UNAVAILABLE for
	 * what waits for a worker, then wait for the calls running (each ends
	 * by its deadline), serve.stop_timeout at most. */
	listen_close(ls, n_ls);
	atomic_store(&d.stopping, true);
	work_refuse_queued(&d);
	conn_wake_all(&d);
	if (!drain(&d, atomic_load(&d.stop_timeout_ms))) {
		fprintf(stderr, "ocikpd: stopping with requests still in flight\n");
		_exit(code == EXIT_OK ? EXIT_UNAVAILABLE : code);
	}
	work_stop(&d);
	gen_unref(d.gen);
	close(sfd);
	fprintf(stderr, "ocikpd: stopped\n");
	return code;
}
