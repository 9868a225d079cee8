"""Hostile callers for tests/daemon/hostile.sh and bench/ocikpd.sh, as
subcommands of grpc_client.py (raw HTTP/2 with python3-h2):

  flood        many streams of whole requests, each reset at once (rapid
               reset, CVE-2023-44487) or after a while (abandoned calls)
  zero-window  requests from connections whose flow-control window is 0,
               so no answer can be sent: how long the daemon keeps them
  hold         idle connections and headers-only streams, held open (for
               SIGTERM)

Each prints one line of figures; only zero-window judges (--max).
"""
import socket
import threading
import time

G = None        # grpc_client, for encode, prefix, SERVICE


def connect(target, window0=False):
    import h2.config
    import h2.connection
    import h2.settings
    if target.startswith('unix:'):
        path = target[5:]
        if path.startswith('//'):
            path = path[2:]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
    else:
        host, port = target.rsplit(':', 1)
        sock = socket.create_connection((host.strip('[]'), int(port)))
    cfg = h2.config.H2Configuration(client_side=True, header_encoding='utf-8')
    conn = h2.connection.H2Connection(config=cfg)
    if window0:
        conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0,
                            h2.settings.SettingCodes.ENABLE_PUSH: 0})
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def headers(path, grpc_timeout=None):
    h = [(':method', 'POST'), (':scheme', 'http'), (':path', path),
         (':authority', 'localhost'), ('content-type', 'application/grpc'),
         ('te', 'trailers')]
    if grpc_timeout:
        h.append(('grpc-timeout', grpc_timeout))
    return h


def send(sock, out):
    try:
        if out:
            sock.sendall(out)
    except OSError:
        pass
    return len(out)


def message(a):
    body = G.encode(G.read_input(a.json))
    return G.prefix(0, len(body)) + body


class Reader(threading.Thread):
    """Reads (and answers pings/settings) until EOF; never opens a window
    beyond what h2 does by itself unless ack is set."""

    def __init__(self, sock, conn, lock, ack=True):
        super().__init__(daemon=True)
        self.sock, self.conn, self.lock, self.ack = sock, conn, lock, ack
        self.t0 = time.monotonic()
        self.closed = None
        self.got_headers = self.got_data = 0
        self.codes = {}

    def run(self):
        import h2.events
        while True:
            try:
                buf = self.sock.recv(65536)
            except OSError:
                buf = b''
            if not buf:
                self.closed = time.monotonic() - self.t0
                return
            with self.lock:
                try:
                    events = self.conn.receive_data(buf)
                except Exception:       # frames for streams we reset, etc.
                    events = []
                for ev in events:
                    if isinstance(ev, h2.events.ResponseReceived):
                        self.got_headers += 1
                        st = dict(ev.headers).get('grpc-status')
                        if st is not None:
                            self.codes[st] = self.codes.get(st, 0) + 1
                    elif isinstance(ev, h2.events.TrailersReceived):
                        st = dict(ev.headers).get('grpc-status')
                        self.codes[st] = self.codes.get(st, 0) + 1
                    elif isinstance(ev, h2.events.DataReceived):
                        self.got_data += 1
                        if self.ack:
                            self.conn.acknowledge_received_data(
                                ev.flow_controlled_length, ev.stream_id)
                try:
                    out = self.conn.data_to_send()
                    if out:
                        self.sock.sendall(out)
                except OSError:
                    pass


