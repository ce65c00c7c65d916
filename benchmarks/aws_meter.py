"""What a stretch of work through ``stratus local`` would be billed for, counted inside the stack's process.

``stratus local`` runs the Lambda handlers in the process that starts it, so the benchmark starts it in its own
process and instruments it there:

* :class:`AwsMeter`: botocore ``before-call``/``after-call`` hooks on every client created while installed count
  each AWS request by service and operation, and the wall time it took on the calling thread. Calls made by the
  local event-source pollers (threads ``stream-*``, ``rule-*``, ``queue-*``: emulation, not code that runs on AWS)
  are left out unless they happen inside a handler they invoke.
* :class:`InvocationMeter`: wraps every function's handler: invocations, wall time, CPU time of the handler's
  thread, and the wall time of the AWS calls the handler's thread made, so that handler time with AWS calls
  excluded is known (calls made from worker threads the handler starts are not subtracted).
* Independent counts, from the other side of the wire: :class:`MotoCounter` wraps the embedded moto server's WSGI
  application (S3, EventBridge, SQS: everything but DynamoDB, including the presigned-URL requests the client sends
  to S3 itself); :class:`DynamoProxy` is a counting HTTP proxy put in front of DynamoDB Local for the handlers.

DynamoDB capacity units come from :class:`benchmarks.dynamo_meter.DynamoMeter` (computed from item sizes).
"""

from __future__ import annotations

import http.client
import math
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session

from stratus_local.stack import LocalStack

POLLER_THREAD_PREFIXES = ("stream-", "rule-", "queue-")
_STARTED_KEY = "benchmarks.aws_meter.started"


@dataclass
class FunctionUsage:
    """One function's invocations in a stretch of work."""

    memory_mb: int
    invocations: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    aws_seconds: float = 0.0
    aws_calls: int = 0
    billed_ms: int = 0
    """Sum over invocations of the handler time without AWS calls, rounded up to the millisecond as Lambda bills."""

    @property
    def seconds_without_aws(self) -> float:
        return max(0.0, self.seconds - self.aws_seconds)


