#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A small HTTP/1.1 test backend for the laconic integration tests.

Why: nginx serves fixed content well, but the load-balancer tests also need a
backend that tells what it received (body checksums for uploads through the
LB, the request headers for X-Forwarded-For, slow and closing responses).
Python's standard library only, so it runs wherever python3 does.

Every response carries `X-Backend: NAME` and a Content-Length; connections
are kept alive (HTTP/1.1) unless the client or the endpoint says otherwise.

  POST|PUT <any path>  reads the body (Content-Length or chunked, with
                       Expect: 100-continue) and answers "<sha256-hex> <length>\\n",
                       also as headers X-Body-Sha256 and X-Body-Length
  GET /                "NAME\\n"
  GET /health          "ok\\n"
  GET /slow?ms=N       sleeps N ms (at most 60 000), then "slept N ms\\n"
  GET /headers         the request line, then each request header as
                       "Name: value" in the order received; the peer
                       address is in the X-Peer response header
  GET /close           "NAME\\n" with Connection: close, then closes
  GET /closedelim      a body delimited by closing the connection (no length)
  GET /fin             a normal response, then an unannounced close
  GET /truncate        promises 1 MiB, sends 64 KiB and closes (dies mid-body)
  GET /status/NNN      an empty-ish response with status NNN (100 < NNN < 600)
  anything else        404

Usage: echo_server.py --name NAME --bind IP --port PORT [--verbose]
"""

import argparse
import hashlib
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CHUNK = 64 * 1024
MAX_SLEEP_MS = 60_000


class BadRequest(Exception):
    """The request body is malformed; answer 400 and close."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "laconic-echo/1"
    backend_name = "echo"
    verbose = False

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        if self.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    # -- helpers -----------------------------------------------------------

    def _send(self, code, body, extra=(), close=False):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("X-Backend", self.backend_name)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _read_exact(self, n, digest):
        """Reads n body bytes into digest; raises BadRequest on early EOF."""
        while n > 0:
            buf = self.rfile.read(min(n, CHUNK))
            if not buf:
                raise BadRequest("body ended %d bytes early" % n)
            digest.update(buf)
            n -= len(buf)

    def _read_line(self):
        line = self.rfile.readline(65537)
        if not line:
            raise BadRequest("body ended inside chunked framing")
        if len(line) > 65536:
            raise BadRequest("chunk line too long")
        return line

    def _read_body(self):
        """Returns (sha256 hex, length) of the request body."""
        digest = hashlib.sha256()
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            codings = [c.strip().lower() for c in te.split(",")]
            if codings[-1] != "chunked":
                raise BadRequest("unsupported Transfer-Encoding %r" % te)
            total = 0
            while True:
                line = self._read_line()
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise BadRequest("bad chunk size %r" % size_text) from None
                if size < 0:
                    raise BadRequest("negative chunk size")
                if size == 0:
                    break
                self._read_exact(size, digest)
                total += size
                if self._read_line() not in (b"\r\n", b"\n"):
                    raise BadRequest("chunk not followed by CRLF")
            while self._read_line() not in (b"\r\n", b"\n"):
                pass  # trailer fields are read and ignored
            return digest.hexdigest(), total
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return digest.hexdigest(), 0
        try:
            length = int(length_text)
        except ValueError:
            raise BadRequest("bad Content-Length %r" % length_text) from None
        if length < 0:
            raise BadRequest("negative Content-Length")
        self._read_exact(length, digest)
        return digest.hexdigest(), length

    # -- methods -----------------------------------------------------------

    def _upload(self):
        try:
            hexsum, length = self._read_body()
        except BadRequest as e:
            self._send(400, "bad request: %s\n" % e, close=True)
            return
        self._send(
            200,
            "%s %d\n" % (hexsum, length),
            extra=(("X-Body-Sha256", hexsum), ("X-Body-Length", str(length))),
        )

    do_POST = _upload
    do_PUT = _upload

    def do_GET(self):
        url = urlsplit(self.path)
        path = url.path
        if path == "/":
            self._send(200, self.backend_name + "\n")
        elif path == "/health":
            self._send(200, "ok\n")
        elif path == "/slow":
            try:
                ms = int(parse_qs(url.query).get("ms", ["0"])[0])
            except ValueError:
                self._send(400, "ms must be an integer\n")
                return
            ms = max(0, min(ms, MAX_SLEEP_MS))
            time.sleep(ms / 1000.0)
            self._send(200, "slept %d ms\n" % ms)
        elif path == "/headers":
            lines = [self.requestline]
            lines += ["%s: %s" % (k, v) for k, v in self.headers.items()]
            peer = "%s:%d" % self.client_address[:2]
            self._send(200, "\n".join(lines) + "\n", extra=(("X-Peer", peer),))
        elif path == "/close":
            self._send(200, self.backend_name + "\n", close=True)
        elif path == "/closedelim":
            # No Content-Length, no chunking: the body ends when we close.
            self.send_response(200)
            self.send_header("X-Backend", self.backend_name)
            self.end_headers()
            self.wfile.write(b"until close\n")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/fin":
            # A complete response, then a close it does not announce.
            self._send(200, self.backend_name + "\n")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/truncate":
            # Promises 1 MiB, sends 64 KiB, then drops the connection: a
            # backend dying in the middle of a body.
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 20))
            self.send_header("X-Backend", self.backend_name)
            self.end_headers()
            self.wfile.write(b"x" * (64 << 10))
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
        elif path.startswith("/status/"):
            try:
                code = int(path[len("/status/"):])
            except ValueError:
                code = 0
            if not 100 < code < 600:
                self._send(400, "status must be 101..599\n")
                return
            self._send(code, "status %d\n" % code)
        else:
            self._send(404, "not found\n")

    def do_HEAD(self):
        self.do_GET()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the socketserver default of 5 drops bursts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", required=True, help="the X-Backend value")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--verbose", action="store_true", help="log each request on stderr")
    args = ap.parse_args()
    Handler.backend_name = args.name
    Handler.verbose = args.verbose
    if ":" in args.bind:
        Server.address_family = socket.AF_INET6
    srv = Server((args.bind, args.port), Handler)
    sys.stderr.write("echo_server %s listening on %s:%d\n" % (args.name, args.bind, args.port))
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
