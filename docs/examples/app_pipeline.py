#!/usr/bin/env python3
"""Sends several app-protocol search requests in one write (pipelined) and prints each answer.

    python3 docs/examples/app_pipeline.py [--port PORT] VALUE...

The framing is the sockets tutorial's: a 2-byte big-endian header length, a JSON header, the
content. Everything is done by hand here so that every byte on the wire is visible.
"""
import argparse
import json
import socket
import struct
import sys


def message(content: dict) -> bytes:
    body = json.dumps(content, ensure_ascii=False).encode("utf-8")
    header = json.dumps({"byteorder": sys.byteorder, "content-type": "text/json",
                         "content-encoding": "utf-8", "content-length": len(body)},
                        ensure_ascii=False).encode("utf-8")
    return struct.pack(">H", len(header)) + header + body


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))  # may return fewer bytes than asked: loop
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_message(sock: socket.socket) -> tuple[dict, bytes]:
    (header_length,) = struct.unpack(">H", read_exactly(sock, 2))
    header = json.loads(read_exactly(sock, header_length))
    return header, read_exactly(sock, header["content-length"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=65432)
    parser.add_argument("values", nargs="+")
    args = parser.parse_args()
    with socket.create_connection(("127.0.0.1", args.port), timeout=10) as sock:
        requests = b"".join(message({"action": "search", "value": v}) for v in args.values)
        sock.sendall(requests)  # every request in one write: the server sees them together
        print(f"sent {len(args.values)} requests, {len(requests)} bytes, in one write")
        for _ in args.values:
            header, content = read_message(sock)
            print(f"answer: {content.decode(header['content-encoding'])}")


if __name__ == "__main__":
    main()
