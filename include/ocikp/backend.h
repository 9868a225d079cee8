/*
 * ocikp backend ABI, version 1.
 *
 * A backend is a shared object that exports exactly one symbol,
 * `ocikp_backend_v1`, a const struct ocikp_backend.  The host (the `ocikp`
 * binary) checks `abi` and `size` before touching anything else, then calls
 * init once, wrap/unwrap/command as needed, and fini once.
 *
 * Everything a backend needs from the host (errors, configuration, buffers,
 * base64, JSON, URL query parsing) comes through ctx->host, so a backend links
 * only the libraries of its own trade and never re-implements these.
 *
 * Rules for backends:
 *  - Never print.  Report one line with ocikp_errorf() and return a status;
 *    debug lines go through ocikp_debugf() (shown only when asked).
 *  - Never free or realloc a host-owned buffer yourself; use the host's
 *    buf_* functions, which cleanse what they release.
 *  - Keep no global state: per-run state goes in ctx->backend_data.  The
 *    ctx passed to wrap/unwrap/command may differ from the one init saw,
 *    and a service host may run several requests of one backend at once,
 *    each with its own ctx; backend_data is always the pointer init set.
 *  - Every blocking call (network, device, D-Bus) is bounded by
 *    deadline_ms(ctx).  SIGALRM belongs to the host (its backstop timer):
 *    never install a handler for it (libcurl: set CURLOPT_NOSIGNAL).
 *
 * Which status for which failure of a remote service or device:
 *    HTTP 401, or credentials the token endpoint refuses -> OCIKP_CONFIG
 *    HTTP 403 or 404 on unwrap (this identity cannot open it) -> OCIKP_WRONG_KEY
 *    HTTP 403 on wrap (the configured identity lacks the role) -> OCIKP_CONFIG
 *    HTTP 400 or 404 on wrap (the key URL names no usable key) -> OCIKP_BAD_INPUT
 *    timeouts, network errors, HTTP 429 and 5xx, a busy device -> OCIKP_UNAVAILABLE
 *
 * Growth: both structs only ever grow at the end.  The host accepts a
 * descriptor whose `size` is at least OCIKP_BACKEND_V1_SIZE and treats
 * members beyond `size` as absent; a backend checks OCIKP_HOST_HAS() before
 * using a host member added after version 1.
 */
#ifndef OCIKP_BACKEND_H
#define OCIKP_BACKEND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OCIKP_BACKEND_ABI 1u
#define OCIKP_BACKEND_SYMBOL "ocikp_backend_v1"

#if defined(__GNUC__)
#define OCIKP_EXPORT __attribute__((visibility("default")))
#define OCIKP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define OCIKP_EXPORT
#define OCIKP_PRINTF(f, a)
#endif

/* Flags of b64_decode / b64_encode.  The argument was `int url` in the
 * first hosts, so 0 and 1 keep their meaning; OCIKP_B64_NOPAD needs a host
 * with form_append (OCIKP_HOST_HAS(host, form_append)). */
#define OCIKP_B64_URL 1	  /* the URL-safe alphabet (RFC 4648 §5) */
#define OCIKP_B64_NOPAD 2 /* no '=' padding (JWS, JWE): encode omits it, decode refuses it */

/* What a backend call returns.  The host maps these to exit codes. */
enum ocikp_status {
	OCIKP_OK = 0,
	OCIKP_NOT_MINE,    /* for another key, device or machine: try the next recipient */
	OCIKP_BAD_INPUT,   /* malformed parameter or annotation */
	OCIKP_WRONG_KEY,   /* the key is here but does not open it (tag, PCR policy) */
	OCIKP_UNAVAILABLE, /* device, keyring or server unreachable or busy; retryable */
	OCIKP_CONFIG,      /* a backend option is missing or wrong */
	OCIKP_INTERNAL,    /* out of memory, library failure, a bug */
	/* Since 0.4, only from read_request_file and require_admin (never
	 * in exec mode): the caller may not (a file it cannot read itself,
	 * an admin operation it is not listed for).  Pass it on unchanged. */
	OCIKP_PERMISSION
};

