#!/usr/bin/env python3
"""A tiny DNS server for tests: UDP on 127.0.0.1, A records from a file it rereads at every
query ("name address [address ...]" per line; "name -": never answered), NXDOMAIN for any
other name. An AAAA query of a known name gets an empty answer. TTL 0: resolvers ask again.

Usage: dns_server.py NAMES_FILE  -- prints "port N" once it listens, then serves until killed.
"""

import socket
import struct
import sys


def load(path):
    names = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if parts:
                    names[parts[0].lower().rstrip(".")] = parts[1:]
    except OSError:
        pass
    return names


def question(packet):
    """The question's name, type, and where the question ends."""
    labels, i = [], 12
    while i < len(packet):
        n = packet[i]
        if n == 0:
            i += 1
            break
        labels.append(packet[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, _qclass = struct.unpack("!HH", packet[i : i + 4])
    return ".".join(labels).lower(), qtype, i + 4


def answer(packet, names):
    (qid,) = struct.unpack("!H", packet[:2])
    name, qtype, end = question(packet)
    addrs = names.get(name)
    records = b""
    count = 0
    if addrs is not None and qtype == 1:
        for a in addrs:
            records += struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(a)
            count += 1
    rcode = 0 if addrs is not None else 3
    head = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, count, 0, 0)
    return head + packet[12:end] + records


def main():
    path = sys.argv[1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    print("port", s.getsockname()[1], flush=True)
    while True:
        packet, peer = s.recvfrom(512)
        try:
            names = load(path)
            if names.get(question(packet)[0]) == ["-"]:
                continue
            s.sendto(answer(packet, names), peer)
        except (struct.error, IndexError):
            pass


if __name__ == "__main__":
    main()
