/*
 * The awskms backend: AWS KMS (JSON 1.1 API, Signature Version 4) wraps the
 * layer key, in the annotation of hown3d/kms-ocicrypt (provider kms-crypt).
 *
 * Files, one job each:
 *   ocikp-awskms.c   descriptor, key URLs, annotation, decrypt parameters
 *   awskms-opts.c    the drop-in options of one request, the region
 *   awskms-sigv4.c   Signature Version 4 (written from AWS's specification)
 *   awskms-cred.c    the credential chain: environment, web identity, shared files
 *   awskms-sts.c     STS AssumeRole / AssumeRoleWithWebIdentity, their XML, the cache
 *   awskms-meta.c    credentials from metadata: container (ECS, EKS Pod Identity), IMDSv2
 *   awskms-kms.c     TrentService.Encrypt / Decrypt, KMS errors, retries
 */
#ifndef OCIKP_AWSKMS_H
#define OCIKP_AWSKMS_H

#include <stddef.h>
#include <ocikp/backend.h>
#include "http.h"
#include "credcache.h"

#define AWS_FILE_MAX (64 * 1024)	/* bytes of a credentials or config file, at most */
#define AWS_REGION_MAX 32
#define AWS_KMS_MAX_PLAINTEXT 4096	/* Encrypt's limit */
#define AWS_KMS_ATTEMPTS 3		/* tries on throttling / KMSInternalException */

/* The options of one request (awskms.*); strings point into the host's
 * configuration or the environment, nothing here is secret. */
struct awskms_opts {
	struct http_opts http;		/* connect_timeout, http_timeout, ca_file, pool */
	const char *region;		/* awskms.region, AWS_REGION, AWS_DEFAULT_REGION; NULL: unset */
	const char *kms_endpoint;	/* awskms.kms_endpoint: scheme://host[:port]; NULL: AWS's */
	int fips;			/* awskms.fips = yes: kms-fips.REGION.amazonaws.com */
	const char *profile;		/* awskms.profile, else AWS_PROFILE, else "default" */
	int pinned;			/* a drop-in named the profile or file: no environment keys */
	const char *credentials_file;	/* awskms.credentials_file, AWS_SHARED_CREDENTIALS_FILE */
	const char *config_file;	/* AWS_CONFIG_FILE */
	const char *encryption_context;	/* awskms.encryption_context: k=v,...; NULL: none */
	const char *sts_endpoint;	/* awskms.sts_endpoint: scheme://host[:port]; NULL: AWS's */
	const char *sts_region;		/* the key's region (set by the caller), for STS; NULL: global */
	const char *imds_endpoint;	/* awskms.imds_endpoint, AWS_EC2_METADATA_SERVICE_ENDPOINT;
					 * NULL: http://169.254.169.254 (or [fd00:ec2::254]) */
	int imds_ipv6;			/* AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE = IPv6 */
	int imds_disabled;		/* AWS_EC2_METADATA_DISABLED = true */
};

int awskms_opts_load(struct ocikp_ctx *ctx, struct awskms_opts *o);
int awskms_region_ok(const char *r);

/* ---- awskms-cred.c ---- */

/* One set of credentials; every field a cleansing buffer (C strings). */
struct aws_cred {
	struct ocikp_buf akid, secret, token;	/* token.len == 0: long-term keys */
	char source[64];			/* "environment", "profile NAME": for lines */
	char region[AWS_REGION_MAX];		/* the profile's region, if any */
	long long expires_at;			/* epoch seconds; 0: long-term keys */
};

/*
 * The SDK default chain (awskms-cred.c's header comment): the environment,
 * web identity, the shared files (role_arn: AssumeRole), ...  None found is
 * OCIKP_CONFIG.  cred_reload: c was refused as expired; drop it from the
 * caches and fetch anew (c is replaced).
 */
int cred_load(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c);
int cred_reload(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c);
void cred_free(struct ocikp_ctx *ctx, struct aws_cred *c);

/* Temporary credentials (STS, container, IMDS) are renewed this long
 * before they expire. */