/* A growable byte buffer owned by the host.  data is kept NUL-terminated
 * (data[len] == 0) so text can be used as a C string.  Released memory is
 * always cleansed. */
struct ocikp_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

/* A read-only node of a parsed JSON document (opaque). */
typedef struct ocikp_json ocikp_json;

enum ocikp_json_type {
	OCIKP_JSON_ABSENT = 0, /* the node does not exist (NULL) */
	OCIKP_JSON_NULL,
	OCIKP_JSON_FALSE,
	OCIKP_JSON_TRUE,
	OCIKP_JSON_NUMBER,
	OCIKP_JSON_STRING,
	OCIKP_JSON_ARRAY,
	OCIKP_JSON_OBJECT
};

/* Builds one flat-or-nested JSON value into a buffer (opaque). */
typedef struct ocikp_jgen ocikp_jgen;

struct ocikp_ctx;

/* Services the host offers.  Grows only at the end; check `size` before
 * using a member added after version 1. */
struct ocikp_host {
	uint32_t abi;
	uint32_t size;

	/* One-line error for the user (the last call wins); a warning goes to
	 * stderr at once.  Never pass secret material.  An empty message
	 * means no error (every host reads it so): ocikp_error_clear() drops
	 * the line a host service set for a failure the backend absorbed. */
	void (*verrorf)(struct ocikp_ctx *ctx, const char *fmt, va_list ap);
	void (*vwarnf)(struct ocikp_ctx *ctx, const char *fmt, va_list ap);

	/* The value of "<backend>.<key>" from the drop-ins (or from a
	 * compatibility flag such as --tpmPath=), NULL if unset. */
	const char *(*conf_get)(struct ocikp_ctx *ctx, const char *key);

	/* Buffers: append n bytes; extend by n bytes and return them to fill;
	 * release (cleansed).  The int returns are enum ocikp_status. */
	int (*buf_append)(struct ocikp_buf *buf, const void *data, size_t n);
	unsigned char *(*buf_extend)(struct ocikp_buf *buf, size_t n);
	void (*buf_free)(struct ocikp_buf *buf);

	/* Strict base64; flags are OCIKP_B64_* (0: standard alphabet, padded).
	 * Decode appends to out; a malformed input is OCIKP_BAD_INPUT with an
	 * error naming `what`.  Encode appends text to out. */
	int (*b64_decode)(struct ocikp_ctx *ctx, const char *what, const char *in,
			  size_t len, int flags, struct ocikp_buf *out);
	int (*b64_encode)(const void *data, size_t len, int flags, struct ocikp_buf *out);

	/* JSON reading.  json_parse reports errors naming `what`. */
	int (*json_parse)(struct ocikp_ctx *ctx, const char *what, const void *text,
			  size_t len, ocikp_json **out);
	void (*json_free)(ocikp_json *doc);
	enum ocikp_json_type (*json_type)(const ocikp_json *node);
	const ocikp_json *(*json_get)(const ocikp_json *object, const char *key);
	const char *(*json_string)(const ocikp_json *node);	/* NULL unless string */
	size_t (*json_string_len)(const ocikp_json *node);
	size_t (*json_array_len)(const ocikp_json *node);
	const ocikp_json *(*json_array_at)(const ocikp_json *node, size_t i);

	/* JSON writing into a cleansing buffer.  Calls after an error are
	 * ignored.  jgen_finish frees the generator and appends the text to
	 * out, or reports the first error with its reason (a string not UTF-8
	 * or holding a NUL, a key outside an object, an unclosed container);
	 * jgen_finish(g, NULL) only frees it, after a failure of your own. */
	ocikp_jgen *(*jgen_new)(void);
	void (*jgen_map_open)(ocikp_jgen *g);
	void (*jgen_map_close)(ocikp_jgen *g);
	void (*jgen_key)(ocikp_jgen *g, const char *key);
	void (*jgen_string)(ocikp_jgen *g, const char *s, size_t len);
	void (*jgen_b64)(ocikp_jgen *g, const void *data, size_t len);
	void (*jgen_int)(ocikp_jgen *g, long long v);
	int (*jgen_finish)(ocikp_jgen *g, struct ocikp_buf *out);

