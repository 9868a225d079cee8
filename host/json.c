/*
 * A small read-only JSON tree and a generator, both over yajl.
 *
 * yajl_tree_parse() cannot take an allocator, and its nodes and lexer buffer
 * would keep base64 key material in freed heap.  So the tree is built here
 * from yajl's callback parser, and every byte of parser, tree and generator
 * memory comes from the cleansing allocator.
 */
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include "ocikp.h"

#define JSON_MAX_DEPTH 64

/*
 * At most this many values (scalars and containers) per document.  Without
 * a bound, a 1 MiB request of tiny values ("[[],[],...]": 3 bytes each)
 * became ~350k nodes and ~96 MB of heap.  Every protocol we speak holds a
 * few dozen values (a request, an annotation, an envelope of recipients, a
 * token or key-service reply), so 16384 leaves a wide margin while keeping
 * a tree at ~100 bytes a value under 2 MiB: a small multiple of the 1 MiB
 * request cap.  Measured peak RSS of `ocikp` on the worst 1 MiB requests
 * (/usr/bin/time -v): 96 MB before, see the commit message and report for
 * the figures after.
 */
#define JSON_MAX_VALUES 16384

/* One allocation per node: the struct, then its text (string value or
 * number literal, "" for others), then its key when it is an object member.
 * Keys live in the child, so a container holds just an array of pointers. */
struct ocikp_json {
	enum ocikp_json_type type;
	unsigned n, cap;		/* array items or object members */
	size_t len;			/* text length */
	const char *key;		/* member key (NUL-free), or NULL */
	struct ocikp_json **items;	/* children in document order */
};

static char *node_text(const ocikp_json *node)
{
	return (char *)(node + 1);
}

static void *sec_malloc(void *ctx, size_t n) { (void)ctx; return secure_malloc(n); }
static void *sec_realloc(void *ctx, void *p, size_t n) { (void)ctx; return secure_realloc(p, n); }
static void sec_free(void *ctx, void *p) { (void)ctx; secure_free(p); }
static yajl_alloc_funcs sec_alloc = { sec_malloc, sec_realloc, sec_free, NULL };

void json_free(ocikp_json *node)
{
	size_t i;

	if (!node)
		return;
	for (i = 0; i < node->n; i++)
		json_free(node->items[i]);
	secure_free(node->items);
	secure_free(node);
}

/* ---- parsing ----------------------------------------------------------------- */

enum parse_fail { PF_NONE, PF_MEMORY, PF_DEPTH, PF_COUNT, PF_NUL };

struct builder {
	ocikp_json *root;
	ocikp_json *stack[JSON_MAX_DEPTH];
	size_t depth, count;
	struct ocikp_buf key;	/* the key awaiting its value */
	bool have_key;
	bool tree;		/* false: only validate (jgen_raw) */
	enum parse_fail fail;
};

static int fail(struct builder *b, enum parse_fail why)
{
	b->fail = why;
	return 0;
}

/* A new node with its text and pending key copied in. */
static ocikp_json *node_new(struct builder *b, enum ocikp_json_type type, const char *text,
			    size_t len)
{
	size_t klen = b->have_key ? b->key.len + 1 : 0;
	ocikp_json *n;
	char *p;

	if (len > SIZE_MAX / 2 - sizeof(*n) - klen)
		return NULL;
	n = secure_malloc(sizeof(*n) + len + 1 + klen);
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->len = len;
	p = node_text(n);
	if (len)
		memcpy(p, text, len);
	p[len] = '\0';
	if (klen) {
		memcpy(p + len + 1, b->key.data, klen);
		n->key = p + len + 1;
	}
	return n;
}

/* Count a value, and unless only validating, make its node and attach it
 * to the current container (or make it the root). */
static int attach(struct builder *b, enum ocikp_json_type type, const char *text, size_t len,
		  ocikp_json **out)
{
	ocikp_json *parent, *node;

	if (++b->count > JSON_MAX_VALUES)
		return fail(b, PF_COUNT);
	if (!b->tree) {
		b->have_key = false;
		return 1;
	}
	node = node_new(b, type, text, len);
	if (!node)
		return fail(b, PF_MEMORY);
	b->have_key = false;
	if (b->depth == 0) {
		b->root = node;
	} else {
		parent = b->stack[b->depth - 1];
		if (parent->n == parent->cap) {
			unsigned cap = parent->cap ? parent->cap * 2 : 4;
			ocikp_json **items = secure_realloc(parent->items, cap * sizeof(*items));
			if (!items) {
				json_free(node);
				return fail(b, PF_MEMORY);
			}
			parent->items = items;
			parent->cap = cap;
		}
		parent->items[parent->n++] = node;
	}
	if (out)
		*out = node;
	return 1;
}

