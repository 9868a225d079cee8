/*
 * Internal interfaces of the ocikp host.  Backends see only
 * include/ocikp/backend.h.
 */
#ifndef OCIKP_HOST_H
#define OCIKP_HOST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "ocikp/backend.h"

/* Exit codes (documented in ocikp --help and ocikp(1)). */
enum ocikp_exit {
	EXIT_OK = 0,
	EXIT_INTERNAL = 1,
	EXIT_USAGE = 2,
	EXIT_BAD_INPUT = 3,
	EXIT_NO_KEY = 4,
	EXIT_UNAVAILABLE = 5,
	EXIT_CONFIG = 6
};

/* A status only the host returns, beside enum ocikp_status: the command
 * line was wrong (exit 2).  Backends never see it. */
#define OCIKP_HOST_USAGE 100

#define OCIKP_MAX_INPUT (1024 * 1024)	/* stdin cap: optsdata is a few hundred bytes */
#define OCIKP_ERR_MAX 512
#define OCIKP_TIMEOUT_DEFAULT_MS 60000	/* drop-in `timeout` when unset */

int ocikp_status_exit(int status);

/* ---- secbuf.c: cleansing buffers and allocator -------------------------- */
int buf_append(struct ocikp_buf *buf, const void *data, size_t n);
unsigned char *buf_extend(struct ocikp_buf *buf, size_t n);
void buf_free(struct ocikp_buf *buf);
int buf_printf(struct ocikp_buf *buf, const char *fmt, ...) OCIKP_PRINTF(2, 3);
void *secure_malloc(size_t n);
void *secure_realloc(void *p, size_t n);
void secure_free(void *p);
char *secure_strndup(const char *s, size_t n);
char *secure_strdup(const char *s);
void *secure_calloc(size_t nmemb, size_t size);

/* ---- alloc.c: OpenSSL on the cleansing allocator --------------------------- */
int alloc_hook_openssl(void);

/* ---- err.c: the one error line --------------------------------------------- */
struct errctx {
	char msg[OCIKP_ERR_MAX];
	const char *who;	/* prefix after "ocikp: ", e.g. a backend or "config" */
};
void err_set(struct ocikp_ctx *ctx, const char *fmt, ...) OCIKP_PRINTF(2, 3);
void err_vset(struct ocikp_ctx *ctx, const char *fmt, va_list ap);
void err_clear(struct ocikp_ctx *ctx);
void warn_vprint(struct ocikp_ctx *ctx, const char *fmt, va_list ap);
/* Debug lines: off unless debug_enable(true) (--verbose, OCIKP_DEBUG=1). */
void debug_enable(bool on);
bool debug_enabled(void);
void debug_vprint(struct ocikp_ctx *ctx, const char *fmt, va_list ap);
void debugf(struct ocikp_ctx *ctx, const char *fmt, ...) OCIKP_PRINTF(2, 3);
/* The context the host is working for on this thread (set around each
 * backend call), so a failure found without a ctx at hand, such as a JSON
 * generator's, can still be reported against it.  NULL outside a call. */
struct ocikp_ctx *ctx_current(void);
struct ocikp_ctx *ctx_enter(struct ocikp_ctx *ctx);	/* returns the previous one */

/* ---- deadline.c: the request's time budget ----------------------------------- */
struct deadline {
	struct timespec at;	/* CLOCK_MONOTONIC; zero: none set */
};
void deadline_set(struct deadline *d, long ms);	/* ms from now */
long deadline_left_ms(const struct deadline *d);	/* >= 0; LONG_MAX if none */
const struct deadline *deadline_min(const struct deadline *a, const struct deadline *b);
/* Wait for `events` on fd until d (no limit if d is unset): 0 when ready,
 * -1 with errno ETIME when d passes first, or another errno. */
int deadline_poll(const struct deadline *d, int fd, short events);
/* The backstop: end the process (one line naming `who`, exit 5) at d plus
 * a grace period.  Exec mode only; who may be NULL. */
void backstop_arm(const struct deadline *d, const char *who);
void backstop_disarm(void);

/* ---- privfile.c / statedir.c: secrets and caches ------------------------------ */
int read_private_file(struct ocikp_ctx *ctx, const char *what, const char *path,
		      size_t max, struct ocikp_buf *out);
int state_dir(struct ocikp_ctx *ctx, struct ocikp_buf *out);
int state_lock(struct ocikp_ctx *ctx, const char *name, int *fd_out);
void state_unlock(int fd);

/* ---- caller.c: whose rights a request runs with (ocikpd) ------------------------ */
/* The daemon's caller as the host sees it; struct host's `caller` is NULL
 * in exec mode, where the process's own identity is the caller's. */