	/* The value of query parameter `name` in `url`, percent-decoded, with a
	 * literal '+' kept as '+' (base64 values stay intact), appended to out
	 * (a C string even when empty).  OCIKP_NOT_MINE if absent,
	 * OCIKP_BAD_INPUT if malformed. */
	int (*url_query_get)(struct ocikp_ctx *ctx, const char *url, const char *name,
			     struct ocikp_buf *out);

	/* AES-256-GCM in the layout the existing providers share for
	 * wrapped_key: 12-byte random nonce ‖ ciphertext ‖ 16-byte tag, no AAD.
	 * Seal appends to out.  Open appends the plaintext, or returns
	 * OCIKP_WRONG_KEY without setting an error (the caller knows what the
	 * key was) when the tag does not verify, OCIKP_BAD_INPUT if too short. */
	int (*aes256gcm_seal)(struct ocikp_ctx *ctx, const unsigned char key[32],
			      const void *plain, size_t len, struct ocikp_buf *out);
	int (*aes256gcm_open)(struct ocikp_ctx *ctx, const unsigned char key[32],
			      const void *sealed, size_t len, struct ocikp_buf *out);

	/* ---- Added in ocikp 0.2: check OCIKP_HOST_HAS(ctx->host, member). ---- */

	/* Milliseconds left of this request's time budget (drop-in `timeout`,
	 * default 60 s), never negative.  Bound every blocking call by it; at
	 * 0 give up with OCIKP_UNAVAILABLE.  A backend overrunning it is ended
	 * by the host (exit 5). */
	long (*deadline_ms)(struct ocikp_ctx *ctx);

	/* A debug line (HTTP status, retries, command counts) on stderr, only
	 * with --verbose or OCIKP_DEBUG=1.  Never secrets. */
	void (*vdebugf)(struct ocikp_ctx *ctx, const char *fmt, va_list ap);

	/* Read a secret (key file, credentials) into out, the one policy for
	 * all of them: an absolute path, opened O_NOFOLLOW|O_NONBLOCK (a FIFO
	 * or device is refused without blocking); a regular file owned by root
	 * or the caller, no group or other permission bits (0600 and 0400 are
	 * fine), at most `max` bytes.  Errors name `what` and the path, never
	 * contents: missing or refused is OCIKP_CONFIG, and out is left as it
	 * was. */
	int (*read_private_file)(struct ocikp_ctx *ctx, const char *what, const char *path,
				 size_t max, struct ocikp_buf *out);

	/* This backend's private cache directory, appended to out as a C
	 * string: $XDG_RUNTIME_DIR/ocikp/<backend> for users (XDG_RUNTIME_DIR
	 * must be the caller's, mode 0700), /run/ocikp/<backend> for root.
	 * Created 0700 when missing; every level is checked on every call
	 * (owned by the caller, no group or other bits, no symlink), and
	 * anything else is OCIKP_CONFIG.  state_lock takes an exclusive lock on
	 * `<name>.lock` in it (`name` a plain file name; the file 0600),
	 * waiting at most until the deadline (then OCIKP_UNAVAILABLE), so
	 * parallel execs refresh a cache once; state_unlock releases it
	 * (fd < 0 is a no-op). */
	int (*state_dir)(struct ocikp_ctx *ctx, struct ocikp_buf *out);
	int (*state_lock)(struct ocikp_ctx *ctx, const char *name, int *fd_out);
	void (*state_unlock)(int fd);

	/* More JSON reading: a number's literal text ("" unless a number);
	 * an object's members in document order. */
	const char *(*json_number)(const ocikp_json *node);
	size_t (*json_object_len)(const ocikp_json *node);
	const char *(*json_object_key_at)(const ocikp_json *node, size_t i);
	const ocikp_json *(*json_object_value_at)(const ocikp_json *node, size_t i);

