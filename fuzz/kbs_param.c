/* Target: what a wrap request names for the kbs backend (plugins/kbs/
 * kbs-param.c): the input, as a C string, given as a CoCo parameter
 * string or kbs:// (kbs+<plugin>://) key URL (kbs_param_parse) and as a kid
 * (kbs_kid_normalize).  A kid either comes out canonical, which
 * normalizes to itself with its resource path inside the output, or is
 * refused; anything else aborts. */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "kbs.h"

/* out is canonical: a kbs:// URL, or kbs+<plugin>:// for a plugin other
 * than resource (written kbs://), that normalizes to itself, with the same
 * "repo/type/tag" path, which lies inside out. */
static void check_canonical(struct ocikp_ctx *ctx, const char *out, const char *path)
{
	char again[KBS_KID_MAX];
	const char *path2, *slash;

	if (strncmp(out, "kbs+resource://", 15) == 0)
		abort();
	if ((strncmp(out, "kbs://", 6) != 0 && strncmp(out, "kbs+", 4) != 0) ||
	    path < out || path >= out + KBS_KID_MAX ||
	    !(slash = strchr(path, '/')) || !(slash = strchr(slash + 1, '/')) ||
	    strchr(slash + 1, '/'))
		abort();
	if (kbs_kid_normalize(ctx, out, again, &path2) != OCIKP_OK || strcmp(again, out) != 0 ||
	    strcmp(path2, path) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	struct ocikp_ctx *ctx;
	struct kbs_wrap_req r;
	char kid[KBS_KID_MAX];
	const char *path;
	char *s;

	host_ctx_init(&b.pub, &fuzz_host, "kbs");
	ctx = &b.pub;
	s = strndup((const char *)data, size);	/* up to a NUL, as argv and JSON give it */
	if (!s)
		return 0;
	(void)kbs_param_is_coco(s);
	if (kbs_param_parse(ctx, s, &r) == OCIKP_OK) {
		if (r.alg != KBS_A256GCM && r.alg != KBS_A256CTR)
			abort();
		if (r.sample && r.keypath[0])
			abort();
		/* what wrap writes, every guest parses: kbs:// only */
		if (strncmp(r.kid, "kbs://", 6) != 0 ||
		    kbs_kid_normalize(ctx, r.kid, kid, &path) != OCIKP_OK)
			abort();
		check_canonical(ctx, kid, path);
	}
	if (kbs_kid_normalize(ctx, s, kid, &path) == OCIKP_OK)
		check_canonical(ctx, kid, path);
	free(s);
	return 0;
}