#define AWS_CRED_MARGIN_S 300

/* A source of temporary credentials, for cred_cached: into c, with
 * c->expires_at; OCIKP_NOT_MINE when the source is not there. */
typedef int (*cred_fetch_fn)(struct ocikp_ctx *ctx, void *arg, struct aws_cred *c);

/* c from the credential cache (lib/credcache: memory, then PREFIX-ID.json in
 * the state directory), else from fetch, kept until AWS_CRED_MARGIN_S before
 * it expires.  stale: credentials KMS refused as expired, dropped first.
 * *fetched (may be NULL): fetch ran. */
int cred_cached(struct ocikp_ctx *ctx, const char *prefix, const char *id,
		const struct aws_cred *stale, cred_fetch_fn fetch, void *arg, struct aws_cred *c,
		int *fetched);

/* The key ID, secret and token of c well-formed (c->source names it in the
 * line); OCIKP_CONFIG if not. */
int cred_check(struct ocikp_ctx *ctx, struct aws_cred *c);

/* The profile's region from the config file (for a URL naming none), into
 * region; "" if none.  Errors only for a file that exists but cannot be read. */
int cred_profile_region(struct ocikp_ctx *ctx, const struct awskms_opts *o,
			char region[AWS_REGION_MAX]);

/* Parse INI text: the value of key in section, appended to out (trimmed).
 * 1 found, 0 not.  Exposed for the tests. */
int ini_get(struct ocikp_ctx *ctx, const char *text, const char *section, const char *key,
	    struct ocikp_buf *out);

/* ---- awskms-meta.c ---- */

/*
 * The last two sources of the chain, each *found = 0 and OCIKP_OK when it
 * is not configured or not there (the chain goes on, then fails):
 *   meta_container_cred  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS) or
 *                        _FULL_URI (EKS Pod Identity), with the
 *                        Authorization of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *                        (read again each time: EKS rotates it) or _TOKEN;
 *   meta_imds_cred       IMDSv2 (token PUT, role name, role credentials:
 *                        three calls, one attempt each, short timeouts),
 *                        off with AWS_EC2_METADATA_DISABLED=true.
 * A source that is there but fails is an error naming it.
 */
int meta_container_cred(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c,
			int *found);
int meta_imds_cred(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c,
		   int *found);

/* The credential JSON both serve ({"AccessKeyId", "SecretAccessKey",
 * "Token", "Expiration" (RFC 3339)}, IMDS's "Code" too) into c, whose
 * source names it; what names the answer in lines.  Exposed for fuzzing. */
int meta_parse_cred(struct ocikp_ctx *ctx, const char *what, const void *body, size_t len,
		    struct aws_cred *c);

/* ---- awskms-sigv4.c ---- */

struct sigv4_header {
	const char *name;	/* any case; signed lowercased */
	const char *value;	/* trimmed, inner whitespace collapsed when signed */
};

struct sigv4_req {
	const char *method;
	const char *host;		/* the Host header's value: host[:port] */
	const char *path;		/* already URI-encoded, "/" for KMS and STS */
	const char *query;		/* raw "k=v&k2=v2" (encoded and sorted here); NULL: none */
	const struct sigv4_header *headers;	/* besides host, x-amz-date, x-amz-security-token */
	size_t nheaders;
	const void *payload;
	size_t payload_len;
	const char *region, *service;
	const char *amz_date;		/* YYYYMMDDTHHMMSSZ */
};

/* Append the canonical request (AWS's step 1) to out.  With a session token
 * x-amz-security-token is signed too. */
int sigv4_canonical(struct ocikp_ctx *ctx, const struct sigv4_req *r, const struct aws_cred *c,
		    struct ocikp_buf *out);

/* Append "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
 * (the Authorization header's value) to out. */
int sigv4_authorization(struct ocikp_ctx *ctx, const struct sigv4_req *r,
			const struct aws_cred *c, struct ocikp_buf *out);

/* The current time as x-amz-date. */
void sigv4_now(char out[17]);

