/*
 * ocikpd internals: the gRPC KeyProviderService over the ocikp host.
 *
 * Threads: the main thread accepts connections and handles signals; each
 * connection has a thread running its HTTP/2 session (reading, framing,
 * deadlines); a pool of workers (up to serve.max_requests) runs the
 * requests through host_prepare() and host_run(), so a slow backend never
 * holds up the accept loop or another connection's reads.  A backend not
 * declared concurrent has a lane: its jobs wait there, and one worker at a
 * time runs them.
 */
#ifndef OCIKPD_H
#define OCIKPD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "ocikp.h"

#define GRPC_MAX_MESSAGE (1024 * 1024)	/* one request; optsdata is a few hundred bytes */
#define GRPC_PREFIX 5			/* compressed flag + 4-byte length */

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14
};

/* ---- grpc.c: gRPC's pieces over HTTP/2 -------------------------------------- */
int grpc_code_of(int ocikp_status);
const char *grpc_code_name(int code);
/* grpc-timeout ("100m", "5S"): milliseconds (at least 1), or -1 if malformed. */
long grpc_timeout_ms(const char *v, size_t len);
/* grpc-message: percent-encoded as the spec asks (bytes outside 0x20-0x7e, '%'). */
void grpc_message_encode(const char *in, char *out, size_t size);
/* The rpc named by :path: OP_WRAP, OP_UNWRAP, or -1. */
int grpc_method(const char *path, size_t len);
/* A whole length-prefixed message: its protobuf payload -> the JSON bytes. */
int grpc_unpack(const unsigned char *msg, size_t len, struct ocikp_buf *json);
/* The JSON answer -> length-prefixed protobuf message, appended to out. */
int grpc_pack(const struct ocikp_buf *json, struct ocikp_buf *out);

/* ---- listen.c: where ocikpd listens ------------------------------------------ */
struct listener {
	int fd;
	char name[160];		/* "unix:/run/ocikp/grpc.sock", "127.0.0.1:50000" */
	char *unlink_path;	/* a socket file we made, removed on exit */
};
#define LISTEN_MAX 8
/* Open the --listen addresses, or take systemd's sockets (LISTEN_FDS)
 * instead.  allow_remote: serve.allow_remote.  Errors in ctx. */
int listen_open(struct ocikp_ctx *ctx, const char *const *specs, size_t n_specs,
		bool allow_remote, struct listener *out, size_t *n_out);
void listen_close(struct listener *l, size_t n);

/* ---- work.c: configuration generations, requests and workers ------------------ */
struct options;		/* main.c's command line */

/* One configuration: the drop-ins as read at start or at a SIGHUP, the
 * backends it loaded, the serve.* policy.  Requests hold a reference, so a
 * reload never pulls a backend from under a request in flight. */
struct gen {
	atomic_int refs;
	struct host base;	/* conf, plugin_dir */
	struct pool *pool;
	unsigned *allow_uids;	/* serve.allow_users */
	size_t n_allow_uids;
	unsigned *allow_gids;	/* serve.allow_groups */
	size_t n_allow_gids;
	bool allow_any;		/* neither list set */
	unsigned *admin_uids;	/* serve.admin_users: may register keys (require_admin) */
	size_t n_admin_uids;
	unsigned *admin_gids;	/* serve.admin_groups */
	size_t n_admin_gids;
	long max_requests;
	long stop_timeout_ms;	/* serve.stop_timeout */
	bool allow_remote;
};
/* serve-opts.c: g's serve.* policy from g->base.conf; an error in ctx
 * names the drop-in line. */
int serve_options(struct gen *g, struct ocikp_ctx *ctx);

struct share;
struct peer {
	bool has_cred;		/* a unix socket: SO_PEERCRED */
	uid_t uid;
	gid_t gid;
	gid_t *groups;		/* SO_PEERGROUPS, the whole list (heap) */
	int n_groups;
	struct share *share;	/* this caller's connections and bytes (peer.c) */
};

/* One request between its connection and a worker.  The connection made
 * it and gets it back through done(); meanwhile it may set `cancelled`
 * (stream reset, connection closed, deadline answered), and a worker that
 * sees that drops the job instead of running it. */
