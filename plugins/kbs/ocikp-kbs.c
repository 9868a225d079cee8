/*
 * The kbs backend: Confidential Containers image keys (SPEC.md §5), a
 * drop-in for CoCo's coco_keyprovider.
 *
 *   wrap     a CoCo parameter string ("keypath=/k::keyid=kbs:///r/t/g")
 *            or a key URL ("kbs:///r/t/g?keypath=/k"); the KEK from the
 *            key file, registered in a KBS when one is configured;
 *            annotation v1 {"kid","wrapped_data","iv","wrap_type"}.
 *   unwrap   annotation v1 or v2; the KEK from the sources kbs.sources
 *            lists, in order: offline (offline_fs JSON files), kbs (the
 *            RCAR handshake with kbs.url) and, with kbs.allow_sample,
 *            the public sample KEK.
 *   command  ocikp kbs keygen [--offline-json FILE] KEYFILE --kid KID
 */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "kbs.h"

#define DEFAULT_SOURCES "offline, kbs"
#define SOURCES_MAX 8
#define TRIED_MAX 200

enum source { SRC_SAMPLE, SRC_OFFLINE, SRC_KBS };
static const char *const source_names[] = { "sample", "offline", "kbs" };

/* ---- wrap ---- */

/* The KEK a request names: the sample KEK, a key file, or a fresh one
 * (only worth anything when the KBS stores it). */
static int wrap_kek(struct ocikp_ctx *ctx, const struct kbs_wrap_req *r, int registering,
		    unsigned char kek[KBS_KEK_LEN])
{
	if (r->sample) {
		ocikp_warnf(ctx, "kbs: sample=true wraps with CoCo's public sample KEK: for tests only");
		memcpy(kek, kbs_sample_kek, KBS_KEK_LEN);
		return OCIKP_OK;
	}
	if (r->keypath[0])
		return kbs_kek_file(ctx, r->keypath, kek);
	if (!registering) {
		ocikp_errorf(ctx, "kbs: no keypath given, and a random KEK needs KBS registration "
			     "(set %s.url and %s.admin_key)", ctx->backend, ctx->backend);
		return OCIKP_BAD_INPUT;
	}
	if (RAND_bytes(kek, KBS_KEK_LEN) != 1) {
		ocikp_errorf(ctx, "no random bytes for a KEK");
		return OCIKP_INTERNAL;
	}
	return OCIKP_OK;
}

static int kbs_wrap(struct ocikp_ctx *ctx, const char *param, const struct ocikp_buf *optsdata,
		    struct ocikp_buf *annotation)
{
	struct kbs_wrap_req r;
	unsigned char kek[KBS_KEK_LEN];
	char kid[KBS_KID_MAX];
	const char *path;
	int registering, rc;

	rc = kbs_param_parse(ctx, param, &r);
	if (rc == OCIKP_OK)
		rc = kbs_kid_normalize(ctx, r.kid, kid, &path);
	if (rc != OCIKP_OK)
		return rc;
	/* The sample KEK is public: storing it in a KBS protects nothing. */
	registering = !r.sample && ocikp_conf(ctx, "admin_key") != NULL;
	/* Registering writes with the admin's key: under ocikpd only for the
	 * callers the admin lists, checked before anything is read or sent.
	 * A host without require_admin is exec-only: the caller is the admin. */
	if (registering && OCIKP_HOST_HAS(ctx->host, require_admin)) {
		rc = ctx->host->require_admin(ctx, "KEK registration in the KBS");
		if (rc != OCIKP_OK)
			return rc;
	}
	rc = wrap_kek(ctx, &r, registering, kek);
	if (rc == OCIKP_OK && registering) {
		rc = kbs_register(ctx, path, kek, !r.kid_given);
		if (rc == OCIKP_NOT_MINE)
			rc = OCIKP_OK;
	}
	if (rc == OCIKP_OK && r.alg == KBS_A256CTR)
		ocikp_warnf(ctx, "kbs: A256CTR has no integrity protection; A256GCM is the default");
	if (rc == OCIKP_OK)
		rc = kbs_packet_wrap(ctx, kek, r.kid, r.alg, optsdata, annotation);
	OPENSSL_cleanse(kek, sizeof(kek));
	return rc;
}