def cmd_flood(a):
    """--conns connections, --streams whole requests on each; each stream
    reset (RST_STREAM CANCEL) right after its DATA, or --after seconds
    later; --hold seconds reading before closing."""
    import h2.errors
    msg = message(a)
    path = G.SERVICE + a.rpc
    conns, readers = [], []
    t0 = time.monotonic()
    sent = 0
    for _ in range(a.conns):
        sock, conn = connect(a.target)
        lock = threading.Lock()
        r = Reader(sock, conn, lock)
        r.start()
        conns.append((sock, conn, lock, []))
        readers.append(r)
    for sock, conn, lock, ids in conns:
        out = bytearray()
        for _ in range(a.streams):
            while True:     # the connection's window: wait for its update
                with lock:
                    if conn.outbound_flow_control_window >= len(msg):
                        break
                    out += conn.data_to_send()
                sent += send(sock, out)
                out = bytearray()
                time.sleep(0.002)
            with lock:
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, headers(path, a.grpc_timeout))
                conn.send_data(sid, msg, end_stream=True)
                if a.after == 0:
                    conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
                else:
                    ids.append(sid)
                out += conn.data_to_send()
            if len(out) > 32768:    # sent in large writes, as fast as it goes
                sent += send(sock, out)
                out = bytearray()
        with lock:
            out += conn.data_to_send()
        sent += send(sock, out)
    took = time.monotonic() - t0
    if a.after:
        time.sleep(a.after)
        for sock, conn, lock, ids in conns:
            with lock:
                for sid in ids:
                    try:
                        conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
                    except Exception:   # answered meanwhile
                        pass
                out = conn.data_to_send()
            try:
                sock.sendall(out)
            except OSError:
                pass
    time.sleep(a.hold)
    for sock, _, _, _ in conns:
        sock.close()
    codes = {}
    for r in readers:
        for k, v in r.codes.items():
            codes[k] = codes.get(k, 0) + v
    print('streams=%d bytes=%d secs=%.2f answers=%s' % (
        a.conns * a.streams, sent, took,
        ','.join('%s:%d' % (G.CODES.get(int(k), k) if k and k.isdigit() else k, v)
                 for k, v in sorted(codes.items(), key=str)) or '-'))
    return 0


def cmd_zero_window(a):
    """--conns connections with SETTINGS_INITIAL_WINDOW_SIZE 0, one request
    each (a whole one: the answer has a body the daemon cannot send);
    waits --wait seconds for the daemon to close them."""
    msg = message(a)
    path = G.SERVICE + a.rpc
    readers = []
    for _ in range(a.conns):
        sock, conn = connect(a.target, window0=True)
        lock = threading.Lock()
        r = Reader(sock, conn, lock, ack=False)
        with lock:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, headers(path, a.grpc_timeout))
            conn.send_data(sid, msg, end_stream=True)
            sock.sendall(conn.data_to_send())
        r.start()
        readers.append(r)
    if a.ready:
        print('ready', flush=True)
    for r in readers:
        r.join(max(0.0, a.wait - (time.monotonic() - r.t0)))
    closed = [r.closed for r in readers if r.closed is not None]
    print('conns=%d closed=%d last_closed=%s headers=%d data=%d' % (
        len(readers), len(closed), '%.2f' % max(closed) if closed else '-',
        sum(r.got_headers for r in readers), sum(r.got_data for r in readers)),
        flush=True)
    if len(closed) != len(readers):
        return 1
    return 0 if a.max is None or max(closed) <= a.max else 1


def cmd_hold(a):
    """--idle connections that never send a stream, --partial connections
    with one headers-only stream (no message); prints 'ready', then how
    long each lasted (until the daemon closed it, --wait at most)."""
    path = G.SERVICE + 'UnWrapKey'
    readers = []
    for i in range(a.idle + a.partial):
        sock, conn = connect(a.target)
        lock = threading.Lock()
        r = Reader(sock, conn, lock)
        if i >= a.idle:
            with lock:
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, headers(path))
                sock.sendall(conn.data_to_send())
        r.start()
        readers.append(r)
    print('ready', flush=True)
    for r in readers:
        r.join(max(0.0, a.wait - (time.monotonic() - r.t0)))
    print('conns=%d closed=%d' % (len(readers),
                                  sum(r.closed is not None for r in readers)),
          flush=True)
    return 0


def add_commands(add, grpc_client):
    global G
    G = grpc_client
    s = add('flood', cmd_flood)
    s.add_argument('--rpc', choices=['WrapKey', 'UnWrapKey'], default='UnWrapKey')
    s.add_argument('--json', required=True)
    s.add_argument('--conns', type=int, default=2)
    s.add_argument('--streams', type=int, default=990)
    s.add_argument('--after', type=float, default=0.0,
                   help='reset the streams this long after sending (0: at once)')
    s.add_argument('--hold', type=float, default=1.0)
    s.add_argument('--grpc-timeout')

    s = add('zero-window', cmd_zero_window)
    s.add_argument('--rpc', choices=['WrapKey', 'UnWrapKey'], default='UnWrapKey')
    s.add_argument('--json', required=True)
    s.add_argument('--conns', type=int, default=8)
    s.add_argument('--grpc-timeout')
    s.add_argument('--wait', type=float, default=20.0)
    s.add_argument('--max', type=float)
    s.add_argument('--ready', action='store_true', help="print 'ready' once sent")

    s = add('hold', cmd_hold)
    s.add_argument('--idle', type=int, default=1)
    s.add_argument('--partial', type=int, default=1)
    s.add_argument('--wait', type=float, default=30.0)
