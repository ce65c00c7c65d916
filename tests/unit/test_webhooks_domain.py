"""MLflow 3 webhook rules (stratus.domain.webhooks) against the reference, mlflow 3.17.2.

Where mlflow is importable the expectations come from it: its validators, its payload TypedDicts and examples, its
signing function, its delivery function (with the network replaced) and its server's handlers (on SQLite, with
``deliver_webhook`` recorded). No test touches the network: resolvers are fakes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from stratus.domain import webhooks
from stratus.errors import InvalidParameterValue

PUBLIC = "93.184.216.34"


def raised(fn, *args, **kwargs) -> str:
    with pytest.raises(InvalidParameterValue) as info:
        fn(*args, **kwargs)
    assert info.value.http_status == 400
    return info.value.message


def resolver(table: dict[str, list[str]]):
    """A getaddrinfo stand-in: ``table`` maps hosts to addresses; an IP literal is itself; nothing else resolves."""

    def resolve(host: str, port: object, *args: object) -> list[tuple[Any, ...]]:
        addresses = [host] if ipaddress_or_none(host) else table.get(host)
        if addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 0)) for ip in addresses
        ]

    return resolve


def ipaddress_or_none(host: str):
    import ipaddress

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check(url: str, *, table: dict[str, list[str]] | None = None, private: bool = False, schemes=("https",)):
    webhooks.check_destination(url, allowed_schemes=schemes, allow_private_ips=private, resolve=resolver(table or {}))


# --------------------------------------------------------------------------- events


def test_webhook_events_are_exactly_the_references_valid_pairs():
    from mlflow.entities.webhook import VALID_ENTITY_ACTIONS

    reference = {(e.value, a.value) for e, actions in VALID_ENTITY_ACTIONS.items() for a in actions}
    assert set(webhooks.WEBHOOK_EVENTS) == reference
    assert len(webhooks.WEBHOOK_EVENTS) == len(reference)


def test_entity_action_and_status_numbers_match_the_proto_enums():
    from mlflow.protos import webhooks_pb2

    assert [webhooks_pb2.WebhookEntity.Name(n).lower() for n in range(1, 11)] == list(webhooks.WEBHOOK_ENTITIES)
    assert [webhooks_pb2.WebhookAction.Name(n).lower() for n in range(1, 6)] == list(webhooks.WEBHOOK_ACTIONS)
    assert [webhooks_pb2.WebhookStatus.Name(n) for n in (1, 2)] == list(webhooks.WEBHOOK_STATUSES)


def test_parse_events_reads_the_proto_json_the_stock_client_sends():
    from mlflow.entities.webhook import WebhookEvent
    from mlflow.protos.webhooks_pb2 import CreateWebhook
    from mlflow.utils.proto_json_utils import message_to_json

    events = [WebhookEvent("model_version", "created"), WebhookEvent("prompt_alias", "deleted")]
    sent = json.loads(message_to_json(CreateWebhook(name="n", url="u", events=[e.to_proto() for e in events])))
    assert sent["events"][0] == {"entity": "MODEL_VERSION", "action": "CREATED"}
    assert webhooks.parse_events(sent["events"]) == [("model_version", "created"), ("prompt_alias", "deleted")]
    assert [webhooks.event_to_json(*e) for e in webhooks.parse_events(sent["events"])] == sent["events"]


def test_parse_events_takes_enum_numbers_like_proto_json():
    assert webhooks.parse_events([{"entity": 2, "action": 1}, {"entity": "4", "action": "3"}]) == [
        ("model_version", "created"),
        ("model_version_alias", "deleted"),
    ]


@pytest.mark.parametrize(("entity", "action"), [("model_version", "deleted"), ("model_version", "updated")])
def test_parse_events_refuses_an_invalid_pair_with_the_references_text(entity, action):
    from mlflow.entities.webhook import WebhookEvent
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as reference:
        WebhookEvent(entity, action)
    message = raised(webhooks.parse_events, [{"entity": entity.upper(), "action": action.upper()}])
    assert (
        message
        == reference.value.message
        == f"Invalid action '{action}' for entity 'model_version'. Valid actions are: ['created']"
    )


def test_parse_events_refuses_an_empty_list_with_the_references_text():
    assert raised(webhooks.parse_events, []) == "Webhook events must be a non-empty list of WebhookEvent objects: []."


def test_parse_events_refuses_a_non_list_with_the_request_schema_text():
    assert raised(webhooks.parse_events, "x") == (
        "Invalid value \"x\" for parameter 'events' supplied:  Hint: Value was of type 'str'."
        " See the API docs for more information about request parameters."
    )


@pytest.mark.parametrize(
    "item",
    [
        {"entity": "model_version", "action": "created"},  # lower case: the reference answers 500
        {"entity": "MODEL_VERSION"},
        {"action": "CREATED"},
        {"entity": "ENTITY_UNSPECIFIED", "action": "CREATED"},
        {"entity": "MODEL_VERSION", "action": 0},
        {"entity": 99, "action": 1},
        {"entity": True, "action": 1},
        {"entity": "BOGUS", "action": "CREATED"},
        "model_version.created",
        None,
    ],
)
def test_parse_events_answers_400_where_the_reference_answers_500(item):
    assert raised(webhooks.parse_events, [item]).startswith("Invalid webhook event ")


def test_parse_events_refuses_a_repeated_event():
    event = {"entity": "MODEL_VERSION", "action": "CREATED"}
    assert raised(webhooks.parse_events, [event, event]) == "Duplicate webhook event: 'model_version.created'."


# --------------------------------------------------------------------------- fields


@pytest.mark.parametrize(
    "name",
    ["a", "a" * 63, "a" * 64, "my-hook.v1_2", "-a", "a-", "a b", "", "Hook9", "é", "a..b", "a\n", "ſ", 5, None],
)
def test_webhook_name_rule_is_the_references(name):
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_webhook_name

    try:
        _validate_webhook_name(name)
        expected = None
    except MlflowException as exc:
        expected = exc.message
    if expected is None:
        webhooks.validate_webhook_name(name)
    else:
        assert raised(webhooks.validate_webhook_name, name) == expected


def test_create_requires_name_and_url_with_the_request_schema_text():
    docs = " See the API docs for more information about request parameters."
    assert raised(webhooks.validate_webhook_fields, "", "https://x", None, None, None) == (
        "Missing value for required parameter 'name'." + docs
    )
    assert raised(webhooks.validate_webhook_fields, "h", None, None, None, None) == (
        "Missing value for required parameter 'url'." + docs
    )


def test_update_treats_empty_name_and_url_as_absent():
    webhooks.validate_webhook_fields("", "", "", None, "", creating=False)
    webhooks.validate_webhook_fields(None, None, None, None, None, creating=False)


def test_fields_of_the_wrong_type_get_the_request_schema_text():
    assert raised(webhooks.validate_webhook_fields, "h", "https://x", None, None, 5) == (
        "Invalid value 5 for parameter 'secret' supplied:  Hint: Value was of type 'int'."
        " See the API docs for more information about request parameters."
    )


def test_url_and_description_lengths_follow_the_references_columns():
    webhooks.validate_webhook_fields("h", "https://x/" + "a" * 490, "d" * 1000, None, None)
    assert "at most 500" in raised(webhooks.validate_webhook_fields, "h", "https://x/" + "a" * 491, None, None, None)
    assert "at most 1000" in raised(webhooks.validate_webhook_fields, "h", "https://x", "d" * 1001, None, None)


def test_status_is_active_or_disabled_by_name_or_number():
    assert webhooks.parse_status("ACTIVE") == "ACTIVE"
    assert webhooks.parse_status(2) == "DISABLED"
    assert webhooks.parse_status(None) is None
    for bad in ("active", "FOO", "STATUS_UNSPECIFIED", 0, 3, True):
        assert raised(webhooks.parse_status, bad).startswith("Invalid webhook status ")
    assert raised(webhooks.validate_webhook_fields, "h", "https://x", None, "DISABLE", None) == (
        "Invalid webhook status \"DISABLE\". Valid statuses are: ['ACTIVE', 'DISABLED']"
    )


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("raw", [None, "https", "http,https", " http , https ", "HTTPS"])
def test_allowed_schemes_parse_like_the_reference(raw, monkeypatch):
    from mlflow.environment_variables import _MLFLOW_WEBHOOK_ALLOWED_SCHEMES

    if raw is None:
        monkeypatch.delenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", raw)
    assert list(webhooks.parse_allowed_schemes(raw)) == _MLFLOW_WEBHOOK_ALLOWED_SCHEMES.get()


def test_allowed_schemes_drop_empty_entries_the_reference_keeps():
    assert webhooks.parse_allowed_schemes("https,") == ("https",)
    assert "Invalid webhook URL scheme: ''" in raised(check, "//example.com/h", schemes=("https",))


@pytest.mark.parametrize("raw", [None, "true", "TRUE", "1", "false", "0", "False"])
def test_allow_private_ips_parses_like_the_reference(raw, monkeypatch):
    from mlflow.environment_variables import _MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS

    if raw is None:
        monkeypatch.delenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", raw)
    assert webhooks.parse_allow_private_ips(raw) is _MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS.get()


def test_allow_private_ips_refuses_other_values():
    with pytest.raises(ValueError, match="must be one of"):
        webhooks.parse_allow_private_ips("yes")


# --------------------------------------------------------------------------- destination (SSRF)


def test_a_public_https_destination_passes():
    check("https://hooks.example.com/h", table={"hooks.example.com": [PUBLIC, "2606:4700::1111"]})


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/h",
        "https://127.8.9.10/h",
        "https://10.1.2.3/h",
        "https://172.16.0.1/h",
        "https://172.31.255.255/h",
        "https://192.168.1.1/h",
        "https://169.254.169.254/latest/meta-data/",
        "https://169.254.170.2/v2/credentials",
        "https://100.64.0.1/h",
        "https://0.0.0.0/h",
        "https://224.0.0.1/h",
        "https://239.255.255.250/h",
        "https://240.0.0.1/h",
        "https://255.255.255.255/h",
        "https://198.18.0.1/h",
        "https://192.0.0.8/h",
        "https://[::1]/h",
        "https://[::]/h",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://[fd12:3456::1]/h",
        "https://[fe80::1]/h",
        "https://[fec0::1]/h",
        "https://[ff02::1]/h",
        "https://[::ffff:127.0.0.1]/h",
        "https://[::ffff:169.254.169.254]/h",
        "https://[::127.0.0.1]/h",
        "https://[64:ff9b::a00:1]/h",
        "https://[2002:a00:1::1]/h",
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/h",
        "https://[2001:db8::1]/h",
    ],
)
def test_non_public_ip_literals_are_refused(url):
    message = raised(check, url)
    assert message.startswith("Webhook URL must not resolve to a non-public IP address.")


@pytest.mark.parametrize(
    "url",
    ["https://2130706433/h", "https://0177.0.0.1/h", "https://127.1/h", "https://0x7f.0.0.1/h", "https://0x7f000001/"],
)
def test_non_canonical_numeric_hosts_are_refused(url):
    assert raised(check, url, table={}).endswith("is not a canonical IP address literal.")
    # even when private destinations are allowed: these are never what the user meant
    assert raised(check, url, private=True).endswith("is not a canonical IP address literal.")


@pytest.mark.parametrize("private", ["10.0.0.5", "127.0.0.1", "169.254.169.254", "fd00:ec2::254", "::ffff:10.0.0.1"])
def test_a_hostname_resolving_to_a_private_address_is_refused(private):
    message = raised(check, "https://internal.example.com/h", table={"internal.example.com": [private]})
    assert message.startswith("Webhook URL must not resolve to a non-public IP address. 'internal.example.com'")


def test_every_resolved_address_must_be_public():
    table = {"mixed.example.com": [PUBLIC, "10.0.0.1"]}
    assert raised(check, "https://mixed.example.com/h", table=table) == (
        "Webhook URL must not resolve to a non-public IP address. 'mixed.example.com' resolves to 10.0.0.1."
    )


def test_unresolvable_and_empty_resolutions_are_refused():
    assert raised(check, "https://nowhere.invalid/h").startswith(
        "Cannot resolve Webhook URL hostname 'nowhere.invalid'"
    )
    assert raised(check, "https://empty.example.com/h", table={"empty.example.com": []}).endswith("no addresses")


def test_allow_private_ips_lets_private_destinations_through_without_resolving():
    def fail(*args: object) -> list[Any]:
        raise AssertionError("resolved")

    for url in ("https://127.0.0.1/h", "https://[::1]/h", "https://internal.example.com/h"):
        webhooks.check_destination(url, allowed_schemes=("https",), allow_private_ips=True, resolve=fail)


def test_scheme_host_and_shape_errors_are_the_references(monkeypatch):
    """Same texts as mlflow's _validate_webhook_url for URLs that fail before or at resolution."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_webhook_url

    table = {"example.com": [PUBLIC], "internal.example.com": ["10.0.0.1"]}
    monkeypatch.setattr(socket, "getaddrinfo", resolver(table))
    monkeypatch.delenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", raising=False)
    monkeypatch.delenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", raising=False)
    urls = [
        "http://example.com/h",
        "ftp://example.com/h",
        "example.com/h",
        "   ",
        "https:///nohost",
        "https://[::1/h",
        "https://127.0.0.1/h",
        "https://internal.example.com/h",
        "https://nowhere.invalid/h",
        5,
    ]
    for url in urls:
        with pytest.raises(MlflowException) as reference:
            _validate_webhook_url(url)
        assert raised(check, url, table=table) == reference.value.message, url
    _validate_webhook_url("HTTPS://example.com/h")
    check("HTTPS://example.com/h", table=table)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8", PUBLIC, "1.1.1.1", "127.0.0.1", "10.0.0.1", "100.64.0.1", "169.254.169.254", "172.16.0.1",
        "192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.0.1", "198.18.0.1", "203.0.113.1", "224.0.0.1", "240.0.0.1",
        "2606:4700::1111", "2001:4860:4860::8888", "::1", "::", "::ffff:10.0.0.1", "::ffff:8.8.8.8", "2002:808:808::1",
        "2002:a00:1::1", "64:ff9b::808:808", "64:ff9b::a00:1", "64:ff9b:1::1", "2001::1", "2001:db8::1", "fc00::1",
        "fd00:ec2::254", "fe80::1", "fec0::1", "ff02::1", "100::1", "::127.0.0.1",
    ],
)  # fmt: skip
def test_is_public_ip_is_at_least_as_strict_as_the_reference(address):
    import ipaddress

    from mlflow.utils.validation import _is_public_ip

    ip = ipaddress.ip_address(address)
    if not _is_public_ip(ip):
        assert not webhooks.is_public_ip(ip)
    assert webhooks.is_public_ip(ip) is (address in {"8.8.8.8", PUBLIC, "1.1.1.1", "2606:4700::1111",
                                                     "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::1",
                                                     "64:ff9b::808:808"})  # fmt: skip


