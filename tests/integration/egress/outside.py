"""The "outside" of the egress tests: run in a container on the proxy's outside network
(never reachable from a sandbox but through the proxy). Standard library only.

- HTTP on 80 and HTTPS on 443 (the test CA's certificate for every test host name):
  every request is answered with a JSON echo of its method, path, Host and headers
  (Authorization as its SHA-256);
  `/simple/...` serves the wheels in /srv/wheels as a PEP 503 index.
- TCP on 9000 and UDP on 53 answer "pong": a sandbox that reaches either got out.
"""

from __future__ import annotations

import hashlib
import json
import socket
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WHEELS = Path("/srv/wheels")


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/simple"):
            return self._index()
        if self.path.startswith("/wheels/"):
            return self._send(
                (WHEELS / self.path.rsplit("/", 1)[1]).read_bytes(), "application/zip"
            )
        # The Authorization header is answered as its SHA-256 only: the answer goes back
        # into the sandbox, which must never see a secret's value.
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        authorization = self.headers.get("Authorization")
        echo = {
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "headers": headers,
            "authorization_sha256": (
                hashlib.sha256(authorization.encode()).hexdigest() if authorization else None
            ),
            "body_bytes": len(body),
            "tls": isinstance(self.connection, ssl.SSLSocket),
        }
        if self.path.startswith("/big/"):
            return self._send(b"x" * int(self.path.rsplit("/", 1)[1]), "application/octet-stream")
        self._send(json.dumps(echo).encode(), "application/json")

    def _index(self) -> None:
        parts = [p for p in self.path.split("/") if p]
        if len(parts) == 1:
            names = sorted(
                {w.name.split("-")[0].lower().replace("_", "-") for w in WHEELS.glob("*.whl")}
            )
            links = "".join(f'<a href="/simple/{n}/">{n}</a>' for n in names)
        else:
            project = parts[1].lower().replace("-", "_")
            links = "".join(
                f'<a href="/wheels/{w.name}">{w.name}</a>'
                for w in WHEELS.glob("*.whl")
                if w.name.split("-")[0].lower() == project
            )
        self._send(f"<html><body>{links}</body></html>".encode(), "text/html")

    def _send(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.client_address[0]} {format % args}", file=sys.stderr, flush=True)


class Pong(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        if isinstance(self.request, tuple):  # UDP
            _data, sock = self.request
            sock.sendto(b"pong", self.client_address)
        else:
            self.request.sendall(b"pong")


def main() -> None:
    servers: list[socketserver.BaseServer] = [ThreadingHTTPServer(("0.0.0.0", 80), Echo)]
    tls = ThreadingHTTPServer(("0.0.0.0", 443), Echo)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain("/srv/cert.pem", "/srv/key.pem")
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    servers.append(tls)
    servers.append(socketserver.ThreadingTCPServer(("0.0.0.0", 9000), Pong))
    servers.append(socketserver.ThreadingUDPServer(("0.0.0.0", 53), Pong))
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("outside ready", file=sys.stderr, flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
