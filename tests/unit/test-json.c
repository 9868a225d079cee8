/* host/json.c: the tree parser and the generator. */
#include <string.h>
#include "ocikp.h"
#include "tap.h"

static struct host h;
static struct backend_ctx root;

static int parse(const char *s, ocikp_json **out)
{
	return json_parse(&root.pub, "t", s, strlen(s), out);
}

int main(void)
{
	ocikp_json *d = NULL;
	struct ocikp_buf out = { 0 };
	ocikp_jgen *g;
	char deep[200];
	int i;

	host_ctx_init(&root.pub, &h, NULL);
	ok(parse("{\"a\":\"x\",\"b\":[1,true,null,{\"c\":\"\\u00e9\\n\"}],\"a\":\"y\"}", &d) == OCIKP_OK,
	   "parses an object");
	ok(json_type(d) == OCIKP_JSON_OBJECT, "root is an object");
	ok(!strcmp(json_string(json_get(d, "a")), "y"), "last duplicate key wins (as Go)");
	ok(json_array_len(json_get(d, "b")) == 4, "array length");
	ok(json_type(json_array_at(json_get(d, "b"), 1)) == OCIKP_JSON_TRUE, "true");
	ok(json_type(json_array_at(json_get(d, "b"), 2)) == OCIKP_JSON_NULL, "null");
	ok(!strcmp(json_number(json_array_at(json_get(d, "b"), 0)), "1"), "number text");
	ok(!strcmp(json_string(json_get(json_array_at(json_get(d, "b"), 3), "c")), "\xc3\xa9\n"),
	   "escapes decoded");
	ok(json_get(d, "missing") == NULL && json_type(NULL) == OCIKP_JSON_ABSENT, "absent key");
	ok(json_array_at(json_get(d, "b"), 9) == NULL, "out of range item");
	ok(json_string(json_get(d, "b")) == NULL, "json_string on an array is NULL");
	g = jgen_new();
	jgen_value(g, d);
	ok(jgen_finish(g, &out) == OCIKP_OK, "re-emits a tree");
	ok(strstr((char *)out.data, "\"c\":\"\xc3\xa9\\n\"") != NULL, "re-emitted text: %s", out.data);
	json_free(d);
	d = NULL;
	ok(parse("{\"a\":1", &d) == OCIKP_BAD_INPUT && d == NULL, "truncated JSON rejected");
	ok(strstr(h.err.msg, "malformed JSON") != NULL, "error says malformed: %s", h.err.msg);
	ok(parse("{} {}", &d) == OCIKP_BAD_INPUT, "trailing value rejected");
	ok(parse("", &d) == OCIKP_BAD_INPUT, "empty input rejected");
	ok(parse("{\"a\":\"\xff\"}", &d) == OCIKP_BAD_INPUT, "invalid UTF-8 rejected");
	ok(parse("[1,2,]", &d) == OCIKP_BAD_INPUT, "trailing comma rejected");
	for (i = 0; i < 100; i++)
		deep[i] = '[';
	for (i = 100; i < 200; i++)
		deep[i] = ']';
	ok(json_parse(&root.pub, "t", deep, 200, &d) == OCIKP_BAD_INPUT &&
	   strstr(h.err.msg, "deeper"), "nesting beyond the limit rejected");
	out.len = 0;
	g = jgen_new();
	jgen_map_open(g);
	jgen_key(g, "k");
	jgen_string(g, "\xff", 1);
	jgen_map_close(g);
	ok(jgen_finish(g, &out) == OCIKP_BAD_INPUT, "generator refuses invalid UTF-8");
	out.len = 0;
	g = jgen_new();
	jgen_map_open(g);
	jgen_key(g, "b");
	jgen_b64(g, "\xfb\xff", 2);
	jgen_key(g, "n");
	jgen_int(g, 1);
	jgen_key(g, "s");
	jgen_string(g, "a/b", 3);
	jgen_map_close(g);
	ok(jgen_finish(g, &out) == OCIKP_OK && !strcmp((char *)out.data, "{\"b\":\"+/8=\",\"n\":1,\"s\":\"a/b\"}"),
	   "generator output: %s", out.data);
	buf_free(&out);
	return tap_done();
}
