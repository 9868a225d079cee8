/*
 * The secrets test's control: proves the shim finds what it is meant to.
 * leaky MODE HEX: puts the bytes of HEX in memory and
 *   free-dirty   frees the block without cleansing it   (a hit at free)
 *   free-clean   cleanses it first                      (no hit)
 *   keep         leaves it in a live heap block at exit (a hit at exit)
 *   stack        leaves it in a dead stack frame        (a hit at exit)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

static size_t unhex(const char *hex, unsigned char *out, size_t max)
{
	size_t n = 0;
	unsigned int b;

	while (n < max && sscanf(hex + 2 * n, "%2x", &b) == 1)
		out[n++] = (unsigned char)b;
	return n;
}

/* The bytes live only in a frame 32 KiB down the stack, dead once it
 * returns, and deeper than the exit path will reach and overwrite. */
static __attribute__((noinline)) void in_stack_frame(const char *hex, int depth)
{
	volatile unsigned char frame[1024];

	if (depth > 0) {
		frame[0] = (unsigned char)depth;
		in_stack_frame(hex, depth - 1);
		frame[1] = frame[0];	/* not a tail call: keep each frame */
		return;
	}
	unhex(hex, (unsigned char *)frame, sizeof(frame));
	__asm__ volatile("" : : "r"(frame) : "memory");	/* the stores happen */
}

/* Global, so the block stays reachable (not a leak) until exit. */
unsigned char *kept;

int main(int argc, char **argv)
{
	unsigned char *p;
	size_t n;

	if (argc != 3)
		return 2;
	/* The hex form is in argv: only the decoded bytes are searched for. */
	if (!strcmp(argv[1], "stack")) {
		in_stack_frame(argv[2], 32);
		return 0;
	}
	p = malloc(256);
	if (!p)
		return 1;
	n = unhex(argv[2], p, 256);
	if (!strcmp(argv[1], "free-clean"))
		OPENSSL_cleanse(p, n);
	if (!strcmp(argv[1], "keep"))
		kept = p;
	else
		free(p);
	return 0;
}
