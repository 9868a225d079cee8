#!/usr/bin/env python3
"""A hostile local caller for tests/daemon/admission.sh (raw HTTP/2, h2).

  flood.py conns --target unix:PATH --n N --ready FILE [--hold S]
      N connections, each with one UnWrapKey stream whose message is never
      finished (a prefix announcing 1 MiB, then 4 KiB).  After a second of
      reading, writes "open=K refused=M" to FILE (refused: closed, or a
      GOAWAY), then holds the connections for S seconds or until killed.

  flood.py bytes --target unix:PATH --total B --ready FILE [--hold S]
      Streams of 1 MiB each (messages announcing 1 MiB + 1, never
      finished), on as many connections as 32 streams per connection
      need, B bytes of DATA in all.  Writes "sent=X refused=R" to FILE
      (R: streams answered before they were complete), then holds.
"""
import argparse
import os
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

PATH = '/keyprovider.KeyProviderService/UnWrapKey'
STREAMS = 32


class Conn:
    def __init__(self, target):
        path = target[5:] if target.startswith('unix:') else target
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding='utf-8')
        self.h2 = h2.connection.H2Connection(config=cfg)
        self.h2.initiate_connection()
        self.gone = False
        self.answered = set()
        self.flush()

    def flush(self):
        out = self.h2.data_to_send()
        if out and not self.gone:
            try:
                self.sock.sendall(out)
            except OSError:
                self.gone = True

    def start(self):
        sid = self.h2.get_next_available_stream_id()
        self.h2.send_headers(sid, [(':method', 'POST'), (':scheme', 'http'),
                                   (':path', PATH), (':authority', 'localhost'),
                                   ('content-type', 'application/grpc'),
                                   ('te', 'trailers')])
        self.flush()
        return sid

    def read(self, wait):
        """Take what the server sent, waiting at most `wait` seconds."""
        if self.gone:
            return
        self.sock.settimeout(wait)
        try:
            buf = self.sock.recv(1 << 20)
        except socket.timeout:
            return
        except OSError:
            buf = b''
        if not buf:
            self.gone = True
            return
        try:
            events = self.h2.receive_data(buf)
        except h2.exceptions.ProtocolError:
            self.gone = True
            return
        for ev in events:
            if isinstance(ev, h2.events.ConnectionTerminated):
                self.gone = True
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset,
                                 h2.events.ResponseReceived)):
                self.answered.add(ev.stream_id)
        self.flush()

    def send(self, sid, data):
        """All of data on sid, as flow control allows; False if the stream
        or the connection ended first."""
        while data:
            if self.gone or sid in self.answered:
                return False
            try:
                room = min(self.h2.local_flow_control_window(sid),
                           self.h2.max_outbound_frame_size, len(data))
            except h2.exceptions.StreamClosedError:
                return False
            if room <= 0:
                self.read(5)
                continue
            try:
                self.h2.send_data(sid, data[:room])
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                return False
            data = data[room:]
            self.flush()
            self.read(0.0001)
        return True


def hold(a):
    end = time.monotonic() + a.hold
    while time.monotonic() < end:
        time.sleep(0.2)


def ready(a, text):
    tmp = a.ready + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text + '\n')
    os.rename(tmp, a.ready)


def cmd_conns(a):
    conns = []
    for _ in range(a.n):
        try:
            c = Conn(a.target)
            sid = c.start()
            c.send(sid, struct.pack('>BI', 0, 1 << 20) + b'x' * 4096)
        except OSError:
            continue
        conns.append(c)
    end = time.monotonic() + 1
    while time.monotonic() < end:
        for c in conns:
            c.read(0.01)
    refused = sum(1 for c in conns if c.gone) + a.n - len(conns)
    ready(a, 'open=%d refused=%d' % (a.n - refused, refused))
    hold(a)


def cmd_bytes(a):
    mib = 1 << 20
    sent = 0
    conns = []
    n = STREAMS
    while sent < a.total:
        if n == STREAMS:
            conns.append(Conn(a.target))
            n = 0
        c = conns[-1]
        sid = c.start()
        n += 1
        chunk = min(mib, a.total - sent)
        c.send(sid, struct.pack('>BI', 0, mib) + b'x' * (chunk - 5))
        sent += chunk
        c.read(0.001)
    end = time.monotonic() + 1
    while time.monotonic() < end:
        for c in conns:
            c.read(0.01)
    refused = sum(len(c.answered) for c in conns)
    ready(a, 'sent=%d refused=%d' % (sent, refused))
    hold(a)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('conns')
    s.add_argument('--n', type=int, required=True)
    s.set_defaults(fn=cmd_conns)
    s = sub.add_parser('bytes')
    s.add_argument('--total', type=int, required=True)
    s.set_defaults(fn=cmd_bytes)
    for s in sub.choices.values():
        s.add_argument('--target', required=True)
        s.add_argument('--ready', required=True)
        s.add_argument('--hold', type=float, default=60)
    a = p.parse_args()
    a.fn(a)


if __name__ == '__main__':
    sys.exit(main())
