/*
 * Routing: which backend handles each recipient, and the ocikp envelope for
 * more than one recipient (SPEC.md §4):
 *
 *   {"ocikp":1,"recipients":[<native annotation>, ...]}
 *
 * One recipient gets the backend's native annotation unchanged, so the other
 * providers can read what we write.
 *
 * Every recipient may cost a device or network round trip (a TPM takes tens
 * of milliseconds), and one 1 MiB annotation holds over a thousand copies of
 * one: an envelope is capped, duplicates are tried once, and the loop stops
 * when the request's time budget is spent.
 */
#include <stdlib.h>
#include <string.h>
#include "ocikp.h"

#define SCHEME_MAX 33
/* Recipients in one envelope, on wrap and unwrap (ocikp(1), README). */
#define ENVELOPE_MAX_RECIPIENTS 32

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
	rc = h->pool ? pool_get(h->pool, h, cb, out) : backend_open(h, cb, out);
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
static int annotation_scheme(const struct host *h, const ocikp_json *ann, char *scheme)
{
	const char *url = annotation_key_url(ann);

	if (!url)
		return OCIKP_BAD_INPUT;
	if (conf_key_scheme(&h->conf, url, scheme, SCHEME_MAX) == OCIKP_OK)
		return OCIKP_OK;
	if (json_string(json_get(ann, "kid")) && !strstr(url, "://")) {
		strcpy(scheme, "kbs");
		return OCIKP_OK;
	}
	return OCIKP_BAD_INPUT;
}

/* A backend that fails without saying why still gets a reason of its own,
 * rather than none or, worse, an earlier recipient's. */
static int blame(struct backend_ctx *b, int rc)
{
	if (rc != OCIKP_OK && !b->host->err.msg[0])
		err_set(&b->pub, "failed (no reason given)");
	return rc;
}

/* Spent, or (ocikpd) nobody is waiting for the answer any more. */
static bool budget_spent(const struct host *h)
{
	return deadline_left_ms(&h->deadline) == 0 ||
	       (h->cancelled && atomic_load(h->cancelled));
}

/* Wrap for one recipient string; the annotation object is appended to out. */
static int wrap_one(struct host *h, struct ocikp_ctx *ctx, struct opened *o,
		    const char *param, const struct ocikp_buf *optsdata, struct ocikp_buf *out)
{
	char scheme[SCHEME_MAX];
	struct backend_ctx *b;
	int rc;

	if (conf_key_scheme(&h->conf, param, scheme, sizeof(scheme)) != OCIKP_OK) {
		err_set(ctx, "recipient is not a key URL (expected scheme://..., or scheme:... "
			"for a scheme a drop-in lists in opaque_schemes)");
		return OCIKP_BAD_INPUT;
	}
	rc = backend_for(h, ctx, o, scheme, OCIKP_BAD_INPUT, &b);
	if (rc != OCIKP_OK)
		return rc;
	rc = blame(b, backend_wrap(b, param, optsdata, out));
	if (rc == OCIKP_OK && out->len == 0) {
		err_set(&b->pub, "backend returned an empty annotation");
		rc = OCIKP_INTERNAL;
	}
	return rc;
}

/* The distinct parameters of the request, in order: wrapping twice for one
 * key only costs time.  NULL when out of memory. */
static const char **distinct_params(const struct request *req, size_t *n)
{
	const char **v = calloc(req->n_params + 1, sizeof(*v));
	size_t i, j;

	*n = 0;
	for (i = 0; v && i < req->n_params; i++) {
		for (j = 0; j < *n && strcmp(v[j], req->params[i]) != 0; j++)
			;
		if (j == *n)
			v[(*n)++] = req->params[i];
	}
	return v;
}

static int wrap_envelope(struct host *h, struct ocikp_ctx *ctx, struct opened *o,
			 const char *const *params, size_t n, const struct ocikp_buf *optsdata,
			 struct ocikp_buf *annotation)
{
	ocikp_jgen *g = jgen_new();
	size_t i;
	int rc = OCIKP_OK;