struct caller {
	bool known;		/* false: a TCP caller, whose identity is unknown */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;	/* supplementary groups (SO_PEERGROUPS) */
	int n_groups;
	bool admin;		/* listed in serve.admin_users / serve.admin_groups */
};
/* The calling thread's filesystem identity, to put back. */
struct caller_saved {
	uid_t fsuid;
	gid_t fsgid;
	gid_t *groups;
	int n_groups;
	int taken;	/* how many of groups, fsgid, fsuid were set: undone in reverse */
};
/* Take the caller's identity on this thread only (fsuid, fsgid, groups):
 * OCIKP_PERMISSION with an error line when it cannot be taken (then
 * nothing is changed).  caller_leave puts the saved one back. */
int caller_enter(struct ocikp_ctx *ctx, const struct caller *c, struct caller_saved *s);
void caller_leave(struct caller_saved *s);
int read_request_file(struct ocikp_ctx *ctx, const char *what, const char *path,
		      size_t max, struct ocikp_buf *out);
int require_admin(struct ocikp_ctx *ctx, const char *what);

/* ---- form.c ------------------------------------------------------------------- */
int form_append(struct ocikp_buf *out, const char *name, const void *value, size_t len);

/* ---- b64.c ----------------------------------------------------------------- */
int b64_decode(struct ocikp_ctx *ctx, const char *what, const char *in, size_t len,
	       int flags, struct ocikp_buf *out);
int b64_encode(const void *data, size_t len, int flags, struct ocikp_buf *out);

/* ---- aead.c ---------------------------------------------------------------- */
int aes256gcm_seal(struct ocikp_ctx *ctx, const unsigned char key[32], const void *plain,
		   size_t len, struct ocikp_buf *out);
int aes256gcm_open(struct ocikp_ctx *ctx, const unsigned char key[32], const void *sealed,
		   size_t len, struct ocikp_buf *out);

/* ---- json.c ---------------------------------------------------------------- */
int json_parse(struct ocikp_ctx *ctx, const char *what, const void *text, size_t len,
	       ocikp_json **out);
void json_free(ocikp_json *doc);
enum ocikp_json_type json_type(const ocikp_json *node);
const ocikp_json *json_get(const ocikp_json *object, const char *key);
const char *json_string(const ocikp_json *node);
size_t json_string_len(const ocikp_json *node);
const char *json_number(const ocikp_json *node);
size_t json_array_len(const ocikp_json *node);
const ocikp_json *json_array_at(const ocikp_json *node, size_t i);
size_t json_object_len(const ocikp_json *node);
const char *json_object_key_at(const ocikp_json *node, size_t i);
const ocikp_json *json_object_value_at(const ocikp_json *node, size_t i);
ocikp_jgen *jgen_new(void);
void jgen_map_open(ocikp_jgen *g);
void jgen_map_close(ocikp_jgen *g);
void jgen_array_open(ocikp_jgen *g);
void jgen_array_close(ocikp_jgen *g);
void jgen_key(ocikp_jgen *g, const char *key);
void jgen_string(ocikp_jgen *g, const char *s, size_t len);
void jgen_b64(ocikp_jgen *g, const void *data, size_t len);
void jgen_int(ocikp_jgen *g, long long v);
void jgen_bool(ocikp_jgen *g, int v);
void jgen_null(ocikp_jgen *g);
void jgen_number(ocikp_jgen *g, const char *literal, size_t len);
void jgen_raw(ocikp_jgen *g, const char *json, size_t len);
void jgen_value(ocikp_jgen *g, const ocikp_json *node);
int jgen_finish(ocikp_jgen *g, struct ocikp_buf *out);

/* ---- url.c ----------------------------------------------------------------- */
bool scheme_valid(const char *s, size_t len);
int key_scheme(const char *url, char *scheme, size_t size);
int url_query_get(struct ocikp_ctx *ctx, const char *url, const char *name,
		  struct ocikp_buf *out);

/* ---- text.c: printable text ---------------------------------------------------- */
/* in[0..n) for a terminal or a log line: controls, DEL, C1, U+2028/2029,
 * bidi controls and invalid UTF-8 become \n \t \r \xHH \uHHHH, a backslash
 * is doubled.  Written to out (NUL-terminated), whole escapes only, as many
 * as fit in size; returns the length.  TEXT_ESCAPE_SIZE(n) always fits. */
#define TEXT_ESCAPE_SIZE(n) (4 * (n) + 1)
size_t text_escape(char *out, size_t size, const char *in, size_t n);

