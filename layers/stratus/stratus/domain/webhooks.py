"""MLflow 3 webhooks, the rules: which events exist, what a webhook may be, where it may point, what is sent.

Pure functions, copied in behaviour from mlflow 3.17.2 (``mlflow/entities/webhook.py``, ``mlflow/webhooks/``,
``mlflow/utils/validation.py`` ``_validate_webhook_*``, the webhook handlers of ``mlflow/server/handlers.py`` and
``SqlAlchemyStore.create_webhook``/``update_webhook``) and checked against a running reference server. Where the
reference answers a 500 (an unknown enum value) or lets a bad value through silently, Stratus answers a 400 instead;
each such place says so.

**On the wire, events are protobuf enum names**: the stock client sends ``{"entity": "MODEL_VERSION", "action":
"CREATED"}`` (proto JSON), and the reference also takes the enum numbers (``{"entity": 2, "action": 1}``). Internally,
and in payloads, they are the lower-case values (``("model_version", "created")``, ``"model_version.created"``).

Stratus registry events and the MLflow webhook events they become (:func:`webhook_deliveries`):

==================================  ==============================================================================
Stratus ``detail-type``             MLflow event when ``is_prompt`` is False / True, and notes
==================================  ==============================================================================
Registered Model Created            registered_model.created / prompt.created (prompt-ness from the model's own
                                    tags, as the reference decides it from the request's tags)
Model Version Created               model_version.created / prompt_version.created (prompt-ness from the version's
                                    tags; ``description`` is read from ``after``, where the version summary has
                                    none today, so it is null)
Model Version Tag Set               model_version_tag.set / prompt_version_tag.set
Model Version Tag Deleted           model_version_tag.deleted / prompt_version_tag.deleted
Registered Model Tag Set            nothing / prompt_tag.set (MLflow has no registered_model_tag events)
Registered Model Tag Deleted        nothing / prompt_tag.deleted
Model Alias Set                     model_version_alias.created / prompt_alias.created
Model Alias Moved                   model_version_alias.created / prompt_alias.created (MLflow fires "created" on
                                    every SetRegisteredModelAlias, a move included)
Model Alias Deleted                 model_version_alias.deleted / prompt_alias.deleted (see the caveat below)
Registered Model Renamed            nothing (MLflow has no rename webhook)
Registered Model Deleted            nothing (MLflow has no deletion webhooks)
Model Version Deleted               nothing
Model Version Stage Transitioned    nothing (MLflow has no stage webhook)
(none)                              budget_policy.exceeded (AI-gateway budgets, which Stratus has not: the event
                                    can be subscribed to and never fires)
==================================  ==============================================================================

Differences that come from deriving webhooks from stored changes rather than from API calls:

- MLflow fires on every call, Stratus on every change: re-setting a tag to its value, or an alias to the version it
  already names, writes nothing and so sends nothing.
- Deleting a model version drops its aliases; MLflow sends no webhook for that, Stratus's stream sees an alias
  deletion and this mapping sends ``model_version_alias.deleted``. The event detail does not say why the alias went.
- ``is_prompt`` for tag and alias events is the caller's: MLflow reads the registered model *after* the change
  (``RegisteredModel._is_prompt()``: tag ``mlflow.prompt.is_prompt`` equal to ``true``, any case); pass the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import socket
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from stratus.domain import messages
from stratus.errors import InvalidParameterValue

# --------------------------------------------------------------------------- events (mlflow/entities/webhook.py)

WEBHOOK_EVENTS: tuple[tuple[str, str], ...] = (
    ("registered_model", "created"),
    ("model_version", "created"),
    ("model_version_tag", "set"),
    ("model_version_tag", "deleted"),
    ("model_version_alias", "created"),
    ("model_version_alias", "deleted"),
    ("prompt", "created"),
    ("prompt_version", "created"),
    ("prompt_tag", "set"),
    ("prompt_tag", "deleted"),
    ("prompt_version_tag", "set"),
    ("prompt_version_tag", "deleted"),
    ("prompt_alias", "created"),
    ("prompt_alias", "deleted"),
    ("budget_policy", "exceeded"),
)
"""Every (entity, action) pair the reference accepts in a webhook's ``events``, in its order."""

WEBHOOK_ENTITIES: tuple[str, ...] = (
    "registered_model",
    "model_version",
    "model_version_tag",
    "model_version_alias",
    "prompt",
    "prompt_version",
    "prompt_tag",
    "prompt_version_tag",
    "prompt_alias",
    "budget_policy",
)
"""The proto ``WebhookEntity`` values after ``ENTITY_UNSPECIFIED`` (0), numbered from 1 in this order."""

