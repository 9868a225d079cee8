#!/usr/bin/python3
"""An independent gRPC client for ocikpd's tests.

Written against Debian's python3-grpcio (generic calls, no generated code)
and python3-h2 (raw HTTP/2 for what a well-behaved client never sends), so
it shares nothing with the daemon: not nghttp2, not protobuf-c, not the
.proto.  Each message is protobuf with one bytes field (number 1) holding
the exec protocol's JSON; it is encoded here by hand.

Every subcommand prints one machine-checkable result and exits 0 only on
the outcome the test expects.
"""
import argparse
import gzip
import json
import re
import socket
import struct
import sys
import threading
import time
from concurrent import futures

SERVICE = '/keyprovider.KeyProviderService/'


# ---- the message: field 1, wire type 2 (length-delimited) -------------------

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf, i):
    n = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError('truncated varint')
        b = buf[i]
        i += 1
        n |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def encode(payload):
    # proto3 leaves an empty bytes field out, as generated code does
    if not payload:
        return b''
    return b'\x0a' + varint(len(payload)) + payload


def decode(buf):
    """Field 1's bytes (the last occurrence wins, as in protobuf); unknown
    fields are skipped by wire type."""
    i, value = 0, b''
    while i < len(buf):
        key, i = read_varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            _, i = read_varint(buf, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            n, i = read_varint(buf, i)
            if i + n > len(buf):
                raise ValueError('truncated field %d' % field)
            if field == 1:
                value = bytes(buf[i:i + n])
            i += n
        else:
            raise ValueError('wire type %d' % wt)
        if i > len(buf):
            raise ValueError('truncated')
    return value


# ---- grpcio ------------------------------------------------------------------

def grpc_mod():
    import grpc
    return grpc


def channel(target, local_pool=False, extra=()):
    grpc = grpc_mod()
    opts = [('grpc.max_send_message_length', -1),
            ('grpc.max_receive_message_length', -1),
            ('grpc.enable_http_proxy', 0),
            ('grpc.enable_retries', 0)]
    if local_pool:
        # its own connection, not one shared through the global pool
        opts.append(('grpc.use_local_subchannel_pool', 1))
    opts.extend(extra)
    return grpc.insecure_channel(target, options=opts)


def rpc(ch, path):
    return ch.unary_unary(path, request_serializer=encode,
                          response_deserializer=decode)


def call_once(mc, data, timeout, compress=False):
    """(code name, details, answer bytes or None)"""
    grpc = grpc_mod()
    kw = {'timeout': timeout}
    if compress:
        kw['compression'] = grpc.Compression.Gzip
    try:
        ans = mc(data, **kw)
        return 'OK', '', ans
    except grpc.RpcError as e:
        return e.code().name, e.details() or '', None


def read_input(name):
    if name == '-':
        return sys.stdin.buffer.read()
    with open(name, 'rb') as f:
        return f.read()


def same_answer(got, want):
    try:
        return json.loads(got) == json.loads(want)
    except ValueError:
        return got.strip() == want.strip()


def status_line(code, msg):
    return 'code=%s message=%s' % (code, msg.replace('\n', '\\n'))


def cmd_call(a):
    data = read_input(a.json)
    ch = channel(a.target)
    code, msg, ans = call_once(rpc(ch, SERVICE + a.rpc), data, a.timeout,
                               a.compress)
    if code == 'OK':
        if a.out:
            with open(a.out, 'wb') as f:
                f.write(ans)
        sys.stdout.buffer.write(ans)
        if not ans.endswith(b'\n'):
            sys.stdout.buffer.write(b'\n')
    else:
        print(status_line(code, msg))
    sys.stdout.flush()
    want = a.expect_code or 'OK'
    if code != want:
        return 1
    if a.expect_message_re and not re.search(a.expect_message_re, msg):
        return 1
    return 0


def cmd_batch(a):
    """One line per case of the list (RPC<TAB>FILE): the answer's status
    line, or code=OK answer=<JSON on one line>."""
    ch = channel(a.target)
    calls = {r: rpc(ch, SERVICE + r) for r in ('WrapKey', 'UnWrapKey')}
    with open(a.cases) as f:
        for line in f:
            r, name = line.rstrip('\n').split('\t', 1)
            code, msg, ans = call_once(calls[r], read_input(name), a.timeout)
            if code == 'OK':
                print('code=OK answer=%s' % ans.decode('utf-8', 'replace').strip())
            else:
                print(status_line(code, msg))
            sys.stdout.flush()
    return 0


def cmd_method(a):
    ch = channel(a.target)
    code, msg, _ = call_once(rpc(ch, a.path), b'{}', a.timeout)
    print(status_line(code, msg))
    return 0 if code == (a.expect_code or 'UNIMPLEMENTED') else 1


def cmd_concurrent(a):
    data, want = read_input(a.json), read_input(a.expect_json)
    # calls spread over several connections, several streams on each
    chans = [channel(a.target, local_pool=True) for _ in range(a.channels)]
    calls = [rpc(c, SERVICE + a.rpc) for c in chans]
    for c in chans:
        c_ready = grpc_mod().channel_ready_future(c)
        c_ready.result(timeout=a.timeout)
    grpc = grpc_mod()
    pending = [calls[i % len(calls)].future(data, timeout=a.timeout)
               for i in range(a.n)]
    ok, refused, bad = 0, 0, {}
    for f in pending:
        try:
            ans = f.result()
            if same_answer(ans, want):
                ok += 1
            else:
                bad['wrong answer'] = bad.get('wrong answer', 0) + 1
        except grpc.RpcError as e:
            k = status_line(e.code().name, e.details() or '')
            if a.allow_refused and e.code().name == 'UNAVAILABLE' and \
                    REFUSED.search(e.details() or ''):
                refused += 1
            bad[k] = bad.get(k, 0) + 1
    if a.allow_refused:
        print('ok=%d failed=%d refused=%d' % (ok, a.n - ok - refused, refused))
    else:
        print('ok=%d failed=%d' % (ok, a.n - ok))
    for k, v in sorted(bad.items()):
        print('# %dx %s' % (v, k))
    if a.allow_refused:
        return 0 if ok >= 1 and ok + refused == a.n else 1
    return 0 if ok == a.n else 1


GONE = re.compile(r'failed to connect|Connection refused|No such file|'
                  r'connections to all backends failing')
# Not processed, safe to retry: a stream refused by GOAWAY or REFUSED_STREAM
# (grpcio: "GOAWAY received", "Stream refused"), or one ocikpd refused
# while stopping ("... not started (safe to retry)").
REFUSED = re.compile(r'GOAWAY|[Rr]efused|REFUSED_STREAM|error code 7|safe to retry')


def cmd_load(a):
    data, want = read_input(a.json), read_input(a.expect_json)
    ch = channel(a.target, local_pool=True)
    mc = rpc(ch, SERVICE + a.rpc)
    lock = threading.Lock()
    st = {'ok': 0, 'failed': 0, 'gone': 0, 'n': 0, 'refused': 0}
    errs = {}
    end = time.monotonic() + a.duration if a.duration else None
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            with lock:
                if end is None and st['n'] >= a.n:
                    return
                st['n'] += 1
            if end is not None and time.monotonic() >= end:
                return
            code, msg, ans = call_once(mc, data, a.timeout)
            with lock:
                if code == 'OK' and same_answer(ans, want):
                    st['ok'] += 1
                elif a.until_gone and code == 'UNAVAILABLE' and GONE.search(msg):
                    st['gone'] += 1
                    stop.set()
                elif a.until_gone and code == 'UNAVAILABLE' and REFUSED.search(msg):
                    # not processed: retried (the next call), not a failure
                    st['refused'] += 1
                else:
                    st['failed'] += 1
                    k = status_line(code, msg) if code != 'OK' else 'wrong answer'
                    errs[k] = errs.get(k, 0) + 1
            if a.interval:
                time.sleep(a.interval)

    ths = [threading.Thread(target=worker) for _ in range(a.parallel)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    line = 'ok=%d failed=%d' % (st['ok'], st['failed'])
    if a.until_gone:
        line += ' gone=%d refused=%d' % (st['gone'], st['refused'])
    print(line)
    for k, v in sorted(errs.items()):
        print('# %dx %s' % (v, k))
    return 0 if st['failed'] == 0 and st['ok'] > 0 else 1


def cmd_oversize(a):
    if a.raw:
        return raw_oversize(a)
    ch = channel(a.target)
    big = b'{"op":"keyunwrap","x":"' + b' ' * (a.size) + b'"}'
    code, msg, _ = call_once(rpc(ch, SERVICE + 'UnWrapKey'), big, a.timeout)
    print(status_line(code, msg))
    return 0 if code == 'RESOURCE_EXHAUSTED' else 1


# ---- raw HTTP/2 (python3-h2) ---------------------------------------------------

CODES = {0: 'OK', 1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT',
         4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND', 6: 'ALREADY_EXISTS',
         7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED',
         9: 'FAILED_PRECONDITION', 10: 'ABORTED', 11: 'OUT_OF_RANGE',
         12: 'UNIMPLEMENTED', 13: 'INTERNAL', 14: 'UNAVAILABLE',
         15: 'DATA_LOSS', 16: 'UNAUTHENTICATED'}


def pct_decode(s):
    b = re.sub(rb'%([0-9A-Fa-f]{2})', lambda m: bytes([int(m.group(1), 16)]),
               s.encode('utf-8'))
    return b.decode('utf-8', 'replace')


class Raw:
    """One HTTP/2 connection, one stream, events recorded with their time."""

    def __init__(self, target):
        import h2.config
        import h2.connection
        if target.startswith('unix:'):
            path = target[5:]
            if path.startswith('//'):
                path = path[2:]
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(path)
        else:
            host, port = target.rsplit(':', 1)
            self.sock = socket.create_connection((host.strip('[]'), int(port)))
        cfg = h2.config.H2Configuration(client_side=True,
                                        header_encoding='utf-8')
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.flush()
        self.t0 = time.monotonic()
        self.sid = None
        self.headers = {}
        self.trailers = {}
        self.data = b''
        self.reset = None       # (error code, seconds)
        self.ended = None       # stream ended (seconds)
        self.closed = None      # GOAWAY or EOF (seconds)
        self.goaway = None

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def now(self):
        return round(time.monotonic() - self.t0, 3)

    def start(self, path, ctype='application/grpc', extra=()):
        self.sid = self.conn.get_next_available_stream_id()
        hdrs = [(':method', 'POST'), (':scheme', 'http'), (':path', path),
                (':authority', 'localhost'), ('content-type', ctype),
                ('te', 'trailers'), ('user-agent', 'ocikp-test-h2')]
        hdrs.extend(extra)
        self.conn.send_headers(self.sid, hdrs)
        self.flush()
        self.t0 = time.monotonic()

    def send(self, data, end=False):
        # within the peer's initial window; the tests send little
        self.conn.send_data(self.sid, data, end_stream=end)
        self.flush()

    def pump(self, wait, until):
        """Read events until until(self) or wait seconds or EOF."""
        import h2.events
        deadline = time.monotonic() + wait
        while not until(self) and self.closed is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                buf = self.sock.recv(65536)
            except socket.timeout:
                return
            except OSError:
                buf = b''
            if not buf:
                self.closed = self.now()
                return
            try:
                events = self.conn.receive_data(buf)
            except Exception as e:          # protocol error from the peer
                print('# h2 error: %s' % e)
                self.closed = self.now()
                return
            for ev in events:
                if isinstance(ev, h2.events.ResponseReceived):
                    self.headers = dict(ev.headers)
                    if 'grpc-status' in self.headers:   # trailers-only
                        self.trailers = self.headers
                elif isinstance(ev, h2.events.TrailersReceived):
                    self.trailers = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    self.data += ev.data
                    self.conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.ended = self.now()
                elif isinstance(ev, h2.events.StreamReset):
                    self.reset = (int(ev.error_code), self.now())
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.goaway = int(ev.error_code)
                    self.closed = self.now()
            try:
                self.flush()
            except OSError:
                self.closed = self.now()

    def done(self):
        return self.ended is not None or self.reset is not None

    def status(self):
        s = self.trailers.get('grpc-status')
        if s is None:
            return None
        try:
            return CODES.get(int(s), s)
        except ValueError:
            return s

    def report(self):
        parts = ['http_status=%s' % self.headers.get(':status', '-'),
                 'status=%s' % (self.status() or '-')]
        if self.reset:
            parts.append('reset=%d after=%s' % self.reset)
        if self.ended is not None:
            parts.append('ended=%s' % self.ended)
        if self.closed is not None:
            parts.append('closed=%s' % self.closed)
        raw = self.trailers.get('grpc-message', '')
        parts.append('raw_message=%s' % raw.encode('unicode_escape').decode())
        parts.append('message=%s' % pct_decode(raw))
        return ' '.join(parts)


def prefix(flag, n):
    return struct.pack('>BI', flag, n)


def cmd_stall(a):
    r = Raw(a.target)
    extra = [('grpc-timeout', a.grpc_timeout)] if a.grpc_timeout else []
    r.start(SERVICE + 'UnWrapKey', extra=extra)
    body = encode(b'{"op":"keyunwrap","keyunwrapparams":{"annotation":"' +
                  b'A' * 200 + b'"}}')
    msg = prefix(0, len(body)) + body
    r.send(msg[:len(msg) // 2])
    # wait for the reset (or trailers), then a little for the connection
    r.pump(a.wait, lambda s: s.done())
    first = r.reset[1] if r.reset else (r.ended if r.ended is not None else r.closed)
    r.pump(a.close_wait, lambda s: False)
    print(r.report())
    if first is None:
        print('# nothing happened within %s s' % a.wait)
        return 1
    print('first=%s' % first)
    if a.min is not None and first < a.min:
        return 1
    if a.max is not None and first > a.max:
        return 1
    if a.expect_code and r.status() not in (None, a.expect_code):
        return 1
    return 0


def cmd_raw(a):
    """A whole request over raw HTTP/2, so the status seen is the server's
    own (grpcio enforces a deadline on its side too)."""
    r = Raw(a.target)
    extra = [('grpc-timeout', a.grpc_timeout)] if a.grpc_timeout else []
    r.start(SERVICE + a.rpc, extra=extra)
    body = encode(read_input(a.json))
    r.send(prefix(0, len(body)) + body, end=True)
    r.pump(a.timeout, lambda s: s.done())
    print(r.report())
    first = r.reset[1] if r.reset else r.ended
    print('first=%s' % first)
    if r.status() != a.expect_code:
        return 1
    if a.expect_message_re and not re.search(
            a.expect_message_re, pct_decode(r.trailers.get('grpc-message', ''))):
        return 1
    if first is None or (a.min is not None and first < a.min) or \
            (a.max is not None and first > a.max):
        return 1
    return 0


def cmd_disconnect(a):
    r = Raw(a.target)
    r.start(SERVICE + 'UnWrapKey')
    body = encode(b'{"op":"keyunwrap","keyunwrapparams":{"annotation":"e30="}}')
    msg = prefix(0, len(body)) + body
    r.send(msg[:len(msg) // 2])
    if a.linger is not None:
        # RST on close: the peer sees ECONNRESET, not a tidy EOF
        r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack('ii', 1, 0))
    r.sock.close()
    print('sent=%d of %d closed=yes' % (len(msg) // 2, len(msg)))
    return 0


def raw_oversize(a):
    r = Raw(a.target)
    r.start(SERVICE + 'UnWrapKey')
    # the prefix claims more than 1 MiB; a few bytes of it follow
    r.send(prefix(0, a.size) + b'\x0a' + varint(a.size - 4) + b'{' * 1000)
    r.pump(a.timeout, lambda s: s.done())
    print(r.report())
    return 0 if r.status() == 'RESOURCE_EXHAUSTED' else 1


def cmd_compressed_flag(a):
    r = Raw(a.target)
    r.start(SERVICE + 'UnWrapKey', extra=[('grpc-encoding', 'gzip'),
                                          ('grpc-accept-encoding', 'gzip')])
    body = gzip.compress(encode(b'{"op":"keyunwrap","keyunwrapparams":'
                                b'{"annotation":"e30="}}'))
    r.send(prefix(1, len(body)) + body, end=True)
    r.pump(a.timeout, lambda s: s.done())
    print(r.report())
    if r.status() != 'UNIMPLEMENTED':
        return 1
    if a.expect_message_re and not re.search(
            a.expect_message_re, pct_decode(r.trailers.get('grpc-message', ''))):
        return 1
    return 0


def cmd_badct(a):
    r = Raw(a.target)
    r.start(SERVICE + 'UnWrapKey', ctype=a.content_type)
    body = encode(b'{}')
    r.send(prefix(0, len(body)) + body, end=True)
    r.pump(a.timeout, lambda s: s.done())
    print(r.report())
    return 0 if r.headers.get(':status') == str(a.expect_http) else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)

    def add(name, fn, **kw):
        s = sub.add_parser(name, **kw)
        s.add_argument('--target', required=True,
                       help='unix:/abs/path or 127.0.0.1:PORT')
        s.add_argument('--timeout', type=float, default=10.0)
        s.set_defaults(fn=fn)
        return s

    s = add('call', cmd_call)
    s.add_argument('--rpc', choices=['WrapKey', 'UnWrapKey'], required=True)
    s.add_argument('--json', required=True, help='FILE or -')
    s.add_argument('--compress', action='store_true')
    s.add_argument('--out', help='also write the exact answer bytes here')
    s.add_argument('--expect-code')
    s.add_argument('--expect-message-re')

    s = add('method', cmd_method)
    s.add_argument('--path', required=True)
    s.add_argument('--expect-code')

    s = add('concurrent', cmd_concurrent)
    s.add_argument('--rpc', choices=['WrapKey', 'UnWrapKey'], default='UnWrapKey')
    s.add_argument('--json', required=True)
    s.add_argument('--expect-json', required=True)
    s.add_argument('--n', type=int, default=64)
    s.add_argument('--channels', type=int, default=8)
    s.add_argument('--allow-refused', action='store_true',
                   help='UNAVAILABLE "not processed, safe to retry" is no failure '
                        '(at least one call must be answered)')

    s = add('load', cmd_load)
    s.add_argument('--rpc', choices=['WrapKey', 'UnWrapKey'], default='UnWrapKey')
    s.add_argument('--json', required=True)
    s.add_argument('--expect-json', required=True)
    s.add_argument('--n', type=int, default=1000)
    s.add_argument('--duration', type=float,
                   help='run for S seconds instead of N calls')
    s.add_argument('--parallel', type=int, default=1)
    s.add_argument('--interval', type=float, default=0.0)
    s.add_argument('--until-gone', action='store_true',
                   help='the daemon going away (connect refused) ends the run '
                        'and is no failure')

    s = add('batch', cmd_batch)
    s.add_argument('--cases', required=True, help='lines RPC<TAB>FILE')

    s = add('raw', cmd_raw)
    s.add_argument('--rpc', choices=['WrapKey', 'UnWrapKey'], required=True)
    s.add_argument('--json', required=True)
    s.add_argument('--grpc-timeout', help='e.g. 1S, 500m')
    s.add_argument('--expect-code', default='OK')
    s.add_argument('--expect-message-re')
    s.add_argument('--min', type=float)
    s.add_argument('--max', type=float)

    s = add('stall', cmd_stall)
    s.add_argument('--wait', type=float, default=15.0)
    s.add_argument('--close-wait', type=float, default=2.0)
    s.add_argument('--grpc-timeout', help='e.g. 1S, 500m')
    s.add_argument('--min', type=float)
    s.add_argument('--max', type=float)
    s.add_argument('--expect-code')

    s = add('disconnect', cmd_disconnect)
    s.add_argument('--linger', action='store_const', const=0,
                   help='close with a TCP/unix reset (SO_LINGER 0)')

    s = add('oversize', cmd_oversize)
    s.add_argument('--raw', action='store_true')
    s.add_argument('--size', type=int, default=2 * 1024 * 1024)

    s = add('compressed-flag', cmd_compressed_flag)
    s.add_argument('--expect-message-re')

    s = add('badct', cmd_badct)
    s.add_argument('--content-type', default='text/plain')
    s.add_argument('--expect-http', type=int, default=415)

    try:
        import hostile
        hostile.add_commands(add, sys.modules[__name__])
    except ImportError:
        pass

    a = p.parse_args()
    try:
        return a.fn(a)
    except (OSError, ValueError) as e:
        print('error=%s' % e)
        return 2


if __name__ == '__main__':
    sys.exit(main())