/* ---- conf.c: drop-ins ------------------------------------------------------ */
struct conf_option {
	char *key;	/* "tpm.tcti" */
	char *value;
	char *origin;	/* "file:line" */
};
struct conf_backend {
	char *name;
	char *module;
	char **schemes;	/* NULL-terminated */
	char **opaque_schemes;	/* routed as "scheme:..." too, no "//" (pkcs11:) */
	bool enabled;
	long timeout_ms;	/* its own `timeout` (may only lower the global); 0: unset */
	char *origin;	/* "file:line" of its `backend =` */
};
struct conf {
	struct conf_backend *backends;
	size_t n_backends;
	struct conf_option *options;
	size_t n_options;
	char **files;	/* files read, in order, for `ocikp list` */
	size_t n_files;
	char **masked;	/* files hidden by a /dev/null symlink, for `ocikp list` */
	size_t n_masked;
	long timeout_ms;	/* the global `timeout`; 0: unset (the default applies) */
};
#define CONF_MAX_DIRS 15	/* --config-dir entries */
int conf_load(struct ocikp_ctx *ctx, const char *const *dirs, struct conf *conf);
void conf_free(struct conf *conf);
int conf_set_option(struct conf *conf, const char *key, const char *value,
		    const char *origin);
const struct conf_backend *conf_backend_for_scheme(const struct conf *conf,
						   const char *scheme);
const struct conf_backend *conf_backend_named(const struct conf *conf, const char *name);
/* key_scheme, and "scheme:..." for a scheme an enabled backend's drop-in
 * lists in opaque_schemes.  OCIKP_BAD_INPUT if neither. */
int conf_key_scheme(const struct conf *conf, const char *url, char *scheme, size_t size);
const char *conf_option(const struct conf *conf, const char *backend, const char *key);
const char *const *conf_default_dirs(void);
int conf_add_builtin(struct conf *conf);

/* ---- trust.c: owner and mode checks -------------------------------------------- */
bool trust_owner(uid_t uid);	/* root or the caller */
/* A directory (want_dir) or regular file owned by root or the caller and
 * writable by nobody else; sticky_ok tolerates a root-owned sticky
 * directory (/tmp) as an ancestor, never as the directory itself. */
int trust_stat(struct ocikp_ctx *ctx, const char *path, const struct stat *st, bool want_dir,
	       bool sticky_ok);
/* trust_stat on the canonical directory `dir` and every ancestor. */
int trust_dir_chain(struct ocikp_ctx *ctx, const char *dir);

/* ---- loader.c ---------------------------------------------------------------- */
struct module {
	const struct ocikp_backend *desc;
	void *handle;	/* lt_dlhandle */
	int fd;		/* kept open while loaded: its /proc path is the dlopen name */
	char *path;
};
int loader_resolve(struct ocikp_ctx *ctx, const char *plugin_dir, const char *module,
		   char **path_out);
int loader_open(struct ocikp_ctx *ctx, const char *plugin_dir, const char *module,
		struct module *out);
void loader_close(struct module *m);

/* ---- host.c: contexts and the service table -------------------------------- */
struct host {
	struct conf conf;
	const char *plugin_dir;
	struct errctx err;	/* the last error, printed by main */
	struct deadline deadline;	/* the request's budget */
	bool backstop;		/* exec mode: arm the backstop around backend calls */
	struct pool *pool;	/* ocikpd: backends stay loaded; NULL: opened per run */
	const char *served_by;	/* the last backend called, for ocikpd's log line */
	const struct caller *caller;	/* ocikpd: who the request runs for; NULL: exec */
	const atomic_bool *cancelled;	/* ocikpd: the caller is gone; NULL in exec mode */
};
struct backend_ctx {
	struct ocikp_ctx pub;	/* first: backends see only this */
	struct host *host;
	const struct conf_backend *cb;
	struct module mod;
	struct deadline deadline;	/* during a call: the host's, or sooner */
	bool loaded, inited;
	pthread_mutex_t *serial;	/* ocikpd: held around each call of a backend
					 * not declared concurrent; NULL otherwise */
};
extern const struct ocikp_host host_services;
void host_ctx_init(struct ocikp_ctx *ctx, struct host *h, const char *who);
static inline struct host *host_of(struct ocikp_ctx *ctx)
{
	return ((struct backend_ctx *)ctx)->host;
}
int backend_open(struct host *h, const struct conf_backend *cb, struct backend_ctx **out);
void backend_close(struct backend_ctx *b);
/* Calls into a backend: each clears the last error, sets the current ctx
 * and the call's deadline (and arms the backstop in exec mode) first. */
int backend_wrap(struct backend_ctx *b, const char *param, const struct ocikp_buf *optsdata,
		 struct ocikp_buf *out);
int backend_unwrap(struct backend_ctx *b, const ocikp_json *ann, const char *const *dc_params,
		   struct ocikp_buf *out);
