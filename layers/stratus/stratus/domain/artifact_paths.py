"""Where a proxied artifact path may point, and the S3 key it maps to.

The stock client addresses artifacts as ``/api/2.0/mlflow-artifacts/{artifacts,presigned,mpu/...}/<path>`` and lists
them with ``GET /api/2.0/mlflow-artifacts/artifacts?path=<path>`` (shared/MLFLOW-WIRE.md sections 3.5 and 7). Stratus
accepts exactly two shapes of ``<path>``::

    <experiment_id>/<run_id>/artifacts[/<rest>]                 a run's artifacts
    <experiment_id>/models/<model_id>/artifacts[/<rest>]        a logged model's artifacts

and maps each to the S3 key ``mlartifacts/<path>`` in the artifact bucket. Anything else is refused with
:class:`~stratus.errors.InvalidParameterValue` (400); traversal attempts get the reference's bare ``Invalid path``.

The reference (``validate_path_is_safe`` in ``mlflow/utils/uri.py``) decodes until the text stops changing and then
refuses ``#``, ``..`` segments, OS separators other than ``/`` and absolute paths. These rules are stricter, because
MLflow's path-traversal CVEs (CVE-2023-1177, -2356, -2780, -6730, -6831, CVE-2024-1483, -1560, -1593, -3573,
CVE-2025-11201) each slipped through a gap between two readings of one path:

* The path is decoded exactly one level (the request URL's own encoding); that decoded text is the name. Every further
  decoding of it (``%252e`` → ``%2e`` → ``.``), and its Unicode NFKC form (fullwidth ``．．`` → ``..``), must still
  pass the traversal rules, so no later decoder (a gateway, a proxy, a client saving the file) can see another path.
* An encoded slash in the URL (``%2f``) is refused rather than decoded: it would make one name two segments.
* Segments may not be empty (``a//b``, a leading or trailing ``/``), made only of dots and spaces (``.``, ``..``,
  ``...``, ``.. ``: Windows drops trailing dots and spaces), or start with a drive letter (``C:``).
* No backslash, ``;`` (path parameters), ``#``, ``?``, control character or unpaired surrogate anywhere.
* No URI scheme (``file:``, ``s3:``, ``http:`` ...), since the first segment must be an experiment id.
* The S3 key may be at most :data:`MAX_KEY_BYTES` (1024) bytes of UTF-8, S3's own limit, so the path itself at most
  :data:`MAX_PATH_BYTES` (1012); a raw path longer than three times that is refused before decoding.

Accepted names: spaces, Unicode, ``+ = @ , ' ! ~ ( ) & $ :``, ``%`` sent once-encoded as ``%25``, dots inside names
(``model.pkl``) and hidden files (``.hidden``), as MLflow allows them.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from stratus.errors import InvalidParameterValue

KEY_ROOT = "mlartifacts"
"""First segment of every proxied artifact key; reserved, so experiment locations may not point inside it."""

MAX_KEY_BYTES = 1024
"""S3's limit on an object key, in bytes of UTF-8."""

MAX_PATH_BYTES = MAX_KEY_BYTES - len(KEY_ROOT) - 1
"""Longest proxied path whose key ``mlartifacts/<path>`` still fits in :data:`MAX_KEY_BYTES`."""

MAX_RAW_PATH_CHARS = 3 * MAX_KEY_BYTES
"""Longest raw (still percent-encoded) path looked at: every byte of a valid path encodes to at most three chars."""

MAX_LOCATION_PREFIX_BYTES = 512
"""Longest key prefix of an explicit ``s3://`` location; leaves room for ``/<run_id>/artifacts/<name>`` under it."""

MAX_DECODE_ROUNDS = 10
"""Decodings tried before giving up, as the reference does; a path still changing after that is refused."""

INVALID_PATH = "Invalid path"
"""The reference's message for any traversal attempt; it names no detail an attacker could probe with."""

RUN_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
"""Stratus run ids: ``uuid4().hex`` (domain/services/runs.py)."""

MODEL_ID_PATTERN = re.compile(r"m-[0-9a-f]{32}")
"""Logged-model ids: ``m-`` and ``uuid4().hex``, as the reference makes them."""

