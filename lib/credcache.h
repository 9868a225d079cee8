/*
 * A cache of temporary credentials (a login token, STS session keys) for
 * the network backends: one value per identity, in memory (the module's
 * state, which ocikpd keeps loaded) and in a 0600 file PREFIX-<id>.json in
 * the backend's state directory, so separate execs share it.
 *
 * The value is an opaque printable C string the backend chooses (it may
 * hold several fields); it is kept until margin_s seconds before it
 * expires.  A miss takes the host's state_lock and looks again before
 * fetching, so parallel execs fetch once.  A cache file that cannot be
 * read as ours (foreign owner, group or other bits, too large, not our
 * JSON, expired) is ignored and replaced, never an error.  The identity
 * is a hash the backend makes from what names the source (never a secret).
 * Secrets are in host buffers (cleansed when released).
 */
#ifndef OCIKP_CREDCACHE_H
#define OCIKP_CREDCACHE_H

#include <stddef.h>
#include <ocikp/backend.h>

#define CREDCACHE_VALUE_MAX 16384	/* bytes of a value, at most */

/* The memory copy of one identity's value; zeroed before first use. */
struct credcache {
	char id[65];			/* "": empty */
	struct ocikp_buf value;
	long long expires_at;
};

/* A new value for the identity: appended to out (printable ASCII, no NUL),
 * with its end in epoch seconds. */
typedef int (*credcache_fetch_fn)(struct ocikp_ctx *ctx, void *arg, struct ocikp_buf *out,
				  long long *expires_at);

/* The identity: hex SHA-256 of the parts (each NUL-terminated; NULL as ""). */
void credcache_identity(const char *const *parts, size_t n, char id[65]);

/*
 * The value for id, appended to out as a C string (len without the NUL):
 * from mem, else the file, else fetch (under the lock, after a second look
 * at the file).  stale: a value the service refused (expired), dropped from
 * both copies first (the file only if it still holds that value: another
 * exec may have renewed it).  mem may be NULL (no memory copy).
 * *expires_at (may be NULL) is the value's end; *fetched (may be NULL)
 * tells whether fetch ran.
 */
int credcache_get(struct ocikp_ctx *ctx, struct credcache *mem, const char *prefix,
		  const char *id, int margin_s, const struct ocikp_buf *stale,
		  credcache_fetch_fn fetch, void *arg, struct ocikp_buf *out,
		  long long *expires_at, int *fetched);

/* Empty the memory copy (cleansed). */
void credcache_clear(struct ocikp_ctx *ctx, struct credcache *mem);

#endif