int backend_command(struct backend_ctx *b, int argc, char *const argv[], struct ocikp_buf *out);

/* ---- request.c / response.c ------------------------------------------------ */
enum op { OP_WRAP, OP_UNWRAP };
struct request {
	ocikp_json *doc;
	enum op op;
	char **params;		/* decoded Parameters[NAME] (ec for wrap, dc for unwrap) */
	size_t n_params;
	struct ocikp_buf optsdata;	/* wrap: decoded optsdata (secret) */
	struct ocikp_buf annotation;	/* unwrap: decoded annotation */
};
int request_read(struct ocikp_ctx *ctx, int fd, struct ocikp_buf *raw);
int request_parse(struct ocikp_ctx *ctx, const char *provider, const struct ocikp_buf *raw,
		  struct request *req);
void request_free(struct request *req);
int response_build(enum op op, const struct ocikp_buf *payload, struct ocikp_buf *out);
int write_all(int fd, const void *data, size_t len);

/* ---- route.c: wrap and unwrap over one or many recipients ------------------- */
int route_wrap(struct host *h, struct ocikp_ctx *ctx, const struct request *req,
	       struct ocikp_buf *annotation);
int route_unwrap(struct host *h, struct ocikp_ctx *ctx, const struct request *req,
		 struct ocikp_buf *optsdata);
/* The distinct backends a parsed request will call, at most max (in order of
 * use); one it cannot route is left out, its error comes when it runs. */
void route_backends(struct host *h, const struct request *req,
		    const struct conf_backend **out, size_t max, size_t *n);
const char *annotation_key_url(const ocikp_json *ann);

/* ---- setup.c: the configuration a run starts from ------------------------- */
struct compat_flag {
	const char *flag, *option;	/* "--tpmPath=", "tpm.tpm_path" */
};
#define N_COMPAT_FLAGS 3
extern const struct compat_flag compat_flags[N_COMPAT_FLAGS];
size_t compat_flag_index(const char *arg);	/* N_COMPAT_FLAGS if none */
void host_env_defaults(char **config_dirs, const char **from, const char **plugin_dir);
/* config_dirs: ':'-separated (NULL or empty: the default list); from names
 * its source for errors; compat: N_COMPAT_FLAGS values or NULLs. */
int host_config_load(struct host *h, struct ocikp_ctx *ctx, const char *config_dirs,
		     const char *from, const char *const *compat);

/* ---- serve.c: one request, bytes in, bytes out (exec path and ocikpd) ------- */
/* want_op: OP_WRAP or OP_UNWRAP when the transport names the call (gRPC),
 * -1 when only the request's "op" does (exec). */
int host_handle(struct host *h, struct ocikp_ctx *ctx, const char *provider, int want_op,
		const struct ocikp_buf *raw, struct ocikp_buf *answer);
/* host_handle in two steps, so ocikpd can queue a request by the backends
 * it needs before running it: parse and route, then run. */
#define PREPARED_MAX_BACKENDS 8	/* more are still called; ocikpd just sees "several" */
struct prepared {
	struct request req;
	const struct conf_backend *backends[PREPARED_MAX_BACKENDS];
	size_t n_backends;
};
int host_prepare(struct host *h, struct ocikp_ctx *ctx, const char *provider, int want_op,
		 const struct ocikp_buf *raw, struct prepared *p);
int host_run(struct host *h, struct ocikp_ctx *ctx, struct prepared *p, struct ocikp_buf *answer);
void prepared_free(struct prepared *p);
void host_error_line(const struct host *h, int rc, char *out, size_t size);

/* ---- pool.c: backends loaded once per configuration (ocikpd) ---------------- */
struct pool;
struct pool *pool_new(const struct host *base);	/* base (its conf) must outlive it */
int pool_get(struct pool *p, struct host *h, const struct conf_backend *cb,
	     struct backend_ctx **out);	/* a view; release with backend_close */
int pool_open_all(struct pool *p, struct host *h, const char **failed);
/* The key of cb's serial lane: its entry while it is not known to be
 * OCIKP_BACKEND_CONCURRENT (not loaded yet counts as serial), else NULL. */
const void *pool_lane(struct pool *p, const struct conf_backend *cb);
void pool_free(struct pool *p);

/* ---- admin.c --------------------------------------------------------------- */
int admin_list(struct host *h, struct ocikp_ctx *ctx, struct ocikp_buf *out);
int admin_inspect(struct host *h, struct ocikp_ctx *ctx, const char *arg, struct ocikp_buf *out);
int admin_backend_command(struct host *h, struct ocikp_ctx *ctx, const char *name,
			  int argc, char *const argv[], struct ocikp_buf *out);

#endif
