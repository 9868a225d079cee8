#!/usr/bin/env python3
"""Seeds for the grpc_frame fuzz target (fuzz/grpc_frame.c): what a client
sends after its preface and first SETTINGS, framed and HPACK-encoded with
python3-hpack, around real requests from fuzz/corpus/request.  A PING's
first payload byte is an instruction to the target (see its header).

    python3 fuzz/grpc_frame_seeds.py fuzz/corpus/grpc_frame   (from the top)
"""
import glob, hashlib, json, os, struct, sys
import hpack

out = sys.argv[1]
reqs = []
for f in sorted(glob.glob('fuzz/corpus/request/*')):
    b = open(f, 'rb').read()
    try:
        j = json.loads(b)
    except Exception:
        continue
    if isinstance(j, dict) and 'op' in j:
        reqs.append(b)
wrap = [r for r in reqs if b'"keywrap"' in r]
unwrap = [r for r in reqs if b'"keyunwrap"' in r]

def varint(n):
    o = b''
    while True:
        x = n & 0x7f; n >>= 7
        if n: o += bytes([x | 0x80])
        else: return o + bytes([x])

def msg(j, flag=0, length=None):
    body = b'\x0a' + varint(len(j)) + j
    return bytes([flag]) + struct.pack('>I', len(body) if length is None else length) + body

def frame(typ, flags, sid, payload):
    return struct.pack('>I', len(payload))[1:] + bytes([typ, flags]) + struct.pack('>I', sid) + payload

DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WU, CONT = 0, 1, 3, 4, 6, 7, 8, 9
ES, EH = 1, 4

class Conn:
    def __init__(self):
        self.enc = hpack.Encoder()
        self.b = frame(SETTINGS, 1, 0, b'')   # ACK of the server's SETTINGS
    def headers(self, sid, path='/keyprovider.KeyProviderService/WrapKey', method='POST',
                ct='application/grpc', timeout=None, extra=(), end=False):
        h = [(':method', method), (':scheme', 'http'), (':path', path),
             (':authority', 'localhost'), ('te', 'trailers')]
        if ct is not None:
            h.append(('content-type', ct))
        h.append(('user-agent', 'grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)'))
        if timeout:
            h.append(('grpc-timeout', timeout))
        h += list(extra)
        self.b += frame(HEADERS, EH | (ES if end else 0), sid, self.enc.encode(h))
        return self
    def data(self, sid, payload, end=True, split=None):
        parts = [payload] if not split else [payload[i:i + split] for i in range(0, len(payload), split)]
        for i, p in enumerate(parts):
            self.b += frame(DATA, ES if end and i == len(parts) - 1 else 0, sid, p)
        return self
    def raw(self, b):
        self.b += b
        return self

seeds = []
def call(sid, j, path, **kw):
    return Conn().headers(sid, path, **kw).data(sid, msg(j))

W = '/keyprovider.KeyProviderService/WrapKey'
U = '/keyprovider.KeyProviderService/UnWrapKey'
for i, r in enumerate(wrap[:4]):
    seeds.append(call(1, r, W, timeout=['5S', '100m', None, '30000m'][i]).b)
for i, r in enumerate(unwrap[:4]):
    seeds.append(call(1, r, U, timeout=[None, '2M', '1n', '99999999H'][i]).b)
r = wrap[0]; u = unwrap[0]
# the message in small DATA frames (the prefix split)
seeds.append(Conn().headers(1).data(1, msg(r), split=3).b)
# compressed, with and without grpc-encoding
seeds.append(Conn().headers(1, extra=[('grpc-encoding', 'gzip')]).data(1, msg(r, flag=1)).b)
seeds.append(Conn().headers(1, extra=[('grpc-encoding', 'identity')]).data(1, msg(r, flag=2)).b)
# a 2 MiB length prefix, a truncated message, two messages, no message
seeds.append(Conn().headers(1).data(1, msg(r, length=2 << 20)[:64], end=False).b)
seeds.append(Conn().headers(1).data(1, msg(r, length=len(r) + 50)).b)
seeds.append(Conn().headers(1).data(1, msg(r) + msg(u)).b)
seeds.append(Conn().headers(1, end=True).b)
# not gRPC: method, path, content-type
seeds.append(Conn().headers(1, path='/keyprovider.KeyProviderService/Frob').data(1, msg(r)).b)
seeds.append(Conn().headers(1, method='GET', end=True).b)
seeds.append(Conn().headers(1, ct='text/plain').data(1, msg(r)).b)
seeds.append(Conn().headers(1, ct=None).data(1, msg(r)).b)
seeds.append(Conn().headers(1, ct='application/grpc+proto').data(1, msg(r)).b)
seeds.append(Conn().headers(1, ct='application/grpc;charset=utf-8', timeout='bad').data(1, msg(u)).b)
seeds.append(Conn().headers(1, ct='application/grpcx').data(1, msg(r)).b)
# several streams interleaved, one reset half-way, a ping and a window update
c = Conn().headers(1).headers(3, U).headers(5)
c.data(1, msg(r)[:7], end=False).data(3, msg(u)).raw(frame(RST, 0, 5, struct.pack('>I', 8)))
c.raw(frame(PING, 0, 0, b'12345678')).raw(frame(WU, 0, 0, struct.pack('>I', 65536)))
c.data(1, msg(r)[7:])
seeds.append(c.b)
# reset after the whole request (the job's slot held until it is back)
seeds.append(call(1, r, W).raw(frame(RST, 0, 1, struct.pack('>I', 8))).b)
# trailers from the client ending the stream
seeds.append(Conn().headers(1).data(1, msg(r), end=False).headers(1, end=True).b)
# more streams than SETTINGS allows
c = Conn()
for k in range(34):
    c.headers(1 + 2 * k)