WEBHOOK_ACTIONS: tuple[str, ...] = ("created", "updated", "deleted", "set", "exceeded")
"""The proto ``WebhookAction`` values after ``ACTION_UNSPECIFIED`` (0), numbered from 1 in this order. ``updated``
is a valid action of no entity."""

WEBHOOK_STATUSES: tuple[str, ...] = ("ACTIVE", "DISABLED")
"""The proto ``WebhookStatus`` names, numbered 1 and 2."""

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"

MAX_URL_LENGTH = 500
"""The reference's ``webhooks.url`` column is ``String(500)``; SQLite ignores it, PostgreSQL and MySQL refuse more."""
MAX_DESCRIPTION_LENGTH = 1000
"""The reference's ``webhooks.description`` column is ``String(1000)``."""

IS_PROMPT_TAG_KEY = "mlflow.prompt.is_prompt"
PROMPT_TEXT_TAG_KEY = "mlflow.prompt.text"
PROMPT_TYPE_TAG_KEY = "_mlflow_prompt_type"


def event_name(entity: str, action: str) -> str:
    """``"model_version.created"``: the dotted form the MLflow client and the payloads use."""
    return f"{entity}.{action}"


def event_to_json(entity: str, action: str) -> dict[str, str]:
    """One event as the reference's responses show it: ``{"entity": "MODEL_VERSION", "action": "CREATED"}``."""
    return {"entity": entity.upper(), "action": action.upper()}