EXPERIMENT_ID_PATTERN = re.compile(r"0|[1-9][0-9]{0,18}")
"""Experiment ids in canonical form (as ``validate_experiment_id`` returns them), so one experiment has one prefix."""

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_DRIVE = re.compile(r"[A-Za-z]:")
_ENCODED_SLASH = re.compile(r"%2f", re.IGNORECASE)
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SYNTAX_CHARACTERS = frozenset("\\;#?")
_SHAPES = "'<experiment_id>/<run_id>/artifacts[/<path>]' or '<experiment_id>/models/<model_id>/artifacts[/<path>]'"

OwnerKind = Literal["run", "model"]


@dataclass(frozen=True)
class ArtifactOwner:
    """The run or logged model a proxied artifact path belongs to, and where inside its ``artifacts/`` root it points.

    ``relative`` is ``""`` for the root itself and otherwise has no leading or trailing slash.
    """

    kind: OwnerKind
    experiment_id: str
    owner_id: str
    relative: str = ""

    @property
    def key_prefix(self) -> str:
        """The S3 key of the owner's ``artifacts/`` root, without a trailing slash."""
        if self.kind == "model":
            return f"{KEY_ROOT}/{self.experiment_id}/models/{self.owner_id}/artifacts"
        return f"{KEY_ROOT}/{self.experiment_id}/{self.owner_id}/artifacts"

    @property
    def key(self) -> str:
        """The S3 key the path names: the object itself, or the "directory" to list below ``key + "/"``."""
        return f"{self.key_prefix}/{self.relative}" if self.relative else self.key_prefix


def resolve_proxied_path(raw: str, *, decoded: bool = False) -> ArtifactOwner:
    """The owner and key of a proxied artifact path; ``InvalidParameterValue`` for anything else.

    ``raw`` is the path after the route prefix exactly as it stands in the request URL, still percent-encoded: it is
    decoded one level here. Pass ``decoded=True`` when the text was decoded once already (the ``path`` query parameter
    of a listing, after the query parser; or a path parameter the gateway decoded): then an encoded slash can no
    longer be told from a real one, and only the deeper decodings are checked.
    """
    path = raw if decoded else _decode_url_path(raw)
    _check_safe(path)
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise InvalidParameterValue(
            f"Invalid path: an artifact path may be at most {MAX_PATH_BYTES} bytes of UTF-8, so that its S3 key stays "
            f"within S3's limit of {MAX_KEY_BYTES} bytes"
        )
    return _owner_of(path)


def resolve_s3_location(uri: str, bucket: str) -> str:
    """The key prefix of an experiment's explicit ``artifact_location``; ``InvalidParameterValue`` unless it is
    ``s3://<bucket>/<prefix>`` in this stack's own artifact bucket with a safe relative prefix outside ``mlartifacts/``.

    One trailing slash is dropped (``s3://b/team/`` → ``team``). The prefix follows the segment rules of
    :func:`resolve_proxied_path`, without URL decoding: S3 URIs name keys verbatim.
    """
    refusal = InvalidParameterValue(
        f"Invalid artifact location '{_printable(uri)}': only 's3://{bucket}/<prefix>' is accepted, in this stack's "
        f"artifact bucket, with a relative <prefix> of non-empty segments free of '.', '..', '\\', ';', '?', '#' and "
        f"control characters, at most {MAX_LOCATION_PREFIX_BYTES} bytes long and outside '{KEY_ROOT}/'"
    )
    scheme, separator, rest = uri.partition("://")
    netloc, _, prefix = rest.partition("/")
    prefix = prefix.removesuffix("/")
    if scheme != "s3" or not separator or netloc != bucket or not prefix:
        raise refusal
    try:
        _check_safe(prefix)
    except InvalidParameterValue:
        raise refusal from None
    if prefix.split("/", 1)[0] == KEY_ROOT or len(prefix.encode("utf-8")) > MAX_LOCATION_PREFIX_BYTES:
        raise refusal
    return prefix