# --------------------------------------------------------------------------- payloads


def detail(**fields: Any) -> dict[str, Any]:
    base = {"schema_version": "1", "event_id": "r:0", "model_name": "churn", "version": None, "run_id": None}
    return {**base, "actor": "u", "time": "2026-11-18T11:06:40.000Z", "before": None, "after": None, **fields}


def payload_class(event: str):
    from mlflow.entities.webhook import WebhookEvent
    from mlflow.webhooks.types import get_payload_class_for_event

    return get_payload_class_for_event(WebhookEvent.from_str(event))


def assert_shape(event: str, payload: dict[str, Any]) -> None:
    """Keys, in order, are the TypedDict's (which the reference's handlers also follow)."""
    assert list(payload) == list(payload_class(event).__annotations__), event


CASES: list[tuple[str, dict[str, Any], bool, list[tuple[str, dict[str, Any]]]]] = [
    (
        "Registered Model Created",
        detail(after={"name": "churn", "description": None, "tags": {"team": "risk"}, "aliases": {}}),
        False,
        [("registered_model.created", {"name": "churn", "tags": {"team": "risk"}, "description": ""})],
    ),
    (
        "Registered Model Created",
        detail(
            model_name="greet",
            after={
                "name": "greet",
                "description": "d",
                "tags": {"mlflow.prompt.is_prompt": "true", "_mlflow_prompt_type": "text", "team": "x"},
                "aliases": {},
            },
        ),
        False,
        [("prompt.created", {"name": "greet", "tags": {"team": "x"}, "description": "d"})],
    ),
    (
        "Model Version Created",
        detail(version="3", run_id="abc", after={"version": "3", "source": "s3://b/m", "stage": "None", "tags": {}}),
        False,
        [
            (
                "model_version.created",
                {"name": "churn", "version": "3", "source": "s3://b/m", "run_id": "abc", "tags": {},
                 "description": None},
            )
        ],
    ),
    (
        "Model Version Created",
        detail(
            model_name="greet",
            version="1",
            after={
                "version": "1",
                "source": "dummy-source",
                "tags": {"mlflow.prompt.is_prompt": "true", "mlflow.prompt.text": "Hi {{x}}", "k": "v"},
            },
        ),
        False,
        [
            (
                "prompt_version.created",
                {"name": "greet", "version": "1", "template": "Hi {{x}}", "tags": {"k": "v"}, "description": None},
            )
        ],
    ),
    (
        "Model Version Tag Set",
        detail(version="3", after={"key": "k", "value": "v"}),
        False,
        [("model_version_tag.set", {"name": "churn", "version": "3", "key": "k", "value": "v"})],
    ),
    (
        "Model Version Tag Set",
        detail(version="3", after={"key": "k", "value": "v"}),
        True,
        [("prompt_version_tag.set", {"name": "churn", "version": "3", "key": "k", "value": "v"})],
    ),
    (
        "Model Version Tag Deleted",
        detail(version="3", before={"key": "k", "value": "v"}),
        False,
        [("model_version_tag.deleted", {"name": "churn", "version": "3", "key": "k"})],
    ),
    (
        "Model Version Tag Deleted",
        detail(version="3", before={"key": "k", "value": "v"}),
        True,
        [("prompt_version_tag.deleted", {"name": "churn", "version": "3", "key": "k"})],
    ),
    ("Registered Model Tag Set", detail(after={"key": "k", "value": "v"}), False, []),
    (
        "Registered Model Tag Set",
        detail(after={"key": "k", "value": "v"}),
        True,
        [("prompt_tag.set", {"name": "churn", "key": "k", "value": "v"})],
    ),
    ("Registered Model Tag Deleted", detail(before={"key": "k", "value": "v"}), False, []),
    (
        "Registered Model Tag Deleted",
        detail(before={"key": "k", "value": "v"}),
        True,
        [("prompt_tag.deleted", {"name": "churn", "key": "k"})],
    ),
    (
        "Model Alias Set",
        detail(version="3", after={"alias": "champion", "version": "3"}),
        False,
        [("model_version_alias.created", {"name": "churn", "alias": "champion", "version": "3"})],
    ),
    (
        "Model Alias Moved",
        detail(version="3", before={"alias": "champion", "version": "2"}, after={"alias": "champion", "version": "3"}),
        True,
        [("prompt_alias.created", {"name": "churn", "alias": "champion", "version": "3"})],
    ),
    (
        "Model Alias Deleted",
        detail(version="3", before={"alias": "champion", "version": "3"}),
        False,
        [("model_version_alias.deleted", {"name": "churn", "alias": "champion"})],
    ),
    (
        "Model Alias Deleted",
        detail(version="3", before={"alias": "champion", "version": "3"}),
        True,
        [("prompt_alias.deleted", {"name": "churn", "alias": "champion"})],
    ),
    ("Registered Model Renamed", detail(before={"name": "a"}, after={"name": "churn"}), False, []),
    ("Registered Model Deleted", detail(before={"name": "churn", "tags": {}}), False, []),
    ("Model Version Deleted", detail(version="3", before={"version": "3"}), False, []),
    ("Model Version Stage Transitioned", detail(version="3", before={"stage": "None"}, after={"stage": "Prod"}), False,
     []),
]  # fmt: skip