static int scalar(struct builder *b, enum ocikp_json_type type, const char *text, size_t len)
{
	return attach(b, type, text, len, NULL);
}

static int cb_null(void *ctx) { return scalar(ctx, OCIKP_JSON_NULL, NULL, 0); }
static int cb_bool(void *ctx, int v)
{
	return scalar(ctx, v ? OCIKP_JSON_TRUE : OCIKP_JSON_FALSE, NULL, 0);
}
static int cb_number(void *ctx, const char *s, size_t len)
{
	return scalar(ctx, OCIKP_JSON_NUMBER, s, len);
}

/* Our protocols carry only base64, URLs and names, never a NUL.  Refused,
 * because a C-string compare would otherwise read "keyunwrap\u0000x" as
 * "keyunwrap" and let a key "key_url\u0000" shadow "key_url", so that we
 * and Go's encoding/json would read one annotation differently. */
static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
	if (memchr(s, 0, len))
		return fail(ctx, PF_NUL);
	return scalar(ctx, OCIKP_JSON_STRING, (const char *)s, len);
}

static int cb_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct builder *b = ctx;

	if (memchr(key, 0, len))
		return fail(b, PF_NUL);
	b->key.len = 0;
	if (buf_append(&b->key, key, len) != OCIKP_OK)
		return fail(b, PF_MEMORY);
	b->have_key = true;
	return 1;
}

static int open_container(struct builder *b, enum ocikp_json_type type)
{
	ocikp_json *n = NULL;

	if (b->depth == JSON_MAX_DEPTH)
		return fail(b, PF_DEPTH);
	if (!attach(b, type, NULL, 0, &n))
		return 0;
	b->stack[b->depth++] = n;
	return 1;
}

static int cb_start_map(void *ctx) { return open_container(ctx, OCIKP_JSON_OBJECT); }
static int cb_start_array(void *ctx) { return open_container(ctx, OCIKP_JSON_ARRAY); }
static int cb_end(void *ctx) { ((struct builder *)ctx)->depth--; return 1; }

static const yajl_callbacks parse_callbacks = {
	cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
	cb_start_map, cb_map_key, cb_end, cb_start_array, cb_end
};

/* Parse (or, without `out`, only check) one JSON text.  On failure the
 * cause goes to why[] and no node is left. */