seeds.append(c.b)
# the client goes away
seeds.append(call(1, r, W).raw(frame(GOAWAY, 0, 0, struct.pack('>II', 1, 0))).b)
# a zero window: the answer waits
seeds.append(Conn().raw(frame(SETTINGS, 0, 0, struct.pack('>HI', 4, 0))).headers(1).data(1, msg(u)).b)

# PINGs, read by the target: the workers answer, every deadline is due, ocikpd stops
ping = frame(PING, 0, 0, b'answers!')
due = frame(PING, 0, 0, b'deadline')
stop = frame(PING, 0, 0, b'stopping')
def pad(j, m):   # a request of length = m mod 4 (the target's job fate)
    while len(j) % 4 != m:
        j += b' '
    return j
for m in range(4):
    seeds.append(call(1, pad(r, m), W).raw(ping).b)
seeds.append(call(1, pad(r, 1), W).raw(ping).headers(3, U).data(3, msg(pad(u, 2))).raw(ping).b)
seeds.append(call(1, pad(u, 3), U).raw(frame(RST, 0, 1, struct.pack('>I', 8))).raw(ping).b)
seeds.append(call(1, pad(u, 3), U, timeout='1m').raw(due).raw(ping).b)
seeds.append(Conn().raw(frame(SETTINGS, 0, 0, struct.pack('>HI', 4, 0))).headers(1)
             .data(1, msg(pad(u, 1))).raw(ping).raw(due).b)
seeds.append(Conn().raw(frame(SETTINGS, 0, 0, struct.pack('>HI', 4, 0))).headers(1)
             .data(1, msg(pad(u, 2))).raw(ping).raw(frame(WU, 0, 1, struct.pack('>I', 1000))).b)
seeds.append(Conn().headers(1).raw(due).data(1, msg(r)).b)
seeds.append(Conn().headers(1).data(1, msg(r)[:9], end=False).raw(due).data(1, msg(r)[9:]).b)
seeds.append(Conn().headers(1, extra=[('grpc-encoding', 'gzip')]).data(1, msg(r, flag=1)[:20], end=False)
             .raw(due).raw(ping).b)

# stopping: with a job in flight, with an incomplete stream, a stream after the GOAWAY
seeds.append(call(1, pad(u, 1), U).raw(stop).raw(ping).raw(due).b)
seeds.append(Conn().headers(1).data(1, msg(r)[:9], end=False).raw(stop).raw(due).data(1, msg(r)[9:]).b)
seeds.append(call(1, pad(r, 2), W).raw(stop).raw(due).headers(3, U).data(3, msg(u)).raw(ping).b)
seeds.append(call(1, pad(r, 3), W).raw(stop).headers(3, U).data(3, msg(pad(u, 1))).raw(ping).raw(due).b)
# idle: no stream open when the deadlines pass
seeds.append(call(1, pad(r, 1), W).raw(ping).raw(due).headers(3).b)

# the daemon's budget nearly spent by others: a small call fits, a large one is refused
budget = frame(PING, 0, 0, b'budget!!')
big = r + b' ' * 1500
seeds.append(Conn().raw(budget).headers(1).data(1, msg(pad(r, 1))).headers(3, U)
             .data(3, msg(big), split=400).raw(ping).b)
# rapid reset: 32 calls on slow jobs, all reset (their slots held), then one more
c = Conn()
small = pad(b'{"op":"keywrap"}', 3)
for k in range(32):
    sid = 1 + 2 * k
    c.headers(sid).data(sid, msg(small)).raw(frame(RST, 0, sid, struct.pack('>I', 8)))
c.headers(65).data(65, msg(pad(r, 1))).raw(ping)
seeds.append(c.b)
# a small window: the answer in pieces
seeds.append(Conn().raw(frame(SETTINGS, 0, 0, struct.pack('>HI', 4, 7))).headers(1)
             .data(1, msg(pad(u, 2))).raw(ping).raw(frame(WU, 0, 1, struct.pack('>I', 7)))
             .raw(frame(WU, 0, 1, struct.pack('>I', 100))).b)

os.makedirs(out, exist_ok=True)
for s in seeds:
    open(os.path.join(out, hashlib.sha1(s).hexdigest()), 'wb').write(s)
print(len(seeds), 'seeds', sum(map(len, seeds)), 'bytes')