	jgen_map_open(g);
	jgen_key(g, "ocikp");
	jgen_int(g, 1);
	jgen_key(g, "recipients");
	jgen_array_open(g);
	for (i = 0; i < n && rc == OCIKP_OK; i++) {
		struct ocikp_buf one = { 0 };
		ocikp_json *parsed = NULL;

		if (budget_spent(h)) {
			err_set(ctx, "time budget spent (drop-in 'timeout') after wrapping for "
				"%zu of %zu recipients", i, n);
			rc = OCIKP_UNAVAILABLE;
			break;
		}
		rc = wrap_one(h, ctx, o, params[i], optsdata, &one);
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
	if (rc == OCIKP_OK)
		return jgen_finish(g, annotation);
	jgen_finish(g, NULL);	/* frees the generator, keeps rc's error */
	return rc;
}

int route_wrap(struct host *h, struct ocikp_ctx *ctx, const struct request *req,
	       struct ocikp_buf *annotation)
{
	struct opened o = { 0 };
	const char **params;
	size_t n;
	int rc;

	if (req->n_params > ENVELOPE_MAX_RECIPIENTS) {
		err_set(ctx, "request: %zu recipients; at most %d fit in one envelope",
			req->n_params, ENVELOPE_MAX_RECIPIENTS);
		return OCIKP_BAD_INPUT;
	}
	params = distinct_params(req, &n);
	if (!params)
		return OCIKP_INTERNAL;
	if (n == 1)
		rc = wrap_one(h, ctx, &o, params[0], &req->optsdata, annotation);
	else
		rc = wrap_envelope(h, ctx, &o, params, n, &req->optsdata, annotation);
	free(params);
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
		if (conf_key_scheme(&h->conf, req->params[i], scheme, sizeof(scheme)) == OCIKP_OK &&
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
	if (annotation_scheme(h, ann, scheme) != OCIKP_OK) {
		err_set(ctx, "annotation: no key URL with a valid scheme (key_url, KeyUrl or kid)");
		return OCIKP_BAD_INPUT;
	}
	rc = backend_for(h, ctx, o, scheme, OCIKP_NOT_MINE, &b);
	if (rc != OCIKP_OK)
		return rc;
	params = params_for(h, req, b->cb);
	if (!params)
		return OCIKP_INTERNAL;
	rc = blame(b, backend_unwrap(b, ann, params, out));
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

/* A recipient's canonical text: regenerated JSON with each object's keys
 * sorted, so copies differing only in spacing, escapes or key order are
 * seen as the same recipient. */
struct member {
	const char *key;
	const ocikp_json *value;
};

static int member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->key, ((const struct member *)b)->key);
}

static int canon_value(ocikp_jgen *g, const ocikp_json *v)
{
	struct member *m;
	size_t i, n;
	int rc = OCIKP_OK;

	switch (json_type(v)) {
	case OCIKP_JSON_ARRAY:
		jgen_array_open(g);
		for (i = 0; i < json_array_len(v) && rc == OCIKP_OK; i++)
			rc = canon_value(g, json_array_at(v, i));
		jgen_array_close(g);
		return rc;
	case OCIKP_JSON_OBJECT:
		n = json_object_len(v);
		m = calloc(n ? n : 1, sizeof(*m));
		if (!m)
			return OCIKP_INTERNAL;
		for (i = 0; i < n; i++) {
			m[i].key = json_object_key_at(v, i);
			m[i].value = json_object_value_at(v, i);
		}
		qsort(m, n, sizeof(*m), member_cmp);
		jgen_map_open(g);
		for (i = 0; i < n && rc == OCIKP_OK; i++) {
			jgen_key(g, m[i].key);
			rc = canon_value(g, m[i].value);
		}
		jgen_map_close(g);
		free(m);
		return rc;
	default:
		jgen_value(g, v);
		return OCIKP_OK;
	}
}

static int canonical(const ocikp_json *v, struct ocikp_buf *out)
{
	ocikp_jgen *g = jgen_new();
	int rc = canon_value(g, v);

	if (rc == OCIKP_OK)
		return jgen_finish(g, out);
	jgen_finish(g, NULL);
	return rc;
}

/* The index of an earlier recipient identical to recipient i, or i. */
static size_t first_copy(const struct ocikp_buf *canon, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (canon[j].len == canon[i].len && !memcmp(canon[j].data, canon[i].data, canon[i].len))
			return j;
	return i;
}

/* Why recipient i failed, for the one line listing them all. */
static void add_reason(struct ocikp_buf *why, struct host *h, size_t i)
{
	buf_printf(why, "%s%zu (%s): %s", why->len ? "; " : "", i + 1,
		   h->err.who ? h->err.who : "ocikp", h->err.msg[0] ? h->err.msg : "failed");
}

static int unwrap_envelope(struct host *h, struct ocikp_ctx *ctx, struct opened *o,
			   const struct request *req, const ocikp_json *env,
			   struct ocikp_buf *out)
{
	const ocikp_json *version = json_get(env, "ocikp"), *list = json_get(env, "recipients");
	struct ocikp_buf why = { 0 }, canon[ENVELOPE_MAX_RECIPIENTS];
	size_t i, copy, tried = 0, n = json_array_len(list);
	int rc = OCIKP_OK, status = OCIKP_OK;

