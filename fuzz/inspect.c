/* Target: `ocikp inspect` (host/admin.c admin_inspect): the whitespace
 * trim, the base64-or-JSON choice, the annotation or envelope JSON, and
 * describe() with the escaping of host/text.c.  The input is the file
 * inspect is given, read through the same request_read as on the command
 * line, so a NUL or any byte reaches it as it would from a registry.
 *
 * Beyond crashes, the target checks text_escape's promise: what inspect
 * prints on success is valid UTF-8 with no control character but the
 * newlines that end its own lines (no C0 but \n, no DEL, no C1, no line or
 * paragraph separator, no bidirectional control), so a finding is a line
 * forged or an escape sequence reaching a terminal, not only a crash.
 *
 * The file is a memfd, named by its /proc path: a file on a disk costs
 * each run a truncation and a write-back.
 *
 * The drop-in routes a few schemes (one opaque), so the scheme and backend
 * lines take every branch; no module is loaded. */
#include <stdbool.h>
#include <sys/mman.h>
#include "fuzz.h"

static const char dropin[] =
	"backend = sample\nmodule = ocikp-sample.so\nschemes = sample\n"
	"backend = tpm\nmodule = ocikp-tpm.so\nschemes = tpm\n"
	"backend = pkcs11\nmodule = ocikp-pkcs11.so\nopaque_schemes = pkcs11\n"
	"backend = kbs\nmodule = ocikp-kbs.so\nschemes = kbs\n";

static char path[64];

/* The length of the UTF-8 sequence at s and its code point; 0 if invalid. */
static size_t utf8_at(const unsigned char *s, size_t n, unsigned long *cp)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 :
		     s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	size_t i;

	if (!len || len > n)
		return 0;
	*cp = len == 1 ? s[0] : s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && *cp < 0x800) || (len == 4 && *cp < 0x10000) || *cp > 0x10ffff ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

static bool shown_as_is(unsigned long cp)
{
	if (cp == '\n')
		return true;
	return !(cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
		 (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
		 cp == 0x2028 || cp == 0x2029);
}

static void check_printable(const struct ocikp_buf *out)
{
	size_t i = 0, len;
	unsigned long cp;

	while (i < out->len) {
		len = utf8_at(out->data + i, out->len - i, &cp);
		if (!len || !shown_as_is(cp)) {
			fprintf(stderr, "inspect printed %s at byte %zu of:\n%.*s\n",
				len ? "a control character" : "invalid UTF-8", i, (int)out->len,
				(const char *)out->data);
			abort();
		}
		i += len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct ocikp_ctx *ctx;
	struct ocikp_buf out = { 0 };

	if (fd < 0) {
		fuzz_conf(dropin);
		fd = memfd_create("inspect", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	ctx = fuzz_ctx();
	if (admin_inspect(&fuzz_host, ctx, path, &out) == OCIKP_OK)
		check_printable(&out);
	buf_free(&out);
	return 0;
}
