/*
 * Routing: which backend handles each recipient, and the ocikp envelope for
 * more than one recipient (SPEC.md §4):
 *
 *   {"ocikp":1,"recipients":[<native annotation>, ...]}
 *
 * One recipient gets the backend's native annotation unchanged, so the other
 * providers can read what we write.
 */
#include <stdlib.h>
#include <string.h>
#include "ocikp.h"

#define SCHEME_MAX 33

/* Backends opened during this run, each at most once. */
struct opened {
	struct backend_ctx **list;
	size_t n;
};

static int open_cached(struct host *h, struct opened *o, const struct conf_backend *cb,
		       struct backend_ctx **out)
{
	size_t i;
	struct backend_ctx **grown;
	int rc;

	for (i = 0; i < o->n; i++)
		if (o->list[i]->cb == cb) {
			*out = o->list[i];
			return OCIKP_OK;
		}
	grown = realloc(o->list, (o->n + 1) * sizeof(*grown));
	if (!grown)
		return OCIKP_INTERNAL;
	o->list = grown;
	rc = backend_open(h, cb, out);
	if (rc == OCIKP_OK)
		o->list[o->n++] = *out;
	return rc;
}

/* The open backend for `scheme`; `missing` is the status when no drop-in
 * routes it (bad input on wrap, not mine on unwrap). */
static int backend_for(struct host *h, struct ocikp_ctx *ctx, struct opened *o,
		       const char *scheme, int missing, struct backend_ctx **out)
{
	const struct conf_backend *cb = conf_backend_for_scheme(&h->conf, scheme);

	if (!cb) {
		err_set(ctx, "no backend for scheme '%s'", scheme);
		return missing;
	}
	return open_cached(h, o, cb, out);
}

static void close_all(struct opened *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		backend_close(o->list[i]);
	free(o->list);
}

/* The key URL an annotation names: key_url (tpm, gcpkms, sample), KeyUrl
 * (apple-se), or kid (CoCo). */
const char *annotation_key_url(const ocikp_json *ann)
{
	static const char *const fields[] = { "key_url", "KeyUrl", "kid" };
	size_t i;

	for (i = 0; i < 3; i++)
		if (json_string(json_get(ann, fields[i])))
			return json_string(json_get(ann, fields[i]));
	return NULL;
}

/* A CoCo kid may be a bare resource path ("/default/key/1"): that is KBS. */
static int annotation_scheme(const ocikp_json *ann, char *scheme)
{
	const char *url = annotation_key_url(ann);

	if (!url)
		return OCIKP_BAD_INPUT;
	if (key_scheme(url, scheme, SCHEME_MAX) == OCIKP_OK)
		return OCIKP_OK;
	if (json_string(json_get(ann, "kid")) && !strstr(url, "://")) {
		strcpy(scheme, "kbs");
		return OCIKP_OK;
	}
	return OCIKP_BAD_INPUT;
}

/* Wrap for one recipient string; the annotation object is appended to out. */
static int wrap_one(struct host *h, struct ocikp_ctx *ctx, struct opened *o,
		    const char *param, const struct ocikp_buf *optsdata, struct ocikp_buf *out)
{
	char scheme[SCHEME_MAX];
	struct backend_ctx *b;
	int rc;

	if (key_scheme(param, scheme, sizeof(scheme)) != OCIKP_OK) {
		err_set(ctx, "recipient is not a key URL (expected scheme://...)");
		return OCIKP_BAD_INPUT;
	}
	rc = backend_for(h, ctx, o, scheme, OCIKP_BAD_INPUT, &b);
	if (rc != OCIKP_OK)
		return rc;
	rc = backend_wrap(b, param, optsdata, out);
	if (rc == OCIKP_OK && out->len == 0) {
		err_set(&b->pub, "backend returned an empty annotation");
		rc = OCIKP_INTERNAL;
	}
	return rc;
}

int route_wrap(struct host *h, struct ocikp_ctx *ctx, const struct request *req,
	       struct ocikp_buf *annotation)
{
	struct opened o = { 0 };
	ocikp_jgen *g = NULL;
	size_t i;
	int rc = OCIKP_OK;

	if (req->n_params == 1) {
		rc = wrap_one(h, ctx, &o, req->params[0], &req->optsdata, annotation);
		goto out;
	}
	g = jgen_new();
	jgen_map_open(g);
	jgen_key(g, "ocikp");
	jgen_int(g, 1);
	jgen_key(g, "recipients");
	jgen_array_open(g);
	for (i = 0; i < req->n_params && rc == OCIKP_OK; i++) {
		struct ocikp_buf one = { 0 };
		ocikp_json *parsed = NULL;

		rc = wrap_one(h, ctx, &o, req->params[i], &req->optsdata, &one);
		if (rc == OCIKP_OK)
			rc = json_parse(ctx, "backend annotation", one.data, one.len, &parsed);
		if (rc == OCIKP_OK && json_type(parsed) != OCIKP_JSON_OBJECT) {
			err_set(ctx, "backend annotation: not a JSON object");
			rc = OCIKP_INTERNAL;
		}
		if (rc == OCIKP_OK)
			jgen_value(g, parsed);
		json_free(parsed);
		buf_free(&one);
	}
	jgen_array_close(g);
	jgen_map_close(g);
	if (rc == OCIKP_OK) {
		rc = jgen_finish(g, annotation);
	} else {
		struct ocikp_buf discard = { 0 };
		jgen_finish(g, &discard);	/* frees the generator */
		buf_free(&discard);
	}
out:
	close_all(&o);
	return rc;
}

