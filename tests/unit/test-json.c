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

/* Finish g into a fresh text; returns the status, text in *out. */
static int finish(ocikp_jgen *g, struct ocikp_buf *out)
{
	buf_free(out);
	h.err.msg[0] = '\0';
	return jgen_finish(g, out);
}

static const char *text(const struct ocikp_buf *b)
{
	return b->data ? (const char *)b->data : "(null)";
}

/* NUL in strings and keys (issue 11): refused, never compared short. */
static void test_nul(void)
{
	ocikp_json *d = NULL;
	static const char with_nul[] = "{\"op\":\"a\\u0000b\"}";

	ok(parse(with_nul, &d) == OCIKP_BAD_INPUT && d == NULL, "NUL in a string refused");
	ok(strstr(h.err.msg, "t: a JSON string or key holds a NUL") != NULL, "cause named: %s",
	   h.err.msg);
	ok(parse("{\"key_url\\u0000\":\"x\",\"key_url\":\"y\"}", &d) == OCIKP_BAD_INPUT,
	   "NUL in a key refused");
	ok(parse("[\"\\u0000\"]", &d) == OCIKP_BAD_INPUT, "a lone NUL refused");
	ok(parse("{\"a\\u0001\":\"\\u0001\"}", &d) == OCIKP_OK, "other control escapes kept");
	json_free(d);
}

/* The value budget: a document may hold JSON_MAX_VALUES values. */
static void test_count(void)
{
	struct ocikp_buf t = { 0 };
	ocikp_json *d = NULL;
	int i;

	buf_append(&t, "[", 1);
	for (i = 0; i < 16382; i++)
		buf_append(&t, "0,", 2);
	buf_append(&t, "0]", 2);
	ok(json_parse(&root.pub, "t", t.data, t.len, &d) == OCIKP_OK && json_array_len(d) == 16383,
	   "16384 values (an array and its items) accepted");
	json_free(d);
	t.len = 0;
	buf_append(&t, "[[],", 4);
	for (i = 0; i < 16384; i++)
		buf_append(&t, "[],", 3);
	buf_append(&t, "[]]", 3);
	ok(json_parse(&root.pub, "t", t.data, t.len, &d) == OCIKP_BAD_INPUT && d == NULL,
	   "more values refused");
	ok(strstr(h.err.msg, "more than 16384 values") != NULL, "cause named: %s", h.err.msg);
	t.len = 0;
	buf_append(&t, "{", 1);
	for (i = 0; i < 16384; i++)
		buf_append(&t, "\"\":0,", 5);
	buf_append(&t, "\"\":0}", 5);
	ok(json_parse(&root.pub, "t", t.data, t.len, &d) == OCIKP_BAD_INPUT, "object members counted");
	buf_free(&t);
}

/* json_number and the object iteration. */
static void test_reading(void)
{
	ocikp_json *d = NULL;
	const ocikp_json *n;

	ok(parse("{\"z\":-1.5e+3,\"a\":\"s\",\"z\":[0],\"\":null}", &d) == OCIKP_OK, "parsed");
	ok(json_object_len(d) == 4, "members counted with duplicates");
	ok(!strcmp(json_object_key_at(d, 0), "z") && !strcmp(json_object_key_at(d, 1), "a") &&
	   !strcmp(json_object_key_at(d, 2), "z") && !strcmp(json_object_key_at(d, 3), ""),
	   "keys in document order");
	n = json_object_value_at(d, 0);
	ok(json_type(n) == OCIKP_JSON_NUMBER && !strcmp(json_number(n), "-1.5e+3"),
	   "number literal kept as written");
	ok(!strcmp(json_number(json_object_value_at(d, 1)), "") && !strcmp(json_number(NULL), ""),
	   "json_number of a non-number is \"\"");
	ok(json_get(d, "z") == json_object_value_at(d, 2), "json_get: the last duplicate");
	ok(json_type(json_get(d, "")) == OCIKP_JSON_NULL, "empty key found");
	ok(json_object_key_at(d, 4) == NULL && json_object_value_at(d, 4) == NULL,
	   "out of range member");
	ok(json_object_len(json_get(d, "z")) == 0 && json_object_key_at(json_get(d, "z"), 0) == NULL &&
	   json_object_value_at(json_get(d, "z"), 0) == NULL, "object calls on an array");
	ok(json_array_len(d) == 0 && json_array_at(d, 0) == NULL, "array calls on an object");
	ok(json_object_len(NULL) == 0 && json_get(NULL, "a") == NULL, "NULL node");
	ok(json_string_len(json_object_value_at(d, 1)) == 1, "string length");
	json_free(d);
}

