/* The keychain backend's internal interfaces (SPEC.md §3 keychain). */
#ifndef OCIKP_KEYCHAIN_H
#define OCIKP_KEYCHAIN_H

#include <stddef.h>
#include "ocikp/backend.h"

#define EC_POINT_LEN 65	/* uncompressed P-256: 04 ‖ x ‖ y */
#define DEFAULT_TAG "se.ocicrypt.default.tag"

/* keychain-ecies.c: P-256 ECIES as ocicrypt-apple-se-keyprovider does it */
int ecies_wrap(struct ocikp_ctx *ctx, const unsigned char recipient[EC_POINT_LEN],
	       const struct ocikp_buf *plain, unsigned char eph_out[EC_POINT_LEN],
	       struct ocikp_buf *sealed);
int ecies_unwrap(struct ocikp_ctx *ctx, void *private_key,
		 const unsigned char eph[EC_POINT_LEN], const struct ocikp_buf *sealed,
		 struct ocikp_buf *plain);
int ec_public_point(void *private_key, unsigned char point[EC_POINT_LEN]);

/* keychain-store.c: where the private key lives (Secret Service or a file) */
int key_load(struct ocikp_ctx *ctx, const char *tag, void **private_key);
int key_create(struct ocikp_ctx *ctx, const char *tag, const char *file, void **private_key);
int key_delete(struct ocikp_ctx *ctx, const char *tag);
void key_free(void *private_key);

#endif
