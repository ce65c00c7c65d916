"""`stratus local --localstack [HOST:PORT]`: the endpoint comes from localstack-client, credentials and region default
to LocalStack's own unless the caller has some."""

from __future__ import annotations

import pytest

from stratus_local.backends import localstack_environment
from stratus_local.cli import build_parser


def test_the_option_defaults_to_localstacks_own_port() -> None:
    assert build_parser().parse_args(["local", "--localstack"]).localstack == "localhost:4566"
    assert build_parser().parse_args(["local", "--localstack", "10.0.0.5:4577"]).localstack == "10.0.0.5:4577"
    assert build_parser().parse_args(["local"]).localstack is None


def test_a_bare_environment_gets_the_endpoint_test_credentials_and_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "USE_SSL"):
        monkeypatch.delenv(name, raising=False)
    assert localstack_environment("127.0.0.1:4577", {}) == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4577",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_the_callers_credentials_region_and_ssl_setting_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("USE_SSL", "1")
    given = {"AWS_ACCESS_KEY_ID": "mine", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert localstack_environment("ls.internal", given) == {"AWS_ENDPOINT_URL": "https://ls.internal:4566"}