/* The generator's reasons, reported on the current ctx at jgen_finish. */
static void test_reasons(void)
{
	struct ocikp_buf out = { 0 };
	ocikp_jgen *g;

	g = jgen_new();
	jgen_map_open(g);
	jgen_key(g, "k");
	jgen_string(g, "a\xff", 2);
	jgen_map_close(g);
	ok(finish(g, &out) == OCIKP_BAD_INPUT &&
	   !strcmp(h.err.msg, "cannot write JSON: a string is not valid UTF-8"),
	   "invalid UTF-8: %s", h.err.msg);
	ok(out.len == 0, "nothing appended on failure");

	g = jgen_new();
	jgen_key(g, "k");
	jgen_string(g, "v", 1);
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "a key outside an object"),
	   "key at top level: %s", h.err.msg);
	g = jgen_new();
	jgen_array_open(g);
	jgen_key(g, "k");
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "a key outside an object"),
	   "key in an array: %s", h.err.msg);
	g = jgen_new();
	jgen_map_open(g);
	jgen_string(g, "k", 1);
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "where an object key belongs"),
	   "value in key position: %s", h.err.msg);
	g = jgen_new();
	jgen_map_open(g);
	jgen_key(g, "a");
	jgen_key(g, "b");
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "two keys in a row"),
	   "two keys: %s", h.err.msg);
	g = jgen_new();
	jgen_map_open(g);
	jgen_key(g, "a");
	jgen_map_close(g);
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "key without a value"),
	   "key without value: %s", h.err.msg);
	g = jgen_new();
	jgen_array_open(g);
	jgen_map_close(g);
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "close without its open"),
	   "mismatched close: %s", h.err.msg);
	g = jgen_new();
	jgen_map_open(g);
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "left open"),
	   "unclosed: %s", h.err.msg);
	g = jgen_new();
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "no value written"),
	   "empty generator: %s", h.err.msg);
	g = jgen_new();
	jgen_int(g, 1);
	jgen_int(g, 2);
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "second value"),
	   "two top-level values: %s", h.err.msg);
	g = jgen_new();
	jgen_array_open(g);
	jgen_number(g, "01", 2);
	jgen_array_close(g);
	ok(finish(g, &out) == OCIKP_BAD_INPUT && strstr(h.err.msg, "number literal is not valid"),
	   "bad number: %s", h.err.msg);
	g = jgen_new();
	jgen_value(g, NULL);
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "absent"),
	   "jgen_value(NULL): %s", h.err.msg);
	ok(jgen_finish(NULL, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "out of memory"),
	   "no generator (jgen_new failed): %s", h.err.msg);
	g = jgen_new();
	jgen_map_open(g);
	jgen_key(g, "a");
	jgen_string(g, "\xff", 1);
	jgen_key(g, NULL);	/* ignored: the first failure wins */
	ok(finish(g, &out) == OCIKP_BAD_INPUT && strstr(h.err.msg, "UTF-8"), "first failure wins");
	strcpy(h.err.msg, "earlier error");
	g = jgen_new();
	jgen_key(g, "k");
	ok(jgen_finish(g, NULL) == OCIKP_INTERNAL && !strcmp(h.err.msg, "earlier error"),
	   "jgen_finish(g, NULL) frees without reporting");
	buf_free(&out);
}

/* Number literals against RFC 8259 §6. */
static int number_ok(const char *lit)
{
	struct ocikp_buf out = { 0 };
	ocikp_jgen *g = jgen_new();
	int rc;

	jgen_number(g, lit, strlen(lit));
	rc = jgen_finish(g, &out);
	rc = rc == OCIKP_OK && !strcmp((char *)out.data, lit);
	buf_free(&out);
	return rc;
}

