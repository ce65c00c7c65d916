"""How long a GenAI trace is kept (docs/traces.md "Retention"), which MLflow has no setting for.

The deploy parameter ``TraceRetentionDays`` gives the default; an experiment's tag ``stratus.trace.retention_days``
overrides it for the traces created in that experiment. The days are decided once, when a trace's record is created
(so a tag changed later applies to new traces only), and counted from that moment: the record and its pointer and run
links carry a DynamoDB TTL, the span objects an S3 tag that one of the bucket's lifecycle rules (one per allowed value)
expires. 0 keeps traces until deleted, as MLflow does.
"""

from __future__ import annotations

from collections.abc import Mapping

RETENTION_TAG = "stratus.trace.retention_days"
"""The experiment tag that overrides the deployment's default retention."""
RETENTION_DAYS = (0, 1, 3, 7, 14, 30, 60, 90, 180, 365)
"""The allowed values: template.yaml's ``TraceRetentionDays`` and one lifecycle rule on the artifact bucket each."""
SPAN_OBJECT_TAG = "stratus-retention-days"
"""The S3 object tag on span objects that the artifact bucket's lifecycle rules filter on."""
DAY_SECONDS = 86_400


def parse_retention_days(value: str | None) -> int | None:
    """The days a tag value asks for: decimal digits (spaces around them allowed) naming an allowed value; None for
    anything else (``"45"``, ``"30d"``, ``"-1"``, ``"1e3"``, empty)."""
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit():
        return None
    days = int(text)
    return days if days in RETENTION_DAYS else None


def check_default_days(days: int) -> int:
    """The deployment's default, refused at start-up when it is not an allowed value (template.yaml checks it too)."""
    if days not in RETENTION_DAYS:
        raise ValueError(f"trace retention of {days} days: allowed values are {', '.join(map(str, RETENTION_DAYS))}")
    return days


def retention_days(experiment_tags: Mapping[str, str], default_days: int) -> int:
    """The days the traces of an experiment with these tags are kept: the tag's when it is valid, else the default.
    MLflow's tags are free-form, so a bad value is stored as set (SetExperimentTag answers as the reference does) and
    ignored here."""
    days = parse_retention_days(experiment_tags.get(RETENTION_TAG))
    return default_days if days is None else days


def expiry(now_seconds: float, days: int) -> int | None:
    """The epoch second a trace created at ``now_seconds`` and kept ``days`` expires at; None (kept) for 0."""
    return int(now_seconds) + days * DAY_SECONDS if days else None


def expired(expires_at: int | None, now_seconds: float) -> bool:
    """Whether a record with this expiry is gone. DynamoDB deletes expired items only eventually (within days), so
    readers treat a passed ``ttl`` as deleted."""
    return expires_at is not None and expires_at <= now_seconds
