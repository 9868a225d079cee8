/*
 * A small read-only JSON tree and a generator, both over yajl.
 *
 * yajl_tree_parse() cannot take an allocator, and its nodes and lexer buffer
 * would keep base64 key material in freed heap.  So the tree is built here
 * from yajl's callback parser, and every byte of parser, tree and generator
 * memory comes from the cleansing allocator.
 */
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include "ocikp.h"

#define JSON_MAX_DEPTH 64

struct ocikp_json {
	enum ocikp_json_type type;
	char *text;		/* string value or number literal, NUL-terminated */
	size_t len;
	struct ocikp_json **items;	/* array items or object values */
	char **keys;		/* object keys, parallel to items */
	size_t n, cap;
};

static void *sec_malloc(void *ctx, size_t n) { (void)ctx; return secure_malloc(n); }
static void *sec_realloc(void *ctx, void *p, size_t n) { (void)ctx; return secure_realloc(p, n); }
static void sec_free(void *ctx, void *p) { (void)ctx; secure_free(p); }
static yajl_alloc_funcs sec_alloc = { sec_malloc, sec_realloc, sec_free, NULL };

void json_free(ocikp_json *node)
{
	size_t i;

	if (!node)
		return;
	for (i = 0; i < node->n; i++) {
		json_free(node->items[i]);
		if (node->keys)
			secure_free(node->keys[i]);
	}
	secure_free(node->items);
	secure_free(node->keys);
	secure_free(node->text);
	secure_free(node);
}

/* ---- parsing ----------------------------------------------------------------- */

struct builder {
	ocikp_json *root;
	ocikp_json *stack[JSON_MAX_DEPTH];
	size_t depth;
	char *pending_key;	/* the key awaiting its value */
	bool too_deep, no_memory;
};

static ocikp_json *node_new(enum ocikp_json_type type)
{
	ocikp_json *n = secure_malloc(sizeof(*n));

	if (n) {
		memset(n, 0, sizeof(*n));
		n->type = type;
	}
	return n;
}

/* Attach a new node to the current container (or make it the root). */
static int attach(struct builder *b, ocikp_json *node)
{
	ocikp_json *parent;
	size_t cap;

	if (!node) {
		b->no_memory = true;
		return 0;
	}
	if (b->depth == 0) {
		b->root = node;
		return 1;
	}
	parent = b->stack[b->depth - 1];
	if (parent->n == parent->cap) {
		cap = parent->cap ? parent->cap * 2 : 4;
		ocikp_json **items = secure_realloc(parent->items, cap * sizeof(*items));
		if (!items)
			goto oom;
		parent->items = items;
		if (parent->type == OCIKP_JSON_OBJECT) {
			char **keys = secure_realloc(parent->keys, cap * sizeof(*keys));
			if (!keys)
				goto oom;
			parent->keys = keys;
		}
		parent->cap = cap;
	}
	if (parent->type == OCIKP_JSON_OBJECT) {
		parent->keys[parent->n] = b->pending_key;
		b->pending_key = NULL;
	}
	parent->items[parent->n++] = node;
	return 1;
oom:
	json_free(node);
	b->no_memory = true;
	return 0;
}

static int scalar(struct builder *b, enum ocikp_json_type type, const char *text, size_t len)
{
	ocikp_json *n = node_new(type);

	if (n && text) {
		n->text = secure_strndup(text, len);
		n->len = len;
		if (!n->text) {
			json_free(n);
			n = NULL;
		}
	}
	return attach(b, n);
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
static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
	return scalar(ctx, OCIKP_JSON_STRING, (const char *)s, len);
}

static int open_container(struct builder *b, enum ocikp_json_type type)
{
	ocikp_json *n;

	if (b->depth == JSON_MAX_DEPTH) {
		b->too_deep = true;
		return 0;
	}
	n = node_new(type);
	if (!attach(b, n))
		return 0;
	b->stack[b->depth++] = n;
	return 1;
}

static int cb_start_map(void *ctx) { return open_container(ctx, OCIKP_JSON_OBJECT); }
static int cb_start_array(void *ctx) { return open_container(ctx, OCIKP_JSON_ARRAY); }
static int cb_end(void *ctx) { ((struct builder *)ctx)->depth--; return 1; }

