/*
 * Memory that may hold key material.  Every release cleanses: free()
 * wipes all the allocator reserved for the block (malloc_usable_size: at
 * least what was asked), and buffers never realloc in place (that could
 * leave a stale copy behind).  No size header of our own: OpenSSL routes
 * its thousands of small start-up blocks through here (host/alloc.c), and
 * 16 bytes more on each cost an exec about 120 KiB of heap, and the page
 * faults that go with it.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "ocikp.h"

/* Never NULL for 0 bytes: a caller may take NULL for "out of memory".
 * A size no allocator can serve is refused here, before a sanitizer's
 * malloc aborts on it. */
void *secure_malloc(size_t n)
{
	if (n > PTRDIFF_MAX)
		return NULL;
	return malloc(n ? n : 1);
}

void secure_free(void *p)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
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
	old = malloc_usable_size(p);
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
