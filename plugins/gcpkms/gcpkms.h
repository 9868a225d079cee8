/*
 * The gcpkms backend: Google Cloud KMS (REST v1) wraps the layer key,
 * compatible with salrashid123/ocicrypt-kms-keyprovider (SPEC.md §3).
 *
 * Files, one job each:
 *   ocikp-gcpkms.c   descriptor, key URLs, annotation, --kmsURI
 *   gcpkms-opts.c    the drop-in options of one request
 *   gcpkms-kms.c     :encrypt / :decrypt, their CRC32C checks, KMS errors
 *   gcpkms-crc32c.c  CRC32C (Castagnoli), which no dependency offers
 *   gcpkms-cred.c    Application Default Credentials: find, load, fetch a token
 *   gcpkms-jwt.c     RS256 JWTs (service account grant)
 *   gcpkms-cache.c   access tokens cached in memory (the backend's state,
 *                    for ocikpd) and across execs in the state directory
 */
#ifndef OCIKP_GCPKMS_H
#define OCIKP_GCPKMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ocikp/backend.h>
#include "http.h"

#define GCP_SCOPE "https://www.googleapis.com/auth/cloudkms"
#define GCP_KMS_ENDPOINT "https://cloudkms.googleapis.com"
#define GCP_TOKEN_ENDPOINT "https://oauth2.googleapis.com/token"
#define GCP_STS_ENDPOINT "https://sts.googleapis.com/v1/token"
#define GCP_METADATA_HOST "metadata.google.internal"
#define GCP_CRED_MAX (64 * 1024)	/* bytes of a credentials file, at most */
#define GCP_TOKEN_MAX 16384	/* bytes of an access token fetched or cached, at most */
#define GCP_TOKEN_MARGIN_S 300		/* a token is renewed this long before expiry */
#define GCP_TOKEN_LIFETIME_MAX 86400	/* seconds a token may last, at most (an answer
					 * promising more is refused, a cache file
					 * claiming more ignored) */

/* The options of one request, from the drop-ins (gcpkms.*), compatibility
 * flags and the environment.  Strings point into the host's configuration
 * or the environment; nothing here is secret. */
struct gcpkms_opts {
	struct http_opts http;		/* connect_timeout, http_timeout, ca_file */
	const char *kms_endpoint;	/* scheme://host[:port], no trailing '/' */
	const char *token_endpoint;	/* overrides a file's token_uri; NULL: the file's */
	const char *sts_endpoint;	/* overrides external_account token_url; NULL: the file's */
	const char *metadata_host;	/* option, else GCE_METADATA_HOST, else the default */
	const char *credentials;	/* gcpkms.credentials (--adc=); NULL: ADC search */
	const char *kms_uri;		/* gcpkms.kms_uri (--kmsURI=); NULL: none */
};

int gcpkms_opts_load(struct ocikp_ctx *ctx, struct gcpkms_opts *o);

/* ---- gcpkms-crc32c.c ---- */

/* CRC32C of n bytes, continuing from crc (0 to start). */
uint32_t crc32c(uint32_t crc, const void *data, size_t n);

/* ---- gcpkms-cred.c: one loaded credential ---- */

struct gcp_cred;

/*
 * Find and load the credential, in ADC order: o->credentials, else
 * $GOOGLE_APPLICATION_CREDENTIALS (either must load, else OCIKP_CONFIG
 * naming the file); else ~/.config/gcloud/application_default_credentials.json
 * if it exists; else the metadata server.  Files are read with the host's
 * read_private_file.  A type this backend cannot use (an executable-sourced
 * external_account, an unknown type) is OCIKP_CONFIG naming it.
 */
int cred_load(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred **out);
void cred_free(struct ocikp_ctx *ctx, struct gcp_cred *c);

/*
 * The cache key of c: 64 lower-case hex digits of a SHA-256 over its type,
 * its principal (client_email, client_id, audience, impersonated account,
 * metadata host) and the endpoints its tokens come from, so two identities
 * never share a token.  Where the principal alone is not unique
 * (authorized_user: gcloud's client_id is everyone's) a SHA-256 of the
 * refresh token enters it too; no secret ever appears in it readably.
 */
void cred_identity(const struct gcp_cred *c, char hex[65]);

/* For debug and error lines: "service_account NAME@...", "metadata server". */
const char *cred_describe(const struct gcp_cred *c);

/* The project to bill (authorized_user quota_project_id, external_account
 * workforce_pool_user_project...) for x-goog-user-project, or NULL. */
const char *cred_quota_project(const struct gcp_cred *c);

/*
 * Fetch a new access token for scope GCP_SCOPE from the credential's token
 * source (never the cache): append it to tok and set *expires_at (Unix
 * seconds).  A token endpoint refusing the credentials (HTTP 400/401/403,
 * an OAuth error) is OCIKP_CONFIG with its error and description;
 * network, 429, 5xx and timeouts are OCIKP_UNAVAILABLE.
 */
