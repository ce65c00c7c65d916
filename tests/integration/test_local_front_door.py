"""``stratus local``'s HTTP front door under a burst: a team (or a sweep) opening many connections at the same moment
must have every one accepted and answered, none reset before it is served."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator

import pytest

from stratus_local.gateway import HttpRequest, HttpResponse
from stratus_local.server import GatewayHTTPServer, serve_in_thread

CLIENTS = 64


class SlowGateway:
    """A handler that holds the GIL for a while, as the Lambda code does: the accepting thread gets few turns."""

    def handle(self, request: HttpRequest) -> HttpResponse:
        deadline = time.perf_counter() + 0.02
        while time.perf_counter() < deadline:
            pass
        return HttpResponse(200, [("content-type", "text/plain")], b"OK")


@pytest.fixture
def server() -> Iterator[GatewayHTTPServer]:
    front_door = GatewayHTTPServer(("127.0.0.1", 0), SlowGateway(), log=None)
    serve_in_thread(front_door)
    yield front_door
    front_door.shutdown()
    front_door.server_close()


def _burst(port: int) -> tuple[int, list[str]]:
    start = threading.Barrier(CLIENTS)
    answered: list[int] = []
    failures: list[str] = []

    def client() -> None:
        start.wait()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", "/health")
            answered.append(connection.getresponse().status)
            connection.close()
        except OSError as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answered.count(200), failures


def test_every_connection_of_a_burst_is_answered(server: GatewayHTTPServer) -> None:
    assert server.request_queue_size >= CLIENTS
    for _ in range(3):
        ok, failures = _burst(server.server_address[1])
        assert (ok, failures) == (CLIENTS, [])