static int parse(const void *text, size_t len, ocikp_json **out, char *why, size_t size)
{
	struct builder b;
	yajl_handle h;
	yajl_status st;
	int rc = OCIKP_BAD_INPUT;

	memset(&b, 0, sizeof(b));
	b.tree = out != NULL;
	h = yajl_alloc(&parse_callbacks, &sec_alloc, &b);
	if (!h) {
		snprintf(why, size, "out of memory");
		return OCIKP_INTERNAL;
	}
	st = yajl_parse(h, text, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	switch (b.fail) {
	case PF_MEMORY:
		snprintf(why, size, "out of memory");
		rc = OCIKP_INTERNAL;
		break;
	case PF_DEPTH:
		snprintf(why, size, "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
		break;
	case PF_COUNT:
		snprintf(why, size, "JSON holds more than %d values", JSON_MAX_VALUES);
		break;
	case PF_NUL:
		snprintf(why, size, "a JSON string or key holds a NUL (\\u0000)");
		break;
	case PF_NONE:
		if (st == yajl_status_ok && b.count > 0) {
			rc = OCIKP_OK;
		} else {
			/* Not verbose: the verbose form quotes input, which may be secret. */
			unsigned char *msg = yajl_get_error(h, 0, text, len);
			char *nl = msg ? strchr((char *)msg, '\n') : NULL;
			if (nl)
				*nl = '\0';
			snprintf(why, size, "malformed JSON (%s)", msg ? (char *)msg : "empty");
			if (msg)
				yajl_free_error(h, msg);
		}
		break;
	}
	yajl_free(h);
	buf_free(&b.key);
	if (rc == OCIKP_OK && out)
		*out = b.root;
	else
		json_free(b.root);
	return rc;
}

int json_parse(struct ocikp_ctx *ctx, const char *what, const void *text, size_t len,
	       ocikp_json **out)
{
	char why[160];
	int rc;

	*out = NULL;
	rc = parse(text, len, out, why, sizeof(why));
	if (rc != OCIKP_OK)
		err_set(ctx, "%s: %s", what, why);
	return rc;
}

/* ---- reading ----------------------------------------------------------------- */

enum ocikp_json_type json_type(const ocikp_json *node)
{
	return node ? node->type : OCIKP_JSON_ABSENT;
}

/* The last of duplicate keys wins, as in Go's encoding/json.  Keys hold no
 * NUL (refused by the parser), so strcmp compares them whole. */
const ocikp_json *json_get(const ocikp_json *object, const char *key)
{
	size_t i;

	if (!object || object->type != OCIKP_JSON_OBJECT || !key)
		return NULL;
	for (i = object->n; i-- > 0;)
		if (strcmp(object->items[i]->key, key) == 0)
			return object->items[i];
	return NULL;
}

const char *json_string(const ocikp_json *node)
{
	return node && node->type == OCIKP_JSON_STRING ? node_text(node) : NULL;
}

const char *json_number(const ocikp_json *node)
{
	return node && node->type == OCIKP_JSON_NUMBER ? node_text(node) : "";
}

size_t json_string_len(const ocikp_json *node)
{
	return node && node->type == OCIKP_JSON_STRING ? node->len : 0;
}

size_t json_array_len(const ocikp_json *node)
{
	return node && node->type == OCIKP_JSON_ARRAY ? node->n : 0;
}

const ocikp_json *json_array_at(const ocikp_json *node, size_t i)
{
	return node && node->type == OCIKP_JSON_ARRAY && i < node->n ? node->items[i] : NULL;
}

size_t json_object_len(const ocikp_json *node)
{
	return node && node->type == OCIKP_JSON_OBJECT ? node->n : 0;
}

const char *json_object_key_at(const ocikp_json *node, size_t i)
{
	return node && node->type == OCIKP_JSON_OBJECT && i < node->n ? node->items[i]->key : NULL;
}

const ocikp_json *json_object_value_at(const ocikp_json *node, size_t i)
{
	return node && node->type == OCIKP_JSON_OBJECT && i < node->n ? node->items[i] : NULL;
}

/* ---- writing ----------------------------------------------------------------- */

/* Below yajl's own limit (128), so its refusal never comes first. */
#define JGEN_MAX_DEPTH 100

/*
 * yajl checks little of the shape it is asked to write: a map_close closes
 * an array too, a string where a key belongs becomes the key, and an
 * unclosed container comes out as a truncated text.  So the generator keeps
 * its own stack and refuses misuse, recording the first failure and its
 * cause; jgen_finish reports it against the current ctx (the generator has
 * none of its own).
 */
struct ocikp_jgen {
	yajl_gen gen;
	int status;		/* first failure, or OCIKP_OK */
	char why[200];		/* its cause, for the error line */
	unsigned depth;
	bool in_object[JGEN_MAX_DEPTH];
	bool want_key;		/* inside an object, before a key */
	bool done;		/* a whole top-level value was written */
};

ocikp_jgen *jgen_new(void)
{
	ocikp_jgen *g = secure_malloc(sizeof(*g));

	if (!g)
		return NULL;
	memset(g, 0, sizeof(*g));
	g->status = OCIKP_OK;
	g->gen = yajl_gen_alloc(&sec_alloc);
	if (!g->gen) {
		secure_free(g);
		return NULL;
	}
	yajl_gen_config(g->gen, yajl_gen_validate_utf8, 1);
	return g;
}

static bool jgen_ok(const ocikp_jgen *g)
{
	return g && g->status == OCIKP_OK;
}

static OCIKP_PRINTF(3, 4) void jgen_fail(ocikp_jgen *g, int status, const char *fmt, ...)
{
	va_list ap;

	if (!jgen_ok(g))
		return;
	g->status = status;
	va_start(ap, fmt);
	vsnprintf(g->why, sizeof(g->why), fmt, ap);
	va_end(ap);
}

static void jgen_check(ocikp_jgen *g, yajl_gen_status st)
{
	switch (st) {
	case yajl_gen_status_ok:
		break;
	case yajl_gen_invalid_string:
		jgen_fail(g, OCIKP_BAD_INPUT, "a string is not valid UTF-8");
		break;
	case yajl_max_depth_exceeded:
		jgen_fail(g, OCIKP_INTERNAL, "nested deeper than %d levels", JGEN_MAX_DEPTH);
		break;
	case yajl_gen_invalid_number:
		jgen_fail(g, OCIKP_BAD_INPUT, "a number is not finite");
		break;
	default:	/* the shape checks below should have caught it first */
		jgen_fail(g, OCIKP_INTERNAL, "misuse of the generator (yajl status %d)", (int)st);
		break;
	}
}

/* Before a value: is one allowed here? */
static bool value_ok(ocikp_jgen *g)
{
	if (!jgen_ok(g))
		return false;
	if (g->done)
		jgen_fail(g, OCIKP_INTERNAL, "a second value after the top-level one");
	else if (g->depth > 0 && g->in_object[g->depth - 1] && g->want_key)
		jgen_fail(g, OCIKP_INTERNAL, "a value where an object key belongs");
	return jgen_ok(g);
}

/* After a whole value. */
static void value_done(ocikp_jgen *g)
{
	if (g->depth == 0)
		g->done = true;
	else if (g->in_object[g->depth - 1])
		g->want_key = true;
}

static void put_scalar(ocikp_jgen *g, yajl_gen_status st)
{
	jgen_check(g, st);
	if (jgen_ok(g))
		value_done(g);
}

static void jgen_open(ocikp_jgen *g, bool object)
{
	if (!value_ok(g))
		return;
	if (g->depth == JGEN_MAX_DEPTH) {
		jgen_fail(g, OCIKP_INTERNAL, "nested deeper than %d levels", JGEN_MAX_DEPTH);
		return;
	}
	jgen_check(g, object ? yajl_gen_map_open(g->gen) : yajl_gen_array_open(g->gen));
	if (!jgen_ok(g))
		return;
	g->in_object[g->depth++] = object;
	g->want_key = object;
}

static void jgen_close(ocikp_jgen *g, bool object)
{
	if (!jgen_ok(g))
		return;
	if (g->depth == 0 || g->in_object[g->depth - 1] != object) {
		jgen_fail(g, OCIKP_INTERNAL, "%s close without its open",
			  object ? "an object" : "an array");
		return;
	}
	if (object && !g->want_key) {
		jgen_fail(g, OCIKP_INTERNAL, "an object key without a value");
		return;
	}
	jgen_check(g, object ? yajl_gen_map_close(g->gen) : yajl_gen_array_close(g->gen));
	if (!jgen_ok(g))
		return;
	g->depth--;
	value_done(g);
}

void jgen_map_open(ocikp_jgen *g) { jgen_open(g, true); }
void jgen_map_close(ocikp_jgen *g) { jgen_close(g, true); }
void jgen_array_open(ocikp_jgen *g) { jgen_open(g, false); }
void jgen_array_close(ocikp_jgen *g) { jgen_close(g, false); }

void jgen_key(ocikp_jgen *g, const char *key)
{
	if (!jgen_ok(g))
		return;
	if (!key || g->depth == 0 || !g->in_object[g->depth - 1] || !g->want_key) {
		jgen_fail(g, OCIKP_INTERNAL, "%s", !key ? "a NULL key" :
			  g->depth > 0 && g->in_object[g->depth - 1] ? "two keys in a row" :
			  "a key outside an object");
		return;
	}
	jgen_check(g, yajl_gen_string(g->gen, (const unsigned char *)key, strlen(key)));
	if (jgen_ok(g))
		g->want_key = false;
}

void jgen_string(ocikp_jgen *g, const char *s, size_t len)
{
	if (!value_ok(g))
		return;
	if (!s && len) {
		jgen_fail(g, OCIKP_INTERNAL, "a NULL string");
		return;
	}
	if (s && memchr(s, '\0', len)) {	/* our own reader would refuse it */
		jgen_fail(g, OCIKP_BAD_INPUT, "a string holds a NUL");
		return;
	}
	put_scalar(g, yajl_gen_string(g->gen, (const unsigned char *)(s ? s : ""), len));
}

void jgen_int(ocikp_jgen *g, long long v)
{
	if (value_ok(g))
		put_scalar(g, yajl_gen_integer(g->gen, v));
}

void jgen_bool(ocikp_jgen *g, int v)
{
	if (value_ok(g))
		put_scalar(g, yajl_gen_bool(g->gen, v != 0));
}

void jgen_null(ocikp_jgen *g)
{
	if (value_ok(g))
		put_scalar(g, yajl_gen_null(g->gen));
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, nothing else
 * (yajl_gen_number writes whatever it is given). */
static bool number_valid(const char *s, size_t len)
{
	size_t i = 0, start;

	if (!s)
		return false;
	if (i < len && s[i] == '-')
		i++;
	if (i < len && s[i] == '0')
		i++;
	else if (i < len && s[i] >= '1' && s[i] <= '9')
		while (i < len && is_digit(s[i]))
			i++;
	else
		return false;
	if (i < len && s[i] == '.') {
		start = ++i;
		while (i < len && is_digit(s[i]))
			i++;
		if (i == start)
			return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		start = i;
		while (i < len && is_digit(s[i]))
			i++;
		if (i == start)
			return false;
	}
	return i == len;
}

void jgen_number(ocikp_jgen *g, const char *literal, size_t len)
{
	if (!value_ok(g))
		return;
	if (!number_valid(literal, len)) {
		jgen_fail(g, OCIKP_BAD_INPUT, "a number literal is not valid JSON");
		return;
	}
	put_scalar(g, yajl_gen_number(g->gen, literal, len));
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Checked by the parser (same rules and limits as json_parse, no tree),
 * then copied as is: yajl_gen_number is yajl's one way to write text
 * verbatim, and it puts the separator in and refuses it in key position. */
void jgen_raw(ocikp_jgen *g, const char *json, size_t len)
{
	char why[160];
	int rc;

	if (!value_ok(g))
		return;
	if (!json) {
		jgen_fail(g, OCIKP_INTERNAL, "a NULL raw value");
		return;
	}
	rc = parse(json, len, NULL, why, sizeof(why));
	if (rc != OCIKP_OK) {
		jgen_fail(g, rc, "raw value: %s", why);
		return;
	}
	while (len > 0 && is_space(json[0]))
		json++, len--;
	while (len > 0 && is_space(json[len - 1]))
		len--;
	put_scalar(g, yajl_gen_number(g->gen, json, len));
}

void jgen_b64(ocikp_jgen *g, const void *data, size_t len)
{
	struct ocikp_buf text = { 0 };

	if (!value_ok(g))
		return;
	if (b64_encode(data, len, 0, &text) != OCIKP_OK)
		jgen_fail(g, OCIKP_INTERNAL, "out of memory");
	else
		jgen_string(g, (const char *)text.data, text.len);
	buf_free(&text);
}

void jgen_value(ocikp_jgen *g, const ocikp_json *node)
{
	size_t i;

	switch (json_type(node)) {
	case OCIKP_JSON_NULL: jgen_null(g); break;
	case OCIKP_JSON_TRUE: jgen_bool(g, 1); break;
	case OCIKP_JSON_FALSE: jgen_bool(g, 0); break;
	case OCIKP_JSON_NUMBER: jgen_number(g, node_text(node), node->len); break;
	case OCIKP_JSON_STRING: jgen_string(g, node_text(node), node->len); break;
	case OCIKP_JSON_ARRAY:
		jgen_array_open(g);
		for (i = 0; i < node->n; i++)
			jgen_value(g, node->items[i]);
		jgen_array_close(g);
		break;
	case OCIKP_JSON_OBJECT:
		jgen_map_open(g);
		for (i = 0; i < node->n; i++) {
			jgen_key(g, node->items[i]->key);
			jgen_value(g, node->items[i]);
		}
		jgen_map_close(g);
		break;
	case OCIKP_JSON_ABSENT:
		jgen_fail(g, OCIKP_INTERNAL, "an absent (NULL) node as a value");
		break;
	}
}

/* Append the text to out, or report why not; the generator is freed
 * either way.  out is left as it was on failure.  With out NULL the
 * generator is only freed, reporting nothing: a caller that gives up on
 * an error of its own keeps that error. */
int jgen_finish(ocikp_jgen *g, struct ocikp_buf *out)
{
	const unsigned char *text;
	size_t len;
	int rc;

	if (!g) {
		if (out)
			err_set(ctx_current(), "cannot write JSON: out of memory");
		return OCIKP_INTERNAL;
	}
	if (!out) {
		rc = g->status;
		yajl_gen_free(g->gen);
		secure_free(g);
		return rc;
	}
	if (g->status == OCIKP_OK && !g->done)
		jgen_fail(g, OCIKP_INTERNAL, "%s", g->depth ? "an object or array left open" :
			  "no value written");
	rc = g->status;
	if (rc == OCIKP_OK) {
		if (yajl_gen_get_buf(g->gen, &text, &len) != yajl_gen_status_ok)
			jgen_fail(g, OCIKP_INTERNAL, "no output from yajl");
		else if (buf_append(out, text, len) != OCIKP_OK)
			jgen_fail(g, OCIKP_INTERNAL, "out of memory");
		rc = g->status;
	}
	if (rc != OCIKP_OK)
		err_set(ctx_current(), "cannot write JSON: %s", g->why);
	yajl_gen_free(g->gen);
	secure_free(g);
	return rc;
}