static void test_writers(void)
{
	static const char *const good[] = { "0", "-0", "7", "-12", "1.5", "0.25", "1e3", "1E+3",
					    "-2.5e-10", "123456789012345678901234567890" };
	static const char *const bad[] = { "", "-", "01", "-01", "1.", ".5", "+1", "1e", "1e+",
					   "NaN", "Infinity", "0x10", "1 ", " 1", "1,2", "1.2.3",
					   "--1", "1ee2" };
	struct ocikp_buf out = { 0 };
	ocikp_json *d = NULL;
	ocikp_jgen *g;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(number_ok(good[i]), "number '%s' accepted", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!number_ok(bad[i]), "number '%s' refused", bad[i]);

	g = jgen_new();
	jgen_map_open(g);
	jgen_key(g, "t");
	jgen_bool(g, 7);
	jgen_key(g, "f");
	jgen_bool(g, 0);
	jgen_key(g, "n");
	jgen_null(g);
	jgen_key(g, "x");
	jgen_number(g, "-1.5e3", 6);
	jgen_key(g, "a");
	jgen_array_open(g);
	jgen_array_close(g);
	jgen_key(g, "r");
	jgen_raw(g, " \n{\"k\": [1, \"\\u00e9\"]}\t", 22);
	jgen_key(g, "s");
	jgen_string(g, NULL, 0);
	jgen_map_close(g);
	ok(finish(g, &out) == OCIKP_OK &&
	   !strcmp(text(&out), "{\"t\":true,\"f\":false,\"n\":null,\"x\":-1.5e3,\"a\":[],"
		   "\"r\":{\"k\": [1, \"\\u00e9\"]},\"s\":\"\"}"),
	   "writers, raw copied verbatim (trimmed): %s", text(&out));

	g = jgen_new();
	jgen_array_open(g);
	jgen_raw(g, "1", 1);
	jgen_raw(g, "\"x\"", 3);
	jgen_raw(g, "[]", 2);
	jgen_array_close(g);
	ok(finish(g, &out) == OCIKP_OK && !strcmp(text(&out), "[1,\"x\",[]]"),
	   "raw values separated: %s", text(&out));
	g = jgen_new();
	jgen_raw(g, "{\"a\":", 5);
	ok(finish(g, &out) == OCIKP_BAD_INPUT && strstr(h.err.msg, "raw value: malformed JSON"),
	   "truncated raw refused: %s", h.err.msg);
	g = jgen_new();
	jgen_raw(g, "1 2", 3);
	ok(finish(g, &out) == OCIKP_BAD_INPUT, "two raw values refused");
	g = jgen_new();
	jgen_raw(g, "", 0);
	ok(finish(g, &out) == OCIKP_BAD_INPUT, "empty raw refused");
	g = jgen_new();
	jgen_raw(g, "[\"\\u0000\"]", 10);
	ok(finish(g, &out) == OCIKP_BAD_INPUT && strstr(h.err.msg, "NUL"), "raw with NUL refused");
	g = jgen_new();
	jgen_raw(g, "[\"\xff\"]", 5);
	ok(finish(g, &out) == OCIKP_BAD_INPUT, "raw with invalid UTF-8 refused");
	g = jgen_new();
	jgen_raw(g, "/*c*/1", 6);
	ok(finish(g, &out) == OCIKP_BAD_INPUT, "raw with a comment refused");
	g = jgen_new();
	jgen_map_open(g);
	jgen_raw(g, "\"k\"", 3);
	ok(finish(g, &out) == OCIKP_INTERNAL, "raw in key position refused");

	/* jgen_value re-emits every type, keys and number literals intact. */
	ok(parse("{\"a\":[true,false,null,-0.5E2,\"\\\"\"],\"\":{}}", &d) == OCIKP_OK, "parsed");
	g = jgen_new();
	jgen_array_open(g);
	jgen_value(g, d);
	jgen_value(g, json_get(d, "a"));
	jgen_array_close(g);
	ok(finish(g, &out) == OCIKP_OK &&
	   !strcmp(text(&out), "[{\"a\":[true,false,null,-0.5E2,\"\\\"\"],\"\":{}},"
		   "[true,false,null,-0.5E2,\"\\\"\"]]"), "jgen_value: %s", text(&out));
	json_free(d);

	/* Deep but legal: the writer takes what the parser took, and more. */
	g = jgen_new();
	for (i = 0; i < 100; i++)
		jgen_array_open(g);
	for (i = 0; i < 100; i++)
		jgen_array_close(g);
	ok(finish(g, &out) == OCIKP_OK && out.len == 200, "100 levels written");
	g = jgen_new();
	for (i = 0; i < 101; i++)
		jgen_array_open(g);
	ok(finish(g, &out) == OCIKP_INTERNAL && strstr(h.err.msg, "deeper"), "101 levels refused: %s",
	   h.err.msg);

	/* Appends to what out holds, and out stays a C string. */
	buf_free(&out);
	buf_append(&out, "x", 1);
	g = jgen_new();
	jgen_string(g, "", 0);
	ok(jgen_finish(g, &out) == OCIKP_OK && !strcmp(text(&out), "x\"\""), "appends: %s", text(&out));
	buf_free(&out);
}

int main(void)
{
	ocikp_json *d = NULL;
	struct ocikp_buf out = { 0 };
	ocikp_jgen *g;
	char deep[200];
	int i;

	host_ctx_init(&root.pub, &h, NULL);
	ctx_enter(&root.pub);	/* jgen_finish reports against the current ctx */
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
	test_nul();
	test_count();
	test_reading();
	test_reasons();
	test_writers();
	return tap_done();
}
