/*
 * A short-lived bearer token file that another agent writes and rotates:
 * a Kubernetes projected service account token (mode 0644 or 0640 with an
 * fsGroup, owned by root, reached through the volume's ..data symlink), an
 * OIDC token a CI runner drops.  read_private_file's owner, mode and
 * no-symlink rules would refuse the normal case, so they are not applied.
 * What is kept: an absolute path, symlinks followed on purpose, opened
 * without blocking and refused unless a regular file (no FIFO or device),
 * at most max bytes, read into a cleansing buffer.  Its content must only
 * ever be sent to the service that exchanges it.
 */
#ifndef OCIKP_TOKENFILE_H
#define OCIKP_TOKENFILE_H

#include <stddef.h>
#include <ocikp/backend.h>

/* Append the file's bytes to out (a C string); errors name what and path,
 * never contents, and are OCIKP_CONFIG. */
int token_file_read(struct ocikp_ctx *ctx, const char *what, const char *path, size_t max,
		    struct ocikp_buf *out);

#endif
