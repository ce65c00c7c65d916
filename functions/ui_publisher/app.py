"""UiPublisherFunction: the CloudFormation custom resource (``Custom::StratusWebUi``) that fills the web UI bucket.

On Create and Update it copies MLflow's UI build (``mlflow_ui/``, taken from the pinned mlflow wheel by this folder's
Makefile) and the sign-in pages (``auth/``) into the bucket, writes ``auth/config.json`` (the issuer's endpoints, read
from its OpenID discovery document, and the client id) and deletes what the previous deploy left behind. On Delete it
empties the bucket, so CloudFormation can delete it. Every outcome is reported to CloudFormation, failures included:
a custom resource that never answers holds the stack for its ServiceTimeout.

Keys in the bucket are the paths the browser asks for: ``index.html`` (the distribution's root object),
``static-files/<file>`` (where MLflow's index.html loads its assets from, as ``mlflow server`` serves them),
``auth/login`` and ``auth/callback`` (extensionless pages) and ``auth/<file>``.

This function is standalone (no Stratus layer): boto3 comes with the Lambda runtime.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

HERE = Path(__file__).resolve().parent
UI_BUILD_DIR = HERE / "mlflow_ui"
AUTH_DIR = HERE / "auth"

# index.html and the sign-in pages change with every deploy and must never be served stale; MLflow's assets have
# content hashes in their names and get the reference server's max-age (mlflow/server/__init__.py, 28 days).
NO_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=2419200"
DISCOVERY_TIMEOUT_SECONDS = 10
UPLOAD_THREADS = 16

# mimetypes depends on the host's tables; these are the types the browser must get right (nosniff is on).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".cjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject",
    ".wasm": "application/wasm",
}

FetchJson = Callable[[str], Mapping[str, Any]]
Respond = Callable[[Mapping[str, Any], Mapping[str, Any]], None]


class PublishError(Exception):
    """A deploy-time problem, reported to CloudFormation as the resource's failure reason."""


@dataclass(frozen=True)
class UiObject:
    """One object to write: its key, where its bytes come from and the headers the browser will get."""

    key: str
    body: bytes | Path
    content_type: str
    cache_control: str


