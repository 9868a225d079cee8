/*
 * The services table handed to backends, opening a backend by its drop-in
 * entry, and the calls into it.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ocikp.h"

static void svc_verrorf(struct ocikp_ctx *ctx, const char *fmt, va_list ap)
{
	err_vset(ctx, fmt, ap);
}

static const char *svc_conf_get(struct ocikp_ctx *ctx, const char *key)
{
	return conf_option(&host_of(ctx)->conf, ctx->backend, key);
}

/* The sooner of the host's deadline and the call's own. */
static long svc_deadline_ms(struct ocikp_ctx *ctx)
{
	struct backend_ctx *b = (struct backend_ctx *)ctx;

	return deadline_left_ms(deadline_min(&b->host->deadline, &b->deadline));
}

const struct ocikp_host host_services = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_host),
	.verrorf = svc_verrorf,
	.vwarnf = warn_vprint,
	.conf_get = svc_conf_get,
	.buf_append = buf_append,
	.buf_extend = buf_extend,
	.buf_free = buf_free,
	.b64_decode = b64_decode,
	.b64_encode = b64_encode,
	.json_parse = json_parse,
	.json_free = json_free,
	.json_type = json_type,
	.json_get = json_get,
	.json_string = json_string,
	.json_string_len = json_string_len,
	.json_array_len = json_array_len,
	.json_array_at = json_array_at,
	.jgen_new = jgen_new,
	.jgen_map_open = jgen_map_open,
	.jgen_map_close = jgen_map_close,
	.jgen_key = jgen_key,
	.jgen_string = jgen_string,
	.jgen_b64 = jgen_b64,
	.jgen_int = jgen_int,
	.jgen_finish = jgen_finish,
	.url_query_get = url_query_get,
	.aes256gcm_seal = aes256gcm_seal,
	.aes256gcm_open = aes256gcm_open,
	/* 0.2 */
	.deadline_ms = svc_deadline_ms,
	.vdebugf = debug_vprint,
	.read_private_file = read_private_file,
	.state_dir = state_dir,
	.state_lock = state_lock,
	.state_unlock = state_unlock,
	.json_number = json_number,
	.json_object_len = json_object_len,
	.json_object_key_at = json_object_key_at,
	.json_object_value_at = json_object_value_at,
	.jgen_array_open = jgen_array_open,
	.jgen_array_close = jgen_array_close,
	.jgen_bool = jgen_bool,
	.jgen_null = jgen_null,
	.jgen_number = jgen_number,
	.jgen_raw = jgen_raw,
	.jgen_value = jgen_value,
	.form_append = form_append,
	.mem_malloc = secure_malloc,
	.mem_free = secure_free,
	.mem_realloc = secure_realloc,
	.mem_strdup = secure_strdup,
	.mem_calloc = secure_calloc,
	/* 0.4 */
	.read_request_file = read_request_file,
	.require_admin = require_admin,
};

/* A context for the host's own work; `who` prefixes its error lines. */
void host_ctx_init(struct ocikp_ctx *ctx, struct host *h, const char *who)
{
	struct backend_ctx *b = (struct backend_ctx *)ctx;

	memset(b, 0, sizeof(*b));
	b->pub.host = &host_services;
	b->pub.backend = who;
	b->host = h;
	b->mod.fd = -1;
}

static bool handles(const struct ocikp_backend *d, const char *scheme)
{
	const char *const *s;

	for (s = d->schemes; *s; s++)
		if (!strcmp(*s, scheme))
			return true;
	return false;
}

/* The module handles every scheme its drop-in routes to it. */
static int handles_all(struct backend_ctx *b, char *const *schemes)
{
	char *const *s;

	for (s = schemes; s && *s; s++)
		if (!handles(b->mod.desc, *s)) {
			err_set(&b->pub, "module %s does not handle scheme '%s' (%s)",
				b->cb->module, *s, b->cb->origin);
			return OCIKP_CONFIG;
		}
	return OCIKP_OK;
}

#define LOCK_SLICE_MS 100	/* a caller gone while waiting stops waiting this soon */

/* The lock of a backend called one at a time, waited for no longer than
 * the call's deadline, nor once the caller is gone. */
static int serial_lock(struct backend_ctx *b)
{
	const struct deadline *until = deadline_min(&b->host->deadline, &b->deadline);
	struct timespec at;
	long left, slice;
	int rc;

	for (;;) {
		left = deadline_left_ms(until);
		if (left == 0 || (b->host->cancelled && atomic_load(b->host->cancelled))) {
			err_set(&b->pub, "busy: another request held the backend until this "
				"one's deadline");
			return OCIKP_UNAVAILABLE;
		}
		slice = left < LOCK_SLICE_MS ? left : LOCK_SLICE_MS;
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_nsec += slice * 1000000L;
		at.tv_sec += at.tv_nsec / 1000000000L;
		at.tv_nsec %= 1000000000L;
		rc = pthread_mutex_clocklock(b->serial, CLOCK_MONOTONIC, &at);
		if (rc == 0)
			return OCIKP_OK;
		if (rc != ETIMEDOUT) {
			err_set(&b->pub, "backend lock: %s", strerror(rc));
			return OCIKP_INTERNAL;
		}
	}
}

