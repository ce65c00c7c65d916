"""The writes on stored GenAI traces after ingest: assessments (create, get, update, delete), trace tags,
deleting traces, and linking traces to a run, as MLflow 3.17.2's handlers and ``SqlAlchemyStore`` answer them.

Every change is a read-modify-write of the trace's record through ``TraceStore.put(record, previous=...)``, retried
when another writer (an OTLP batch, StartTraceV3, another assessment) saved the trace in between.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from stratus.domain import validation
from stratus.domain.ports import SpanStore, TraceStore
from stratus.domain.trace_records import TAG_VALUE_STORE_LIMIT, TRACE_NAME, TraceRecord, timestamp_json
from stratus.errors import Conflict, InvalidParameterValue, ResourceDoesNotExist

MAX_PUT_ATTEMPTS = 8
MAX_TRACE_TAG_KEY_LENGTH = 250
MAX_TRACES_TO_LINK = 100
DELETE_PAGE_SIZE = 100

BLOCKED_TAGS = ("mlflow.trace.spansLocation", "mlflow.trace.archiveLocation", "mlflow.trace.archivalFailure")
DELETABLE_BLOCKED_TAGS = ("mlflow.trace.archivalFailure",)

SOURCE_TYPES = ("SOURCE_TYPE_UNSPECIFIED", "HUMAN", "LLM_JUDGE", "CODE")
VALUE_KINDS = ("feedback", "expectation", "issue")
# The Assessment message's fields in proto order, which is the order the reference answers them in.
FIELD_ORDER = (
    "assessment_id",
    "assessment_name",
    "trace_id",
    "span_id",
    "source",
    "create_time",
    "last_update_time",
    "feedback",
    "expectation",
    "issue",
    "rationale",
    "error",
    "metadata",
    "overrides",
    "valid",
)
UPDATABLE_PATHS = ("assessment_name", "feedback", "expectation", "rationale", "metadata")


def _now_json() -> str:
    return timestamp_json(int(time.time() * 1000))


def _as_double(value: Any) -> Any:
    """``google.protobuf.Value`` numbers are doubles: 3 is answered ``3.0``, at any depth."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_as_double(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_double(item) for key, item in value.items()}
    return value


def _value_body(body: Any) -> dict[str, Any]:
    """A feedback / expectation body as the reference stores it (a ``value`` read as a Value, the rest kept)."""
    if not isinstance(body, Mapping):
        return {}
    out = dict(body)
    if "value" in out:
        out["value"] = _as_double(out["value"])
    return out


def _kind(assessment: Mapping[str, Any]) -> str | None:
    return next((kind for kind in VALUE_KINDS if assessment.get(kind) is not None), None)


def _source(source: Any) -> dict[str, Any]:
    source = source if isinstance(source, Mapping) else {}
    source_type = source.get("source_type", source.get("sourceType"))
    out: dict[str, Any] = {"source_type": source_type if source_type in SOURCE_TYPES else SOURCE_TYPES[0]}
    source_id = source.get("source_id", source.get("sourceId"))
    if source_id:
        out["source_id"] = source_id
    return out


def _ordered(assessment: Mapping[str, Any]) -> dict[str, Any]:
    return {key: assessment[key] for key in FIELD_ORDER if key in assessment}


def _mask_paths(update_mask: str) -> list[str]:
    """A FieldMask in proto JSON: comma-separated lowerCamelCase paths (snake_case read too)."""
    paths = []
    for path in update_mask.split(","):
        path = path.strip()
        paths.append("".join(f"_{c.lower()}" if c.isupper() else c for c in path))
    return paths


def assessment_not_found(assessment_id: str, trace_id: str) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(f"Assessment with ID '{assessment_id}' not found for trace '{trace_id}'")