static int cb_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct builder *b = ctx;

	secure_free(b->pending_key);
	b->pending_key = secure_strndup((const char *)key, len);
	if (!b->pending_key)
		b->no_memory = true;
	return b->pending_key != NULL;
}

static const yajl_callbacks parse_callbacks = {
	cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
	cb_start_map, cb_map_key, cb_end, cb_start_array, cb_end
};

int json_parse(struct ocikp_ctx *ctx, const char *what, const void *text, size_t len,
	       ocikp_json **out)
{
	struct builder b;
	yajl_handle h;
	yajl_status st;
	int rc = OCIKP_OK;

	memset(&b, 0, sizeof(b));
	*out = NULL;
	h = yajl_alloc(&parse_callbacks, &sec_alloc, &b);
	if (!h)
		return OCIKP_INTERNAL;
	st = yajl_parse(h, text, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (b.no_memory) {
		rc = OCIKP_INTERNAL;
	} else if (b.too_deep) {
		err_set(ctx, "%s: JSON nested deeper than %d levels", what, JSON_MAX_DEPTH);
		rc = OCIKP_BAD_INPUT;
	} else if (st != yajl_status_ok || !b.root) {
		/* Not verbose: the verbose form quotes input, which may be secret. */
		unsigned char *msg = yajl_get_error(h, 0, text, len);
		char *nl = msg ? strchr((char *)msg, '\n') : NULL;
		if (nl)
			*nl = '\0';
		err_set(ctx, "%s: malformed JSON (%s)", what, msg ? (char *)msg : "empty");
		if (msg)
			yajl_free_error(h, msg);
		rc = OCIKP_BAD_INPUT;
	}
	yajl_free(h);
	secure_free(b.pending_key);
	if (rc == OCIKP_OK)
		*out = b.root;
	else
		json_free(b.root);
	return rc;
}

/* ---- reading ----------------------------------------------------------------- */

enum ocikp_json_type json_type(const ocikp_json *node)
{
	return node ? node->type : OCIKP_JSON_ABSENT;
}

/* The last of duplicate keys wins, as in Go's encoding/json. */
const ocikp_json *json_get(const ocikp_json *object, const char *key)
{
	size_t i;

	if (!object || object->type != OCIKP_JSON_OBJECT)
		return NULL;
	for (i = object->n; i-- > 0;)
		if (strcmp(object->keys[i], key) == 0)
			return object->items[i];
	return NULL;
}

const char *json_string(const ocikp_json *node)
{
	return node && node->type == OCIKP_JSON_STRING ? node->text : NULL;
}

const char *json_number(const ocikp_json *node)
{
	return node && node->type == OCIKP_JSON_NUMBER ? node->text : "";
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
	return node && node->type == OCIKP_JSON_OBJECT && i < node->n ? node->keys[i] : NULL;
}

const ocikp_json *json_object_value_at(const ocikp_json *node, size_t i)
{
	return node && node->type == OCIKP_JSON_OBJECT && i < node->n ? node->items[i] : NULL;
}

/* ---- writing ----------------------------------------------------------------- */

struct ocikp_jgen {
	yajl_gen gen;
	int status;	/* first failure, or OCIKP_OK */
};

ocikp_jgen *jgen_new(void)
{
	ocikp_jgen *g = secure_malloc(sizeof(*g));

	if (!g)
		return NULL;
	g->status = OCIKP_OK;
	g->gen = yajl_gen_alloc(&sec_alloc);
	if (!g->gen) {
		secure_free(g);
		return NULL;
	}
	yajl_gen_config(g->gen, yajl_gen_validate_utf8, 1);
	return g;
}

static void jgen_check(ocikp_jgen *g, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok && g->status == OCIKP_OK)
		g->status = st == yajl_gen_invalid_string ? OCIKP_BAD_INPUT : OCIKP_INTERNAL;
}

#define JGEN_CALL(g, call) do { if ((g) && (g)->status == OCIKP_OK) jgen_check((g), (call)); } while (0)