def relative_to(prefix: str, key: str) -> str:
    """The part of an S3 ``key`` below ``prefix`` (``""`` for the prefix itself), for listings.

    A trailing slash, as on the ``CommonPrefixes`` of a delimited listing, is dropped. A key outside ``prefix`` is a
    programming error (the listing asked S3 for ``prefix + "/"``) and raises ``ValueError``.
    """
    key = key.removesuffix("/")
    if key == prefix:
        return ""
    head = f"{prefix}/" if prefix else ""
    if not key.startswith(head):
        raise ValueError(f"S3 key {key!r} is not under {prefix!r}")
    return key[len(head) :]


# --------------------------------------------------------------------------- decoding and the traversal rules


def _decode_url_path(raw: str) -> str:
    """One level of percent-decoding of a URL path, refusing what has no single reading."""
    if not raw or len(raw) > MAX_RAW_PATH_CHARS:
        raise InvalidParameterValue(INVALID_PATH)
    if _ENCODED_SLASH.search(raw) or _MALFORMED_ESCAPE.search(raw):
        raise InvalidParameterValue(INVALID_PATH)
    try:
        return urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidParameterValue(INVALID_PATH) from None


def _check_safe(path: str) -> None:
    """Refuse ``path`` (decoded once) unless it and every other reading of it is a plain relative path."""
    if not path or len(path) > MAX_RAW_PATH_CHARS or _SCHEME.match(path):
        raise InvalidParameterValue(INVALID_PATH)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate: no S3 key can hold it
        raise InvalidParameterValue(INVALID_PATH) from None
    separators = path.count("/")
    decodings = _deeper_decodings(path)
    for reading in decodings:
        _check_reading(reading, separators, syntax=True)
    for reading in decodings:
        _check_reading(unicodedata.normalize("NFKC", reading), separators, syntax=False)


def _deeper_decodings(path: str) -> list[str]:
    """``path`` and each further percent-decoding of it, until the text stops changing."""
    readings = [path]
    for _ in range(MAX_DECODE_ROUNDS):
        following = urllib.parse.unquote(readings[-1], errors="replace")
        if following == readings[-1]:
            return readings
        readings.append(following)
    raise InvalidParameterValue(INVALID_PATH)


def _check_reading(reading: str, separators: int, *, syntax: bool) -> None:
    """One reading of the path must keep the original segments and no segment may climb, hide or address anything.

    ``syntax`` adds the URL delimiters ``;``, ``#`` and ``?``, which are only checked on percent-decodings: NFKC
    would turn harmless fullwidth punctuation (``？``) into them.
    """
    if reading.count("/") != separators:
        raise InvalidParameterValue(INVALID_PATH)
    for segment in reading.split("/"):
        if _is_unsafe_segment(segment) or (syntax and not _SYNTAX_CHARACTERS.isdisjoint(segment)):
            raise InvalidParameterValue(INVALID_PATH)


def _is_unsafe_segment(segment: str) -> bool:
    return (
        segment.rstrip(". ") == ""  # empty, ".", "..", "...", ".. ": Windows strips trailing dots and spaces
        or "\\" in segment
        or _DRIVE.match(segment) is not None
        or any(unicodedata.category(char) == "Cc" for char in segment)
    )


def _owner_of(path: str) -> ArtifactOwner:
    """The run or model a safe path names, by its shape."""
    segments = path.split("/")
    experiment_id = segments[0]
    if EXPERIMENT_ID_PATTERN.fullmatch(experiment_id):
        if segments[1:2] == ["models"]:
            if len(segments) >= 4 and MODEL_ID_PATTERN.fullmatch(segments[2]) and segments[3] == "artifacts":
                return ArtifactOwner("model", experiment_id, segments[2], "/".join(segments[4:]))
        elif len(segments) >= 3 and RUN_ID_PATTERN.fullmatch(segments[1]) and segments[2] == "artifacts":
            return ArtifactOwner("run", experiment_id, segments[1], "/".join(segments[3:]))
    raise InvalidParameterValue(f"Invalid path '{path}': an artifact path must be {_SHAPES}")


def _printable(text: str, limit: int = 200) -> str:
    """``text`` fit for an error message: control characters escaped as ``%XX`` (as the reference does), cut short."""
    escaped = "".join(f"%{ord(char):02x}" if unicodedata.category(char) == "Cc" else char for char in text)
    return escaped if len(escaped) <= limit else f"{escaped[:limit]}..."
