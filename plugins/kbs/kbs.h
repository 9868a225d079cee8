/*
 * The kbs backend: Confidential Containers image keys (SPEC.md §5), the
 * annotation of CoCo's coco_keyprovider, opened from offline key files or
 * a Key Broker Service (trustee) over the RCAR handshake.
 *
 * Files, one job each:
 *   ocikp-kbs.c     descriptor, wrap, unwrap (KEK sources in order), `ocikp kbs keygen`
 *   kbs-param.c     CoCo parameter strings and kbs:// key URLs; kids
 *   kbs-packet.c    annotation packets v1/v2, A256GCM / A256CTR
 *   kbs-keys.c      KEK files, offline_fs JSON files, the sample KEK
 *   kbs-register.c  KEK registration in a KBS (EdDSA admin JWT)
 *   kbs-rcar.c      the RCAR handshake and resource fetch (sample TEE)
 *   kbs-jwe.c       the TEE key pair and the JWE the KBS answers with
 */
#ifndef OCIKP_KBS_H
#define OCIKP_KBS_H

#include <stddef.h>
#include <ocikp/backend.h>
#include "http.h"

#define KBS_KEK_LEN 32
#define KBS_KID_MAX 512

enum kbs_alg { KBS_A256GCM = 0, KBS_A256CTR };

/* ---- kbs-param.c ---- */

/* One wrap request, from a CoCo parameter string
 * ("keypath=/k::keyid=kbs:///default/image-kek/1::algorithm=A256GCM",
 * "sample=true") or a key URL ("kbs:///default/image-kek/1?keypath=/k&algorithm=A256CTR"). */
struct kbs_wrap_req {
	char kid[KBS_KID_MAX];	/* normalized: kbs:///r/t/g or kbs://host:port/r/t/g */
	char keypath[4096];	/* "" when absent */
	enum kbs_alg alg;
	int sample;		/* sample=true */
	int kid_given;		/* keyid= (or the URL) named one; else kid is the uuid4 default */
};

/* Parse param; OCIKP_BAD_INPUT with one line naming the field for a field
 * without '=', an unknown key, an unknown algorithm, a bad kid. */
int kbs_param_parse(struct ocikp_ctx *ctx, const char *param, struct kbs_wrap_req *out);

/* Is param a CoCo parameter string (not a URL)?  For routing. */
int kbs_param_is_coco(const char *param);

/*
 * Normalize a kid: kbs:///r/t/g and kbs://host[:port]/r/t/g are kept (a
 * query kept too), bare host/r/t/g and /r/t/g are rewritten as URLs; each
 * segment [A-Za-z0-9_-][A-Za-z0-9_.-]*.  Writes the canonical form to out.
 * On success *path points into out at "r/t/g" (no leading '/', no query).
 */
int kbs_kid_normalize(struct ocikp_ctx *ctx, const char *in, char out[KBS_KID_MAX],
		      const char **path);

/* ---- kbs-packet.c ---- */

struct kbs_packet {
	char kid[KBS_KID_MAX];
	struct ocikp_buf wrapped;	/* decoded wrapped_data */
	struct ocikp_buf iv;		/* decoded iv */
	enum kbs_alg alg;
};

/* Seal optsdata under kek and append the v1 annotation
 * {"kid","wrapped_data","iv","wrap_type"} (compact, that order) to out. */
int kbs_packet_wrap(struct ocikp_ctx *ctx, const unsigned char kek[KBS_KEK_LEN], const char *kid,
		    enum kbs_alg alg, const struct ocikp_buf *optsdata, struct ocikp_buf *out);

/* Read a v1 or v2 packet (v2: version "0.1.0", provider "kbs"; another
 * provider is OCIKP_WRONG_KEY "unsupported provider 'X'").  Release with
 * kbs_packet_free. */
int kbs_packet_parse(struct ocikp_ctx *ctx, const ocikp_json *ann, struct kbs_packet *p);
void kbs_packet_free(struct ocikp_ctx *ctx, struct kbs_packet *p);

/* Open p with kek: OCIKP_WRONG_KEY when the GCM tag fails. */
int kbs_packet_open(struct ocikp_ctx *ctx, const struct kbs_packet *p,
		    const unsigned char kek[KBS_KEK_LEN], struct ocikp_buf *optsdata);