	if (json_type(version) != OCIKP_JSON_NUMBER || strcmp(json_number(version), "1") != 0) {
		err_set(ctx, "annotation: unsupported ocikp envelope version");
		return OCIKP_BAD_INPUT;
	}
	if (json_type(list) != OCIKP_JSON_ARRAY || n == 0) {
		err_set(ctx, "annotation: ocikp envelope has no recipients");
		return OCIKP_BAD_INPUT;
	}
	if (n > ENVELOPE_MAX_RECIPIENTS) {
		err_set(ctx, "annotation: ocikp envelope has %zu recipients; at most %d are allowed",
			n, ENVELOPE_MAX_RECIPIENTS);
		return OCIKP_BAD_INPUT;
	}
	memset(canon, 0, sizeof(canon));
	for (i = 0; i < n; i++) {
		err_clear(ctx);
		if (budget_spent(h)) {
			rc = OCIKP_UNAVAILABLE;
			err_set(ctx, "time budget spent (drop-in 'timeout') after trying %zu of %zu "
				"recipients: %s", tried, n, why.len ? (char *)why.data : "none");
			goto done;
		}
		rc = canonical(json_array_at(list, i), &canon[i]);
		if (rc != OCIKP_OK)
			goto done;
		copy = first_copy(canon, i);
		if (copy != i) {
			buf_printf(&why, "%s%zu: same as %zu", why.len ? "; " : "", i + 1, copy + 1);
			continue;
		}
		tried++;
		rc = unwrap_one(h, ctx, o, req, json_array_at(list, i), out);
		if (rc == OCIKP_OK)
			goto done;
		buf_free(out);
		status = worse(status, rc);
		add_reason(&why, h, i);
	}
	err_clear(ctx);
	err_set(ctx, "no recipient could be opened: %s", (char *)why.data);
	rc = status;
done:
	for (i = 0; i < n; i++)
		buf_free(&canon[i]);
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

static void add_backend(const struct conf_backend *cb, const struct conf_backend **out,
			size_t max, size_t *n)
{
	size_t i;

	if (!cb)
		return;
	for (i = 0; i < *n; i++)
		if (out[i] == cb)
			return;
	if (*n < max)
		out[(*n)++] = cb;
}

static void add_annotation(struct host *h, const ocikp_json *ann,
			   const struct conf_backend **out, size_t max, size_t *n)
{
	char scheme[SCHEME_MAX];

	if (json_type(ann) == OCIKP_JSON_OBJECT && annotation_scheme(h, ann, scheme) == OCIKP_OK)
		add_backend(conf_backend_for_scheme(&h->conf, scheme), out, max, n);
}

/* No errors here (the annotation is parsed without a ctx): whatever does not
 * route now fails with its own line when the request runs. */
void route_backends(struct host *h, const struct request *req,
		    const struct conf_backend **out, size_t max, size_t *n)
{
	char scheme[SCHEME_MAX];
	ocikp_json *ann = NULL;
	const ocikp_json *list;
	size_t i;

	*n = 0;
	if (req->op == OP_WRAP) {
		for (i = 0; i < req->n_params && i < ENVELOPE_MAX_RECIPIENTS; i++)
			if (conf_key_scheme(&h->conf, req->params[i], scheme, sizeof(scheme)) ==
			    OCIKP_OK)
				add_backend(conf_backend_for_scheme(&h->conf, scheme), out, max, n);
		return;
	}
	if (json_parse(NULL, "annotation", req->annotation.data, req->annotation.len,
		       &ann) != OCIKP_OK)
		return;
	list = json_get(ann, "recipients");
	if (!json_get(ann, "ocikp"))
		add_annotation(h, ann, out, max, n);
	for (i = 0; json_get(ann, "ocikp") && i < json_array_len(list) &&
		    i < ENVELOPE_MAX_RECIPIENTS; i++)
		add_annotation(h, json_array_at(list, i), out, max, n);
	json_free(ann);
}