@pytest.mark.parametrize(("detail_type", "event_detail", "is_prompt", "expected"), CASES)
def test_webhook_deliveries_map_each_registry_event(detail_type, event_detail, is_prompt, expected):
    deliveries = webhooks.webhook_deliveries(detail_type, event_detail, is_prompt=is_prompt)
    assert deliveries == expected
    for event, payload in deliveries:
        assert_shape(event, payload)


def test_every_stratus_detail_type_is_covered_by_the_cases():
    from stratus.events import schema

    assert {case[0] for case in CASES} == set(schema.DETAIL_TYPES)


def test_example_payloads_are_the_references():
    from mlflow.entities.webhook import WebhookEvent
    from mlflow.webhooks.types import get_example_payload_for_event

    assert set(webhooks.EXAMPLE_PAYLOADS) == {webhooks.event_name(*e) for e in webhooks.WEBHOOK_EVENTS}
    for event, payload in webhooks.EXAMPLE_PAYLOADS.items():
        assert payload == get_example_payload_for_event(WebhookEvent.from_str(event)), event
        assert_shape(event, payload)
    copy = webhooks.example_payload("model_version", "created")
    copy["tags"]["x"] = "y"
    assert webhooks.example_payload("model_version", "created")["tags"] == {"example_key": "example_value"}


