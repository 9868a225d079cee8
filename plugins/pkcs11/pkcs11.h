/*
 * The pkcs11 backend: layer keys sealed to a key pair on any PKCS#11 token
 * the system's p11-kit knows (HSM, smart card through OpenSC, SoftHSM,
 * tpm2-pkcs11), named by RFC 7512 URIs; the annotation's wrapped_key is a
 * JWE (lib/jwe.c), so any JOSE library can check it.
 *
 * Files, one job each:
 *   ocikp-pkcs11.c   descriptor, wrap, unwrap, `ocikp pkcs11 list|pub`
 *   pkcs11-uri.c     the RFC 7512 parser (duplicates and unknown attributes
 *                    refused) and key_url without PIN, pub= and alg=
 *   pkcs11-token.c   p11-kit modules, tokens, objects, login, and the JWE
 *                    hooks: C_Decrypt (OAEP, or raw RSA + OAEP decoding
 *                    here) and C_DeriveKey (ECDH1)
 */
#ifndef OCIKP_PKCS11_H
#define OCIKP_PKCS11_H

#include <stddef.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>
#include <ocikp/backend.h>

#define P11_ID_MAX 128

/* The attributes ocikp reads, in the order of p11_attr_names[] (uri.c). */
enum p11_attr {
	/* path */
	P11_TOKEN, P11_MANUFACTURER, P11_SERIAL, P11_MODEL,
	P11_LIB_MANUFACTURER, P11_LIB_DESCRIPTION, P11_LIB_VERSION,
	P11_SLOT_DESCRIPTION, P11_SLOT_MANUFACTURER, P11_SLOT_ID,
	P11_OBJECT, P11_ID, P11_TYPE,
	/* query */
	P11_PIN_SOURCE, P11_PIN_VALUE, P11_MODULE_NAME, P11_MODULE_PATH,
	P11_PUB, P11_ALG,
	P11_N_ATTRS
};

struct p11_uri {
	struct ocikp_buf v[P11_N_ATTRS];	/* decoded values */
	unsigned char has[P11_N_ATTRS];
	struct ocikp_buf key_url;	/* the URI without PIN attributes, pub= and alg= */
};

/* ---- pkcs11-uri.c ---- */

/* Parse text; OCIKP_BAD_INPUT with one line for anything but a pkcs11: URI
 * of RFC 7512's attributes (and ocikp's pub=, alg=), each at most once,
 * well percent-encoded.  Release with p11_uri_free, on every path. */
int p11_uri_parse(struct ocikp_ctx *ctx, const char *text, struct p11_uri *u);
void p11_uri_free(struct ocikp_ctx *ctx, struct p11_uri *u);
const char *p11_uri_get(const struct p11_uri *u, enum p11_attr a);	/* NULL if absent */

/* ---- pkcs11-token.c ---- */

struct p11_state;	/* ctx->backend_data: the p11-kit modules */

int p11_init(struct ocikp_ctx *ctx);
void p11_fini(struct ocikp_ctx *ctx);

/* A key on a token, found and (for unwrap) logged in. */
struct p11_key {
	CK_FUNCTION_LIST *fn;
	CK_SESSION_HANDLE session;
	int logged_in;
	CK_OBJECT_HANDLE priv;
	EVP_PKEY *pub;
	unsigned char id[P11_ID_MAX];
	size_t id_len;
	int lock_fd;
};

/* Find the public key u names (wrap, no login).  id/label as u says. */
int p11_find_public(struct ocikp_ctx *ctx, const struct p11_uri *u, struct p11_key *k);

/* Find and log in to the private key with CKA_ID id on a token u allows,
 * under the state lock; the PIN from u, else the drop-in's pin_file. */
int p11_find_private(struct ocikp_ctx *ctx, const struct p11_uri *u, const unsigned char *id,
		     size_t id_len, struct p11_key *k);

/* Log out, close the session, release the lock; on every path. */
void p11_key_release(struct ocikp_ctx *ctx, struct p11_key *k);

/* The JWE hooks on k (arg = k). */
int p11_rsa_oaep(struct ocikp_ctx *ctx, void *arg, const char *md, const unsigned char *in,
		 size_t inlen, unsigned char *out, size_t *outlen);
int p11_ecdh(struct ocikp_ctx *ctx, void *arg, EVP_PKEY *peer, const unsigned char *point,
	     size_t pointlen, unsigned char *z, size_t zlen);

/* `ocikp pkcs11 list`: tokens and their key pairs, with URIs. */
int p11_list(struct ocikp_ctx *ctx, struct ocikp_buf *out);

#endif