/* ---- unwrap ---- */

/* kbs.sources: names separated by commas and blanks, each once.  The
 * sample KEK, when allowed and not listed, comes last. */
static int sources(struct ocikp_ctx *ctx, int allow_sample, enum source *list, size_t *n)
{
	const char *v = ocikp_conf(ctx, "sources"), *p;
	size_t len, i, have_sample = 0;
	unsigned seen = 0;

	*n = 0;
	for (p = v ? v : DEFAULT_SOURCES; *p; p += len) {
		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (!len)
			break;
		for (i = 0; i < 3; i++)
			if (strlen(source_names[i]) == len && !memcmp(p, source_names[i], len))
				break;
		if (i == 3 || (seen & (1u << i))) {
			ocikp_errorf(ctx, "option %s.sources: '%.*s' is %s (sample, offline, kbs)",
				     ctx->backend, (int)(len > 20 ? 20 : len), p,
				     i == 3 ? "unknown" : "listed twice");
			return OCIKP_CONFIG;
		}
		seen |= 1u << i;
		have_sample |= i == SRC_SAMPLE;
		list[(*n)++] = (enum source)i;
	}
	if (allow_sample && !have_sample)
		list[(*n)++] = SRC_SAMPLE;
	return OCIKP_OK;
}

static void tried_add(char *tried, const char *what)
{
	size_t n = strlen(tried);

	snprintf(tried + n, TRIED_MAX - n, "%s%s", n ? ", " : "", what);
}

/* Open p with kek.  CTR has no tag: what it opens must at least be what
 * ocicrypt wraps, a JSON object, or the KEK was not the right one. */
static int try_open(struct ocikp_ctx *ctx, const struct kbs_packet *p,
		    const unsigned char kek[KBS_KEK_LEN], struct ocikp_buf *optsdata)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_json *doc = NULL;
	size_t start = optsdata->len;
	int rc = kbs_packet_open(ctx, p, kek, optsdata);

	if (rc == OCIKP_OK && p->alg == KBS_A256CTR) {
		if (h->json_parse(ctx, "optsdata", optsdata->data + start, optsdata->len - start,
				  &doc) != OCIKP_OK || h->json_type(doc) != OCIKP_JSON_OBJECT)
			rc = OCIKP_WRONG_KEY;
		h->json_free(doc);
		if (rc != OCIKP_OK) {
			OPENSSL_cleanse(optsdata->data + start, optsdata->len - start);
			optsdata->len = start;
		}
	}
	return rc;
}

/* One KEK source: OCIKP_OK with kek filled, OCIKP_NOT_MINE to go on. */
static int source_kek(struct ocikp_ctx *ctx, enum source s, int allow_sample, const char *kid,
		      const char *path, int path_rc, unsigned char kek[KBS_KEK_LEN], char *tried)
{
	if (s == SRC_SAMPLE) {
		if (!allow_sample) {
			tried_add(tried, "sample (not allowed)");
			return OCIKP_NOT_MINE;
		}
		/* As the legacy sample KBC: whatever the kid. */
		ocikp_warnf(ctx, "kbs: trying CoCo's public sample KEK (%s.allow_sample): for tests only",
			    ctx->backend);
		tried_add(tried, "sample");
		memcpy(kek, kbs_sample_kek, KBS_KEK_LEN);
		return OCIKP_OK;
	}
	if (path_rc != OCIKP_OK) {
		/* Say why the kid is unusable (kbs_kid_normalize's line). */
		kbs_kid_normalize(ctx, kid, (char[KBS_KID_MAX]){ 0 }, &path);
		return path_rc;
	}
	if (s == SRC_OFFLINE) {
		tried_add(tried, "offline");
		return kbs_offline_kek(ctx, path, kek);
	}
	if (!ocikp_conf(ctx, "url")) {
		tried_add(tried, "kbs (no kbs.url)");
		return OCIKP_NOT_MINE;
	}
	tried_add(tried, "kbs");
	return kbs_rcar_fetch(ctx, kid, path, kek);
}