	/* More JSON writing.  jgen_number takes a JSON number literal;
	 * jgen_raw one complete JSON value as text (checked, then copied);
	 * jgen_value a parsed node. */
	void (*jgen_array_open)(ocikp_jgen *g);
	void (*jgen_array_close)(ocikp_jgen *g);
	void (*jgen_bool)(ocikp_jgen *g, int v);
	void (*jgen_null)(ocikp_jgen *g);
	void (*jgen_number)(ocikp_jgen *g, const char *literal, size_t len);
	void (*jgen_raw)(ocikp_jgen *g, const char *json, size_t len);
	void (*jgen_value)(ocikp_jgen *g, const ocikp_json *node);

	/* application/x-www-form-urlencoded (OAuth token requests): append
	 * name=value, both percent-encoded, preceded by '&' unless out is
	 * empty. */
	int (*form_append)(struct ocikp_buf *out, const char *name, const void *value,
			   size_t len);

	/* The host's cleansing allocator (a released block is wiped), for
	 * libraries that copy secrets: hand these to curl_global_init_mem.
	 * OpenSSL already allocates through it. */
	void *(*mem_malloc)(size_t n);
	void (*mem_free)(void *p);
	void *(*mem_realloc)(void *p, size_t n);
	char *(*mem_strdup)(const char *s);
	void *(*mem_calloc)(size_t nmemb, size_t size);

	/* ---- Added in ocikp 0.4: check OCIKP_HOST_HAS(ctx->host, member). ---- */

	/* A file NAMED BY THE REQUEST (a key URL's or parameter's path), as
	 * opposed to one the drop-ins name: read it with the rights of the
	 * caller, never the host's.  Under `ocikp` (exec) this is
	 * read_private_file.  Under ocikpd (root) the file is opened with the
	 * caller's fsuid, fsgid and groups (SO_PEERCRED), so a caller gets
	 * no file through the daemon it could not read itself; an unknown
	 * caller (TCP), a file it may not open (EACCES, EPERM), or an
	 * identity the daemon cannot take is OCIKP_PERMISSION, and the error line never tells the
	 * mode or owner of a file the caller could not open.  Otherwise as
	 * read_private_file ("the caller" is the peer).  Every backend must
	 * use this, not read_private_file or open(), for a request-named path;
	 * with an older host (no such member), fall back to read_private_file. */
	int (*read_request_file)(struct ocikp_ctx *ctx, const char *what, const char *path,
				 size_t max, struct ocikp_buf *out);

	/* Before an operation that acts with the admin's credentials on the
	 * request's behalf (registering a key in a remote service): OCIKP_OK
	 * under `ocikp` (exec: the caller holds those credentials itself or
	 * cannot read them); under ocikpd only for callers listed in
	 * serve.admin_users / serve.admin_groups, else OCIKP_PERMISSION with
	 * an error line naming `what` and those options. */
	int (*require_admin)(struct ocikp_ctx *ctx, const char *what);
};

/* Does this host offer `member` (added after version 1)? */
#define OCIKP_HOST_HAS(host, member) \
	((host)->size >= offsetof(struct ocikp_host, member) + \
			 sizeof(((const struct ocikp_host *)0)->member))

/* The size of a version-1 host table (everything up to aes256gcm_open). */
#define OCIKP_HOST_V1_SIZE \
	(offsetof(struct ocikp_host, aes256gcm_open) + \
	 sizeof(((const struct ocikp_host *)0)->aes256gcm_open))

/* The per-run context.  Only these members are public. */
struct ocikp_ctx {
	const struct ocikp_host *host;
	const char *backend; /* the drop-in's backend name, e.g. "tpm" */
	void *backend_data;  /* the backend's own state, set by init, freed by fini */
};

