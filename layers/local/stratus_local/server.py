"""The HTTP servers of ``stratus local``: stdlib ``ThreadingHTTPServer``s speaking HTTP/1.1 with keep-alive, which read
each request whole (``Content-Length`` or chunked, bodies on any method, DELETE included). The front door hands it to
the :class:`Gateway`; :class:`WsgiHTTPServer` to a WSGI application (the embedded moto server)."""

from __future__ import annotations

import io
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

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

    @property
    def port(self) -> int:
        return int(self.server_address[1])


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


class KeepAliveRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: reads each request's whole body (``Content-Length`` or chunked) before answering, so
    the next request on the connection starts where this one ended."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for the client's delayed
    # ACK of the headers, adding ~40 ms to every request (measured: docs/benchmarks.md).
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_S
    max_body_bytes: int | None = None
    """A larger body is refused (None: no limit)."""

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET  # noqa: N815 - the stdlib's names

    def _serve(self) -> None:
        raise NotImplementedError

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        if not length_header.strip().isdigit():
            raise BadRequestError(f"invalid Content-Length {length_header!r}")
        length = int(length_header)
        if self.max_body_bytes is not None and length > self.max_body_bytes:
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
            if self.max_body_bytes is not None and total > self.max_body_bytes:
                raise BodyTooLargeError(None)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)  # the CRLF after the chunk


class GatewayRequestHandler(KeepAliveRequestHandler):
    """Moves bytes between the socket and the gateway."""

    max_body_bytes = API_GATEWAY_MAX_BODY_BYTES
    server: GatewayHTTPServer

    def version_string(self) -> str:
        return "stratus-local"

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


# --------------------------------------------------------------------------------------------------------------------
# A WSGI application behind the same keep-alive handling (the embedded moto server)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
EnvironHook = Callable[[dict[str, Any], Message], None]


class WsgiHTTPServer(LocalHTTPServer):
    """Serves a WSGI application over HTTP/1.1 with keep-alive. Werkzeug's development server, which moto's own
    ``ThreadedMotoServer`` uses, closes the connection after every answer: each S3, SQS or EventBridge call then paid
    a TCP connect and a new server thread (a 10 KB PutObject took 8 ms, 3.6 ms kept alive: docs/benchmarks.md)."""

    block_on_close = False
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], app: WsgiApp, environ_hook: EnvironHook | None = None) -> None:
        self.app = app
        self.environ_hook = environ_hook
        super().__init__(address, WsgiRequestHandler)


class WsgiRequestHandler(KeepAliveRequestHandler):
    """One WSGI call per request, its whole answer sent with a ``Content-Length`` (the emulated services answer from
    memory anyway)."""

    server: WsgiHTTPServer

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Not logged: the emulated services' traffic is the handlers' business."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        """Not logged either (a client closing a kept-alive connection is normal)."""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except BadRequestError as exc:
            self.close_connection = True
            self._answer("400 Bad Request", [("Content-Type", "text/plain")], [str(exc).encode()])
            return
        status_and_headers: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            status_and_headers[:] = [status, headers]
            return written.append

        written: list[bytes] = []
        try:
            result = self.server.app(self._environ(body), start_response)
            try:
                written.extend(chunk for chunk in result if chunk)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as exc:  # noqa: BLE001 - a failing emulated call answers 500, as werkzeug did
            self.close_connection = True
            self._answer("500 Internal Server Error", [("Content-Type", "text/plain")], [repr(exc).encode()])
            return
        self._answer(status_and_headers[0], status_and_headers[1], written)

    def _environ(self, body: bytes) -> dict[str, Any]:
        """The environ werkzeug's server builds (headers with an underscore in their name are left out, since WSGI
        cannot tell ``X_Foo`` from ``X-Foo``), then the server's hook."""
        target = urlsplit(self.path)
        path = target.path if not target.netloc or target.scheme else f"/{target.netloc}{target.path}"  # as werkzeug
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "SERVER_SOFTWARE": self.version_string(),
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": target.query,
            "REQUEST_URI": self.path,
            "RAW_URI": self.path,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.port),
            "SERVER_PROTOCOL": self.request_version,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in self.headers.items():
            if "_" in name:
                continue
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue  # the body is read whole: its framing is this server's business
            if key != "CONTENT_TYPE":
                key = f"HTTP_{key}"
            value = value.replace("\r\n", "")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        if target.scheme and target.netloc:
            environ["HTTP_HOST"] = target.netloc
        if self.server.environ_hook is not None:
            self.server.environ_hook(environ, self.headers)
        return environ

    def _answer(self, status: str, headers: list[tuple[str, str]], chunks: list[bytes]) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        self.send_response_only(code, reason)
        self.send_header("Date", self.date_time_string())
        sent_length = False
        for name, value in headers:
            lowered = name.lower()
            if lowered in ("connection", "transfer-encoding"):
                continue
            sent_length = sent_length or lowered == "content-length"
            self.send_header(name, value)
        bodiless = self.command == "HEAD" or code in (204, 304) or code < 200
        if not sent_length and not bodiless:
            self.send_header("Content-Length", str(sum(len(chunk) for chunk in chunks)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not bodiless:
            for chunk in chunks:  # not joined: a ranged GET of a large object is one chunk of up to 100 MB
                self.wfile.write(chunk)