/* ---- kbs-keys.c ---- */

/* The CoCo sample KEK (test use only). */
extern const unsigned char kbs_sample_kek[KBS_KEK_LEN];

/* A KEK file: exactly 32 raw bytes, read with the host's read_private_file
 * (group/world-readable -> OCIKP_BAD_INPUT naming the file, as the issue
 * asks for wrap). */
int kbs_kek_file(struct ocikp_ctx *ctx, const char *path, unsigned char kek[KBS_KEK_LEN]);

/* Look up path ("repo/type/tag") in CoCo's offline_fs JSON files (the
 * defaults, kbs.offline_files if set, OFFLINE_FS_KBC_EXTRA_FILE_PATH); a
 * later file overrides an earlier one; a missing file is skipped.
 * OCIKP_NOT_MINE when no file has it. */
int kbs_offline_kek(struct ocikp_ctx *ctx, const char *path, unsigned char kek[KBS_KEK_LEN]);

/* `ocikp kbs keygen [--offline-json FILE] KEYFILE --kid kbs:///...` */
int kbs_keygen(struct ocikp_ctx *ctx, int argc, char *const argv[], struct ocikp_buf *out);

/* ---- kbs-register.c ---- */

/* POST the KEK to <kbs.url>/kbs/v0/resource/<path> with an EdDSA admin
 * JWT (kbs.admin_key, kbs.admin_role, kbs.admin_iss, kbs.admin_aud).
 * Any non-2xx fails.  OCIKP_NOT_MINE when kbs.url or kbs.admin_key is
 * unset (no registration configured).  Unless kid_fresh (a kid ocikp made
 * up), the path may hold a KEK older images need: OCIKP_BAD_INPUT unless
 * kbs.allow_replace = yes or the KBS's resource list shows it free. */
int kbs_register(struct ocikp_ctx *ctx, const char *path, const unsigned char kek[KBS_KEK_LEN],
		 int kid_fresh);

/* ---- kbs-rcar.c ---- */

/* A yes/no option (yes, true, 1 / no, false, 0; unset is no). */
int kbs_opt_bool(struct ocikp_ctx *ctx, const char *key, int *out);

/* Fetch the KEK for path from the KBS at kbs.url: RCAR handshake with the
 * sample TEE, one handshake per token lifetime while the module stays
 * loaded (one per exec), one more after a 401; then the resource's JWE
 * opened with the TEE key. */
int kbs_rcar_fetch(struct ocikp_ctx *ctx, const char *kid, const char *path,
		   unsigned char kek[KBS_KEK_LEN]);

/* The backend's state while the module stays loaded (ctx->backend_data,
 * made by init, freed by fini): the KBS connections and the attested
 * session kept between fetches (kbs-rcar.c).  free wipes the session. */
int kbs_state_new(struct ocikp_ctx *ctx);
void kbs_state_free(struct ocikp_ctx *ctx);
/* The kept connections; NULL without state. */
struct http_pool *kbs_pool(struct ocikp_ctx *ctx);

/* ---- kbs-jwe.c ---- */

struct kbs_tee_key;	/* an ephemeral TEE key pair (P-256 or RSA) */

enum kbs_tee_alg { KBS_TEE_EC = 0, KBS_TEE_RSA };

int kbs_tee_key_new(struct ocikp_ctx *ctx, enum kbs_tee_alg alg, struct kbs_tee_key **out);
void kbs_tee_key_free(struct kbs_tee_key *k);

/* Its public JWK exactly as trustee re-serializes it (EC: kty, crv, alg,
 * x, y, full-width coordinates; RSA: kty, alg, n, e), appended to out. */
int kbs_tee_key_jwk(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, struct ocikp_buf *out);

/* Open a JWE in JSON (flattened) form {"protected","encrypted_key","iv",
 * "ciphertext","tag"} for k: ECDH-ES+A256KW or RSA-OAEP-256, content
 * A256GCM, AAD = the ASCII of "protected".  Appends the plaintext.  A JWE
 * for another key or altered is OCIKP_WRONG_KEY; malformed, OCIKP_UNAVAILABLE
 * (the server's fault).  Exposed for the fuzz target. */
int kbs_jwe_open(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, const void *jwe, size_t len,
		 struct ocikp_buf *plain);

#endif