struct ocikp_backend {
	uint32_t abi;  /* OCIKP_BACKEND_ABI */
	uint32_t size; /* sizeof(struct ocikp_backend) */
	const char *name;
	const char *version;
	const char *const *schemes; /* URL schemes this module can handle, NULL-terminated */

	/* Optional.  Called once before any other call. */
	int (*init)(struct ocikp_ctx *ctx);

	/* Wrap optsdata for the recipient `param` (one decoded value of
	 * Parameters[NAME]); append the annotation JSON object to out. */
	int (*wrap)(struct ocikp_ctx *ctx, const char *param,
		    const struct ocikp_buf *optsdata, struct ocikp_buf *annotation_out);

	/* Open `annotation` (a JSON object this backend wrote).  dc_params are
	 * the decrypt parameters routed to this backend, NULL-terminated
	 * (possibly empty).  Append optsdata to out.  OCIKP_NOT_MINE when this
	 * machine holds no key for it. */
	int (*unwrap)(struct ocikp_ctx *ctx, const ocikp_json *annotation,
		      const char *const *dc_params, struct ocikp_buf *optsdata_out);

	/* Optional admin command: `ocikp <backend> ARGS...`.  argv[0] is the
	 * subcommand.  Text for the user goes to out, printed only on success. */
	int (*command)(struct ocikp_ctx *ctx, int argc, char *const argv[],
		       struct ocikp_buf *out);
	const char *command_usage; /* one line per subcommand, or NULL */

	/* Optional.  Release backend_data. */
	void (*fini)(struct ocikp_ctx *ctx);

	/* ---- Added in ocikp 0.3: a host reads a member only when `size`
	 * covers it (OCIKP_BACKEND_HAS). ---- */

	/* OCIKP_BACKEND_* flags below; 0 (or a descriptor too short to hold
	 * it) is the safe default. */
	uint64_t flags;	/* 64 bits: no padding after it for a later member to hide in */

	/* Members added later go here. */
};

/* wrap and unwrap may run on several threads at once (ocikpd serves
 * concurrent requests).  Without it the host serializes calls into the
 * backend: one at a time, whichever thread makes them.  init and fini are
 * always called alone. */
#define OCIKP_BACKEND_CONCURRENT 1ull

/* Does descriptor `d` carry `member` (added after version 1)? */
#define OCIKP_BACKEND_HAS(d, member) \
	((d)->size >= offsetof(struct ocikp_backend, member) + \
		      sizeof(((const struct ocikp_backend *)0)->member))

/* The smallest descriptor a host accepts: everything up to fini. */
#define OCIKP_BACKEND_V1_SIZE \
	(offsetof(struct ocikp_backend, fini) + \
	 sizeof(((const struct ocikp_backend *)0)->fini))

/* Convenience wrappers, so backend code reads naturally. */
static inline OCIKP_PRINTF(2, 3) void
ocikp_errorf(struct ocikp_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ctx->host->verrorf(ctx, fmt, ap);
	va_end(ap);
}

/* Forget the error line: after a failure the backend recovered from
 * (a cache it could not use), so it never stands as the reason of a
 * later, unrelated failure. */
static inline void
ocikp_error_clear(struct ocikp_ctx *ctx)
{
	ocikp_errorf(ctx, "%s", "");
}

static inline OCIKP_PRINTF(2, 3) void
ocikp_warnf(struct ocikp_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ctx->host->vwarnf(ctx, fmt, ap);
	va_end(ap);
}

/* A debug line; a no-op on a host without vdebugf. */
static inline OCIKP_PRINTF(2, 3) void
ocikp_debugf(struct ocikp_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (!OCIKP_HOST_HAS(ctx->host, vdebugf))
		return;
	va_start(ap, fmt);
	ctx->host->vdebugf(ctx, fmt, ap);
	va_end(ap);
}

static inline const char *
ocikp_conf(struct ocikp_ctx *ctx, const char *key)
{
	return ctx->host->conf_get(ctx, key);
}

#ifdef __cplusplus
}
#endif
#endif /* OCIKP_BACKEND_H */
