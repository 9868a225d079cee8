/*
 * Memory that may hold key material.  Every release cleanses: the allocator
 * keeps each block's size in a header so free() knows what to wipe, and
 * buffers never realloc in place (that could leave a stale copy behind).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "ocikp.h"

/* Header keeps the payload max_align_t aligned. */
union sec_header {
	size_t size;
	max_align_t align;
};

void *secure_malloc(size_t n)
{
	union sec_header *h;

	if (n > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + n);
	if (!h)
		return NULL;
	h->size = n;
	return h + 1;
}

void secure_free(void *p)
{
	union sec_header *h;

	if (!p)
		return;
	h = (union sec_header *)p - 1;
	OPENSSL_cleanse(p, h->size);
	free(h);
}

void *secure_realloc(void *p, size_t n)
{
	void *q;
	size_t old;

	if (!p)
		return secure_malloc(n);
	q = secure_malloc(n);
	if (!q)
		return NULL;
	old = ((union sec_header *)p - 1)->size;
	memcpy(q, p, old < n ? old : n);
	secure_free(p);
	return q;
}

char *secure_strndup(const char *s, size_t n)
{
	char *d = secure_malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Grow so that n more bytes plus the NUL fit. */
static int buf_grow(struct ocikp_buf *buf, size_t n)
{
	size_t need, cap;
	unsigned char *data;

	if (n > SIZE_MAX - buf->len - 1)
		return OCIKP_INTERNAL;
	need = buf->len + n + 1;
	if (need <= buf->cap)
		return OCIKP_OK;
	cap = buf->cap ? buf->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	data = secure_realloc(buf->data, cap);
	if (!data)
		return OCIKP_INTERNAL;
	buf->data = data;
	buf->cap = cap;
	return OCIKP_OK;
}

unsigned char *buf_extend(struct ocikp_buf *buf, size_t n)
{
	unsigned char *p;

	if (buf_grow(buf, n) != OCIKP_OK)
		return NULL;
	p = buf->data + buf->len;
	memset(p, 0, n + 1);
	buf->len += n;
	return p;
}

int buf_append(struct ocikp_buf *buf, const void *data, size_t n)
{
	unsigned char *p = buf_extend(buf, n);

	if (!p)
		return OCIKP_INTERNAL;
	if (n)
		memcpy(p, data, n);
	return OCIKP_OK;
}

int buf_printf(struct ocikp_buf *buf, const char *fmt, ...)
{
	va_list ap;
	int n;
	unsigned char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(p = buf_extend(buf, (size_t)n)))
		return OCIKP_INTERNAL;
	va_start(ap, fmt);
	vsnprintf((char *)p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return OCIKP_OK;
}

void buf_free(struct ocikp_buf *buf)
{
	secure_free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}

char *secure_strdup(const char *s)
{
	return secure_strndup(s, strlen(s));
}

void *secure_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	p = secure_malloc(nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}
