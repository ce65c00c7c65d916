"""Which artifacts a model version's ``source`` may name (``POST /api/2.0/mlflow/model-versions/create``).

A model version must be registered from artifacts Stratus manages. The accepted forms are::

    runs:/<run_id>[/<path>]                                         a run's artifacts, relative to its root
    models:/<model_id>                                              a logged model (the request must carry model_id)
    models:/<name>/<version>                                        another model version (copy_model_version)
    mlflow-artifacts:/<experiment_id>/<run_id>/artifacts[/<path>]
    mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts[/<path>]
    s3://<bucket>/mlartifacts/<the same two shapes>                 this stack's bucket, default locations
    s3://<bucket>/<prefix>/<run_id>/artifacts[/<path>]              an experiment's explicit location
    s3://<bucket>/<prefix>/models/<model_id>/artifacts[/<path>]

and, for prompt versions, only the reference's placeholders (``dummy-source``, ``prompt-template``). Everything else
is refused with :class:`~stratus.errors.InvalidParameterValue`: local paths, ``file:`` URIs, Windows paths, other
schemes and buckets, hosts (``http``, ``mlflow-artifacts://host``), query strings and fragments, and any ``..``.

The reference (mlflow 3.17.2, ``_create_model_version`` in ``mlflow/server/handlers.py``) keeps local sources inside
the run's or model's artifact directory, refuses relative references after decoding, and accepts any other scheme.
Its CVEs came from the gaps in that: local files named as sources (CVE-2023-1177), relative and encoded traversal
(CVE-2023-2356, CVE-2023-2780), ``file://host/`` and ``//host/`` read as remote (CVE-2024-3573), sources outside the
server's store (CVE-2025-11201, fixed with an optional allow-list regex), and prompt-tagged requests skipping the
checks (CVE-2026-2614). Stratus has no local artifact store, so it allows only the forms above, and checks every
percent-decoding and the NFKC form of a source as the reference's ``..`` check does, plus the segment rules of
:mod:`stratus.domain.artifact_paths`.

Where the reference refuses a source for the same reason, the message is the reference's text.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from stratus.domain import messages
from stratus.domain.artifact_paths import (
    KEY_ROOT,
    MAX_DECODE_ROUNDS,
    MODEL_ID_PATTERN,
    ArtifactOwner,
    resolve_proxied_path,
    resolve_s3_location,
)
from stratus.domain.validation import HOST_ADDRESSED_ARTIFACT_SCHEMES
from stratus.errors import InvalidParameterValue

PROMPT_SOURCE_PLACEHOLDERS = frozenset({"dummy-source", "prompt-template"})
"""The only sources of a prompt version: what the client and the UI send (``mlflow/prompt/constants.py``)."""

MAX_SOURCE_CHARS = 4096
"""Longest source looked at; an S3 key is at most 1024 bytes, so no accepted source comes near it."""

SourceKind = Literal["run", "model", "location", "model_version", "prompt"]

_RUNS = "runs:/"
_MODELS = "models:/"
_PROXIED = "mlflow-artifacts:/"
_S3 = "s3://"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_VERSION = re.compile(r"[1-9][0-9]{0,18}")
_ANY_RUN = "0" * 32
"""A stand-in run id: placing a run-relative path under ``0/<_ANY_RUN>/artifacts`` submits it to the path rules."""


@dataclass(frozen=True)
class ModelSource:
    """What an accepted source refers to, for the registry service to check before it stores the version.

    ``kind``:

    * ``run``: a run's artifacts (``runs:/``, or a run's path under ``mlflow-artifacts:/`` or ``s3://<bucket>/mlartifacts``).
      ``run_id`` is the run; ``experiment_id`` is set when the path names it.
    * ``model``: a logged model's artifacts (``models:/<model_id>`` or a model's path). ``model_id`` is the model;
      ``run_id`` is the request's, passed through.
    * ``location``: a key in an experiment's explicit ``s3://`` location. The owner is the logged model
      ``model_id`` when the request names one, else the run ``run_id``; the path shows which, not the experiment.
    * ``model_version``: ``models:/<name>/<version>`` (what ``copy_model_version`` sends). ``run_id`` and ``model_id``
      are the request's, unchanged (``None`` when absent): the reference requires any it was sent to equal the
      source version's, and fills the missing ones from it (:func:`lineage_mismatch`).
    * ``prompt``: a prompt placeholder; nothing to check.

    ``key`` is the S3 key the source names (``mlflow-artifacts:/`` and ``s3://`` forms only). The service must check
    the owner exists and, as the reference does, that the source lies within its artifacts (:meth:`lies_within`).
    """

    kind: SourceKind
    run_id: str | None = None
    model_id: str | None = None
    experiment_id: str | None = None
    key: str | None = None
    name: str | None = None
    version: str | None = None

    @property
    def owner_kind(self) -> Literal["run", "model"] | None:
        """Whose artifacts the source names: a ``location`` belongs to the model when ``model_id`` is set."""
        if self.kind == "location":
            return "model" if self.model_id else "run"
        if self.kind == "run" or self.kind == "model":
            return self.kind
        return None

    def lies_within(self, artifact_uri: str, *, bucket: str) -> bool:
        """Whether the source is inside ``artifact_uri``, its owner's artifact root (``run.info.artifact_uri`` or a
        logged model's ``artifact_uri``), compared by S3 key, so ``mlflow-artifacts:/`` and ``s3://`` spellings of one
        key agree. ``runs:/`` and ``models:/<model_id>`` sources are relative to their owner and always inside it.
        """
        if self.owner_kind is None:
            return False
        if self.key is None:
            return True
        root = artifact_root_key(artifact_uri, bucket=bucket)
        return root is not None and (self.key == root or self.key.startswith(f"{root}/"))


def validate_model_version_source(
    source: str,
    *,
    bucket: str,
    run_id: str | None,
    model_id: str | None,
    is_prompt: bool = False,
) -> ModelSource:
    """What ``source`` refers to; ``InvalidParameterValue`` unless it is one of the accepted forms (module docstring)
    and agrees with the request's ``run_id`` and ``model_id`` as the reference requires.

    ``bucket`` is this stack's artifact bucket. ``is_prompt``: the request's tags say ``mlflow.prompt.is_prompt`` is
    ``true`` (last value wins, case-insensitive); a prompt version's source may only be a placeholder.
    """
    if not source:
        raise InvalidParameterValue(messages.missing_parameter_message("source"))
    if is_prompt:
        if source not in PROMPT_SOURCE_PLACEHOLDERS:
            raise InvalidParameterValue(
                f"Invalid prompt source: '{_shown(source)}'. Prompt sources must use an MLflow placeholder."
            )
        return ModelSource("prompt")
    if len(source) > MAX_SOURCE_CHARS:
        raise InvalidParameterValue(
            f"Invalid model version source: a source may be at most {MAX_SOURCE_CHARS} characters long."
        )
    _refuse_hosts(source)
    _refuse_traversal(source)
    if "?" in source or "#" in source:
        raise InvalidParameterValue(
            f"Invalid model version source: '{_shown(source)}'. A source may not carry a query string or a fragment."
        )
    run_id, model_id = run_id or None, model_id or None
    for prefix, parse in _FORMS:
        if source.startswith(prefix):
            return parse(source, source[len(prefix) :], bucket, run_id, model_id)
    raise InvalidParameterValue(_unsupported(source, bucket))


def lineage_mismatch(source: str) -> InvalidParameterValue:
    """The reference's error when a ``models:/<name>/<version>`` source comes with a ``run_id`` or ``model_id`` that
    is not the source version's."""
    return InvalidParameterValue(
        f"Invalid model version source: '{_shown(source)}'. The run_id and model_id request parameters must match "
        "the referenced model version."
    )


def prompt_as_source(source: str) -> InvalidParameterValue:
    """The reference's error when a ``models:/<name>/<version>`` source names a prompt."""
    return InvalidParameterValue(
        f"Invalid model version source: '{_shown(source)}'. Prompt versions cannot be used as model version sources."
    )


def artifact_root_key(artifact_uri: str, *, bucket: str) -> str | None:
    """The S3 key an artifact root URI stands for (``mlflow-artifacts:/<p>`` → ``mlartifacts/<p>``, ``s3://<bucket>/<k>``
    → ``<k>``), without a trailing slash; ``None`` for any other URI."""
    if artifact_uri.startswith(_PROXIED) and not artifact_uri.startswith(f"{_PROXIED}/"):
        return f"{KEY_ROOT}/{artifact_uri[len(_PROXIED) :]}".rstrip("/")
    own = f"{_S3}{bucket}/"
    if artifact_uri.startswith(own) and len(artifact_uri) > len(own):
        return artifact_uri[len(own) :].rstrip("/")
    return None


# --------------------------------------------------------------------------- the forms


def _runs(source: str, rest: str, _bucket: str, run_id: str | None, model_id: str | None) -> ModelSource:
    """``runs:/<run_id>[/<path>]``: the reference requires the request's ``run_id`` to be that run, and no model_id.
    Like the reference, it neither looks the run up nor asks for Stratus's form of run id: a version may name a run
    of another tracking server."""
    source_run_id, _, relative = rest.partition("/")
    if model_id or not source_run_id or source_run_id != run_id:
        raise _not_identified(source, "model_id" if model_id else "run_id")
    relative = relative.removesuffix("/")
    if relative:
        _check_relative(source, relative)
    return ModelSource("run", run_id=run_id)


def _models(source: str, rest: str, _bucket: str, run_id: str | None, model_id: str | None) -> ModelSource:
    """``models:/<model_id>`` (with the same model_id in the request) or ``models:/<name>/<version>``."""
    if rest.startswith("/"):  # models://<registry>/...
        raise InvalidParameterValue(
            f"Invalid model version source: '{_shown(source)}'. Registered model sources must use the active model "
            "registry."
        )
    parts = rest.split("/")
    if len(parts) == 1 and "@" not in rest:
        if not MODEL_ID_PATTERN.fullmatch(rest) or rest != model_id:
            raise _not_identified(source, "model_id")
        return ModelSource("model", run_id=run_id, model_id=model_id)
    if len(parts) > 2 or not all(part.strip() for part in parts):
        raise _not_identified(source, "model_id")  # the reference's answer to an improper models:/ URI
    name, version = parts if len(parts) == 2 else (rest, "")  # models:/<name>@<alias>: no version number
    if ":" in name or not _VERSION.fullmatch(version):
        raise InvalidParameterValue(
            f"Invalid model version source: '{_shown(source)}'. A registered model source must name a version by "
            "its number, 'models:/<name>/<version>', not an alias, a stage or 'latest'."
        )
    return ModelSource("model_version", run_id=run_id, model_id=model_id, name=name, version=version)


def _proxied(source: str, rest: str, _bucket: str, run_id: str | None, model_id: str | None) -> ModelSource:
    """``mlflow-artifacts:/<experiment_id>/...``: a run's or a logged model's artifacts path."""
    owner = _resolve_owner(source, rest, _PROXIED)
    return _owned(source, owner, run_id, model_id)


def _s3(source: str, rest: str, bucket: str, run_id: str | None, model_id: str | None) -> ModelSource:
    """``s3://<bucket>/<key>``: only this stack's bucket; ``mlartifacts/`` holds the default locations."""
    netloc, separator, key = rest.partition("/")
    if netloc != bucket:
        raise InvalidParameterValue(
            f"Invalid model version source: '{_shown(source)}'. An 's3://' source must be in this stack's artifact "
            f"bucket, 's3://{bucket}/'."
        )
    head, _, inner = key.partition("/")
    if head == KEY_ROOT:
        owner = _resolve_owner(source, inner, f"{_S3}{bucket}/{KEY_ROOT}/")
        return _owned(source, owner, run_id, model_id)
    if not separator or not key:
        raise InvalidParameterValue(_unsupported(source, bucket))
    return _location(source, key.removesuffix("/"), bucket, run_id, model_id)


_FORMS: tuple[tuple[str, Callable[[str, str, str, str | None, str | None], ModelSource]], ...] = (
    (_RUNS, _runs),
    (_MODELS, _models),
    (_PROXIED, _proxied),
    (_S3, _s3),
)


def _location(source: str, key: str, bucket: str, run_id: str | None, model_id: str | None) -> ModelSource:
    """A key in an explicit experiment location: ``<prefix>/<run_id>/artifacts[/...]`` for the request's run, or
    ``<prefix>/models/<model_id>/artifacts[/...]`` for its logged model."""
    field = "model_id" if model_id else "run_id"
    if model_id:
        marker = ["models", model_id, "artifacts"]
    elif run_id:
        marker = [run_id, "artifacts"]
    else:
        raise _not_identified(source, field)
    segments = key.split("/")
    starts = [i for i in range(1, len(segments)) if segments[i : i + len(marker)] == marker]
    if not starts:
        raise _not_identified(source, field)
    prefix, relative = segments[: starts[0]], "/".join(segments[starts[0] + len(marker) :])
    if "" in prefix:
        raise InvalidParameterValue(_unsafe_path(source, f"{_S3}{bucket}/"))
    try:
        resolve_s3_location(f"{_S3}{bucket}/{'/'.join(prefix)}", bucket)
    except InvalidParameterValue:
        raise InvalidParameterValue(_unsafe_path(source, f"{_S3}{bucket}/")) from None
    if relative:
        _check_relative(source, relative)
    return ModelSource("location", run_id=run_id, model_id=model_id, key=key)


def _owned(source: str, owner: ArtifactOwner, run_id: str | None, model_id: str | None) -> ModelSource:
    """A run's or model's artifacts path: the reference wants it inside the artifacts of the request's model when
    model_id is given, else of the request's run."""
    if owner.kind == "model":
        if owner.owner_id != model_id:
            raise _not_identified(source, "model_id" if model_id else "run_id")
        return ModelSource("model", run_id=run_id, model_id=model_id, experiment_id=owner.experiment_id, key=owner.key)
    if model_id or owner.owner_id != run_id:
        raise _not_identified(source, "model_id" if model_id else "run_id")
    return ModelSource("run", run_id=run_id, experiment_id=owner.experiment_id, key=owner.key)


def _resolve_owner(source: str, path: str, prefix: str) -> ArtifactOwner:
    try:
        return resolve_proxied_path(path.removesuffix("/"), decoded=True)
    except InvalidParameterValue:
        raise InvalidParameterValue(_unsafe_path(source, prefix)) from None


def _check_relative(source: str, relative: str) -> None:
    """A path below a run's or model's ``artifacts/`` root must pass :mod:`~stratus.domain.artifact_paths`'s rules."""
    try:
        resolve_proxied_path(f"0/{_ANY_RUN}/artifacts/{relative}", decoded=True)
    except InvalidParameterValue:
        raise InvalidParameterValue(
            f"Invalid model version source: '{_shown(source)}'. The path below a run's or a logged model's "
            "artifacts must be relative, of non-empty segments free of '.', '..', '\\', ';' and control characters."
        ) from None


# --------------------------------------------------------------------------- checks on the whole source


def _refuse_hosts(source: str) -> None:
    """The reference's check (``_validate_artifact_uri_scheme``): no scheme that makes the server contact a host."""
    match = _SCHEME.match(source)
    if match is None:
        return
    scheme = match.group(1).lower()
    if scheme in HOST_ADDRESSED_ARTIFACT_SCHEMES and not (
        scheme == "mlflow-artifacts" and not urllib.parse.urlparse(source).netloc
    ):
        raise InvalidParameterValue(messages.artifact_location_host_addressed(scheme, "source"))


def _refuse_traversal(source: str) -> None:
    """No reading of ``source`` (each percent-decoding, ``+`` as space or not, and their NFKC forms) may hold a
    segment of dots, a backslash or a control character, or split into other segments than the source itself."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate
        raise InvalidParameterValue(_relative_references(source)) from None
    separators = source.count("/")
    for reading in _readings(source):
        if reading.count("/") != separators or "\\" in reading or any(_is_dots(s) for s in reading.split("/")):
            raise InvalidParameterValue(_relative_references(source))
        if any(unicodedata.category(char) == "Cc" for char in reading):
            raise InvalidParameterValue(_relative_references(source))


def _readings(source: str) -> list[str]:
    readings = []
    for decode in (urllib.parse.unquote, urllib.parse.unquote_plus):
        current = source
        for _ in range(MAX_DECODE_ROUNDS):
            readings.append(current)
            following = decode(current)
            if following == current:
                break
            current = following
        else:
            raise InvalidParameterValue(_relative_references(source))
    return readings + [unicodedata.normalize("NFKC", reading) for reading in readings]


def _is_dots(segment: str) -> bool:
    """``.``, ``..``, ``...``, ``.. `` and the like: Windows drops trailing dots and spaces."""
    return "." in segment and not segment.strip(". ")


# --------------------------------------------------------------------------- messages


def _not_identified(source: str, field: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Invalid model version source: '{_shown(source)}'. The {field} request parameter must identify the "
        "resource that contains the source."
    )


def _relative_references(source: str) -> str:
    return (
        f"Invalid model version source: '{_shown(source)}'. If supplying a source as an http, https, local file "
        "path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path "
        "references present. Please provide an absolute path."
    )


def _unsafe_path(source: str, prefix: str) -> str:
    return (
        f"Invalid model version source: '{_shown(source)}'. A source under '{prefix}' must name a run's or a "
        f"logged model's artifacts, '{prefix}<experiment_id>/<run_id>/artifacts[/<path>]' or "
        f"'{prefix}<experiment_id>/models/<model_id>/artifacts[/<path>]', with a relative <path> of non-empty "
        "segments free of '.', '..', '\\', ';' and control characters."
    )


def _unsupported(source: str, bucket: str) -> str:
    forms = (
        "'runs:/<run_id>/<path>', 'models:/<model_id>', 'models:/<name>/<version>', "
        f"'mlflow-artifacts:/<experiment_id>/...' or 's3://{bucket}/<key>'"
    )
    match = _SCHEME.match(source)
    if match is None or len(match.group(1)) == 1 or match.group(1).lower() == "file":
        return (
            f"Invalid model version source: '{_shown(source)}'. Local paths and file: URIs are not accepted as model "
            f"version sources: register artifacts the tracking server stores, {forms}."
        )
    return f"Invalid model version source: '{_shown(source)}'. A source must be one of {forms}."


def _shown(text: str, limit: int = 300) -> str:
    """``text`` fit for a message: control characters and unpaired surrogates as ``%XX``, cut short."""
    escaped = "".join(f"%{ord(char):02x}" if unicodedata.category(char) in ("Cc", "Cs") else char for char in text)
    return escaped if len(escaped) <= limit else f"{escaped[:limit]}..."