struct job {
	struct job *next;
	void (*done)(struct job *j);	/* back to its owner, from any thread */
	void *owner;			/* the connection */
	atomic_bool cancelled;
	int32_t stream_id;
	int op;				/* OP_WRAP / OP_UNWRAP */
	struct ocikp_buf json;		/* the request (secret: it may hold keys) */
	size_t budget;			/* its share of d->body_bytes, until freed */
	struct deadline deadline;
	struct timespec started;
	const struct peer *peer;	/* the connection's, lives as long as conn */
	/* work.c's: the request parsed and routed, run on the generation it
	 * was routed by */
	struct gen *gen;
	struct prepared prep;
	const void *lane;		/* pool_lane() of its one serial backend */
	bool prepared, uid_counted;
	/* the result */
	int code;			/* enum grpc_code */
	char message[OCIKP_ERR_MAX + 64];
	struct ocikp_buf answer;	/* the JSON answer (secret on unwrap) */
};

struct lane;
struct uid_slot {
	uid_t uid;
	unsigned n;			/* jobs in flight; 0: free */
};
#define UID_SLOTS 64

struct daemon {
	const char *provider;
	char *config_dirs;
	const char *config_dirs_from;
	const char *plugin_dir;
	const char *compat[3];
	atomic_long timeout_ms;		/* the current generation's, for new streams */
	atomic_long stop_timeout_ms;	/* serve.stop_timeout: SIGTERM's drain, at most */

	pthread_mutex_t gen_lock;
	struct gen *gen;		/* the current one */

	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	struct job *q_head, *q_tail;
	struct lane *lanes;		/* a backend called one at a time: its waiting jobs */
	struct uid_slot uids[UID_SLOTS];	/* in-flight jobs per peer uid */
	pthread_t *workers;		/* made on demand, up to max_workers */
	size_t n_workers, max_workers, n_idle_workers;
	bool workers_quit;		/* under q_lock: the queue is drained, leave */
	atomic_bool stopping;		/* SIGTERM: GOAWAY, finish what is in flight */
	atomic_long body_bytes;		/* request bytes buffered, all connections */

	pthread_mutex_t conns_lock;
	pthread_cond_t conns_cond;
	struct conn *conns;		/* live connections */
	size_t n_conns;
	/* Connection threads outlive their connection for a while, waiting
	 * for the next one: a client such as ocicrypt connects for every
	 * call, and a new thread per connection was most of its cost. */
	pthread_cond_t idle_cond;
	struct conn *handoff;		/* accepted, for an idle thread to take */
	size_t n_idle, n_handoff;
};

int gen_load(struct daemon *d, struct ocikp_ctx *ctx, struct gen **out);
void gen_unref(struct gen *g);
struct gen *gen_current(struct daemon *d);	/* a reference */
int work_start(struct daemon *d, size_t n);
void work_submit(struct daemon *d, struct job *j);
/* SIGTERM: every job not started yet is answered UNAVAILABLE. */
void work_refuse_queued(struct daemon *d);
void work_stop(struct daemon *d);
void job_free(struct job *j);
/* The one log line of a request (rpc: OP_WRAP, OP_UNWRAP or -1). */
void log_request(int rpc, const char *backend, int code, const struct timespec *started,
		 const struct peer *peer, const char *message);

/* ---- peer.c: who calls, admission at accept, shares per caller ---------------- */
/* Reads the caller's credentials, checks the allow lists of the current
 * generation and takes a connection of the caller's share.  0: admitted;
 * else the HTTP/2 error code for peer_refuse, why says why, p is empty. */
int peer_admit(struct daemon *d, int fd, bool is_unix, struct peer *p, char *why, size_t size);
void peer_refuse(int fd, int h2_error, const char *why);	/* closes fd */
bool peer_allowed(const struct gen *g, const struct peer *p, char *why, size_t size);
/* The host's view of the caller (serve.admin_*, the identity for request files). */
void peer_caller(const struct gen *g, const struct peer *p, struct caller *c);
void peer_conn_closed(struct peer *p);
/* Request bytes against the caller's share (half of budget). */
bool peer_bytes_take(struct peer *p, long n, long budget);
void peer_bytes_put(struct peer *p, long n);
void peer_release(struct peer *p);
void peer_drop(struct peer *p);		/* admitted, but its connection never ran */

/* ---- conn.c: one client connection (HTTP/2 session) --------------------------- */
#define CONN_MAX 128
int conn_start(struct daemon *d, int fd, bool is_unix);
void conn_wake_all(struct daemon *d);			/* stopping: say GOAWAY */

#endif
