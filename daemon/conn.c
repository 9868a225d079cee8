/*
 * One client connection: an HTTP/2 session (libnghttp2) carrying unary
 * gRPC calls.  The connection's thread reads frames, collects each
 * stream's one message, hands complete requests to the workers and writes
 * their answers; it alone touches the session.  Workers hand results back
 * through a list and an eventfd.
 *
 * Bounds: streams per connection (SETTINGS), 1 MiB per message, request
 * bytes buffered across all connections, and each stream's deadline
 * (grpc-timeout or the drop-in timeout): a client that stops half-way is
 * answered DEADLINE_EXCEEDED, reset, and its connection closed.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include "ocikpd.h"

#define STREAMS_MAX 32				/* per connection, announced in SETTINGS */
#define BODY_BUDGET (64L * 1024 * 1024)		/* request bytes buffered, all connections */
#define KILL_GRACE_MS 1000			/* answered but still sending: reset after this */
#define CONN_STACK (256 * 1024)			/* no backend code runs here */
#define GOAWAY_GRACE_MS 200			/* between the two GOAWAYs */
#define LINGER_MS 500				/* reading after our last byte */
#define OUT_CHUNK 65536				/* frames gathered before a send */
#define IDLE_THREAD_MS 30000			/* a connection thread waits this long for the next */
#define WRITE_GRACE_MS 2000			/* an answer not taken by the deadline and this: reset */

struct stream {
	struct stream *next;
	int32_t id;
	int op;			/* OP_WRAP / OP_UNWRAP, -1: unknown path */
	bool post, ct_ok, path_seen, compressed_enc;
	struct timespec started;
	struct deadline deadline;
	struct deadline kill_at;	/* answered early while the client still sends */
	struct ocikp_buf body;
	size_t counted;		/* bytes of body in d->body_bytes */
	bool complete, dispatched, answered;
	struct ocikp_buf resp;	/* length-prefixed answer (secret on unwrap) */
	size_t resp_off;
	struct deadline write_by;	/* an answer with a body: sent by then, or reset */
	struct job *job;	/* dispatched, not back yet */
	char status[4];
};

struct conn {
	struct conn *next, *prev;	/* d->conns */
	struct conn *handoff_next;	/* d->handoff */
	struct daemon *d;
	int fd, efd;
	nghttp2_session *session;
	struct peer peer;
	atomic_int refs;		/* the thread, and each job in a worker */
	pthread_mutex_t lock;
	struct job *done;		/* answers back from workers */
	bool closed;
	struct stream *streams;
	int n_streams;
	/* Jobs whose stream is gone (reset, answered DEADLINE_EXCEEDED) but
	 * which are not back from the workers: each still holds a stream's
	 * slot, so resetting streams cannot queue more work than
	 * STREAMS_MAX (CVE-2023-44487, "rapid reset"). */
	int n_orphans;
	bool write_stalled;		/* an answer missed its write deadline: close */
	struct ocikp_buf out;		/* frames not yet written */
	size_t out_off;
	bool drop;			/* a stream stalled: close when no stream is left */
	bool notice_sent;		/* stopping: first GOAWAY (no stream refused yet) */
	struct deadline final_at;	/* ...then the real one, a moment later */
	bool goaway_sent;
	bool peer_gone;			/* EOF or error from the client */
	struct deadline idle;		/* no stream open: close at this */
};

static void conn_unref(struct conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	close(c->efd);
	pthread_mutex_destroy(&c->lock);
	peer_release(&c->peer);
	free(c);
}

static void body_release(struct conn *c, struct stream *s)
{
	atomic_fetch_sub(&c->d->body_bytes, (long)s->counted);
	peer_bytes_put(&c->peer, (long)s->counted);
	s->counted = 0;
	buf_free(&s->body);
}

static void stream_free(struct conn *c, struct stream *s)
{
	body_release(c, s);
	buf_free(&s->resp);
	free(s);
}

/* ---- writing answers ------------------------------------------------------ */

