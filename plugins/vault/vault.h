/*
 * The vault backend: HashiCorp Vault / OpenBao Transit wraps the layer key.
 *
 * Files, one job each:
 *   ocikp-vault.c   descriptor, key URLs, annotation, decrypt parameters
 *   vault-opts.c    the drop-in options of one request, the token
 *   vault-transit.c encrypt / decrypt, their answers, Vault's errors
 */
#ifndef OCIKP_VAULT_H
#define OCIKP_VAULT_H

#include <stddef.h>
#include <ocikp/backend.h>
#include "http.h"

#define VAULT_ADDR_DEFAULT "https://127.0.0.1:8200"	/* the vault CLI's default */
#define VAULT_TOKEN_MAX 8192		/* bytes of a token file, at most */
#define VAULT_PATH_MAX 256		/* a mount path or key name, at most */
#define VAULT_CT_MAX (48 * 1024)	/* a Transit ciphertext, at most */

/* One Transit key: mount path (may hold '/') and key name. */
struct vault_key {
	char mount[VAULT_PATH_MAX];
	char name[VAULT_PATH_MAX];
};

/* The options of one request (vault.* and the VAULT_* environment).
 * Strings point into the host's configuration or the environment. */
struct vault_opts {
	struct http_opts http;		/* connect_timeout, http_timeout, ca_file */
	const char *address;		/* scheme://host[:port][/path], no trailing '/' */
	const char *namespace;		/* X-Vault-Namespace; NULL: none */
	const char *context;		/* vault.context (sent base64); NULL: none */
};

int vault_opts_load(struct ocikp_ctx *ctx, struct vault_opts *o);

/*
 * The static token, appended to tok: $VAULT_TOKEN, else vault.token_file,
 * else ~/.vault-token (each file read as a secret: read_private_file), the
 * first that is set or exists; OCIKP_NOT_MINE (no error line) for none.
 * Trailing whitespace is dropped; an empty one or one with control
 * characters is OCIKP_CONFIG.
 */
int vault_static_token(struct ocikp_ctx *ctx, struct ocikp_buf *tok);

/* ---- vault-auth.c ---- */

#define VAULT_LOGIN_MARGIN_S 60	/* a login token is renewed this long before its lease ends */

/* The module's state (ctx->backend_data): kept connections, the login
 * token in memory.  new at init, free at fini. */
int vault_state_new(struct ocikp_ctx *ctx);
void vault_state_free(struct ocikp_ctx *ctx);
struct http_pool *vault_pool(struct ocikp_ctx *ctx);

/*
 * The token of this request, appended to tok (NUL-terminated): the static
 * token if there is one (or vault.auth = token), else an AppRole or
 * Kubernetes login's, from memory, the state directory or a new login.
 * *is_login tells which.  stale: a login token Vault refused (403),
 * dropped from both caches first.  None at all is OCIKP_CONFIG.
 */
int vault_token(struct ocikp_ctx *ctx, const struct vault_opts *o, const struct ocikp_buf *stale,
		struct ocikp_buf *tok, int *is_login);

/* A login answer's auth.client_token and auth.lease_duration (fuzz target). */
int vault_parse_login(struct ocikp_ctx *ctx, const void *body, size_t len, struct ocikp_buf *tok,
		      long long *lease_s);

/* ---- vault-transit.c ---- */

enum vault_op { VAULT_WRAP, VAULT_UNWRAP };

/* POST /v1/MOUNT/encrypt/NAME; the ciphertext ("vault:vN:...") appended
 * to cipher as a C string. */
int vault_encrypt(struct ocikp_ctx *ctx, const struct vault_opts *o, const struct vault_key *k,
		  const struct ocikp_buf *plain, struct ocikp_buf *cipher);

/* POST /v1/MOUNT/decrypt/NAME with the ciphertext verbatim. */
int vault_decrypt(struct ocikp_ctx *ctx, const struct vault_opts *o, const struct vault_key *k,
		  const char *cipher, struct ocikp_buf *plain);

/* A Transit ciphertext as Vault writes it: "vault:v" N ":" base64 (len
 * bytes of s, which need not be NUL-terminated). */
int vault_ciphertext_ok(const char *s, size_t len);

/* The answer parsers, exposed for the fuzz target. */
int vault_parse_encrypt(struct ocikp_ctx *ctx, const void *body, size_t len,
			struct ocikp_buf *cipher);
int vault_parse_decrypt(struct ocikp_ctx *ctx, const void *body, size_t len,
			struct ocikp_buf *plain);

/* A non-2xx answer as one error line (Vault's {"errors": [...]} text,
 * else the HTTP status) and the status for op. */
int vault_fail(struct ocikp_ctx *ctx, enum vault_op op, long http_status, const void *body,
	       size_t len);

#endif