class AwsMeter:
    """Counts AWS requests by (service, operation) from botocore's own events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._events = 0
        self._original: Callable[..., Any] | None = None

    def install(self) -> None:
        """Hook every client created from now on (before the stack starts, so its clients are hooked too)."""
        if self._original is not None:
            return
        original = botocore.session.Session.create_client
        meter = self

        def create_client(session: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
            client = original(session, service_name, *args, **kwargs)
            client.meta.events.register("before-call", meter._before)
            client.meta.events.register("after-call", meter._after)
            return client

        self._original = original
        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.session.Session.create_client = self._original  # type: ignore[method-assign]
            self._original = None

    @property
    def in_handler(self) -> bool:
        return bool(getattr(self._local, "in_handler", False))

    @in_handler.setter
    def in_handler(self, value: bool) -> None:
        self._local.in_handler = value

    def thread_aws_seconds(self) -> float:
        """AWS call time spent so far on the current thread."""
        return float(getattr(self._local, "aws_seconds", 0.0))

    def thread_aws_calls(self) -> int:
        """AWS calls made so far on the current thread."""
        return int(getattr(self._local, "aws_calls", 0))

    def _counted(self) -> bool:
        return self.in_handler or not threading.current_thread().name.startswith(POLLER_THREAD_PREFIXES)

    @staticmethod
    def _before(context: dict[str, Any], **_: Any) -> None:
        context[_STARTED_KEY] = time.perf_counter()

    def _after(self, model: Any, context: dict[str, Any], parsed: Any = None, **_: Any) -> None:
        elapsed = time.perf_counter() - context.get(_STARTED_KEY, time.perf_counter())
        self._local.aws_seconds = self.thread_aws_seconds() + elapsed
        self._local.aws_calls = self.thread_aws_calls() + 1
        if not self._counted():
            return
        service = model.service_model.service_name
        entries = len(parsed.get("Entries") or []) if service == "events" and isinstance(parsed, dict) else 0
        with self._lock:
            self._requests[(service, model.name)] += 1
            self._events += entries

    def take(self) -> tuple[Counter[tuple[str, str]], int]:
        """Requests since the last take, and the EventBridge events they put."""
        with self._lock:
            taken, events, self._requests, self._events = self._requests, self._events, Counter(), 0
        return taken, events


class InvocationMeter:
    """Wraps every function's handler in ``stack`` to time it (with and without its AWS calls)."""

    def __init__(self, stack: LocalStack, aws: AwsMeter) -> None:
        if stack.functions is None:
            raise RuntimeError("the stack is not started")
        self._lock = threading.Lock()
        self._aws = aws
        self._memory = {name: f.spec.memory_mb for name, f in stack.functions.functions.items()}
        self._usage: dict[str, FunctionUsage] = {}
        for name, function in stack.functions.functions.items():
            function.wrap(lambda handler, _name=name: self._timed(_name, handler))

    def _timed(self, name: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def timed(event: Any, context: Any) -> Any:
            outer = self._aws.in_handler
            self._aws.in_handler = True
            aws_before, calls_before = self._aws.thread_aws_seconds(), self._aws.thread_aws_calls()
            started, started_cpu = time.perf_counter(), time.thread_time()
            try:
                return handler(event, context)
            finally:
                wall, cpu = time.perf_counter() - started, time.thread_time() - started_cpu
                self._aws.in_handler = outer
                aws = (self._aws.thread_aws_seconds() - aws_before, self._aws.thread_aws_calls() - calls_before)
                self._add(name, wall, cpu, *aws)

        return timed

    def _add(self, name: str, wall: float, cpu: float, aws_seconds: float, aws_calls: int) -> None:  # noqa: PLR0913
        with self._lock:
            usage = self._usage.setdefault(name, FunctionUsage(self._memory[name]))
            usage.invocations += 1
            usage.seconds += wall
            usage.cpu_seconds += cpu
            usage.aws_seconds += aws_seconds
            usage.aws_calls += aws_calls
            usage.billed_ms += max(1, math.ceil(max(0.0, wall - aws_seconds) * 1000))

    def take(self) -> dict[str, FunctionUsage]:
        with self._lock:
            taken, self._usage = self._usage, {}
        return taken

    def settle(self, quiet_seconds: float = 1.5, timeout: float = 60.0) -> None:
        """Wait until no handler has been invoked for ``quiet_seconds``: the asynchronous consumers (EventBridge
        rules, queues, streams) of the work just done have finished, so their calls fall in its window."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                before = sum(u.invocations for u in self._usage.values())
            time.sleep(quiet_seconds)
            with self._lock:
                if sum(u.invocations for u in self._usage.values()) == before:
                    return


# ------------------------------------------------------------------------------------------- independent counts


def s3_request_kind(method: str, path: str, query: str) -> str:
    """S3's billing class of a path-style request: ``PUT`` (PUT, COPY, POST, LIST) or ``GET`` (GET, HEAD, other)."""
    parts = [p for p in path.split("/") if p]
    if method in ("PUT", "POST"):
        return "PUT"
    if method == "GET" and len(parts) <= 1 and "location" not in urllib.parse.parse_qs(query, True):
        return "PUT"  # ListObjects(V2), ListMultipartUploads: billed as LIST
    return "GET"


def _service_of(environ: dict[str, Any]) -> str:
    """The service a request to moto is for, from its SigV4 credential scope (header or presigned query)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0] if "Credential=" in auth else ""
    if not scope:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        scope = (query.get("X-Amz-Credential") or [""])[0]
    fields = scope.split("/")
    return fields[3] if len(fields) >= 5 else "unsigned"


class MotoCounter:
    """Counts every request reaching the embedded moto server: S3 by billing class, other services by operation."""

    def __init__(self, stack: LocalStack) -> None:
        backends = stack._backends  # noqa: SLF001 - benchmarks look inside the local stack
        moto = getattr(backends, "moto", None)
        server = getattr(moto, "_server", None)  # stratus_local.server.WsgiHTTPServer: reads ``app`` per request
        if server is None:
            raise RuntimeError("no embedded moto server in this stack")
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        application = server.app

        def counting(environ: dict[str, Any], start_response: Any) -> Any:
            self._count(environ)
            return application(environ, start_response)

        server.app = counting

    def _count(self, environ: dict[str, Any]) -> None:
        service = _service_of(environ)
        if service == "s3":
            operation = s3_request_kind(environ["REQUEST_METHOD"], environ["PATH_INFO"], environ["QUERY_STRING"])
        else:
            operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2] or environ["REQUEST_METHOD"]
        with self._lock:
            self._requests[(service, operation)] += 1

    def take(self) -> Counter[tuple[str, str]]:
        with self._lock:
            taken, self._requests = self._requests, Counter()
        return taken


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The answer's headers and body go out in two writes: with Nagle's algorithm on, the body waited for the client's
    # delayed ACK, adding ~40 ms to every DynamoDB call the handlers made through this proxy (so to Stratus's side of
    # every comparison before 2026-12-07's evening run).
    disable_nagle_algorithm = True
    server: DynamoProxy

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.count(self.headers.get("X-Amz-Target", "").rpartition(".")[2] or "?")
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        connection = self.server.upstream()
        try:
            connection.request("POST", self.path, body, headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException):
            connection.close()  # a kept-alive connection the upstream closed: once more on a fresh one
            connection.request("POST", self.path, body, headers)
            response = connection.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        return


class DynamoProxy(ThreadingHTTPServer):
    """A counting HTTP proxy to DynamoDB Local, by operation (``X-Amz-Target``)."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        parsed = urllib.parse.urlsplit(upstream)
        self._target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._thread = threading.Thread(target=self.serve_forever, name="dynamodb-proxy", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def upstream(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(*self._target, timeout=600)
        return connection  # type: ignore[no-any-return]

    def count(self, operation: str) -> None:
        with self._lock:
            self._requests[operation] += 1

    def take(self) -> Counter[str]:
        with self._lock:
            taken, self._requests = self._requests, Counter()
        return taken

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@dataclass
class StackUsage:
    """Everything counted over one stretch of work."""

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    functions: dict[str, FunctionUsage] = field(default_factory=dict)
    moto: Counter[tuple[str, str]] = field(default_factory=Counter)
    proxy: Counter[str] = field(default_factory=Counter)
    dynamodb: Any = None
    """The :class:`benchmarks.dynamo_meter.Usage` of the stretch."""
    gateway_requests: int = 0
    events: int = 0
    """EventBridge events put (entries of PutEvents)."""


@contextmanager
def gateway_counter(stack: LocalStack) -> Iterator[Callable[[], int]]:
    """Counts the requests the local API Gateway hands to a function (what an HTTP API bills)."""
    gateway = stack.gateway
    if gateway is None:
        raise RuntimeError("the stack is not started")
    lock, counted = threading.Lock(), [0]
    original = gateway.invoke

    def invoke(function_id: str, event_json: bytes, request_id: str) -> bytes:
        with lock:
            counted[0] += 1
        return original(function_id, event_json, request_id)

    def take() -> int:
        with lock:
            taken, counted[0] = counted[0], 0
        return taken

    gateway.invoke = invoke
    try:
        yield take
    finally:
        gateway.invoke = original