static void answer_error(struct conn *c, struct stream *s, int code, const char *msg)
{
	char enc[3 * (OCIKP_ERR_MAX + 64) + 1];
	nghttp2_nv nv[4];
	const char *status = "200";

	if (s->answered)
		return;
	s->answered = true;
	if (!s->dispatched)	/* else the worker logs it */
		log_request(s->op, NULL, code, &s->started, &c->peer, msg);
	snprintf(s->status, sizeof(s->status), "%d", code);
	grpc_message_encode(msg, enc, sizeof(enc));
#define NV(i, n, v) do { nv[i].name = (uint8_t *)(n); nv[i].namelen = strlen(n); \
	nv[i].value = (uint8_t *)(v); nv[i].valuelen = strlen(v); \
	nv[i].flags = NGHTTP2_NV_FLAG_NONE; } while (0)
	if (!s->ct_ok && s->path_seen)
		status = "415";	/* not gRPC at all (PROTOCOL-HTTP2: Content-Type) */
	NV(0, ":status", status);
	NV(1, "content-type", "application/grpc");
	NV(2, "grpc-status", s->status);
	NV(3, "grpc-message", enc);
	/* Trailers-Only: one HEADERS frame ending the stream */
	nghttp2_submit_response(c->session, s->id, nv, 4, NULL);
	if (!s->complete)
		deadline_set(&s->kill_at, KILL_GRACE_MS);
	body_release(c, s);
}