@pytest.fixture
def reference_server(tmp_path, monkeypatch):
    """The reference server's Flask app on SQLite, with each webhook it would deliver recorded instead."""
    import mlflow.server.handlers as handlers
    import mlflow.tracking._model_registry.utils as registry_uri
    import mlflow.tracking._tracking_service.utils as tracking_uri

    # The reference's first request sets the process's tracking and registry URIs (the globals and the
    # MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI variables) to its SQLite store: they are put back afterwards, or a
    # later test in this process sends its registry calls there (test_registry_events_local.py saw no event arrive).
    saved_env = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    monkeypatch.setattr(tracking_uri, "_tracking_uri", tracking_uri._tracking_uri)
    monkeypatch.setattr(registry_uri, "_registry_uri", registry_uri._registry_uri)
    monkeypatch.setenv("_MLFLOW_SERVER_FILE_STORE", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("_MLFLOW_SERVER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.setattr(handlers, "_model_registry_store", None)
    monkeypatch.setattr(handlers, "_tracking_store", None)
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        handlers, "deliver_webhook", lambda *, event, payload, store: sent.append((str(event), payload))
    )
    from mlflow.server import app

    client = app.test_client()

    def call(method: str, path: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        sent.clear()
        response = client.open(f"/api/2.0/mlflow/{path}", method=method, json=body)
        assert response.status_code == 200, response.get_data(as_text=True)
        return list(sent)

    yield call
    for name, value in saved_env.items():  # (monkeypatch.delenv records nothing for a variable that is not set)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_payloads_equal_what_the_reference_server_sends(reference_server):
    prompt_tags = [{"key": "mlflow.prompt.is_prompt", "value": "true"}, {"key": "_mlflow_prompt_type", "value": "text"}]
    calls = [
        (("POST", "registered-models/create", {"name": "churn", "tags": [{"key": "team", "value": "risk"}]}),
         ("Registered Model Created", detail(after={"name": "churn", "description": None, "tags": {"team": "risk"}}),
          False)),
        (("POST", "registered-models/create", {"name": "greet", "tags": [*prompt_tags, {"key": "t", "value": "x"}],
                                               "description": "d"}),
         ("Registered Model Created", detail(model_name="greet", after={"name": "greet", "description": "d", "tags": {
             "mlflow.prompt.is_prompt": "true", "_mlflow_prompt_type": "text", "t": "x"}}), False)),
        (("POST", "model-versions/create", {"name": "churn", "source": "s3://b/m", "run_id": "abc",
                                            "tags": [{"key": "a", "value": "b"}]}),
         ("Model Version Created", detail(version="1", run_id="abc", after={"version": "1", "source": "s3://b/m",
                                                                            "tags": {"a": "b"}}), False)),
        (("POST", "model-versions/create", {"name": "greet", "source": "dummy-source", "tags": [
            prompt_tags[0], {"key": "mlflow.prompt.text", "value": "Hi {{x}}"}, {"key": "k", "value": "v"}]}),
         ("Model Version Created", detail(model_name="greet", version="1", after={"version": "1", "tags": {
             "mlflow.prompt.is_prompt": "true", "mlflow.prompt.text": "Hi {{x}}", "k": "v"}}), False)),
        (("POST", "model-versions/set-tag", {"name": "churn", "version": "1", "key": "k", "value": "v"}),
         ("Model Version Tag Set", detail(version="1", after={"key": "k", "value": "v"}), False)),
        (("DELETE", "model-versions/delete-tag", {"name": "churn", "version": "1", "key": "k"}),
         ("Model Version Tag Deleted", detail(version="1", before={"key": "k", "value": "v"}), False)),
        (("POST", "model-versions/set-tag", {"name": "greet", "version": "1", "key": "k2", "value": "v"}),
         ("Model Version Tag Set", detail(model_name="greet", version="1", after={"key": "k2", "value": "v"}), True)),
        (("POST", "registered-models/set-tag", {"name": "churn", "key": "k", "value": "v"}),
         ("Registered Model Tag Set", detail(after={"key": "k", "value": "v"}), False)),
        (("POST", "registered-models/set-tag", {"name": "greet", "key": "k", "value": "v"}),
         ("Registered Model Tag Set", detail(model_name="greet", after={"key": "k", "value": "v"}), True)),
        (("DELETE", "registered-models/delete-tag", {"name": "greet", "key": "k"}),
         ("Registered Model Tag Deleted", detail(model_name="greet", before={"key": "k", "value": "v"}), True)),
        (("POST", "registered-models/alias", {"name": "churn", "alias": "champion", "version": "1"}),
         ("Model Alias Set", detail(version="1", after={"alias": "champion", "version": "1"}), False)),
        (("POST", "registered-models/alias", {"name": "greet", "alias": "prod", "version": "1"}),
         ("Model Alias Set", detail(model_name="greet", version="1", after={"alias": "prod", "version": "1"}), True)),
        (("DELETE", "registered-models/alias", {"name": "churn", "alias": "champion"}),
         ("Model Alias Deleted", detail(version="1", before={"alias": "champion", "version": "1"}), False)),
        (("DELETE", "registered-models/alias", {"name": "greet", "alias": "prod"}),
         ("Model Alias Deleted", detail(model_name="greet", version="1", before={"alias": "prod", "version": "1"}),
          True)),
    ]  # fmt: skip
    for (method, path, body), (detail_type, event_detail, is_prompt) in calls:
        expected = reference_server(method, path, body)
        assert webhooks.webhook_deliveries(detail_type, event_detail, is_prompt=is_prompt) == expected, path
        assert [
            json.dumps(p) for _, p in webhooks.webhook_deliveries(detail_type, event_detail, is_prompt=is_prompt)
        ] == [json.dumps(p) for _, p in expected], "key order"


# --------------------------------------------------------------------------- body, headers, signature


def verify_mlflow_signature(payload: str, signature: str, secret: str, delivery_id: str, timestamp: str) -> bool:
    """The receiver in MLflow's webhook documentation (docs/classic-ml/webhooks, "Example: FastAPI Webhook
    Receiver"), as written there: MLflow ships no verification helper."""
    if not signature.startswith("v1,"):
        return False
    signature_b64 = signature.removeprefix("v1,")
    signed_content = f"{delivery_id}.{timestamp}.{payload}"
    expected_signature = hmac.new(secret.encode("utf-8"), signed_content.encode("utf-8"), hashlib.sha256).digest()
    expected_signature_b64 = base64.b64encode(expected_signature).decode("utf-8")
    return hmac.compare_digest(signature_b64, expected_signature_b64)


def verify_timestamp_freshness(timestamp_str: str, max_age: int = 300) -> bool:
    """Also from that documentation."""
    try:
        age = int(time.time()) - int(timestamp_str)
        return 0 <= age <= max_age
    except (ValueError, TypeError):
        return False


def receive(headers: dict[str, str], body: bytes, secret: str) -> dict[str, Any]:
    """The documented receiver's checks, in its order, answering what it would."""
    for header in ("X-MLflow-Signature", "X-MLflow-Delivery-Id", "X-MLflow-Timestamp"):
        if header not in headers:
            return {"status": 400, "detail": f"missing {header}"}
    if not verify_timestamp_freshness(headers["X-MLflow-Timestamp"]):
        return {"status": 400, "detail": "stale"}
    payload = body.decode("utf-8")
    if not verify_mlflow_signature(
        payload, headers["X-MLflow-Signature"], secret, headers["X-MLflow-Delivery-Id"], headers["X-MLflow-Timestamp"]
    ):
        return {"status": 401, "detail": "Invalid signature"}
    return {"status": 200, "data": json.loads(body)}


def test_the_documented_receiver_accepts_a_signed_delivery():
    payload = webhooks.webhook_deliveries(*CASES[2][:2])[0][1]
    body = webhooks.request_body("model_version.created", payload, datetime.now(UTC))
    now = int(time.time())
    headers = webhooks.signature_headers("s3cret", "5f0c7e0e-2c3a-4c1e-9d6a-1b2c3d4e5f60", now, body)
    answer = receive(headers, body, "s3cret")
    assert answer["status"] == 200
    assert answer["data"]["entity"] == "model_version" and answer["data"]["action"] == "created"
    assert answer["data"]["data"] == payload


def test_the_documented_receiver_refuses_a_wrong_secret_or_a_changed_body():
    body = webhooks.request_body("model_version_alias.deleted", {"name": "m", "alias": "a"}, datetime.now(UTC))
    headers = webhooks.signature_headers("s3cret", "id-1", int(time.time()), body)
    assert receive(headers, body, "other")["status"] == 401
    assert receive(headers, body.replace(b'"a"', b'"b"'), "s3cret")["status"] == 401
    assert receive({**headers, "X-MLflow-Delivery-Id": "id-2"}, body, "s3cret")["status"] == 401


@pytest.mark.parametrize("secret", [None, ""])
def test_no_secret_means_no_signature_header(secret):
    headers = webhooks.signature_headers(secret, "id-1", 1700000000, b"{}")
    assert headers == {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": "id-1",
        "X-MLflow-Timestamp": "1700000000",
    }


def test_signature_equals_the_references_and_non_ascii_bodies_sign_as_utf8():
    from mlflow.webhooks.delivery import _generate_hmac_signature

    body = json.dumps({"name": "modèle"}, ensure_ascii=False).encode("utf-8")
    ours = webhooks.signature_headers("clé", "id-1", 1700000000, body)["X-MLflow-Signature"]
    assert ours == _generate_hmac_signature("clé", "id-1", "1700000000", body.decode("utf-8"))


def test_body_and_headers_are_byte_for_byte_what_the_reference_posts(monkeypatch):
    import mlflow.webhooks.delivery as delivery
    from mlflow.entities.webhook import Webhook, WebhookEvent

    sent_at = datetime(2026, 11, 18, 11, 6, 40, 123456, tzinfo=UTC)

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return sent_at

    class Session:
        def post(self, url, data, headers, timeout):
            self.sent = (url, data, headers)
            return None

    monkeypatch.setattr(delivery, "datetime", FrozenDatetime)
    monkeypatch.setattr(delivery, "_validate_webhook_url", lambda url: None)
    monkeypatch.setattr(delivery.time, "time", lambda: 1795000000.7)
    monkeypatch.setattr(delivery.uuid, "uuid4", lambda: "5f0c7e0e-2c3a-4c1e-9d6a-1b2c3d4e5f60")
    monkeypatch.delenv("MLFLOW_ENABLE_WORKSPACES", raising=False)
    event, payload = webhooks.webhook_deliveries(*CASES[2][:2])[0]
    hook = Webhook("w", "h", "https://example.com/h", [WebhookEvent.from_str(event)], 1, 1, secret="s3cret")
    session = Session()
    delivery._send_webhook_request(hook, payload, WebhookEvent.from_str(event), session)
    url, reference_body, reference_headers = session.sent

    body = webhooks.request_body(event, payload, sent_at)
    assert body == reference_body
    assert webhooks.signature_headers("s3cret", "5f0c7e0e-2c3a-4c1e-9d6a-1b2c3d4e5f60", 1795000000, body) == (
        reference_headers
    )


def test_body_timestamp_is_isoformat_in_utc():
    body = json.loads(
        webhooks.request_body("prompt_tag.deleted", {"name": "p", "key": "k"}, datetime(2026, 1, 2, tzinfo=UTC))
    )
    assert body == {
        "entity": "prompt_tag",
        "action": "deleted",
        "timestamp": "2026-01-02T00:00:00+00:00",
        "data": {"name": "p", "key": "k"},
    }
    assert json.loads(webhooks.request_body("prompt_tag.deleted", {}, 1767312000))["timestamp"] == (
        "2026-01-02T00:00:00+00:00"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        webhooks.request_body("prompt_tag.deleted", {}, datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="Unknown webhook event"):
        webhooks.request_body("model_version.deleted", {}, datetime.now(UTC))
