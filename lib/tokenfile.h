/*
 * A bearer token file that another agent writes and rotates: a Kubernetes
 * projected service account token (GCP workload identity federation, AWS
 * web identity, the EKS Pod Identity authorization token).
 */
#ifndef OCIKP_LIB_TOKENFILE_H
#define OCIKP_LIB_TOKENFILE_H

#include <stddef.h>
#include <ocikp/backend.h>

/*
 * Such a file is mode 0644 (or 0640 with an fsGroup), owned by root and
 * reached through the volume's ..data symlink, so read_private_file's
 * owner, mode and no-symlink rules would refuse the normal case and are
 * not applied.  What is kept: an absolute path, symlinks followed on
 * purpose, opened without blocking and refused unless a regular file (no
 * FIFO or device), at most max bytes, read into out (a cleansing buffer)
 * as it is now: callers read it again for every token they fetch.
 * Errors are OCIKP_CONFIG lines "WHAT PATH: why", never the contents.
 */
int token_file_read(struct ocikp_ctx *ctx, const char *what, const char *path, size_t max,
		    struct ocikp_buf *out);

#endif