void jgen_map_open(ocikp_jgen *g) { JGEN_CALL(g, yajl_gen_map_open(g->gen)); }
void jgen_map_close(ocikp_jgen *g) { JGEN_CALL(g, yajl_gen_map_close(g->gen)); }
void jgen_array_open(ocikp_jgen *g) { JGEN_CALL(g, yajl_gen_array_open(g->gen)); }
void jgen_array_close(ocikp_jgen *g) { JGEN_CALL(g, yajl_gen_array_close(g->gen)); }
void jgen_int(ocikp_jgen *g, long long v) { JGEN_CALL(g, yajl_gen_integer(g->gen, v)); }

void jgen_bool(ocikp_jgen *g, int v) { JGEN_CALL(g, yajl_gen_bool(g->gen, v != 0)); }
void jgen_null(ocikp_jgen *g) { JGEN_CALL(g, yajl_gen_null(g->gen)); }

void jgen_number(ocikp_jgen *g, const char *literal, size_t len)
{
	JGEN_CALL(g, yajl_gen_number(g->gen, literal, len));
}

void jgen_raw(ocikp_jgen *g, const char *json, size_t len)
{
	ocikp_json *doc = NULL;

	if (!g || g->status != OCIKP_OK)
		return;
	if (json_parse(NULL, "raw JSON", json, len, &doc) != OCIKP_OK) {
		g->status = OCIKP_BAD_INPUT;
		return;
	}
	jgen_value(g, doc);
	json_free(doc);
}

void jgen_key(ocikp_jgen *g, const char *key)
{
	JGEN_CALL(g, yajl_gen_string(g->gen, (const unsigned char *)key, strlen(key)));
}

void jgen_string(ocikp_jgen *g, const char *s, size_t len)
{
	JGEN_CALL(g, yajl_gen_string(g->gen, (const unsigned char *)s, len));
}

void jgen_b64(ocikp_jgen *g, const void *data, size_t len)
{
	struct ocikp_buf text = { 0 };

	if (!g || g->status != OCIKP_OK)
		return;
	if (b64_encode(data, len, 0, &text) != OCIKP_OK)
		g->status = OCIKP_INTERNAL;
	else
		jgen_string(g, (const char *)text.data, text.len);
	buf_free(&text);
}

void jgen_value(ocikp_jgen *g, const ocikp_json *node)
{
	size_t i;

	switch (json_type(node)) {
	case OCIKP_JSON_NULL: JGEN_CALL(g, yajl_gen_null(g->gen)); break;
	case OCIKP_JSON_TRUE: JGEN_CALL(g, yajl_gen_bool(g->gen, 1)); break;
	case OCIKP_JSON_FALSE: JGEN_CALL(g, yajl_gen_bool(g->gen, 0)); break;
	case OCIKP_JSON_NUMBER: JGEN_CALL(g, yajl_gen_number(g->gen, node->text, node->len)); break;
	case OCIKP_JSON_STRING: jgen_string(g, node->text, node->len); break;
	case OCIKP_JSON_ARRAY:
		jgen_array_open(g);
		for (i = 0; i < node->n; i++)
			jgen_value(g, node->items[i]);
		jgen_array_close(g);
		break;
	case OCIKP_JSON_OBJECT:
		jgen_map_open(g);
		for (i = 0; i < node->n; i++) {
			jgen_key(g, node->keys[i]);
			jgen_value(g, node->items[i]);
		}
		jgen_map_close(g);
		break;
	case OCIKP_JSON_ABSENT:
		if (g && g->status == OCIKP_OK)
			g->status = OCIKP_INTERNAL;
		break;
	}
}

int jgen_finish(ocikp_jgen *g, struct ocikp_buf *out)
{
	const unsigned char *text;
	size_t len;
	int rc;

	if (!g)
		return OCIKP_INTERNAL;
	rc = g->status;
	if (rc == OCIKP_OK) {
		if (yajl_gen_get_buf(g->gen, &text, &len) != yajl_gen_status_ok)
			rc = OCIKP_INTERNAL;
		else
			rc = buf_append(out, text, len);
	}
	yajl_gen_free(g->gen);
	secure_free(g);
	return rc;
}