def _enum_value(raw: object, values: Sequence[str], field: str, item: object) -> str:
    """A proto enum as proto JSON reads it: its name, its number, or its number as a string; 0 and unknowns refused.

    The reference answers those with a 500 (``'entity_unspecified' is not a valid WebhookEntity``); this says why.
    """
    index: int | None = None
    if isinstance(raw, str):
        names = [v.upper() for v in values]
        if raw in names:
            index = names.index(raw) + 1
        elif raw.isdigit():
            index = int(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        index = raw
    if index is None or not 1 <= index <= len(values):
        valid = [v.upper() for v in values]
        raise InvalidParameterValue(
            f"Invalid webhook event {json.dumps(item, default=str)}: {field} must be one of {valid}."
        )
    return values[index - 1]


def parse_events(raw: object) -> list[tuple[str, str]]:
    """The ``events`` of a CreateWebhook/UpdateWebhook request as (entity, action) pairs, in request order.

    Reference texts: a non-list is the request-schema failure; an invalid pair is ``Invalid action 'deleted' for
    entity 'model_version'. Valid actions are: ['created']``; an empty list is ``Webhook events must be a non-empty
    list of WebhookEvent objects: [].``. Stratus additions (the reference answers 500, or a SQL error for a repeated
    pair): a non-object item, an unknown or unspecified enum, a repeated pair. Unknown keys in an item are ignored.
    """
    if not isinstance(raw, list):
        raise InvalidParameterValue(messages.invalid_type_message("events", raw))
    events: list[tuple[str, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidParameterValue(
                f"Invalid webhook event {json.dumps(item, default=str)}: expected an object with 'entity' and 'action'."
            )
        entity = _enum_value(item.get("entity"), WEBHOOK_ENTITIES, "entity", item)
        action = _enum_value(item.get("action"), WEBHOOK_ACTIONS, "action", item)
        if (entity, action) not in WEBHOOK_EVENTS:
            valid = sorted(a for e, a in WEBHOOK_EVENTS if e == entity)
            raise InvalidParameterValue(f"Invalid action '{action}' for entity '{entity}'. Valid actions are: {valid}")
        if (entity, action) in events:
            raise InvalidParameterValue(f"Duplicate webhook event: '{event_name(entity, action)}'.")
        events.append((entity, action))
    if not events:
        raise InvalidParameterValue("Webhook events must be a non-empty list of WebhookEvent objects: [].")
    return events


# --------------------------------------------------------------------------- fields (mlflow/utils/validation.py)

_NAME_PATTERN = re.compile(r"^(?=.{1,63}$)[a-z0-9]([a-z0-9._-]*[a-z0-9])?$", re.IGNORECASE)
"""The reference's pattern, flags included (``re.IGNORECASE`` makes ``[a-z]`` match a few non-ASCII letters too)."""


def validate_webhook_name(name: object) -> None:
    """The reference's ``_validate_webhook_name``."""
    if not isinstance(name, str):
        raise InvalidParameterValue(f"Webhook name must be a string, got {type(name).__name__!r}")
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidParameterValue(
            f"Webhook name {name!r} is invalid. It must start and end with a letter or digit, "
            "be less than 63 characters long, and contain only letters, digits, dots (.), "
            "underscores (_), and hyphens (-)."
        )


def parse_status(status: object) -> str | None:
    """``"ACTIVE"`` or ``"DISABLED"`` from a request's ``status`` (a proto name or number); None when absent.

    Stratus refuses what the reference ignores: it reads an unknown status (``"FOO"``, ``"active"``) as absent, so a
    typo in "DISABLED" creates an ACTIVE webhook, or leaves an update's status as it was.
    """
    if status is None:
        return None
    if isinstance(status, str) and status in WEBHOOK_STATUSES:
        return status
    if isinstance(status, int) and not isinstance(status, bool) and 1 <= status <= len(WEBHOOK_STATUSES):
        return WEBHOOK_STATUSES[status - 1]
    raise InvalidParameterValue(
        f"Invalid webhook status {json.dumps(status, default=str)}. Valid statuses are: {list(WEBHOOK_STATUSES)}"
    )


def _check_string(field: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidParameterValue(messages.invalid_type_message(field, value))


def validate_webhook_fields(
    name: object, url: object, description: object, status: object, secret: object, *, creating: bool = True
) -> None:
    """The checks of CreateWebhook (``creating``) or UpdateWebhook that need no network, in the reference's order.

    ``None`` means "not in the request". For a creation, ``name`` and ``url`` are required (absent or ``""``: the
    request-schema text). For an update the reference treats ``name=""`` and ``url=""`` as absent, and stores
    ``description=""`` and ``secret=""`` as given (an empty secret stops the signing). Then call
    :func:`check_destination` on a URL that is present: scheme, host and DNS are checked there.
    The URL and description lengths are Stratus's (the reference leaves them to its database's columns).
    """
    for field, value in (("name", name), ("url", url), ("description", description), ("secret", secret)):
        _check_string(field, value)
    if creating:
        for field, value in (("name", name), ("url", url)):
            if not value:
                raise InvalidParameterValue(messages.missing_parameter_message(field))
    if name:
        validate_webhook_name(name)
    if isinstance(url, str) and len(url) > MAX_URL_LENGTH:
        raise InvalidParameterValue(f"Webhook URL must be at most {MAX_URL_LENGTH} characters long, got {len(url)}.")
    if isinstance(description, str) and len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidParameterValue(
            f"Webhook description must be at most {MAX_DESCRIPTION_LENGTH} characters long, got {len(description)}."
        )
    parse_status(status)


# --------------------------------------------------------------------------- destination (SSRF, CVE-2026-2393)


def parse_allowed_schemes(raw: str | None) -> tuple[str, ...]:
    """``MLFLOW_WEBHOOK_ALLOWED_SCHEMES`` as the reference reads it: unset is ``https`` only; else comma-separated,
    each entry stripped and *not* lower-cased (``HTTPS`` then matches no URL, as in the reference). Empty entries,
    which the reference keeps (letting a scheme-less ``//host/path`` through), are dropped."""
    if raw is None:
        return ("https",)
    return tuple(scheme for scheme in (part.strip() for part in raw.split(",")) if scheme)


def parse_allow_private_ips(raw: str | None) -> bool:
    """``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS`` as the reference reads it: unset is false; ``true``/``1`` and
    ``false``/``0`` in any case; anything else a ``ValueError`` (a configuration error, to surface at start)."""
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered not in ("true", "false", "1", "0"):
        raise ValueError(
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS value must be one of ['true', 'false', '1', '0'] (case-insensitive), "
            f"but got {raw}"
        )
    return lowered in ("true", "1")


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_BLOCKED_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(net)
    for net in (
        # IPv4: this network, RFC 1918, CGNAT, loopback, link-local (cloud metadata 169.254.169.254, ECS 169.254.170.2),
        # IETF assignments, documentation, 6to4 relay, benchmarking, multicast, reserved, broadcast.
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        # IPv6: unspecified, loopback and IPv4-compatible (::/8), local-use NAT64, discard, IETF assignments (Teredo
        # among them), documentation, unique local (AWS metadata fd00:ec2::254), link-local, site-local, multicast.
        "::/8",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
"""Refused whatever the running Python's ``ipaddress`` tables say: they changed in 3.11.10/3.12.4, and the older
ones call multicast (224.0.0.1, ff02::1), site-local and IPv4-compatible addresses global."""


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped, 6to4 or NAT64 (64:ff9b::/96) address carries; else the address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded
    return ip


def is_public_ip(ip: IPAddress) -> bool:
    """Whether a webhook may connect to ``ip``: the reference's ``_is_public_ip`` (unwrap transition formats, then
    ``is_global``), plus an explicit refusal of every private, loopback, link-local, metadata, unspecified,
    multicast and reserved range. Also the check for the connected socket's peer, at delivery."""
    ip = _embedded_ipv4(ip)
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    if ip.is_private or ip.is_loopback or ip.is_link_local:
        return False
    return not any(ip.version == net.version and ip in net for net in _BLOCKED_NETWORKS)


_NUMERIC_LABEL = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")


def _ip_literal(hostname: str) -> IPAddress | None:
    """The host as an IP address if it is one, refusing numeric spellings that are not canonical literals.

    ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and ``127.1`` are 127.0.0.1 to ``inet_aton``; the reference's webhook
    check catches them only because glibc's ``getaddrinfo`` decodes them the same way, and its URL checks for icons
    and gateways refuse them outright, as this does (with their text). A trailing dot is ignored.
    """
    bare = hostname.rstrip(".")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if ":" in bare or all(_NUMERIC_LABEL.fullmatch(label) for label in bare.split(".")):
        raise InvalidParameterValue(f"Webhook URL host {hostname!r} is not a canonical IP address literal.")
    return None


Resolver = Callable[..., Sequence[tuple[Any, ...]]]


def _resolved_addresses(hostname: str, literal: IPAddress | None, resolve: Resolver) -> list[IPAddress]:
    if literal is not None:
        return [literal]
    try:
        infos = resolve(hostname, None)
    except (OSError, UnicodeError, ValueError) as exc:
        raise InvalidParameterValue(f"Cannot resolve Webhook URL hostname {hostname!r}: {exc}") from exc
    if not infos:
        raise InvalidParameterValue(f"Cannot resolve Webhook URL hostname {hostname!r}: no addresses")
    addresses = []
    for info in infos:
        try:
            addresses.append(ipaddress.ip_address(str(info[4][0])))
        except ValueError as exc:
            raise InvalidParameterValue(
                f"Webhook URL hostname {hostname!r} resolved to an invalid IP address: {exc}"
            ) from exc
    return addresses


def check_destination(
    url: object,
    *,
    allowed_schemes: Sequence[str],
    allow_private_ips: bool,
    resolve: Resolver = socket.getaddrinfo,
) -> None:
    """The reference's ``_validate_webhook_url``, at least as strict: run it on create, update and before each
    delivery (the reference re-checks at delivery too).

    Refuses a URL that is not a non-empty string, does not parse, has a scheme outside ``allowed_schemes`` or no
    host, or (unless ``allow_private_ips``) whose host, or *any* address it resolves to, is not public
    (:func:`is_public_ip`). Stricter than the reference: non-canonical numeric hosts and an empty resolution are
    refused. Not covered here: DNS rebinding between this check and the connection, and redirects; the delivery
    must check the connected peer with :func:`is_public_ip` (as the reference's ``SSRFProtectedHTTPAdapter`` does),
    not follow redirects, and ignore proxy environment variables.
    """
    if not isinstance(url, str):
        raise InvalidParameterValue(f"Webhook URL must be a string, got {type(url).__name__!r}")
    if not url.strip():
        raise InvalidParameterValue(f"Webhook URL cannot be empty or just whitespace: {url!r}")
    try:
        parsed = urllib.parse.urlparse(url)
        hostname = parsed.hostname
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid webhook URL {url!r}: {exc!r}") from exc
    if parsed.scheme not in allowed_schemes:
        raise InvalidParameterValue(
            f"Invalid webhook URL scheme: {parsed.scheme!r}. Allowed schemes are: {', '.join(allowed_schemes)}."
        )
    if not hostname:
        raise InvalidParameterValue(f"Webhook URL must include a hostname: {url!r}")
    literal = _ip_literal(hostname)
    if allow_private_ips:
        return
    for ip in _resolved_addresses(hostname, literal, resolve):
        if not is_public_ip(ip):
            raise InvalidParameterValue(
                f"Webhook URL must not resolve to a non-public IP address. {hostname!r} resolves to {ip}."
            )


# --------------------------------------------------------------------------- payloads (mlflow/webhooks/types.py)

Payload = dict[str, Any]
Deliveries = list[tuple[str, Payload]]


def _tags(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _prompt_flag(tags: Mapping[str, str]) -> bool:
    return tags.get(IS_PROMPT_TAG_KEY, "false").lower() == "true"


def _model_created(detail: Mapping[str, Any], is_prompt: bool) -> Deliveries:
    after = detail.get("after") or {}
    tags = _tags(after.get("tags"))
    # The reference sends the request's description: "" when the request had none (a proto2 string's default).
    description = after.get("description") or ""
    if _prompt_flag(tags):
        kept = {k: v for k, v in tags.items() if k not in (IS_PROMPT_TAG_KEY, PROMPT_TYPE_TAG_KEY)}
        return [("prompt.created", {"name": detail["model_name"], "tags": kept, "description": description})]
    return [("registered_model.created", {"name": detail["model_name"], "tags": tags, "description": description})]


def _version_created(detail: Mapping[str, Any], is_prompt: bool) -> Deliveries:
    after = detail.get("after") or {}
    tags = _tags(after.get("tags"))
    version = str(detail.get("version") or after.get("version"))
    description = after.get("description") or None
    if _prompt_flag(tags):
        template = tags.pop(PROMPT_TEXT_TAG_KEY, None)
        tags.pop(IS_PROMPT_TAG_KEY, None)
        tags.pop(PROMPT_TYPE_TAG_KEY, None)
        payload = {"name": detail["model_name"], "version": version, "template": template, "tags": tags}
        return [("prompt_version.created", {**payload, "description": description})]
    payload = {"name": detail["model_name"], "version": version, "source": after.get("source")}
    payload |= {"run_id": detail.get("run_id") or None, "tags": tags, "description": description}
    return [("model_version.created", payload)]


def _version_tag(detail: Mapping[str, Any], is_prompt: bool) -> Deliveries:
    entity = "prompt_version_tag" if is_prompt else "model_version_tag"
    payload: Payload = {"name": detail["model_name"], "version": str(detail["version"])}
    if detail.get("after") is not None:
        return [(f"{entity}.set", {**payload, "key": detail["after"]["key"], "value": detail["after"]["value"]})]
    return [(f"{entity}.deleted", {**payload, "key": detail["before"]["key"]})]


def _model_tag(detail: Mapping[str, Any], is_prompt: bool) -> Deliveries:
    if not is_prompt:
        return []
    payload: Payload = {"name": detail["model_name"]}
    if detail.get("after") is not None:
        return [("prompt_tag.set", {**payload, "key": detail["after"]["key"], "value": detail["after"]["value"]})]
    return [("prompt_tag.deleted", {**payload, "key": detail["before"]["key"]})]


def _alias(detail: Mapping[str, Any], is_prompt: bool) -> Deliveries:
    entity = "prompt_alias" if is_prompt else "model_version_alias"
    after = detail.get("after")
    if after is not None:
        payload = {"name": detail["model_name"], "alias": after["alias"], "version": str(after["version"])}
        return [(f"{entity}.created", payload)]
    return [(f"{entity}.deleted", {"name": detail["model_name"], "alias": detail["before"]["alias"]})]


_MAPPERS: dict[str, Callable[[Mapping[str, Any], bool], Deliveries]] = {
    "Registered Model Created": _model_created,
    "Model Version Created": _version_created,
    "Model Version Tag Set": _version_tag,
    "Model Version Tag Deleted": _version_tag,
    "Registered Model Tag Set": _model_tag,
    "Registered Model Tag Deleted": _model_tag,
    "Model Alias Set": _alias,
    "Model Alias Moved": _alias,
    "Model Alias Deleted": _alias,
}


def webhook_deliveries(detail_type: str, detail: Mapping[str, Any], *, is_prompt: bool = False) -> Deliveries:
    """The MLflow webhook events, with their ``data`` payloads, that the reference server sends for the change one
    Stratus registry event records (``detail`` is ``RegistryEventDetail.model_dump()``). See the module's table;
    detail types with no MLflow counterpart give ``[]``. Keys and their order are the reference's (its handlers'
    keyword order, which ``json.dumps`` keeps). Creation events decide prompt-ness from the created item's tags, as
    the reference does from the request's; ``is_prompt`` (the model's, after the change) decides the others.
    """
    mapper = _MAPPERS.get(detail_type)
    return mapper(detail, is_prompt) if mapper else []


EXAMPLE_PAYLOADS: dict[str, Payload] = {
    "registered_model.created": {
        "name": "example_model",
        "tags": {"example_key": "example_value"},
        "description": "An example registered model",
    },
    "model_version.created": {
        "name": "example_model",
        "version": "1",
        "source": "models:/123",
        "run_id": "abcd1234abcd5678",
        "tags": {"example_key": "example_value"},
        "description": "An example model version",
    },
    "model_version_tag.set": {"name": "example_model", "version": "1", "key": "example_key", "value": "example_value"},
    "model_version_tag.deleted": {"name": "example_model", "version": "1", "key": "example_key"},
    "model_version_alias.created": {"name": "example_model", "alias": "example_alias", "version": "1"},
    "model_version_alias.deleted": {"name": "example_model", "alias": "example_alias"},
    "prompt.created": {
        "name": "example_prompt",
        "tags": {"example_key": "example_value"},
        "description": "An example prompt",
    },
    "prompt_version.created": {
        "name": "example_prompt",
        "version": "1",
        "template": "Hello {{name}}!",
        "tags": {"example_key": "example_value"},
        "description": "An example prompt version",
    },
    "prompt_tag.set": {"name": "example_prompt", "key": "example_key", "value": "example_value"},
    "prompt_tag.deleted": {"name": "example_prompt", "key": "example_key"},
    "prompt_version_tag.set": {
        "name": "example_prompt",
        "version": "1",
        "key": "example_key",
        "value": "example_value",
    },
    "prompt_version_tag.deleted": {"name": "example_prompt", "version": "1", "key": "example_key"},
    "prompt_alias.created": {"name": "example_prompt", "alias": "example_alias", "version": "1"},
    "prompt_alias.deleted": {"name": "example_prompt", "alias": "example_alias"},
    "budget_policy.exceeded": {
        "budget_policy_id": "bp-abc123",
        "budget_unit": "USD",
        "budget_amount": 100.0,
        "current_spend": 105.50,
        "duration_unit": "MONTHS",
        "duration_value": 1,
        "target_scope": "ENDPOINT",
        "workspace": "default",
        "target_value": "ep-abc123",
        "window_start": 1704067200000,
    },
}
"""What TestWebhook sends for each event: the reference's ``<Payload>.example()``. Use :func:`example_payload`."""


def example_payload(entity: str, action: str) -> Payload:
    """A fresh copy of the reference's example payload for one event (what TestWebhook posts)."""
    return json.loads(json.dumps(EXAMPLE_PAYLOADS[event_name(entity, action)]))


# --------------------------------------------------------------------------- delivery (mlflow/webhooks/delivery.py)


def request_body(event: str, payload: Mapping[str, Any], timestamp: datetime | int) -> bytes:
    """The body the reference POSTs for ``event`` (``"model_version.created"``): ``{"entity", "action",
    "timestamp", "data"}`` through ``json.dumps`` defaults (ASCII, ``", "`` and ``": "`` separators).

    ``timestamp`` is the send time, an aware datetime or Unix seconds (then the same value as the
    ``X-MLflow-Timestamp`` header); it is written as the reference writes ``datetime.now(timezone.utc)``:
    ``isoformat()`` in UTC, with ``+00:00`` and microseconds unless they are zero. No ``workspace`` key: the
    reference adds one only with workspaces enabled, which Stratus has not.
    """
    entity, _, action = event.partition(".")
    if (entity, action) not in WEBHOOK_EVENTS:
        raise ValueError(f"Unknown webhook event: {event!r}")
    if isinstance(timestamp, int):
        timestamp = datetime.fromtimestamp(timestamp, UTC)
    if timestamp.tzinfo is None:
        raise ValueError("The webhook timestamp must be timezone-aware")
    envelope = {
        "entity": entity,
        "action": action,
        "timestamp": timestamp.astimezone(UTC).isoformat(),
        "data": dict(payload),
    }
    return json.dumps(envelope).encode("utf-8")


def signature_headers(secret: str | None, delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers the reference sends with ``body``: content type, delivery id (a fresh UUID4 per attempt in the
    reference) and Unix-seconds timestamp always; ``X-MLflow-Signature: v1,<base64 HMAC-SHA256 of
    "<delivery_id>.<timestamp>.<body>">`` only when the webhook has a non-empty secret. Nothing replaces it without."""
    headers = {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
    }
    if secret:
        signed = delivery_id.encode("utf-8") + b"." + str(timestamp).encode("utf-8") + b"." + body
        digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
        headers[SIGNATURE_HEADER] = f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"
    return headers
