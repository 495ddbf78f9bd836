#!/usr/bin/env python3
"""RTMP clients of the benchmark that are neither ours nor a media framework: Python's
standard library only, as small scripts and gateways are written.

  rtmp_py.py play URL STREAM M SECONDS      M players in one process (epoll), each draining
                                            its socket as fast as it comes, bytes counted,
                                            nothing parsed after play; prints one line per
                                            player: bytes received
  rtmp_py.py publish URL FLV NAME N SECONDS N publishers (a thread each) sending the FLV's
                                            tags in real time, looped, each message with one
                                            sendall of its chunks

URL is rtmp://host:port/app. Exit status 1 when a connection fails to start.
"""

import os
import selectors
import socket
import struct
import sys
import threading
import time

CHUNK = 4096


def amf_str(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_num(x):
    return b"\x00" + struct.pack(">d", x)


def amf_obj(d):
    out = b"\x03"
    for k, v in d.items():
        kb = k.encode()
        out += struct.pack(">H", len(kb)) + kb + amf_str(v)
    return out + b"\x00\x00\x09"


def amf_values(b):
    """Decodes the AMF0 values a command needs (strings, numbers, booleans, null, objects)."""
    out, i = [], 0
    while i < len(b):
        try:
            v, i = amf_values_one(b, i)
        except (ValueError, IndexError, struct.error):
            break
        out.append(v)
    return out


def amf_values_one(b, i):
    """One AMF0 value at b[i]: (value, index after it)."""
    t = b[i]
    if t == 0:
        return struct.unpack(">d", b[i + 1 : i + 9])[0], i + 9
    if t == 1:
        return bool(b[i + 1]), i + 2
    if t == 2:
        n = struct.unpack(">H", b[i + 1 : i + 3])[0]
        return b[i + 3 : i + 3 + n].decode(errors="replace"), i + 3 + n
    if t in (5, 6):
        return None, i + 1
    if t in (3, 8):
        obj, i = {}, i + (1 if t == 3 else 5)
        while b[i : i + 3] != b"\x00\x00\x09":
            n = struct.unpack(">H", b[i : i + 2])[0]
            key = b[i + 2 : i + 2 + n].decode(errors="replace")
            obj[key], i = amf_values_one(b, i + 2 + n)
        return obj, i + 3
    raise ValueError(f"AMF0 type {t}")


def chunks(csid, ts, type_id, msid, body, size=CHUNK):
    """One message as chunks: a type-0 header, then type-3 continuations."""
    head = bytes([csid]) + struct.pack(">I", min(ts, 0xFFFFFF))[1:]
    head += struct.pack(">I", len(body))[1:] + bytes([type_id]) + struct.pack("<I", msid)
    ext = struct.pack(">I", ts) if ts >= 0xFFFFFF else b""
    out = [head + ext + body[:size]]
    for off in range(size, len(body), size):
        out.append(bytes([0xC0 | csid]) + ext + body[off : off + size])
    return b"".join(out)


class Conn:
    """A blocking RTMP client connection up to the start of play or publish."""

    def __init__(self, url):
        rest = url.split("://", 1)[1]
        hostport, self.app = rest.split("/", 1)
        host, port = hostport.rsplit(":", 1)
        self.tc_url = url
        self.sock = socket.create_connection((host, int(port)), timeout=20)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.in_chunk = 128
        self.window = 2500000
        self.streams = {}  # csid -> [ts, len, type, msid, partial]
        self.handshake()
        self.send(chunks(2, 0, 1, 0, struct.pack(">I", CHUNK)))

    def send(self, b):
        self.sock.sendall(b)

    def need(self, n):
        while len(self.buf) < n:
            got = self.sock.recv(65536)
            if not got:
                raise ConnectionError("closed by the server")
            self.buf += got
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def handshake(self):
        self.send(b"\x03" + b"\x00" * 8 + os.urandom(1528))
        s0s1 = self.need(1537)
        self.need(1536)
        self.send(s0s1[1:])

    def message(self):
        """The next whole message: (type, msid, body)."""
        while True:
            b0 = self.need(1)[0]
            fmt, csid = b0 >> 6, b0 & 0x3F
            if csid == 0:
                csid = 64 + self.need(1)[0]
            elif csid == 1:
                x = self.need(2)
                csid = 64 + x[0] + 256 * x[1]
            st = self.streams.setdefault(csid, [0, 0, 0, 0, b""])
            if fmt <= 2:
                h = self.need(11 if fmt == 0 else 7 if fmt == 1 else 3)
                ts = int.from_bytes(h[0:3], "big")
                if fmt <= 1:
                    st[1] = int.from_bytes(h[3:6], "big")
                    st[2] = h[6]
                if fmt == 0:
                    st[3] = struct.unpack("<I", h[7:11])[0]
                if ts == 0xFFFFFF:
                    self.need(4)
            want = min(self.in_chunk, st[1] - len(st[4]))
            st[4] += self.need(want)
            if len(st[4]) < st[1]:
                continue
            body, st[4] = st[4], b""
            if st[2] == 1:
                self.in_chunk = struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF
            elif st[2] == 5:
                self.window = struct.unpack(">I", body[:4])[0]
            return st[2], st[3], body

    def command(self, msid, *values):
        self.send(chunks(3, 0, 20, msid, b"".join(values)))

    def wait_command(self, pred):
        while True:
            t, _msid, body = self.message()
            if t == 20:
                vals = amf_values(body)
                if pred(vals):
                    return vals

    def open_stream(self):
        self.command(0, amf_str("connect"), amf_num(1),
                     amf_obj({"app": self.app, "tcUrl": self.tc_url, "flashVer": "LNX 9,0,124,2"}))
        self.wait_command(lambda v: v[:2] == ["_result", 1.0])
        self.command(0, amf_str("createStream"), amf_num(2), b"\x05")
        v = self.wait_command(lambda v: v[:2] == ["_result", 2.0])
        return int(v[3])

    def start(self, verb, name):
        msid = self.open_stream()
        args = [amf_str(verb), amf_num(0), b"\x05", amf_str(name)]
        if verb == "publish":
            args.append(amf_str("live"))
        self.command(msid, *args)
        want = "NetStream.Publish.Start" if verb == "publish" else "NetStream.Play.Start"

        def started(v):
            info = v[3] if len(v) > 3 and isinstance(v[3], dict) else {}
            code = info.get("code", "")
            if code.endswith("Failed") or code.endswith("BadName"):
                raise ConnectionError(code)
            return code == want

        self.wait_command(started)
        return msid


def play(url, stream, m, secs):
    conns = []
    for _ in range(m):
        c = Conn(url)
        c.start("play", stream)
        conns.append(c)
    sel = selectors.DefaultSelector()
    state = []
    for i, c in enumerate(conns):
        c.sock.setblocking(False)
        # Bytes already buffered while the commands were read count as received.
        state.append([len(c.buf), 0, c.window])
        sel.register(c.sock, selectors.EVENT_READ, i)
    buf = bytearray(1 << 18)
    end = time.monotonic() + secs
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        for key, _ in sel.select(left):
            i = key.data
            s = conns[i].sock
            try:
                n = s.recv_into(buf)
            except BlockingIOError:
                continue
            except OSError:
                n = 0
            if n == 0:
                sel.unregister(s)
                continue
            st = state[i]
            st[0] += n
            if st[0] - st[1] >= st[2] // 2:
                st[1] = st[0]
                try:
                    s.send(chunks(2, 0, 3, 0, struct.pack(">I", st[0] & 0xFFFFFFFF)))
                except OSError:
                    pass
    for st in state:
        print(st[0])


def flv_tags(path):
    with open(path, "rb") as f:
        data = f.read()
    i = struct.unpack(">I", data[5:9])[0] + 4
    tags = []
    while i + 11 <= len(data):
        t = data[i]
        size = int.from_bytes(data[i + 1 : i + 4], "big")
        ts = int.from_bytes(data[i + 4 : i + 7], "big") | (data[i + 7] << 24)
        body = data[i + 11 : i + 11 + size]
        if len(body) < size:
            break
        if t in (8, 9, 18):
            tags.append((t, ts, body))
        i += 11 + size + 4
    return tags


def publish_one(url, tags, name, secs, errors):
    try:
        c = Conn(url)
        msid = c.start("publish", name)
        c.sock.setblocking(False)
        span = tags[-1][1] + 34
        headers = [t for t in tags if t[1] == 0 and (t[0] == 18 or t[2][:2] in (b"\x17\x00", b"\xaf\x00"))]
        t0 = time.monotonic()
        loop = 0
        while True:
            for t, ts, body in tags if loop == 0 else [x for x in tags if x not in headers]:
                at = loop * span + ts
                delay = t0 + at / 1000 - time.monotonic()
                if at / 1000 > secs:
                    return
                if delay > 0:
                    time.sleep(delay)
                csid = {8: 4, 9: 6, 18: 5}[t]
                c.sock.setblocking(True)
                c.sock.sendall(chunks(csid, at, t, msid, body))
                c.sock.setblocking(False)
                try:
                    while c.sock.recv(65536):
                        pass
                except BlockingIOError:
                    pass
            loop += 1
    except (OSError, ConnectionError, ValueError) as e:
        errors.append(f"{name}: {e}")


def publish(url, flv, name, n, secs):
    tags = flv_tags(flv)
    errors = []
    threads = [threading.Thread(target=publish_one, args=(url, tags, f"{name}{k}", secs, errors), daemon=True)
               for k in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(secs + 30)
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "play":
        play(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        return 0
    if len(sys.argv) == 7 and sys.argv[1] == "publish":
        return publish(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ConnectionError) as e:
        print(f"rtmp_py.py: {e}", file=sys.stderr)
        sys.exit(1)