/* The decrypt parameters that route to backend cb, NULL-terminated. */
static const char **params_for(struct host *h, const struct request *req,
			       const struct conf_backend *cb)
{
	const char **v = calloc(req->n_params + 1, sizeof(*v));
	char scheme[SCHEME_MAX];
	size_t i, n = 0;

	for (i = 0; v && i < req->n_params; i++)
		if (key_scheme(req->params[i], scheme, sizeof(scheme)) == OCIKP_OK &&
		    conf_backend_for_scheme(&h->conf, scheme) == cb)
			v[n++] = req->params[i];
	return v;
}

static int unwrap_one(struct host *h, struct ocikp_ctx *ctx, struct opened *o,
		      const struct request *req, const ocikp_json *ann, struct ocikp_buf *out)
{
	char scheme[SCHEME_MAX];
	struct backend_ctx *b;
	const char **params;
	int rc;

	if (json_type(ann) != OCIKP_JSON_OBJECT) {
		err_set(ctx, "annotation: not a JSON object");
		return OCIKP_BAD_INPUT;
	}
	if (annotation_scheme(ann, scheme) != OCIKP_OK) {
		err_set(ctx, "annotation: no key URL with a valid scheme (key_url, KeyUrl or kid)");
		return OCIKP_BAD_INPUT;
	}
	rc = backend_for(h, ctx, o, scheme, OCIKP_NOT_MINE, &b);
	if (rc != OCIKP_OK)
		return rc;
	params = params_for(h, req, b->cb);
	if (!params)
		return OCIKP_INTERNAL;
	rc = backend_unwrap(b, ann, params, out);
	free(params);
	if (rc == OCIKP_OK && out->len == 0) {
		err_set(&b->pub, "backend returned empty optsdata");
		rc = OCIKP_INTERNAL;
	}
	return rc;
}

/* Which status an envelope reports when no recipient opened: a failure that
 * is not about keys (device down, bad input) tells the user more. */
static int worse(int have, int got)
{
	bool have_key = have == OCIKP_NOT_MINE || have == OCIKP_WRONG_KEY;
	bool got_key = got == OCIKP_NOT_MINE || got == OCIKP_WRONG_KEY;

	if (have == OCIKP_OK)
		return got;
	if (have_key && !got_key)
		return got;
	if (have == OCIKP_NOT_MINE && got == OCIKP_WRONG_KEY)
		return got;
	return have;
}

static int unwrap_envelope(struct host *h, struct ocikp_ctx *ctx, struct opened *o,
			   const struct request *req, const ocikp_json *env,
			   struct ocikp_buf *out)
{
	const ocikp_json *version = json_get(env, "ocikp"), *list = json_get(env, "recipients");
	struct ocikp_buf why = { 0 };
	size_t i, n = json_array_len(list);
	int rc = OCIKP_OK, status = OCIKP_OK;

	if (json_type(version) != OCIKP_JSON_NUMBER || strcmp(json_number(version), "1") != 0) {
		err_set(ctx, "annotation: unsupported ocikp envelope version");
		return OCIKP_BAD_INPUT;
	}
	if (json_type(list) != OCIKP_JSON_ARRAY || n == 0) {
		err_set(ctx, "annotation: ocikp envelope has no recipients");
		return OCIKP_BAD_INPUT;
	}
	for (i = 0; i < n; i++) {
		struct errctx *e = &host_of(ctx)->err;

		rc = unwrap_one(h, ctx, o, req, json_array_at(list, i), out);
		if (rc == OCIKP_OK)
			goto done;
		buf_free(out);
		status = worse(status, rc);
		buf_printf(&why, "%s%zu (%s): %s", i ? "; " : "", i + 1,
			   e->who ? e->who : "ocikp", e->msg);
	}
	host_of(ctx)->err.who = NULL;
	err_set(ctx, "no recipient could be opened: %s", (char *)why.data);
	rc = status;
done:
	buf_free(&why);
	return rc;
}

int route_unwrap(struct host *h, struct ocikp_ctx *ctx, const struct request *req,
		 struct ocikp_buf *optsdata)
{
	struct opened o = { 0 };
	ocikp_json *ann = NULL;
	int rc;

	rc = json_parse(ctx, "annotation", req->annotation.data, req->annotation.len, &ann);
	if (rc == OCIKP_OK && json_get(ann, "ocikp"))
		rc = unwrap_envelope(h, ctx, &o, req, ann, optsdata);
	else if (rc == OCIKP_OK)
		rc = unwrap_one(h, ctx, &o, req, ann, optsdata);
	json_free(ann);
	close_all(&o);
	return rc;
}
