"""A deployment's function as a process of this machine (``python -m stratus_serving.worker``): what ``stratus local``
runs for each version of a serving function instead of a Lambda container (``stratus_local/lambda_api.py``).

It loads the model at start, as the function's cold start does, so a model that cannot load is known before any
request reaches it: the error goes to stderr and the process exits 1. Once loaded it listens on a free loopback port
and prints ``stratus-worker-listening <port>`` on stdout. Each ``POST`` carries one invoke payload (an HTTP API
event, JSON) and is answered 200 with what ``stratus_serving.handler.handler`` returned, as JSON; when the handler
raises, with Lambda's error payload (``errorMessage``, ``errorType``, ``stackTrace``) and the header
``X-Stratus-Function-Error: Unhandled``. Requests are handled on threads, as ``mlflow models serve`` runs
``predict`` (``asyncio.to_thread``). SIGTERM ends it, and so does the end of the process that started it."""

from __future__ import annotations

import json
import os
import socketserver
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stratus_serving import handler

READY_PREFIX = "stratus-worker-listening"
"""The line on stdout that gives the port; ``stratus_local.lambda_api`` waits for it."""
ERROR_HEADER = "X-Stratus-Function-Error"
REQUEST_ID_HEADER = "Lambda-Runtime-Aws-Request-Id"
"""The invocation's id, sent by the emulator (named as the Lambda runtime API names it)."""
PARENT_POLL_S = 1.0


def error_payload(error: BaseException, error_type: str | None = None, request_id: str = "") -> dict[str, Any]:
    """What the Lambda Python runtime answers for an exception that escaped the handler."""
    payload: dict[str, Any] = {
        "errorMessage": str(error),
        "errorType": error_type or type(error).__name__,
        "stackTrace": traceback.format_list(traceback.extract_tb(error.__traceback__)),
    }
    if request_id:
        payload["requestId"] = request_id
    return payload


def invoke(payload: bytes, request_id: str = "") -> tuple[bytes, bool]:
    """The handler's answer to one invoke payload as JSON, and whether it is a function error."""
    try:
        result = handler.handler(json.loads(payload or b"{}"), None)
    except Exception as error:  # noqa: BLE001 - answered as Lambda answers an unhandled error, and logged as it does
        traceback.print_exc()
        return json.dumps(error_payload(error, request_id=request_id)).encode(), True
    try:
        return json.dumps(result).encode(), False
    except (TypeError, ValueError) as error:
        message = f"Unable to marshal response: {error}"
        print(message, file=sys.stderr)
        return json.dumps(
            error_payload(error, "Runtime.MarshalError", request_id) | {"errorMessage": message}
        ).encode(), True


class _WorkerServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    """Many invokes may arrive at once (socketserver's default backlog of 5 resets some of them)."""

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the address (seconds on some laptops)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _InvokeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body, failed = invoke(payload, self.headers.get(REQUEST_ID_HEADER) or "")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if failed:
            self.send_header(ERROR_HEADER, "Unhandled")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: the emulator logs the invocations."""


def exit_with_parent() -> None:
    """End this process when the one that started it is gone: a ``stratus local`` that was killed (it runs each
    worker in a session of its own, so no signal reaches the worker then) leaves no worker behind."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> int:
    exit_with_parent()
    try:
        handler.scorer()  # the cold start: load the model before saying we are ready
    except Exception as error:  # noqa: BLE001 - reported on stderr, which the emulator passes on
        traceback.print_exc()
        print(f"stratus_serving.worker: the model could not be loaded: {error}", file=sys.stderr, flush=True)
        return 1
    server = _WorkerServer(("127.0.0.1", 0), _InvokeHandler)
    print(f"{READY_PREFIX} {server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
