"""The HTTP front door: a stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive, which reads each request
(``Content-Length`` or chunked, bodies on any method, DELETE included) and hands it to the :class:`Gateway`."""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from stratus_local.gateway import (
    API_GATEWAY_MAX_BODY_BYTES,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    body_too_large,
    mlflow_error,
)

LOGGED_PATH_CHARS = 160
IDLE_TIMEOUT_S = 120
"""A keep-alive connection idle this long is closed, so idle clients do not hold threads for ever."""


class BodyTooLargeError(Exception):
    """The request body is over API Gateway's limit; ``size`` is known when Content-Length said it."""

    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


class BadRequestError(Exception):
    """The request framing is broken (bad Content-Length or chunk size)."""


class LocalHTTPServer(ThreadingHTTPServer):
    """A loopback server of ``stratus local`` (the front door, the local Batch API): one daemon thread per
    connection, and no reverse DNS lookup of its address when it binds."""

    daemon_threads = True

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the address (seconds on some laptops)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class GatewayHTTPServer(LocalHTTPServer):
    """Serves one :class:`Gateway`; one thread per connection."""

    block_on_close = False
    request_queue_size = 1024
    """The listen backlog (socketserver's default is 5): a team or a sweep opening 32 connections at once had some
    reset before they were accepted, so never answered; the kernel caps this at ``net.core.somaxconn``."""

    def __init__(self, address: tuple[str, int], gateway: HttpHandler, log: TextIO | None = sys.stderr) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.gateway = gateway
        self.log = log
        super().__init__(address, GatewayRequestHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class GatewayRequestHandler(BaseHTTPRequestHandler):
    """Moves bytes between the socket and the gateway."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for the client's delayed
    # ACK of the headers, adding ~40 ms to every request (measured: docs/benchmarks.md).
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_S
    server: GatewayHTTPServer

    def version_string(self) -> str:
        return "stratus-local"

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET  # noqa: N815 - the stdlib's names

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, PROPFIND...) goes to the gateway too, so it gets an MLflow error JSON from the
        function (ENDPOINT_NOT_FOUND) instead of the stdlib's HTML 501, which the client would retry as a 5xx."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What the stdlib refuses by itself (a request line over 64 KiB: 414; too many headers: 431; a malformed
        request line: 400) is answered in MLflow's error shape too, not as an HTML page the client cannot read."""
        self.close_connection = True
        self._send(mlflow_error(code, message or HTTPStatus(code).phrase))

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it."""
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > API_GATEWAY_MAX_BODY_BYTES:
            self.close_connection = True
            response = body_too_large(int(length))
            self._send(response)
            self._log(response, 0.0)
            return False
        return super().handle_expect_100()

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
        except BodyTooLargeError as exc:
            response = body_too_large(exc.size)
            self.close_connection = True  # the rest of the body is still on the wire
        except BadRequestError as exc:
            response = mlflow_error(400, str(exc))
            self.close_connection = True
        else:
            request = HttpRequest(
                method=self.command,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                source_ip=str(self.client_address[0]),
                protocol=self.request_version,
                server_port=self.server.port,
            )
            response = self.server.gateway.handle(request)
        self._send(response)
        self._log(response, time.monotonic() - started)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        if not length_header.strip().isdigit():
            raise BadRequestError(f"invalid Content-Length {length_header!r}")
        length = int(length_header)
        if length > API_GATEWAY_MAX_BODY_BYTES:
            raise BodyTooLargeError(length)
        body = self.rfile.read(length)
        if len(body) != length:
            raise BadRequestError("the connection closed before the whole body arrived")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise BadRequestError(f"invalid chunk size line {line!r}") from exc
            if size == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > API_GATEWAY_MAX_BODY_BYTES:
                raise BodyTooLargeError(None)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)  # the CRLF after the chunk

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are logged once, with timing, by ``_log``."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        if self.server.log is not None:
            self.server.log.write(f"{self.address_string()} - {format % args}\n")

    def _log(self, response: HttpResponse, elapsed: float) -> None:
        if self.server.log is None:
            return
        target = f" ({response.function_id})" if response.function_id else ""
        path = self.path if len(self.path) <= LOGGED_PATH_CHARS else self.path[: LOGGED_PATH_CHARS - 3] + "..."
        self.server.log.write(f"{self.command} {path} -> {response.status}{target} {elapsed * 1000:.0f} ms\n")
        self.server.log.flush()


def serve_in_thread(server: LocalHTTPServer, name: str = "stratus-local-http") -> threading.Thread:
    """Run ``server`` on a daemon thread; ``server.shutdown()`` stops it."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return thread