static int kbs_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann, const char *const *dc_params,
		      struct ocikp_buf *optsdata)
{
	struct kbs_packet p;
	enum source list[SOURCES_MAX];
	unsigned char kek[KBS_KEK_LEN];
	char kid[KBS_KID_MAX], tried[TRIED_MAX] = "";
	const char *path = NULL;
	size_t i, n;
	int allow_sample, path_rc, rc;

	(void)dc_params;	/* keys come from this machine, not from ocicrypt */
	rc = kbs_opt_bool(ctx, "allow_sample", &allow_sample);
	if (rc == OCIKP_OK)
		rc = sources(ctx, allow_sample, list, &n);
	if (rc == OCIKP_OK)
		rc = kbs_packet_parse(ctx, ann, &p);
	if (rc != OCIKP_OK)
		return rc;
	path_rc = kbs_kid_normalize(ctx, p.kid, kid, &path);
	rc = OCIKP_NOT_MINE;
	for (i = 0; i < n && rc == OCIKP_NOT_MINE; i++) {
		rc = source_kek(ctx, list[i], allow_sample, p.kid, path, path_rc, kek, tried);
		if (rc != OCIKP_OK)
			continue;
		rc = try_open(ctx, &p, kek, optsdata);
		if (rc == OCIKP_WRONG_KEY && list[i] == SRC_SAMPLE)
			rc = OCIKP_NOT_MINE;	/* a guess that missed */
		else if (rc == OCIKP_WRONG_KEY)
			ocikp_errorf(ctx, "kbs: the KEK for %s from %s does not open this layer key "
				     "(wrong key or altered annotation)", p.kid, source_names[list[i]]);
	}
	OPENSSL_cleanse(kek, sizeof(kek));
	if (rc == OCIKP_NOT_MINE)
		ocikp_errorf(ctx, "kbs: no KEK for %s (tried: %s)", p.kid, tried[0] ? tried : "nothing");
	if (rc == OCIKP_OK && p.alg == KBS_A256CTR)
		ocikp_warnf(ctx, "kbs: %s is A256CTR, which has no integrity protection", p.kid);
	kbs_packet_free(ctx, &p);
	return rc;
}

/* ---- command ---- */

#define KEYGEN_USAGE "keygen [--offline-json FILE] KEYFILE --kid kbs:///REPO/TYPE/TAG"

static int kbs_command(struct ocikp_ctx *ctx, int argc, char *const argv[], struct ocikp_buf *out)
{
	if (argc < 1 || strcmp(argv[0], "keygen") != 0) {
		ocikp_errorf(ctx, "usage: ocikp kbs " KEYGEN_USAGE);
		return OCIKP_BAD_INPUT;
	}
	return kbs_keygen(ctx, argc, argv, out);
}

/* Before libcurl could start: no TLS key log (see http_env_scrub).  The
 * state lives as long as the module (one exec, or one ocikpd
 * configuration). */
static int kbs_init(struct ocikp_ctx *ctx)
{
	http_env_scrub();
	return kbs_state_new(ctx);
}

static void kbs_fini(struct ocikp_ctx *ctx)
{
	kbs_state_free(ctx);	/* the kept session wiped, connections closed */
	http_global_cleanup();
}

/* kbs+*: CoCo's kbs+<plugin>:// resource URIs (guest-components resource_uri). */
static const char *const kbs_schemes[] = { "kbs", "kbs+*", NULL };

OCIKP_EXPORT const struct ocikp_backend ocikp_backend_v1 = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_backend),
	.name = "kbs",
	.version = PACKAGE_VERSION,
	.schemes = kbs_schemes,
	.init = kbs_init,
	.wrap = kbs_wrap,
	.unwrap = kbs_unwrap,
	.command = kbs_command,
	.command_usage = KEYGEN_USAGE,
	.fini = kbs_fini,
};