int cred_fetch_token(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		     struct ocikp_buf *tok, long long *expires_at);

/*
 * Parse a token endpoint's answer: OAuth2 and STS {"access_token",
 * "expires_in"} or IAM credentials {"accessToken", "expireTime" (RFC 3339)}.
 * now: the current Unix time.  Exposed for the fuzz target.
 */
int cred_parse_token(struct ocikp_ctx *ctx, const char *what, const void *body, size_t len,
		     long long now, struct ocikp_buf *tok, long long *expires_at);

/* The parsers under cred_load and cred_fetch_token, exposed for the fuzz
 * target.  cred_parse_file: a credentials file's bytes (path names it in
 * error lines), loaded as cred_load would.  cred_subject_parse: an
 * external_account's subject token from the bytes its source gave (the
 * file's or the URL's), as text or format.subject_token_field_name's
 * field, appended to out.  cred_error_gist: a token endpoint's error
 * answer as "error: description" or "STATUS: message", printable and cut
 * short, else "HTTP status", in out. */
int cred_parse_file(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, const char *path,
		    const void *raw, size_t len, struct gcp_cred **out);
int cred_subject_parse(struct ocikp_ctx *ctx, const struct gcp_cred *c, const void *raw,
		       size_t len, struct ocikp_buf *out);
void cred_error_gist(struct ocikp_ctx *ctx, const struct http_resp *r, char *out, size_t size);

/* ---- gcpkms-jwt.c ---- */

/* Sign claims (a JSON object) as an RS256 JWT with a PEM private key
 * (PKCS#8 or PKCS#1); kid, if not NULL, goes into the header.  Appends
 * the compact serialization to out. */
int jwt_rs256(struct ocikp_ctx *ctx, const char *pem, size_t pem_len, const char *kid,
	      const struct ocikp_buf *claims, struct ocikp_buf *out);

/* ---- gcpkms-cache.c ---- */

/* The backend's state across requests (ctx->backend_data): the access
 * tokens kept in memory and the kept HTTPS connections.  new sets
 * backend_data (init); free wipes the tokens, closes the connections and
 * clears it (fini). */
int gcpkms_state_new(struct ocikp_ctx *ctx);
void gcpkms_state_free(struct ocikp_ctx *ctx);
/* The connections kept while the module stays loaded; NULL without state. */
struct http_pool *gcpkms_pool(struct ocikp_ctx *ctx);

/*
 * A usable access token for c, appended to tok: from memory (the state in
 * ctx->backend_data, if any), else the cache file in the backend's state
 * directory, while it has more than GCP_TOKEN_MARGIN_S left; else fetched
 * with cred_fetch_token and cached in both (the file atomically, under
 * state_lock, so parallel execs fetch once).  stale, if not NULL, is a
 * token KMS refused (HTTP 401): dropped from both, never handed out again.
 * Without a usable state directory the token is fetched and kept in memory
 * only (a debug line says why).
 */
int token_get(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
	      const struct ocikp_buf *stale, struct ocikp_buf *tok);

/* A cache file's bytes checked at time now (Unix seconds): its token
 * appended to tok and NULL, else why not (a debug line's words); *left is
 * the seconds it has left, *refused that it holds `stale`.  The read path
 * short of the filesystem; exposed for the fuzz target. */
const char *cache_check(struct ocikp_ctx *ctx, const void *raw, size_t len, long long now,
			const struct ocikp_buf *stale, struct ocikp_buf *tok, bool *refused,
			long long *left, long long *expires_at);

/* ---- gcpkms-kms.c ---- */

enum kms_op { KMS_WRAP, KMS_UNWRAP };

/* POST {name}:encrypt with plaintextCrc32c; require verifiedPlaintextCrc32c
 * and check ciphertextCrc32c.  name: projects/.../cryptoKeys/K[/cryptoKeyVersions/N]. */
int kms_encrypt(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		const char *name, const struct ocikp_buf *plain, struct ocikp_buf *cipher);

/* POST {name}:decrypt with ciphertextCrc32c; check plaintextCrc32c. */
int kms_decrypt(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		const char *name, const struct ocikp_buf *cipher, struct ocikp_buf *plain);

/* The answer parsers, exposed for the fuzz target.  A CRC mismatch is
 * OCIKP_UNAVAILABLE "integrity check failed". */
int kms_parse_encrypt(struct ocikp_ctx *ctx, const void *body, size_t len,
		      uint32_t plain_crc, struct ocikp_buf *cipher);
int kms_parse_decrypt(struct ocikp_ctx *ctx, const void *body, size_t len,
		      struct ocikp_buf *plain);

/* A non-2xx KMS answer as one error line, "STATUS: message" (the body's
 * google.rpc.Status, else the HTTP status), and the status for op. */
int kms_fail(struct ocikp_ctx *ctx, enum kms_op op, long http_status, const void *body,
	     size_t len);

#endif