def content_type(name: str) -> str:
    """The Content-Type for a file name: the table above first, then the platform's guess, else binary."""
    suffix = Path(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def plan_objects(build_dir: Path, auth_dir: Path, auth_config: Mapping[str, str]) -> list[UiObject]:
    """Every object the bucket must hold for this deploy."""
    index = build_dir / "index.html"
    if not index.is_file():
        raise PublishError(f"no MLflow UI build in the function package ({index} is missing)")
    objects = [UiObject("index.html", index, content_type("index.html"), NO_CACHE)]
    for path in sorted(p for p in build_dir.rglob("*") if p.is_file()):
        key = "static-files/" + path.relative_to(build_dir).as_posix()
        objects.append(UiObject(key, path, content_type(path.name), ASSET_CACHE))
    for path in sorted(p for p in auth_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(auth_dir).as_posix()
        # login.html is served as /auth/login: the page URL the edge function and the OIDC client know.
        key = "auth/" + (relative.removesuffix(".html") if relative.endswith(".html") else relative)
        objects.append(UiObject(key, path, content_type(path.name), NO_CACHE))
    config = json.dumps(dict(auth_config), sort_keys=True).encode()
    objects.append(UiObject("auth/config.json", config, content_type("config.json"), NO_CACHE))
    return objects


def discover_auth_config(issuer: str, client_id: str, scope: str, fetch_json: FetchJson) -> dict[str, str]:
    """What the sign-in pages need, from the issuer's OpenID Connect discovery document."""
    if not issuer or not client_id:
        raise PublishError("the web UI needs Issuer (JwtIssuer) and ClientId (WebUiClientId or JwtAudience)")
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        document = fetch_json(url)
    except Exception as error:  # any failure to read it is the same deploy error for the operator
        raise PublishError(f"could not read {url}: {error}") from error
    endpoints = {name: document.get(name) for name in ("authorization_endpoint", "token_endpoint")}
    missing = [name for name, value in endpoints.items() if not isinstance(value, str) or not value]
    if missing:
        # Cognito lists them only for a user pool with a domain (hosted UI / managed login).
        raise PublishError(f"{url} has no {' or '.join(missing)} (a Cognito user pool needs a domain)")
    return {
        "authorizationEndpoint": str(endpoints["authorization_endpoint"]),
        "tokenEndpoint": str(endpoints["token_endpoint"]),
        "clientId": client_id,
        "scope": scope,
    }


def existing_keys(s3: Any, bucket: str) -> set[str]:
    """Every key in the bucket."""
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def delete_keys(s3: Any, bucket: str, keys: Iterable[str]) -> None:
    """Delete keys, a thousand per request (DeleteObjects' limit)."""
    ordered = sorted(keys)
    for start in range(0, len(ordered), 1000):
        batch = [{"Key": key} for key in ordered[start : start + 1000]]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise PublishError(f"could not delete {first.get('Key')}: {first.get('Code')}")


def publish(s3: Any, bucket: str, objects: list[UiObject]) -> None:
    """Write every object, then delete the keys this deploy no longer has (the previous build's assets)."""
    before = existing_keys(s3, bucket)

    def put(item: UiObject) -> None:
        body = item.body.read_bytes() if isinstance(item.body, Path) else item.body
        s3.put_object(
            Bucket=bucket, Key=item.key, Body=body, ContentType=item.content_type, CacheControl=item.cache_control
        )

    with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
        list(pool.map(put, objects))
    delete_keys(s3, bucket, before - {item.key for item in objects})


def empty_bucket(s3: Any, bucket: str) -> None:
    """Delete every object; a bucket that is already gone counts as empty."""
    try:
        delete_keys(s3, bucket, existing_keys(s3, bucket))
    except s3.exceptions.NoSuchBucket:
        logger.info("bucket already deleted: %s", bucket)


def handle(event: Mapping[str, Any], s3: Any, fetch_json: FetchJson) -> dict[str, Any]:
    """Carry out one CloudFormation request; the answer's status, reason and physical id."""
    properties = event.get("ResourceProperties", {})
    bucket = str(properties.get("Bucket", ""))
    physical_id = bucket or event.get("PhysicalResourceId") or "stratus-web-ui"
    try:
        if not bucket:
            raise PublishError("the Bucket property is missing")
        if event["RequestType"] == "Delete":
            empty_bucket(s3, bucket)
        else:
            config = discover_auth_config(
                str(properties.get("Issuer", "")),
                str(properties.get("ClientId", "")),
                str(properties.get("Scope", "openid")),
                fetch_json,
            )
            objects = plan_objects(UI_BUILD_DIR, AUTH_DIR, config)
            publish(s3, bucket, objects)
            logger.info("published %d objects to %s", len(objects), bucket)
        return {"Status": "SUCCESS", "Reason": "done", "PhysicalResourceId": physical_id}
    except Exception as error:
        logger.exception("web UI %s failed", event.get("RequestType"))
        reason = str(error) if isinstance(error, PublishError) else f"{type(error).__name__}: {error}"
        return {"Status": "FAILED", "Reason": reason[:1000], "PhysicalResourceId": physical_id}


def fetch_json_over_https(url: str) -> Mapping[str, Any]:
    """GET a JSON document (the discovery document); only https URLs."""
    if not url.startswith("https://"):
        raise PublishError(f"{url} is not an https URL")
    with urllib.request.urlopen(url, timeout=DISCOVERY_TIMEOUT_SECONDS) as response:  # noqa: S310 (https checked)
        document = json.load(response)
    if not isinstance(document, dict):
        raise PublishError(f"{url} is not a JSON object")
    return document


def send_response(event: Mapping[str, Any], outcome: Mapping[str, Any]) -> None:
    """PUT the outcome to the presigned URL CloudFormation waits on."""
    body = json.dumps(
        {
            **outcome,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (CloudFormation's presigned https URL)
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        logger.info("CloudFormation answered %s", response.status)


def handler(event: dict[str, Any], context: Any, respond: Respond = send_response) -> None:
    """Lambda entry point: handle the request, then always answer CloudFormation."""
    outcome = handle(event, boto3.client("s3"), fetch_json_over_https)
    respond(event, outcome)