static ssize_t read_answer(nghttp2_session *session, int32_t id, uint8_t *buf, size_t len,
			   uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct stream *s = src->ptr;
	size_t n = s->resp.len - s->resp_off;
	static const nghttp2_nv ok[] = {
		{ (uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE },
	};

	(void)user;
	if (!s->resp.data)
		return NGHTTP2_ERR_DEFERRED;	/* wiped at its write deadline; reset follows */
	if (n > len)
		n = len;
	memcpy(buf, s->resp.data + s->resp_off, n);
	s->resp_off += n;
	if (s->resp_off == s->resp.len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(session, id, ok, 1) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return (ssize_t)n;
}

static void answer_ok(struct conn *c, struct stream *s, const struct ocikp_buf *json)
{
	static const nghttp2_nv head[] = {
		{ (uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16,
		  NGHTTP2_NV_FLAG_NONE },
	};
	nghttp2_data_provider prd;
	long left;

	if (grpc_pack(json, &s->resp) != OCIKP_OK) {
		answer_error(c, s, GRPC_INTERNAL, "ocikpd: out of memory");
		return;
	}
	s->answered = true;
	left = deadline_left_ms(&s->deadline);
	deadline_set(&s->write_by, (left == LONG_MAX ? atomic_load(&c->d->timeout_ms) : left) +
				   WRITE_GRACE_MS);
	prd.source.ptr = s;
	prd.read_callback = read_answer;
	nghttp2_submit_response(c->session, s->id, head, 2, &prd);
}

/* ---- reading requests ------------------------------------------------------- */

static void job_done(struct job *j);

static void dispatch(struct conn *c, struct stream *s)
{
	struct job *j;
	uint32_t be;
	size_t len;

	s->complete = true;
	if (s->answered)
		return;
	if (s->body.len < GRPC_PREFIX) {
		answer_error(c, s, GRPC_INVALID_ARGUMENT, "ocikp: request: no message");
		return;
	}
	memcpy(&be, s->body.data + 1, 4);
	len = ntohl(be);
	if (s->body.len != GRPC_PREFIX + len) {
		answer_error(c, s, GRPC_INVALID_ARGUMENT, "ocikp: request: message truncated");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		answer_error(c, s, GRPC_RESOURCE_EXHAUSTED, "ocikpd: out of memory");
		return;
	}
	if (grpc_unpack(s->body.data + GRPC_PREFIX, len, &j->json) != OCIKP_OK) {
		job_free(j);
		answer_error(c, s, GRPC_INVALID_ARGUMENT,
			     "ocikp: request: not a keyProviderKeyWrapProtocolInput message");
		return;
	}
	buf_free(&s->body);
	j->budget = s->counted;	/* counted until the answer is gone */
	s->counted = 0;
	j->owner = c;
	j->done = job_done;
	j->stream_id = s->id;
	j->op = s->op;
	j->deadline = s->deadline;
	j->started = s->started;
	j->peer = &c->peer;
	atomic_fetch_add(&c->refs, 1);
	s->dispatched = true;
	s->job = j;
	work_submit(c->d, j);
}

/* The prefix is checked as soon as it is in, so an oversized or
 * compressed message is refused before it is buffered. */
static void body_add(struct conn *c, struct stream *s, const uint8_t *data, size_t len)
{
	char msg[160];
	uint32_t be;
	size_t need;

	if (s->answered)
		return;	/* refused already: drop what still comes */
	if (!peer_bytes_take(&c->peer, (long)len, BODY_BUDGET)) {
		answer_error(c, s, GRPC_RESOURCE_EXHAUSTED,
			     "ocikpd: this caller has too many requests in progress; try again");
		return;
	}
	if (atomic_fetch_add(&c->d->body_bytes, (long)len) + (long)len > BODY_BUDGET) {
		atomic_fetch_sub(&c->d->body_bytes, (long)len);
		peer_bytes_put(&c->peer, (long)len);
		answer_error(c, s, GRPC_RESOURCE_EXHAUSTED,
			     "ocikpd: too many requests in progress; try again");
		return;
	}
	s->counted += len;
	if (buf_append(&s->body, data, len) != OCIKP_OK) {
		answer_error(c, s, GRPC_RESOURCE_EXHAUSTED, "ocikpd: out of memory");
		return;
	}
	if (s->body.len < GRPC_PREFIX)
		return;
	if (s->body.data[0] != 0) {
		answer_error(c, s, GRPC_UNIMPLEMENTED,
			     s->body.data[0] == 1
			     ? "ocikpd: compressed messages are not supported: send them "
			       "uncompressed (grpc-encoding identity)"
			     : "ocikp: request: bad message flags");
		return;
	}
	memcpy(&be, s->body.data + 1, 4);
	need = ntohl(be);
	if (need > GRPC_MAX_MESSAGE) {
		snprintf(msg, sizeof(msg), "ocikp: request: message of %zu bytes is over the "
			 "limit of %d", need, GRPC_MAX_MESSAGE);
		answer_error(c, s, GRPC_RESOURCE_EXHAUSTED, msg);
		return;
	}
	if (s->body.len > GRPC_PREFIX + need)
		answer_error(c, s, GRPC_INVALID_ARGUMENT,
			     "ocikp: request: more than one message in a unary call");
}

/* Headers are complete: is this a call we serve? */
static void headers_done(struct conn *c, struct stream *s)
{
	if (!s->post || !s->path_seen)
		answer_error(c, s, GRPC_UNIMPLEMENTED, "ocikpd: not a gRPC call (POST :path)");
	else if (!s->ct_ok)
		answer_error(c, s, GRPC_UNKNOWN, "ocikpd: content-type must be application/grpc");
	else if (s->op < 0)
		answer_error(c, s, GRPC_UNIMPLEMENTED, "ocikpd: unknown method (this service has "
			     "/keyprovider.KeyProviderService/WrapKey and UnWrapKey)");
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct conn *c = user;
	struct stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (c->n_streams + c->n_orphans >= STREAMS_MAX) {
		/* the slot of a reset stream is held until its job is back */
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
					  NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->id = frame->hd.stream_id;
	s->op = -1;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	deadline_set(&s->deadline, atomic_load(&c->d->timeout_ms));
	s->next = c->streams;
	c->streams = s;
	c->n_streams++;
	nghttp2_session_set_stream_user_data(session, s->id, s);
	return 0;
}

static bool starts(const uint8_t *v, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && !memcmp(v, prefix, n);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame,
		     const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen,
		     uint8_t flags, void *user)
{
	struct stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	struct deadline d;
	long ms;

	(void)flags;
	(void)user;
	if (!s || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (namelen == 7 && !memcmp(name, ":method", 7)) {
		s->post = valuelen == 4 && !memcmp(value, "POST", 4);
	} else if (namelen == 5 && !memcmp(name, ":path", 5)) {
		s->path_seen = true;
		s->op = grpc_method((const char *)value, valuelen);
	} else if (namelen == 12 && !memcmp(name, "content-type", 12)) {
		/* application/grpc, application/grpc+proto, application/grpc;... */
		s->ct_ok = starts(value, valuelen, "application/grpc") &&
			   (valuelen == 16 || value[16] == '+' || value[16] == ';');
	} else if (namelen == 12 && !memcmp(name, "grpc-timeout", 12)) {
		ms = grpc_timeout_ms((const char *)value, valuelen);
		if (ms > 0) {
			deadline_set(&d, ms);
			if (deadline_min(&d, &s->deadline) == &d)
				s->deadline = d;
		}
	} else if (namelen == 13 && !memcmp(name, "grpc-encoding", 13)) {
		s->compressed_enc = !(valuelen == 8 && !memcmp(value, "identity", 8));
	}
	return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct conn *c = user;
	struct stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!s)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
		headers_done(c, s);
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
		dispatch(c, s);
	return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
		   size_t len, void *user)
{
	struct stream *s = nghttp2_session_get_stream_user_data(session, id);

	(void)flags;
	if (s)
		body_add(user, s, data, len);
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error, void *user)
{
	struct conn *c = user;
	struct stream *s = nghttp2_session_get_stream_user_data(session, id), **p;

	(void)error;
	if (!s)
		return 0;
	for (p = &c->streams; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	c->n_streams--;
	if (s->job) {	/* not worth running any more; its slot stays taken */
		atomic_store(&s->job->cancelled, true);
		c->n_orphans++;
	}
	if (!c->n_streams)
		deadline_set(&c->idle, atomic_load(&c->d->timeout_ms));
	stream_free(c, s);
	return 0;
}

/* The frames nghttp2 has ready, onto c->out (up to OUT_CHUNK unsent). */
static int gather(struct conn *c)
{
	const uint8_t *data;
	ssize_t n = 0;

	while (c->out.len - c->out_off < OUT_CHUNK &&
	       (n = nghttp2_session_mem_send(c->session, &data)) > 0)
		if (buf_append(&c->out, data, (size_t)n) != OCIKP_OK)
			return -1;
	return n < 0 ? -1 : 0;
}

/* Everything nghttp2 has to say, gathered and written in as few sends as
 * the socket takes (an answer is several frames).  The buffer holds
 * answers, so it is wiped as it empties.  -1: the connection is done. */
static int flush(struct conn *c)
{
	ssize_t sent;

	for (;;) {
		if (gather(c) != 0)
			return -1;
		if (c->out_off == c->out.len)
			return 0;
		sent = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
			    MSG_NOSIGNAL);
		if (sent < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		c->out_off += (size_t)sent;
		if (c->out_off < c->out.len)
			return 0;	/* the rest when the socket takes it (POLLOUT) */
		OPENSSL_cleanse(c->out.data, c->out.len);
		c->out.len = c->out_off = 0;
	}
}

static bool want_write(struct conn *c)
{
	return c->out_off < c->out.len || nghttp2_session_want_write(c->session);
}

/* nghttp2 holds frames (answers among them) in its own buffers: on the
 * cleansing allocator, they are wiped when freed. */
static void *h2_malloc(size_t n, void *u)
{
	(void)u;
	return secure_malloc(n ? n : 1);
}

static void h2_free(void *p, void *u)
{
	(void)u;
	secure_free(p);
}

static void *h2_calloc(size_t nmemb, size_t size, void *u)
{
	(void)u;
	return secure_calloc(nmemb, size);
}

static void *h2_realloc(void *p, size_t n, void *u)
{
	(void)u;
	return secure_realloc(p, n ? n : 1);
}

static nghttp2_mem h2_mem = { NULL, h2_malloc, h2_free, h2_calloc, h2_realloc };

static void job_release(struct conn *c, struct job *j)
{
	atomic_fetch_sub(&c->d->body_bytes, (long)j->budget);
	peer_bytes_put(&c->peer, (long)j->budget);
	job_free(j);
}

/* ---- the connection's loop --------------------------------------------------- */

/* A job back from work.c (any thread). */
static void job_done(struct job *j)
{
	struct conn *c = j->owner;
	uint64_t one = 1;
	bool closed;

	pthread_mutex_lock(&c->lock);
	closed = c->closed;
	if (!closed) {
		j->next = c->done;
		c->done = j;
		if (write(c->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow here; nothing to do */
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (closed) {
		job_release(c, j);
		conn_unref(c);
	}
}

static void take_answers(struct conn *c)
{
	struct job *list, *j;
	struct stream *s;
	uint64_t n;

	if (read(c->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing pending */
	}
	pthread_mutex_lock(&c->lock);
	list = c->done;
	c->done = NULL;
	pthread_mutex_unlock(&c->lock);
	while ((j = list)) {
		list = j->next;
		s = nghttp2_session_get_stream_user_data(c->session, j->stream_id);
		if (!s || s->job != j)
			c->n_orphans--;	/* its stream is gone: the slot is free now */
		else
			s->job = NULL;
		if (s && !s->answered) {
			if (j->code == GRPC_OK)
				answer_ok(c, s, &j->answer);
			else
				answer_error(c, s, j->code, j->message);
		}
		job_release(c, j);
		conn_unref(c);
	}
}

/* Deadlines: a stream not answered in time gets DEADLINE_EXCEEDED; one
 * answered early whose client keeps sending (or stalls) is reset after a
 * grace period, and its connection goes when nothing else is open. */
static long sweep(struct conn *c)
{
	struct stream *s;
	long left, next = c->n_streams ? LONG_MAX : deadline_left_ms(&c->idle);

	for (s = c->streams; s; s = s->next) {
		if (!s->answered) {
			left = deadline_left_ms(&s->deadline);
			if (left == 0) {
				answer_error(c, s, GRPC_DEADLINE_EXCEEDED, s->complete
					     ? "ocikpd: deadline exceeded: the backend did not "
					       "answer in time"
					     : "ocikpd: deadline exceeded: the request was not "
					       "complete in time");
				if (!s->complete)
					c->drop = true;
				if (s->job)
					atomic_store(&s->job->cancelled, true);
			} else if (left < next) {
				next = left;
			}
		}
		if (s->answered && !s->complete) {
			left = deadline_left_ms(&s->kill_at);
			if (left == 0) {
				nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id,
							  NGHTTP2_CANCEL);
				s->complete = true;	/* once */
			} else if (left < next) {
				next = left;
			}
		}
		if (s->answered && s->resp.len) {
			/* a client that does not take its answer (a zero flow-control
			 * window) keeps neither it nor the connection */
			left = deadline_left_ms(&s->write_by);
			if (left == 0) {
				nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id,
							  NGHTTP2_CANCEL);
				buf_free(&s->resp);
				s->resp_off = 0;
				c->write_stalled = true;
			} else if (left < next) {
				next = left;
			}
		}
	}
	return next;
}

/* Stopping: a request not complete by the last GOAWAY will not be; it
 * ends now rather than at its deadline. */
static void end_incomplete(struct conn *c)
{
	struct stream *s;

	for (s = c->streams; s; s = s->next)
		if (!s->complete && !s->answered) {
			answer_error(c, s, GRPC_UNAVAILABLE, "ocikpd: stopping: the request was "
				     "not complete (safe to retry)");
			deadline_set(&s->kill_at, 0);	/* reset it at once */
		}
}

/* Stopping, as HTTP/2 asks (RFC 9113 6.8): a GOAWAY that refuses
 * nothing, then after a round trip's worth the one naming the last stream
 * taken; a stream the client sent meanwhile is still served, one sent
 * after is its to retry elsewhere. */
static void stop_step(struct conn *c)
{
	if (atomic_load(&c->d->stopping) && !c->notice_sent) {
		nghttp2_submit_shutdown_notice(c->session);
		deadline_set(&c->final_at, GOAWAY_GRACE_MS);
		c->notice_sent = true;
	}
	if (c->notice_sent && !c->goaway_sent && deadline_left_ms(&c->final_at) == 0) {
		nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(c->session),
				      NGHTTP2_NO_ERROR, NULL, 0);
		c->goaway_sent = true;
		end_incomplete(c);
	}
}

static void conn_loop(struct conn *c)
{
	uint8_t buf[16384];
	struct pollfd pfd[2];
	ssize_t n, rc;
	long wait;

	for (;;) {
		stop_step(c);
		wait = sweep(c);
		if (c->notice_sent && !c->goaway_sent && wait > GOAWAY_GRACE_MS)
			wait = GOAWAY_GRACE_MS;
		if (flush(c) != 0 || c->write_stalled)
			break;
		if (!nghttp2_session_want_read(c->session) && !want_write(c))
			break;
		if ((c->drop || c->goaway_sent) && !c->n_streams && !want_write(c))
			break;
		if (!c->n_streams && deadline_left_ms(&c->idle) == 0)
			break;	/* idle, or never spoke: a connection costs a thread */
		pfd[0].fd = c->fd;
		pfd[0].events = POLLIN | (want_write(c) ? POLLOUT : 0);
		pfd[1].fd = c->efd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, wait > 600000 ? 600000 : (int)wait) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN)
			take_answers(c);
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(c->fd, buf, sizeof(buf), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				c->peer_gone = true;
				break;
			}
			if (n > 0) {
				rc = nghttp2_session_mem_recv(c->session, buf, (size_t)n);
				OPENSSL_cleanse(buf, (size_t)n);	/* it may hold keys */
				if (rc < 0)
					break;
			}
		}
	}
}

/* Closing a socket with unread bytes makes the kernel send a reset, which
 * can overtake the GOAWAY or the last answer still in flight: say we are
 * done writing, and read what the client still sends, briefly. */
static void linger_close(struct conn *c)
{
	struct pollfd pfd = { c->fd, POLLIN, 0 };
	struct deadline until;
	uint8_t buf[4096];
	ssize_t n;
	long left;

	if (!c->peer_gone && shutdown(c->fd, SHUT_WR) == 0) {
		deadline_set(&until, LINGER_MS);
		while ((left = deadline_left_ms(&until)) > 0 && poll(&pfd, 1, (int)left) > 0) {
			n = recv(c->fd, buf, sizeof(buf), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				break;	/* the client closed too */
		}
		OPENSSL_cleanse(buf, sizeof(buf));	/* a late request's bytes */
	}
	close(c->fd);
}

/* The session and its streams, and the answers back from workers; the
 * socket and the daemon's list are conn_end's. */
static void conn_drop_session(struct conn *c)
{
	struct job *j, *list;
	struct stream *s;

	pthread_mutex_lock(&c->lock);
	for (s = c->streams; s; s = s->next)	/* under the lock: not back yet, not freed */
		if (s->job)
			atomic_store(&s->job->cancelled, true);
	c->closed = true;
	list = c->done;
	c->done = NULL;
	pthread_mutex_unlock(&c->lock);
	while ((j = list)) {
		list = j->next;
		job_release(c, j);
		atomic_fetch_sub(&c->refs, 1);	/* never the last: the thread holds one */
	}
	nghttp2_session_del(c->session);	/* calls on_stream_close for open streams? not relied on */
	while ((s = c->streams)) {
		c->streams = s->next;
		stream_free(c, s);
	}
	buf_free(&c->out);
}

static void conn_end(struct conn *c)
{
	struct daemon *d = c->d;

	conn_drop_session(c);
	linger_close(c);
	pthread_mutex_lock(&d->conns_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->n_conns--;
	peer_conn_closed(&c->peer);
	pthread_cond_broadcast(&d->conns_cond);
	pthread_mutex_unlock(&d->conns_lock);
	conn_unref(c);
}

/* The next connection handed to this idle thread, or NULL when none came
 * within IDLE_THREAD_MS or the daemon is stopping: the thread ends. */
static struct conn *next_conn(struct daemon *d)
{
	struct timespec at;
	struct conn *c = NULL;

	clock_gettime(CLOCK_REALTIME, &at);
	at.tv_sec += IDLE_THREAD_MS / 1000;
	pthread_mutex_lock(&d->conns_lock);
	d->n_idle++;
	while (!d->handoff && !atomic_load(&d->stopping))
		if (pthread_cond_timedwait(&d->idle_cond, &d->conns_lock, &at) == ETIMEDOUT)
			break;
	d->n_idle--;
	if (d->handoff) {
		c = d->handoff;
		d->handoff = c->handoff_next;
		d->n_handoff--;
	}
	pthread_mutex_unlock(&d->conns_lock);
	return c;
}

static void *conn_thread(void *arg)
{
	struct conn *c = arg;
	struct daemon *d = c->d;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, STREAMS_MAX },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384 },
	};

	do {
		if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 2) == 0)
			conn_loop(c);
		conn_end(c);
	} while ((c = next_conn(d)));
	return NULL;
}

