/*
 * The services table handed to backends, and opening a backend by its
 * drop-in entry.
 */
#include <stdlib.h>
#include <string.h>
#include "ocikp.h"

struct host *host_of(struct ocikp_ctx *ctx)
{
	return ((struct backend_ctx *)ctx)->host;
}

static void svc_verrorf(struct ocikp_ctx *ctx, const char *fmt, va_list ap)
{
	err_vset(ctx, fmt, ap);
}

static const char *svc_conf_get(struct ocikp_ctx *ctx, const char *key)
{
	return conf_option(&host_of(ctx)->conf, ctx->backend, key);
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

int backend_open(struct host *h, const struct conf_backend *cb, struct backend_ctx **out)
{
	struct backend_ctx *b = calloc(1, sizeof(*b));
	char **s;
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
	for (s = cb->schemes; s && *s; s++)
		if (!handles(b->mod.desc, *s)) {
			err_set(&b->pub, "module %s does not handle scheme '%s' (%s)",
				cb->module, *s, cb->origin);
			rc = OCIKP_CONFIG;
			goto fail;
		}
	if (b->mod.desc->init) {
		rc = b->mod.desc->init(&b->pub);
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