/* One POST to url (API at "/") signed with SigV4 for service, a new
 * x-amz-date each call; target: X-Amz-Target, or NULL.  As http_request. */
int sigv4_post(struct ocikp_ctx *ctx, const struct http_opts *ho, const struct aws_cred *c,
	       const char *region, const char *service, const char *url, const char *host,
	       const char *content_type, const char *target, const struct ocikp_buf *body,
	       struct http_resp *resp);

/* Sleep before retry `attempt` (1, 2...): 200 ms doubling, at most half the
 * time left. */
void aws_backoff(struct ocikp_ctx *ctx, int attempt);

/* ---- awskms-kms.c ---- */

enum kms_op { KMS_WRAP, KMS_UNWRAP };

/* key_id: an ARN, alias/NAME or a key ID; region: where its KMS is.
 * Temporary credentials refused as expired are fetched once more
 * (cred_reload: c is replaced) and the call retried once. */
int kms_encrypt(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c,
		const char *region, const char *key_id, const struct ocikp_buf *plain,
		struct ocikp_buf *blob);
int kms_decrypt(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c,
		const char *region, const char *key_id, const struct ocikp_buf *blob,
		struct ocikp_buf *plain);

/* The answer parsers and the error mapping, exposed for fuzz targets. */
int kms_parse_answer(struct ocikp_ctx *ctx, const char *field, const void *body, size_t len,
		     struct ocikp_buf *out);
int kms_fail(struct ocikp_ctx *ctx, enum kms_op op, long http_status, const void *body,
	     size_t len, int *retry);

/* The credentials were refused as expired (ExpiredTokenException, or a 400
 * saying the security token is expired): worth one refresh. */
int kms_expired(long http_status, const void *body, size_t len);

/* ---- awskms-sts.c ---- */

#define AWS_ROLE_CHAIN_MAX 4		/* AssumeRole links after the first source, at most */
#define AWS_ARN_MAX 1024
#define AWS_SESSION_MAX 65
#define AWS_SESSION_DEFAULT "ocikp-awskms"	/* RoleSessionName unless one is given */

/* One STS call: AssumeRoleWithWebIdentity (token_file set, unsigned) or
 * AssumeRole (signed by the previous link's credentials, or by the chain's
 * base keys for the first). */
struct sts_role {
	char role_arn[AWS_ARN_MAX];
	char session[AWS_SESSION_MAX];	/* RoleSessionName */
	char external_id[1232];		/* "": none */
	long duration;			/* DurationSeconds; 0: STS's default */
	char token_file[1024];		/* web identity: the token file */
	char what[64];			/* for lines: "profile NAME", "web identity" */
};

/*
 * The credentials of roles[n-1], assuming roles[0..n-1] in turn (n >= 1),
 * the first signed by base (NULL when roles[0] is a web identity); each
 * link cached (lib/credcache) under a hash of the endpoint, the role, its
 * session name and parameters and the identity of what signs it.  stale:
 * credentials KMS refused as expired, dropped from the cache first.
 */
int sts_assume_chain(struct ocikp_ctx *ctx, const struct awskms_opts *o,
		     const struct aws_cred *base, const struct sts_role *roles, size_t n,
		     const struct aws_cred *stale, struct aws_cred *c);

/* A session name as STS takes it: 2 to 64 of [A-Za-z0-9+=,.@_-]. */
int sts_session_ok(const char *s);

/* An STS answer: <Credentials> into c (expires_at from <Expiration>), and an
 * error answer as one line naming <Code> and <Message>; exposed for the
 * fuzz target.  *retry: throttling or a server fault. */
int sts_parse_answer(struct ocikp_ctx *ctx, const void *body, size_t len, struct aws_cred *c);
int sts_fail(struct ocikp_ctx *ctx, const char *action, long http_status, const void *body,
	     size_t len, int *retry);

/* The state across requests (ctx->backend_data): the kept connections,
 * the STS credentials in memory. */
struct http_pool *awskms_pool(struct ocikp_ctx *ctx);
struct credcache *awskms_credcache(struct ocikp_ctx *ctx);

#endif
