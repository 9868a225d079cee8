/* host/request.c and response.c: the exec protocol's JSON. */
#include <string.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;

static int parse(const char *text, struct request *req)
{
	struct ocikp_buf raw = { 0 };
	int rc;

	buf_append(&raw, text, strlen(text));
	h.err.msg[0] = '\0';
	rc = request_parse(&root.pub, "ocikp", &raw, req);
	buf_free(&raw);
	return rc;
}

int main(void)
{
	struct request req;
	struct ocikp_buf out = { 0 }, payload = { 0 };

	host_ctx_init(&root.pub, &h, NULL);
	/* ocicrypt 1.1.9's wrap request, verbatim in shape */
	ok(parse("{\"op\":\"keywrap\",\"keywrapparams\":{\"ec\":{\"Parameters\":{\"ocikp\":[\"c2FtcGxlOi8vYQ==\",\"bW9jazovL2I=\"],\"x\":[\"AA==\"]},\"DecryptConfig\":{\"Parameters\":{}}},\"optsdata\":\"eyJhIjoxfQ==\"},\"keyunwrapparams\":{\"dc\":null,\"annotation\":null}}", &req) == OCIKP_OK,
	   "wrap request parses");
	ok(req.op == OP_WRAP && req.n_params == 2 && !strcmp(req.params[0], "sample://a") &&
	   !strcmp(req.params[1], "mock://b") && req.params[2] == NULL, "two recipients decoded");
	ok(req.optsdata.len == 7 && !memcmp(req.optsdata.data, "{\"a\":1}", 7), "optsdata decoded");
	request_free(&req);
	ok(parse("{\"op\":\"keyunwrap\",\"keywrapparams\":{\"ec\":null,\"optsdata\":null},\"keyunwrapparams\":{\"dc\":{\"Parameters\":{\"ocikp\":[\"bW9jazovL2I=\"]}},\"annotation\":\"e30=\"}}", &req) == OCIKP_OK,
	   "unwrap request parses");
	ok(req.op == OP_UNWRAP && req.n_params == 1 && req.annotation.len == 2, "dc params and annotation");
	request_free(&req);
	ok(parse("{\"op\":\"keyunwrap\",\"keyunwrapparams\":{\"annotation\":\"e30=\"}}", &req) == OCIKP_OK &&
	   req.n_params == 0, "unwrap without dc");
	request_free(&req);

	ok(parse("[]", &req) == OCIKP_BAD_INPUT && strstr(h.err.msg, "not a JSON object"), "array root: %s", h.err.msg);
	request_free(&req);
	ok(parse("{\"op\":1}", &req) == OCIKP_BAD_INPUT && strstr(h.err.msg, "op must be a string"), "op type: %s", h.err.msg);
	request_free(&req);
	ok(parse("{}", &req) == OCIKP_BAD_INPUT && strstr(h.err.msg, "op missing"), "op missing: %s", h.err.msg);
	request_free(&req);
	ok(parse("{\"op\":\"keyfrob\"}", &req) == OCIKP_BAD_INPUT && strstr(h.err.msg, "unknown op 'keyfrob'"), "unknown op: %s", h.err.msg);
	request_free(&req);
	ok(parse("{\"op\":\"keywrap\",\"keywrapparams\":{\"ec\":{\"Parameters\":{\"ocikp\":\"c2FtcGxlOi8vYQ==\"}},\"optsdata\":\"eyJhIjoxfQ==\"}}", &req) == OCIKP_BAD_INPUT &&
	   strstr(h.err.msg, "must be an array"), "params not an array: %s", h.err.msg);
	request_free(&req);
	ok(parse("{\"op\":\"keywrap\",\"keywrapparams\":{\"ec\":{\"Parameters\":{\"ocikp\":[]}},\"optsdata\":\"eyJhIjoxfQ==\"}}", &req) == OCIKP_BAD_INPUT &&
	   strstr(h.err.msg, "no recipients"), "empty params: %s", h.err.msg);
	request_free(&req);
	ok(parse("{\"op\":\"keywrap\",\"keywrapparams\":{\"ec\":{\"Parameters\":{\"ocikp\":[\"AGE=\"]}},\"optsdata\":\"eyJhIjoxfQ==\"}}", &req) == OCIKP_BAD_INPUT &&
	   strstr(h.err.msg, "NUL"), "NUL in a parameter: %s", h.err.msg);
	request_free(&req);
	ok(parse("{\"op\":\"keywrap\",\"keywrapparams\":{\"ec\":{\"Parameters\":{\"ocikp\":[\"c2FtcGxlOi8vYQ==\"]}},\"optsdata\":null}}", &req) == OCIKP_BAD_INPUT &&
	   strstr(h.err.msg, "optsdata missing"), "optsdata null: %s", h.err.msg);
	request_free(&req);
	ok(parse("{\"op\":\"keyunwrap\",\"keyunwrapparams\":{\"annotation\":\"e30\"}}", &req) == OCIKP_BAD_INPUT &&
	   strstr(h.err.msg, "annotation: invalid base64"), "bad base64 annotation: %s", h.err.msg);
	request_free(&req);
	ok(parse("{\"op\":\"keyunwrap\",\"keyunwrapparams\":[]}", &req) == OCIKP_BAD_INPUT &&
	   strstr(h.err.msg, "must be an object"), "keyunwrapparams type: %s", h.err.msg);
	request_free(&req);

	buf_append(&payload, "{}", 2);
	ok(response_build(OP_WRAP, &payload, &out) == OCIKP_OK &&
	   !strcmp((char *)out.data, "{\"keywrapresults\":{\"annotation\":\"e30=\"}}"), "wrap answer: %s", out.data);
	out.len = 0;
	ok(response_build(OP_UNWRAP, &payload, &out) == OCIKP_OK &&
	   !strcmp((char *)out.data, "{\"keyunwrapresults\":{\"optsdata\":\"e30=\"}}"), "unwrap answer: %s", out.data);
	buf_free(&out);
	buf_free(&payload);
	return tap_done();
}
