/* Target: ocikpd's side of one HTTP/2 connection (daemon/conn.c): its
 * nghttp2 server session with the daemon's own callbacks, so the gRPC
 * framing (body_add, dispatch), the header checks (on_header,
 * headers_done, grpc_timeout_ms), stream bookkeeping (streams, orphans,
 * the body budget), deadlines (sweep), stopping (stop_step) and the
 * answers (answer_error, answer_ok, read_answer) all run on what the
 * fuzzer sends.  conn.c is included for its statics; the connection is
 * made by conn_new, its output gathered by gather and its end is
 * conn_drop_session, as in ocikpd, but nothing is sent: no socket, no
 * thread.
 *
 * The input is what a client sends after its preface and first SETTINGS
 * (those are fixed, so the fuzzer spends itself on HEADERS and DATA),
 * fed one frame at a time as conn_loop would read it; after each, the
 * frames ocikpd would write are gathered and dropped, and the loop's
 * reasons to close are checked.  The end of the input is the client
 * closing.  Time and the daemon's signals are the client's to move too,
 * by the first byte of a PING's payload (a frame a client may send at any
 * point): 'd' every deadline is due (sweep, the second GOAWAY), 's'
 * ocikpd is stopping (SIGTERM), 'b' other connections now hold all of the
 * daemon's request-byte budget but 1 KiB, anything else the workers
 * answer (the answers are taken, as conn_loop does when its eventfd wakes
 * it).
 *
 * The work queue is replaced where a job would run a backend: the
 * backends are not what this target is about (the request target and the
 * backends' own targets cover the JSON), and a worker thread would make
 * runs irreproducible.  A job's fate is fixed by its request's length
 * mod 4: 0 a fixed error, 1 and 2 a fixed answer (answer_ok's path), 3 a
 * backend so slow that it answers only once the connection is gone.  At
 * the close, the others come back but are not taken (conn_drop_session
 * releases them).
 *
 * Checked: once the connection is gone and its jobs are back, no request
 * byte is still counted against the daemon's budget (a leak there would
 * refuse every caller in time), and LeakSanitizer sees nothing left. */
#define work_submit fuzz_work_submit
#include "../daemon/conn.c"
#undef work_submit
#include "fuzz.h"

static const uint8_t client_start[] =
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	"\x00\x00\x00\x04\x00\x00\x00\x00\x00";		/* SETTINGS, empty */

/* Jobs submitted and not answered yet ("running" in a worker). */
static struct job *running;

void fuzz_work_submit(struct daemon *d, struct job *j)
{
	(void)d;
	j->next = running;
	running = j;
}

/* The workers answer: those jobs of the given kind (slow or not). */
static void workers_answer(bool slow)
{
	static const char answer[] = "{\"keywrapresults\":{\"annotation\":\"e30=\"}}";
	struct job **p = &running, *j;

	while ((j = *p)) {
		if ((j->json.len % 4 == 3) != slow) {
			p = &j->next;
			continue;
		}
		*p = j->next;
		if (j->json.len % 4 == 1 || j->json.len % 4 == 2) {
			j->code = GRPC_OK;
			if (buf_append(&j->answer, answer, sizeof(answer) - 1) != OCIKP_OK)
				abort();
		} else {
			j->code = GRPC_UNAVAILABLE;
			snprintf(j->message, sizeof(j->message), "fuzz: no backend here");
		}
		j->done(j);
	}
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

static void expire(struct deadline *d)
{
	if (d->at.tv_sec || d->at.tv_nsec)	/* one ocikpd set */
		deadline_set(d, 0);
}

/* Every deadline is due now, and what conn_loop runs each turn runs. */
static void time_passes(struct conn *c)
{
	struct stream *s;

	for (s = c->streams; s; s = s->next) {
		expire(&s->deadline);
		expire(&s->kill_at);
		expire(&s->write_by);
	}
	expire(&c->final_at);
	expire(&c->idle);
	stop_step(c);
	sweep(c);
	drain(c);
}

/* The answers back, as conn_loop takes them when its eventfd wakes it. */
static void answers(struct conn *c)
{
	workers_answer(false);
	take_answers(c);
	drain(c);
}

/* conn_loop's reasons to close, after a flush. */
static bool conn_done(struct conn *c)
{
	if (c->write_stalled)
		return true;
	if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
		return true;
	if ((c->drop || c->goaway_sent) && !c->n_streams && !want_write(c))
		return true;
	return !c->n_streams && deadline_left_ms(&c->idle) == 0;
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
	int ping;	/* a PING's first payload byte, or -1 */
	long held = 0;	/* of the body budget, by "other connections" */
	size_t n;

	fuzz_ctx();
	if (!quiet) {
		/* ocikpd logs each request; the log is not under test (its
		 * escaping runs all the same).  libFuzzer and the sanitizers
		 * keep their own stream and fd. */
		FILE *null = fopen("/dev/null", "w");

		if (null)
			stderr = null;
		quiet = true;
	}
	atomic_store(&d.timeout_ms, 60000);
	atomic_store(&d.stopping, false);
	c = conn_new(&d, -1, &peer);
	if (!c)
		abort();
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
	    nghttp2_session_mem_recv(c->session, client_start, sizeof(client_start) - 1) < 0)
		abort();
	drain(c);
	while (size && !conn_done(c)) {
		n = frame_len(data, size);
		ping = n >= 10 && data[3] == NGHTTP2_PING ? data[9] : -1;
		if (nghttp2_session_mem_recv(c->session, data, n) < 0)
			break;	/* nghttp2 gave up on the session */
		data += n;
		size -= n;
		drain(c);
		if (ping == 'd') {
			time_passes(c);
		} else if (ping == 's') {
			atomic_store(&d.stopping, true);
			stop_step(c);
			drain(c);
		} else if (ping == 'b') {
			if (!held) {
				held = BODY_BUDGET - 1024;
				atomic_fetch_add(&d.body_bytes, held);
			}
		} else if (ping >= 0) {
			answers(c);
		}
	}
	workers_answer(false);	/* back, but the connection is closing */
	conn_drop_session(c);
	workers_answer(true);	/* the slow ones, to a closed connection */
	conn_unref(c);
	if (running || atomic_fetch_sub(&d.body_bytes, held) != held)
		abort();
	return 0;
}
