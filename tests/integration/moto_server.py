"""A moto server on a loopback port for the tests of ``stratus local``'s emulators (Batch, CodeBuild/ECR), which talk
to S3, Logs and EventBridge over HTTP as the local stack does, with one bucket made and local credentials set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest


@contextmanager
def moto_server_with_bucket(region: str, bucket: str) -> Iterator[str]:
    """The server's endpoint URL while it runs."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only these tests start a server

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}.items():
                patch.setenv(name, value)
            patch.setenv("AWS_DEFAULT_REGION", region)
            patch.delenv("AWS_SESSION_TOKEN", raising=False)
            boto3.client("s3", endpoint_url=endpoint, region_name=region).create_bucket(Bucket=bucket)
            yield endpoint
    finally:
        server.stop()