/* Enter a backend call: the call's deadline, the backend's own `timeout`
 * if it is sooner, its lock (bounded by that deadline), a clean error slot
 * (so a failure is never blamed on an earlier call), this ctx as the
 * current one.  On failure nothing is held and *prev is untouched. */
static int call_enter(struct backend_ctx *b, const char *what, struct ocikp_ctx **prev)
{
	struct ocikp_ctx *was;
	int rc;

	memset(&b->deadline, 0, sizeof(b->deadline));
	if (b->cb && b->cb->timeout_ms > 0)
		deadline_set(&b->deadline, b->cb->timeout_ms);
	if (b->serial) {
		was = ctx_enter(&b->pub);	/* the error line names the backend */
		rc = serial_lock(b);
		ctx_enter(was);
		if (rc != OCIKP_OK)
			return rc;
	}
	*prev = ctx_enter(&b->pub);	/* first: the backstop names its timeout */
	b->host->served_by = b->pub.backend;

	if (b->host->backstop)
		backstop_arm(deadline_min(&b->host->deadline, &b->deadline), b->pub.backend);
	err_clear(&b->pub);
	debugf(&b->pub, "%s, %ld ms of the time budget left", what,
	       svc_deadline_ms(&b->pub));
	return OCIKP_OK;
}

static void call_leave(struct backend_ctx *b, struct ocikp_ctx *prev)
{
	ctx_enter(prev);
	if (b->host->backstop)
		backstop_arm(&b->host->deadline, NULL);
	if (b->serial)
		pthread_mutex_unlock(b->serial);
}

int backend_open(struct host *h, const struct conf_backend *cb, struct backend_ctx **out)
{
	struct backend_ctx *b = calloc(1, sizeof(*b));
	struct ocikp_ctx *prev;
	int rc;

	*out = NULL;
	if (!b)
		return OCIKP_INTERNAL;
	host_ctx_init(&b->pub, h, cb->name);
	b->cb = cb;
	rc = loader_open(&b->pub, h->plugin_dir, cb->module, &b->mod);
	if (rc != OCIKP_OK)
		goto fail;
	b->loaded = true;
	debugf(&b->pub, "loaded %s (%s %s)", b->mod.path, b->mod.desc->name,
	       b->mod.desc->version ? b->mod.desc->version : "?");
	if ((rc = handles_all(b, cb->schemes)) != OCIKP_OK ||
	    (rc = handles_all(b, cb->opaque_schemes)) != OCIKP_OK)
		goto fail;
	if (b->mod.desc->init) {
		rc = call_enter(b, "init", &prev);
		if (rc == OCIKP_OK) {
			rc = b->mod.desc->init(&b->pub);
			call_leave(b, prev);
		}
		if (rc != OCIKP_OK)
			goto fail;
	}
	b->inited = true;
	*out = b;
	return OCIKP_OK;
fail:
	backend_close(b);
	return rc;
}

void backend_close(struct backend_ctx *b)
{
	if (!b)
		return;
	if (b->inited && b->mod.desc->fini)
		b->mod.desc->fini(&b->pub);
	if (b->loaded)
		loader_close(&b->mod);
	free(b);
}

int backend_wrap(struct backend_ctx *b, const char *param, const struct ocikp_buf *optsdata,
		 struct ocikp_buf *out)
{
	struct ocikp_ctx *prev;
	int rc = call_enter(b, "wrap", &prev);

	if (rc != OCIKP_OK)
		return rc;
	rc = b->mod.desc->wrap(&b->pub, param, optsdata, out);
	call_leave(b, prev);
	return rc;
}

int backend_unwrap(struct backend_ctx *b, const ocikp_json *ann, const char *const *dc_params,
		   struct ocikp_buf *out)
{
	struct ocikp_ctx *prev;
	int rc = call_enter(b, "unwrap", &prev);

	if (rc != OCIKP_OK)
		return rc;
	rc = b->mod.desc->unwrap(&b->pub, ann, dc_params, out);
	call_leave(b, prev);
	return rc;
}

int backend_command(struct backend_ctx *b, int argc, char *const argv[], struct ocikp_buf *out)
{
	struct ocikp_ctx *prev;
	int rc = call_enter(b, argv[0] ? argv[0] : "command", &prev);

	if (rc != OCIKP_OK)
		return rc;
	rc = b->mod.desc->command(&b->pub, argc, argv, out);
	call_leave(b, prev);
	return rc;
}
