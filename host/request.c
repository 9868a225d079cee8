/*
 * The OCIcrypt exec protocol, request side (SPEC.md §1).  ocicrypt writes
 * one JSON object and closes stdin.  Only Parameters[NAME] is read: the same
 * request carries other providers' values, private keys among them.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "ocikp.h"

/* Wait for input, at most until the request's deadline: ocicrypt closes
 * stdin after its request, but a writer that never does must not hold us
 * for ever.  Also covers a non-blocking stdin. */
static int wait_readable(struct ocikp_ctx *ctx, int fd)
{
	if (deadline_poll(&host_of(ctx)->deadline, fd, POLLIN) == 0)
		return OCIKP_OK;
	if (errno == ETIME) {
		err_set(ctx, "request: stdin not closed within the time budget "
			"(drop-in 'timeout')");
		return OCIKP_UNAVAILABLE;
	}
	err_set(ctx, "request: cannot wait for stdin: %s", strerror(errno));
	return OCIKP_BAD_INPUT;
}

int request_read(struct ocikp_ctx *ctx, int fd, struct ocikp_buf *raw)
{
	unsigned char *p;
	ssize_t n;
	int rc;

	for (;;) {
		rc = wait_readable(ctx, fd);
		if (rc != OCIKP_OK)
			return rc;
		p = buf_extend(raw, 16384);
		if (!p)
			return OCIKP_INTERNAL;
		n = read(fd, p, 16384);
		raw->len -= 16384 - (n > 0 ? (size_t)n : 0);
		raw->data[raw->len] = '\0';
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			err_set(ctx, "request: cannot read stdin: %s", strerror(errno));
			return OCIKP_BAD_INPUT;
		}
		if (raw->len > OCIKP_MAX_INPUT) {
			err_set(ctx, "request: larger than %d bytes", OCIKP_MAX_INPUT);
			return OCIKP_BAD_INPUT;
		}
	}
	return OCIKP_OK;	/* empty is host_handle's to refuse, for both paths */
}

/* The object at `key`; NULL (no error) if absent or null, or an error if it
 * is something else. */
static int optional_object(struct ocikp_ctx *ctx, const ocikp_json *parent, const char *key,
			   const char *path, const ocikp_json **out)
{
	const ocikp_json *v = json_get(parent, key);

	*out = NULL;
	switch (json_type(v)) {
	case OCIKP_JSON_ABSENT:
	case OCIKP_JSON_NULL:
		return OCIKP_OK;
	case OCIKP_JSON_OBJECT:
		*out = v;
		return OCIKP_OK;
	default:
		err_set(ctx, "request: %s must be an object", path);
		return OCIKP_BAD_INPUT;
	}
}

/* Decode the base64 strings of Parameters[provider] into C strings. */
static int read_params(struct ocikp_ctx *ctx, const ocikp_json *parameters,
		       const char *where, const char *provider, struct request *req)
{
	const ocikp_json *list = json_get(parameters, provider);
	size_t i, n;
	int rc;

	if (json_type(list) == OCIKP_JSON_ABSENT || json_type(list) == OCIKP_JSON_NULL)
		return OCIKP_OK;
	if (json_type(list) != OCIKP_JSON_ARRAY) {
		err_set(ctx, "request: %s.Parameters.%s must be an array", where, provider);
		return OCIKP_BAD_INPUT;
	}
	n = json_array_len(list);
	req->params = secure_malloc((n + 1) * sizeof(char *));
	if (!req->params)
		return OCIKP_INTERNAL;
	memset(req->params, 0, (n + 1) * sizeof(char *));
	for (i = 0; i < n; i++) {
		const ocikp_json *item = json_array_at(list, i);
		struct ocikp_buf value = { 0 };
		char what[128];

		if (json_type(item) != OCIKP_JSON_STRING) {
			err_set(ctx, "request: %s.Parameters.%s[%zu] must be a base64 string",
				where, provider, i);
			return OCIKP_BAD_INPUT;
		}
		snprintf(what, sizeof(what), "request: %s.Parameters.%s[%zu]", where, provider, i);
		rc = b64_decode(ctx, what, json_string(item), json_string_len(item), 0, &value);
		if (rc == OCIKP_OK && (value.len == 0 || strlen((char *)value.data) != value.len)) {
			err_set(ctx, "%s: empty or contains a NUL byte", what);
			rc = OCIKP_BAD_INPUT;
		}
		if (rc != OCIKP_OK) {
			buf_free(&value);
			return rc;
		}
		req->params[req->n_params++] = (char *)value.data;	/* now owned by req */
	}
	return OCIKP_OK;
}

