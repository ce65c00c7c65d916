"""S3-driven registration: an MLflow model folder dropped under ``register/<model name>/<drop>/`` of the artifact
bucket (by a pipeline that never used the mlflow client) becomes a version of that registered model.

* The model is created if absent; the version's source is ``s3://<bucket>/register/<name>/<drop>``; it is linked to
  the run its ``MLmodel`` names (an unknown run is a bad upload).
* It is ``PENDING_REGISTRATION`` until every file the ``MLmodel`` refers to is present, then ``READY``.
* Notifications come at least once and in any order: a claim item per drop (a conditional write) makes sure one
  version is created per drop, whatever arrives twice or first.
* A bad upload (malformed ``MLmodel``, unknown run) creates nothing, is recorded with its reason, and the
  notification fails, so the queue retries it and then moves it to its dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import yaml

from stratus.domain import registry_rules
from stratus.domain.entities import UploadClaim
from stratus.domain.ports import TrackingStore, UploadClaims
from stratus.domain.services.experiments import now_ms
from stratus.domain.services.registry import RegistryService
from stratus.errors import StratusError

PREFIX = "register/"
SOURCE_TAG = "stratus.s3.source"
CLAIM_TIMEOUT_MS = 10 * 60 * 1000
_FLAVOR_FILE_KEYS = ("pickled_model", "model_path", "data", "model_data", "code")


class BadUpload(Exception):
    """The drop can never become a version; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLater(Exception):
    """Another notification of the same drop is registering it right now."""


@dataclass(frozen=True)
class Drop:
    model_name: str
    folder: str  # register/<name>/<drop>


class Objects(Protocol):
    def read(self, key: str, max_bytes: int = ...) -> bytes | None: ...

    def size(self, key: str) -> int | None: ...


def drop_of(key: str) -> Drop | None:
    """The drop a key belongs to, or None for keys outside ``register/<name>/<drop>/...``."""
    if not key.startswith(PREFIX):
        return None
    parts = key[len(PREFIX) :].split("/")
    if len(parts) < 3 or not parts[0] or not parts[1] or parts[1] in (".", ".."):
        return None
    try:
        registry_rules.validate_model_name(parts[0])
    except StratusError:
        return None
    return Drop(parts[0], f"{PREFIX}{parts[0]}/{parts[1]}")


def referenced_files(mlmodel: dict[str, Any]) -> list[str]:
    """The files an MLmodel names relative to its folder: each flavor's model file or folder and its environment
    files, and the saved input example."""
    files = {"MLmodel"}
    for flavor in (mlmodel.get("flavors") or {}).values():
        if not isinstance(flavor, dict):
            continue
        for key in _FLAVOR_FILE_KEYS:
            if isinstance(flavor.get(key), str):
                files.add(flavor[key])
        env = flavor.get("env")
        if isinstance(env, dict):
            files.update(v for v in env.values() if isinstance(v, str))
        elif isinstance(env, str):
            files.add(env)
    example = mlmodel.get("saved_input_example_info")
    if isinstance(example, dict) and isinstance(example.get("artifact_path"), str):
        files.add(example["artifact_path"])
    return sorted(f.strip("/") for f in files if f and ".." not in f.split("/"))


class S3Registration:
    def __init__(  # noqa: PLR0913 - what a registration reads and writes
        self,
        registry: RegistryService,
        runs: TrackingStore,
        objects: Objects,
        claims: UploadClaims,
        bucket: str,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._registry = registry
        self._runs = runs
        self._objects = objects
        self._claims = claims
        self._bucket = bucket
        self._clock = clock

    def handle(self, key: str) -> str:
        """Process one object notification; returns what happened (for the log). Raises :class:`BadUpload` or
        :class:`RetryLater` for the notification to be retried (and dead-lettered in the end)."""
        drop = drop_of(key)
        if drop is None:
            return "ignored: not under register/<model name>/<drop>/"
        claim = self._claims.get(drop.folder)
        if claim is not None and claim.status == "FAILED":
            # every notification of a failed drop fails again, so each ends in the dead-letter queue
            raise BadUpload(claim.reason or "this drop failed earlier")
        if claim is not None and claim.status == "READY":
            return "already ready"
        raw = self._objects.read(f"{drop.folder}/MLmodel")
        if raw is None:
            return "waiting for MLmodel"
        mlmodel = self._parse(drop, raw)
        files = referenced_files(mlmodel)
        complete = all(self._objects.size(f"{drop.folder}/{f}") is not None for f in files)
        if claim is not None and claim.version is not None:
            return self._finish(drop, claim, complete)
        return self._create(drop, claim, mlmodel, complete)

    def _parse(self, drop: Drop, raw: bytes) -> dict[str, Any]:
        try:
            mlmodel = yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise self._fail(drop, f"MLmodel is not valid YAML: {exc}") from exc
        if not isinstance(mlmodel, dict) or not isinstance(mlmodel.get("flavors"), dict) or not mlmodel["flavors"]:
            raise self._fail(drop, "MLmodel has no flavors")
        run_id = mlmodel.get("run_id")
        if run_id and self._runs.get_run(str(run_id)) is None:
            raise self._fail(drop, f"MLmodel names run {run_id}, which does not exist")
        return mlmodel

    def _fail(self, drop: Drop, reason: str) -> BadUpload:
        """Record a bad upload; the version is never created (a failed drop stays failed: upload a new drop)."""
        self._claims.put(UploadClaim(drop.folder, "FAILED", self._clock(), None, reason))
        return BadUpload(reason)

    def _create(self, drop: Drop, claim: UploadClaim | None, mlmodel: dict[str, Any], complete: bool) -> str:
        now = self._clock()
        stale = claim is not None and claim.claimed_at < now - CLAIM_TIMEOUT_MS
        if claim is not None and not stale:
            raise RetryLater(f"{drop.folder} is being registered by another notification")
        if not self._claims.claim(drop.folder, now, taking_over_from=claim.claimed_at if claim else None):
            raise RetryLater(f"{drop.folder} is being registered by another notification")
        version = self._registry.register_upload(
            drop.model_name,
            f"s3://{self._bucket}/{drop.folder}",
            str(mlmodel.get("run_id") or "") or None,
            {SOURCE_TAG: drop.folder},
            ready=complete,
        )
        status = "READY" if complete else "PENDING"
        self._claims.put(UploadClaim(drop.folder, status, now, version.version))
        return f"registered {drop.model_name} version {version.version} ({status.lower()})"

    def _finish(self, drop: Drop, claim: UploadClaim, complete: bool) -> str:
        if not complete:
            return f"version {claim.version} still waits for files"
        self._registry.mark_ready(drop.model_name, claim.version or 0)
        self._claims.put(UploadClaim(drop.folder, "READY", claim.claimed_at, claim.version))
        return f"{drop.model_name} version {claim.version} is ready"