/* A connection on fd with its session, not started: NULL when out of
 * memory (fd and peer are still the caller's). */
static struct conn *conn_new(struct daemon *d, int fd, const struct peer *peer)
{
	nghttp2_session_callbacks *cb;
	struct conn *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->d = d;
	c->fd = fd;
	atomic_init(&c->refs, 1);
	pthread_mutex_init(&c->lock, NULL);
	c->peer = *peer;
	deadline_set(&c->idle, atomic_load(&d->timeout_ms));
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0 || nghttp2_session_callbacks_new(&cb) != 0) {
		if (c->efd >= 0)
			close(c->efd);
		free(c);
		return NULL;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	rc = nghttp2_session_server_new3(&c->session, cb, c, NULL, &h2_mem);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0) {
		close(c->efd);
		free(c);
		return NULL;
	}
	return c;
}

int conn_start(struct daemon *d, int fd, bool is_unix)
{
	struct conn *c;
	pthread_attr_t attr;
	pthread_t t;
	struct peer peer;
	char why[160];
	int rc;

	/* before anything is spent on the caller */
	rc = peer_admit(d, fd, is_unix, &peer, why, sizeof(why));
	if (rc != 0) {
		peer_refuse(fd, rc, why);
		return OCIKP_UNAVAILABLE;
	}
	pthread_mutex_lock(&d->conns_lock);
	if (d->n_conns >= CONN_MAX) {
		pthread_mutex_unlock(&d->conns_lock);
		peer_drop(&peer);
		close(fd);
		fprintf(stderr, "ocikpd: %d connections open: refusing a new one\n", CONN_MAX);
		return OCIKP_UNAVAILABLE;
	}
	pthread_mutex_unlock(&d->conns_lock);

	c = conn_new(d, fd, &peer);
	if (!c) {
		peer_drop(&peer);
		close(fd);
		return OCIKP_INTERNAL;
	}
	if (!is_unix) {	/* an answer is several small writes: no Nagle delay between them */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}

	pthread_mutex_lock(&d->conns_lock);
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	d->n_conns++;
	if (d->n_idle > d->n_handoff) {	/* a thread is waiting: no new one */
		c->handoff_next = d->handoff;
		d->handoff = c;
		d->n_handoff++;
		pthread_cond_signal(&d->idle_cond);
		pthread_mutex_unlock(&d->conns_lock);
		return OCIKP_OK;
	}
	pthread_mutex_unlock(&d->conns_lock);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, CONN_STACK);
	rc = pthread_create(&t, &attr, conn_thread, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		conn_end(c);
		return OCIKP_INTERNAL;
	}
	return OCIKP_OK;
}

void conn_wake_all(struct daemon *d)
{
	uint64_t one = 1;
	struct conn *c;

	pthread_mutex_lock(&d->conns_lock);
	for (c = d->conns; c; c = c->next)
		if (write(c->efd, &one, sizeof(one)) < 0) {
			/* cannot overflow */
		}
	pthread_cond_broadcast(&d->idle_cond);	/* idle threads: leave */
	pthread_mutex_unlock(&d->conns_lock);
}