class TraceWriteService:
    """Assessments, trace tags, trace deletion and run links on stored traces."""

    def __init__(self, traces: TraceStore, spans: SpanStore, *, new_id: Callable[[], str] | None = None) -> None:
        self._traces = traces
        self._spans = spans
        self._new_id = new_id or (lambda: f"a-{uuid.uuid4().hex}")

    # ---------------------------------------------------------------------------------------------- core

    def _update(self, trace_id: str, change: Callable[[TraceRecord], Any], missing: Callable[[], Exception]) -> Any:
        """Apply ``change`` to a copy of the trace's record and save it, retrying on a lost race; ``change``'s
        result. ``missing`` is raised when the trace does not exist."""
        for _ in range(MAX_PUT_ATTEMPTS):
            previous = self._traces.get(trace_id)
            if previous is None:
                raise missing()
            record = copy.deepcopy(previous)
            result = change(record)
            if self._traces.put(record, previous=previous):
                return result
        raise Conflict(f"Trace '{trace_id}' is being changed by others; try again.")

    # ---------------------------------------------------------------------------------------------- assessments

    def create_assessment(self, trace_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """Store a new assessment on the trace (``valid`` forced true); one it ``overrides`` becomes invalid."""
        kind = _kind(request)
        if kind is None:
            raise InvalidParameterValue("Unknown assessment type: None")
        now = _now_json()
        assessment: dict[str, Any] = {
            "assessment_id": request.get("assessment_id") or self._new_id(),
            "assessment_name": request.get("assessment_name") or "",
            "trace_id": trace_id,
            "source": _source(request.get("source")),
            "create_time": request.get("create_time") or now,
            "last_update_time": request.get("last_update_time") or request.get("create_time") or now,
            kind: _value_body(request.get(kind)),
            "valid": True,
        }
        for key in ("span_id", "rationale", "error", "overrides"):
            if request.get(key):
                assessment[key] = request[key]
        if request.get("metadata"):
            assessment["metadata"] = dict(request["metadata"])
        assessment = _ordered(assessment)

        def add(record: TraceRecord) -> dict[str, Any]:
            overrides = assessment.get("overrides")
            if overrides:
                old = _find(record, overrides)
                if old is None:
                    raise assessment_not_found(overrides, trace_id)
                old["valid"] = False
            record.assessments.append(assessment)
            return assessment

        return self._update(trace_id, add, lambda: ResourceDoesNotExist(f"Trace with ID '{trace_id}' not found."))

    def get_assessment(self, trace_id: str, assessment_id: str) -> dict[str, Any]:
        record = self._traces.get(trace_id)
        if record is None:
            raise ResourceDoesNotExist(f"Trace with request_id '{trace_id}' not found")
        found = _find(record, assessment_id)
        if found is None:
            raise assessment_not_found(assessment_id, trace_id)
        return found

    def update_assessment(
        self, trace_id: str, assessment_id: str, request: Mapping[str, Any], update_mask: str
    ) -> dict[str, Any]:
        """Change the masked fields (``metadata`` merged into the existing); ``last_update_time`` becomes now."""
        paths = [p for p in _mask_paths(update_mask) if p in (*UPDATABLE_PATHS, "valid")]
        if "valid" in paths:  # the reference answers 500 here
            raise InvalidParameterValue("The field 'valid' of an assessment cannot be updated.")

        def change(record: TraceRecord) -> dict[str, Any]:
            found = _find(record, assessment_id)
            if found is None:
                raise assessment_not_found(assessment_id, trace_id)
            _apply_update(found, request, paths)
            found["last_update_time"] = _now_json()
            updated = _ordered(found)
            found.clear()
            found.update(updated)
            return updated

        return self._update(
            trace_id, change, lambda: ResourceDoesNotExist(f"Trace with request_id '{trace_id}' not found")
        )

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Remove the assessment (nothing if it or the trace is gone); the one it overrode becomes valid again."""

        def remove(record: TraceRecord) -> None:
            found = _find(record, assessment_id)
            if found is None:
                return
            record.assessments.remove(found)
            overridden = _find(record, found.get("overrides") or "")
            if overridden is not None:
                overridden["valid"] = True

        try:
            self._update(trace_id, remove, _Gone)
        except _Gone:
            return

    # ---------------------------------------------------------------------------------------------- tags

    def set_tag(self, trace_id: str, key: str, value: str) -> None:
        _check_tag_mutation(key, "set")
        validation.validate_tag_name(key)
        validation.validate_length_limit("key", MAX_TRACE_TAG_KEY_LENGTH, key)
        stored = value[:TAG_VALUE_STORE_LIMIT]
        if key == TRACE_NAME:
            validation.validate_length_limit("Trace name", TAG_VALUE_STORE_LIMIT, value)

        def put_tag(record: TraceRecord) -> None:
            record.tags[key] = stored

        self._update(trace_id, put_tag, lambda: ResourceDoesNotExist(f"Trace with ID '{trace_id}' not found."))

    def delete_tag(self, trace_id: str, key: str) -> None:
        _check_tag_mutation(key, "deleted")

        def missing() -> ResourceDoesNotExist:
            return ResourceDoesNotExist(f"No trace tag with key '{key}' for trace with ID '{trace_id}'")

        def drop(record: TraceRecord) -> None:
            if key not in record.tags:
                raise missing()
            del record.tags[key]

        self._update(trace_id, drop, missing)

    # ---------------------------------------------------------------------------------------------- delete, link

    def delete_traces(
        self,
        experiment_id: str,
        *,
        max_timestamp_millis: int | None,
        max_traces: int | None,
        trace_ids: list[str],
    ) -> int:
        """Delete the listed traces of the experiment, or its traces up to a time (oldest first, at most
        ``max_traces``), with their spans; how many were deleted."""
        if max_timestamp_millis is None and not trace_ids:
            raise InvalidParameterValue("Either `max_timestamp_millis` or `trace_ids` must be specified.")
        if max_timestamp_millis is not None and trace_ids:
            raise InvalidParameterValue("Only one of `max_timestamp_millis` and `trace_ids` can be specified.")
        if trace_ids and max_traces is not None:
            raise InvalidParameterValue("`max_traces` can't be specified if `trace_ids` is specified.")
        if max_traces is not None and max_traces <= 0:
            raise InvalidParameterValue(f"`max_traces` must be a positive integer, received {max_traces}.")
        if trace_ids:
            doomed = [r for r in self._traces.get_many(list(trace_ids)) if r.experiment_id == experiment_id]
        else:
            assert max_timestamp_millis is not None
            doomed = self._oldest(experiment_id, max_timestamp_millis, max_traces)
        for start in range(0, len(doomed), DELETE_PAGE_SIZE):
            chunk = doomed[start : start + DELETE_PAGE_SIZE]
            self._traces.delete(chunk)
            for record in chunk:
                self._spans.delete(record.experiment_id, record.trace_id)
        return len(doomed)

    def _oldest(self, experiment_id: str, max_timestamp_millis: int, max_traces: int | None) -> list[TraceRecord]:
        found: list[TraceRecord] = []
        start_after: str | None = None
        while max_traces is None or len(found) < max_traces:
            records, start_after = self._traces.page(
                experiment_id, descending=False, start_after=start_after, limit=DELETE_PAGE_SIZE
            )
            for record in records:
                if record.request_time > max_timestamp_millis:
                    return found
                found.append(record)
                if max_traces is not None and len(found) >= max_traces:
                    return found
            if start_after is None:
                break
        return found

    def link_to_run(self, run_id: str, trace_ids: list[str]) -> None:
        """Associate the traces with the run (nothing is checked, as in the reference); each link expires with its
        trace."""
        if len(trace_ids) > MAX_TRACES_TO_LINK:
            raise InvalidParameterValue(
                f"Cannot link more than {MAX_TRACES_TO_LINK} traces to a run in a single request. "
                f"Provided {len(trace_ids)} traces."
            )
        if trace_ids:
            ids = list(dict.fromkeys(trace_ids))
            # a link expires with its trace; ids of no (unexpired) trace are linked for good, as the reference links
            expiries = {r.trace_id: r.expires_at for r in self._traces.get_many(ids)}
            self._traces.link_run(run_id, ids, expires_at=expiries)


class _Gone(Exception):
    """The trace of an assessment to delete does not exist: nothing to do (the reference answers ``{}``)."""


def _find(record: TraceRecord, assessment_id: str) -> dict[str, Any] | None:
    return next((a for a in record.assessments if a.get("assessment_id") == assessment_id), None)


def _apply_update(found: dict[str, Any], request: Mapping[str, Any], paths: list[str]) -> None:
    kind = _kind(found)
    for path in paths:
        if path in ("feedback", "expectation"):
            if kind != path:
                raise InvalidParameterValue(
                    f"Cannot update {path} value on a{'n' if kind == 'expectation' else ''} "
                    f"{(kind or '').capitalize()} assessment."
                )
            if request.get(path) is not None:
                found[path] = _value_body(request[path])
        elif path == "metadata":
            found["metadata"] = {**(found.get("metadata") or {}), **dict(request.get("metadata") or {})}
            if not found["metadata"]:
                del found["metadata"]
        elif path == "assessment_name":
            found["assessment_name"] = request.get("assessment_name") or ""
        elif path == "rationale":
            if request.get("rationale"):
                found["rationale"] = request["rationale"]
            else:
                found.pop("rationale", None)


def _check_tag_mutation(key: str, operation: str) -> None:
    if key in BLOCKED_TAGS and not (operation == "deleted" and key in DELETABLE_BLOCKED_TAGS):
        raise InvalidParameterValue(f"Tag '{key}' is immutable and cannot be {operation} on a trace.")