static int required_b64(struct ocikp_ctx *ctx, const ocikp_json *parent, const char *key,
			const char *path, struct ocikp_buf *out)
{
	const ocikp_json *v = json_get(parent, key);
	char what[64];

	if (json_type(v) != OCIKP_JSON_STRING || json_string_len(v) == 0) {
		err_set(ctx, "request: %s %s", path,
			json_type(v) == OCIKP_JSON_ABSENT || json_type(v) == OCIKP_JSON_NULL ||
			json_type(v) == OCIKP_JSON_STRING ? "missing" : "must be a base64 string");
		return OCIKP_BAD_INPUT;
	}
	snprintf(what, sizeof(what), "request: %s", path);
	return b64_decode(ctx, what, json_string(v), json_string_len(v), 0, out);
}

int request_parse(struct ocikp_ctx *ctx, const char *provider, const struct ocikp_buf *raw,
		  struct request *req)
{
	const ocikp_json *op, *params_obj, *outer;
	int rc;

	memset(req, 0, sizeof(*req));
	rc = json_parse(ctx, "request", raw->data, raw->len, &req->doc);
	if (rc != OCIKP_OK)
		return rc;
	if (json_type(req->doc) != OCIKP_JSON_OBJECT) {
		err_set(ctx, "request: not a JSON object");
		return OCIKP_BAD_INPUT;
	}
	op = json_get(req->doc, "op");
	if (!json_string(op)) {
		err_set(ctx, "request: op %s", op ? "must be a string" : "missing");
		return OCIKP_BAD_INPUT;
	}
	if (!strcmp(json_string(op), "keywrap")) {
		req->op = OP_WRAP;
		rc = optional_object(ctx, req->doc, "keywrapparams", "keywrapparams", &outer);
		if (rc == OCIKP_OK && outer)
			rc = optional_object(ctx, outer, "ec", "keywrapparams.ec", &outer);
		if (rc == OCIKP_OK && outer)
			rc = optional_object(ctx, outer, "Parameters", "ec.Parameters", &params_obj);
		else
			params_obj = NULL;
		if (rc == OCIKP_OK && params_obj)
			rc = read_params(ctx, params_obj, "ec", provider, req);
		if (rc == OCIKP_OK && req->n_params == 0) {
			err_set(ctx, "request: no recipients for provider '%s' in ec.Parameters",
				provider);
			rc = OCIKP_BAD_INPUT;
		}
		if (rc == OCIKP_OK)
			rc = required_b64(ctx, json_get(req->doc, "keywrapparams"), "optsdata",
					  "keywrapparams.optsdata", &req->optsdata);
	} else if (!strcmp(json_string(op), "keyunwrap")) {
		req->op = OP_UNWRAP;
		rc = optional_object(ctx, req->doc, "keyunwrapparams", "keyunwrapparams", &outer);
		if (rc == OCIKP_OK && !outer) {
			err_set(ctx, "request: keyunwrapparams missing");
			rc = OCIKP_BAD_INPUT;
		}
		if (rc == OCIKP_OK)
			rc = required_b64(ctx, outer, "annotation", "keyunwrapparams.annotation",
					  &req->annotation);
		if (rc == OCIKP_OK)
			rc = optional_object(ctx, outer, "dc", "keyunwrapparams.dc", &outer);
		if (rc == OCIKP_OK && outer)
			rc = optional_object(ctx, outer, "Parameters", "dc.Parameters", &params_obj);
		else
			params_obj = NULL;
		if (rc == OCIKP_OK && params_obj)
			rc = read_params(ctx, params_obj, "dc", provider, req);
	} else {
		err_set(ctx, "request: unknown op '%.40s'", json_string(op));
		rc = OCIKP_BAD_INPUT;
	}
	return rc;
}

void request_free(struct request *req)
{
	size_t i;

	json_free(req->doc);
	for (i = 0; req->params && i < req->n_params; i++)
		secure_free(req->params[i]);
	secure_free(req->params);
	buf_free(&req->optsdata);
	buf_free(&req->annotation);
	memset(req, 0, sizeof(*req));
}
