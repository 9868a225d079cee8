/* Target: ocikpd's side of one HTTP/2 connection (daemon/conn.c): its
 * nghttp2 server session with the daemon's own callbacks, so the gRPC
 * framing (body_add, dispatch), the header checks (on_header,
 * headers_done, grpc_timeout_ms), stream bookkeeping (streams, orphans,
 * the body budget) and the answers (answer_error, answer_ok, read_answer)
 * all run on what the fuzzer sends.  conn.c is included for its statics;
 * the connection is made by conn_new and its output gathered by gather,
 * as ocikpd does, but nothing is sent: no socket.
 *
 * The input is what a client sends after its preface and first SETTINGS
 * (those are fixed, so the fuzzer spends itself on HEADERS and DATA),
 * fed one frame at a time as a client that waits between frames would:
 * after each, the answers back from "workers" are taken and the frames
 * ocikpd would write are gathered and dropped.  At the end the stopping
 * path runs (both GOAWAYs, incomplete streams answered).
 *
 * The work queue is replaced where a job would run a backend: the
 * backends are not what this target is about (the request target and the
 * backends' own targets cover the JSON), and a worker thread would make
 * runs irreproducible.  A job is answered at once, from inside the
 * callback that submitted it: an odd-length request with a fixed answer
 * (answer_ok's path), an even one with a fixed error.
 *
 * Invariants checked: every job is back (no orphan slot held), and once
 * the connection is gone no request byte is still counted against the
 * daemon's budget (a leak there would refuse all callers in time). */
#define work_submit fuzz_work_submit
#include "../daemon/conn.c"
#undef work_submit
#include "fuzz.h"

static const uint8_t client_start[] =
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	"\x00\x00\x00\x04\x00\x00\x00\x00\x00";		/* SETTINGS, empty */

void fuzz_work_submit(struct daemon *d, struct job *j)
{
	static const char answer[] = "{\"keywrapresults\":{\"annotation\":\"e30=\"}}";

	(void)d;
	if (j->json.len & 1) {
		j->code = GRPC_OK;
		if (buf_append(&j->answer, answer, sizeof(answer) - 1) != OCIKP_OK)
			abort();
	} else {
		j->code = GRPC_UNAVAILABLE;
		snprintf(j->message, sizeof(j->message), "fuzz: no backend here");
	}
	j->done(j);
}

/* What ocikpd would write: made, then dropped as flush drops it once sent. */
static void drain(struct conn *c)
{
	do {
		if (gather(c) != 0)
			return;
		if (c->out.len)
			OPENSSL_cleanse(c->out.data, c->out.len);
		c->out.len = c->out_off = 0;
	} while (nghttp2_session_want_write(c->session));
}

/* The answers back, as conn_loop takes them; all are back by now. */
static void answers(struct conn *c)
{
	take_answers(c);
	if (c->n_orphans != 0)
		abort();
	drain(c);
}

/* One frame's bytes (9-byte header and its length), or the rest. */
static size_t frame_len(const uint8_t *p, size_t left)
{
	size_t n;

	if (left < 9)
		return left;
	n = 9 + ((size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2]);
	return n < left ? n : left;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct daemon d;
	static bool quiet;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, STREAMS_MAX },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384 },
	};
	struct peer peer = { .has_cred = true, .uid = 1000, .gid = 1000 };
	struct conn *c;
	size_t n;

	fuzz_ctx();
	if (!quiet) {
		/* ocikpd logs each request; the log is not under test (its
		 * escaping runs all the same).  libFuzzer and the sanitizers
		 * keep their own stream and fd. */
		stderr = fopen("/dev/null", "w");
		quiet = true;
	}
	atomic_store(&d.timeout_ms, 60000);
	c = conn_new(&d, -1, &peer);
	if (!c)
		abort();
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
	    nghttp2_session_mem_recv(c->session, client_start, sizeof(client_start) - 1) < 0)
		abort();
	drain(c);
	while (size && nghttp2_session_want_read(c->session)) {
		n = frame_len(data, size);
		if (nghttp2_session_mem_recv(c->session, data, n) < 0)
			break;	/* a protocol error: ocikpd closes */
		data += n;
		size -= n;
		answers(c);
	}
	/* stopping (conn_loop): the notice, the GOAWAY, incomplete streams */
	nghttp2_submit_shutdown_notice(c->session);
	nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(c->session),
			      NGHTTP2_NO_ERROR, NULL, 0);
	end_incomplete(c);
	answers(c);

	conn_drop_session(c);
	conn_unref(c);
	if (atomic_load(&d.body_bytes) != 0)
		abort();
	return 0;
}
