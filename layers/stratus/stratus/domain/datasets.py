"""MLflow 3 GenAI evaluation datasets: the dataset and its records, and the reference's rules for them
(``SqlAlchemyStore.create_dataset`` ... ``upsert_dataset_records``, ``SqlEvaluationDatasetRecord.merge``,
``SearchEvaluationDatasetsUtils``).

* A record is known by its inputs: ``sha256(json.dumps(inputs, sort_keys=True))``. Upserting a record whose inputs
  a record of the dataset already has merges into it (outputs replaced when given, expectations and tags updated
  key by key); otherwise it is inserted with ``outputs`` ``{}`` unless given. Stratus derives the record id from
  that hash (``dr-`` and its first 32 hex digits) where the reference draws a random one: the same shape, and a
  delete by id finds the record by key.
* Every upsert sets the dataset's update time, ``last_updated_by`` (the last ``mlflow.user`` tag of the batch, or
  none), a new digest (``sha256("<name>:<update time>")[:8]``), the schema (each field's type, first seen wins)
  and the profile (``{"num_records": n}``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from stratus.domain.search.comparison import ORDERING_OPERATORS, string_matcher
from stratus.domain.search.grammar import ATTRIBUTE, TAG, Clause, Dialect, parse_filter, parse_order_by
from stratus.errors import InvalidParameterValue

MLFLOW_USER = "mlflow.user"
DATASET_ID_PREFIX = "d-"
RECORD_ID_PREFIX = "dr-"
RECORD_ID_HEX = 32
SOURCE_TYPES = ("UNSPECIFIED", "TRACE", "HUMAN", "DOCUMENT", "CODE")

SEARCH_ATTRIBUTES = ("name", "created_time", "last_update_time", "created_by", "last_updated_by")
ORDER_ATTRIBUTES = ("name", "created_time", "last_update_time")
DATASETS = Dialect(
    entity_names=(TAG, ATTRIBUTE),
    entity_whitelist=("tags",),
    search_attributes=SEARCH_ATTRIBUTES,
    order_attributes=ORDER_ATTRIBUTES,
    numeric_attributes=frozenset({"created_time", "last_update_time"}),
    list_keys=("name",),
    dataset_keys=(),
    null_entities=(),
    quote_invalid_clauses=False,
    identifier_errors="datasets",
)
_TAG_COMPARATORS = ("=", "!=", "LIKE", "ILIKE")
_DEFAULT_ORDER = ("created_time DESC",)


@dataclass
class EvaluationDataset:
    dataset_id: str
    name: str
    digest: str
    created_time: int
    last_update_time: int
    tags: dict[str, Any] = field(default_factory=dict)
    schema: str | None = None
    profile: str | None = None
    created_by: str | None = None
    last_updated_by: str | None = None
    experiment_ids: list[str] = field(default_factory=list)
    num_records: int = 0


@dataclass
class DatasetRecord:
    dataset_record_id: str
    dataset_id: str
    inputs: dict[str, Any]
    created_time: int
    last_update_time: int
    outputs: Any = None  # None: no outputs (the reference's NULL column)
    expectations: dict[str, Any] | None = None
    tags: dict[str, Any] | None = None
    source: dict[str, Any] | None = None  # {"source_type": ..., "source_data": {...}}
    created_by: str | None = None
    last_updated_by: str | None = None

    @property
    def source_type(self) -> str | None:
        return self.source["source_type"] if self.source else None

    @property
    def source_id(self) -> str | None:
        if not self.source:
            return None
        key = "trace_id" if self.source["source_type"] == "TRACE" else "source_id"
        return self.source["source_data"].get(key)

    def body(self) -> dict[str, Any]:
        """What the store keeps as the record's body (possibly large): everything but ids, times and users."""
        return {
            "inputs": self.inputs,
            "outputs": self.outputs,
            "expectations": self.expectations,
            "tags": self.tags,
            "source": self.source,
        }

    def to_dict(self) -> dict[str, Any]:
        """The record as ``GetDatasetRecords`` lists it (``DatasetRecord.to_dict``: proto field order, unset fields
        left out)."""
        out: dict[str, Any] = {
            "dataset_record_id": self.dataset_record_id,
            "dataset_id": self.dataset_id,
            "inputs": self.inputs,
        }
        if self.expectations is not None:
            out["expectations"] = self.expectations
        out["tags"] = self.tags if self.tags is not None else {}
        if self.source is not None:
            out["source"] = self.source
            if self.source_id is not None:
                out["source_id"] = self.source_id
            out["source_type"] = self.source_type
        out["created_time"] = self.created_time
        out["last_update_time"] = self.last_update_time
        for name in ("created_by", "last_updated_by"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.outputs is not None:
            out["outputs"] = self.outputs
        return out


def dataset_digest(name: str, last_update_time: int) -> str:
    return hashlib.sha256(f"{name}:{last_update_time}".encode()).hexdigest()[:8]


def record_key(inputs: Any) -> str:
    """What a record is known by: the first 32 hex digits of the reference's input hash (128 bits)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:RECORD_ID_HEX]


def record_id_of(key: str) -> str:
    return RECORD_ID_PREFIX + key


def record_key_of(record_id: str) -> str | None:
    """The record key a record id names, or None for an id Stratus never gives out (it names no record)."""
    rest = record_id.removeprefix(RECORD_ID_PREFIX)
    if record_id == rest or len(rest) != RECORD_ID_HEX or any(c not in "0123456789abcdef" for c in rest):
        return None
    return rest


def parse_json_field(text: str, name: str) -> Any:
    """A request's JSON-in-a-string field (``tags``, ``records``); the reference answers 500 to bad JSON."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid JSON in field '{name}': {exc}") from exc


def parse_tags(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    tags = parse_json_field(text, "tags")
    if not isinstance(tags, dict):
        raise InvalidParameterValue(f"Field 'tags' must be a JSON object, got {type(tags).__name__}")
    return tags


def parse_records(text: str) -> list[dict[str, Any]]:
    records = parse_json_field(text, "records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidParameterValue("Field 'records' must be a JSON list of objects")
    for record in records:
        for name in ("expectations", "tags"):
            if record.get(name) and not isinstance(record[name], dict):
                raise InvalidParameterValue(f"Record field '{name}' must be a JSON object")
    return records


def parse_source(source: Any) -> dict[str, Any]:
    """``DatasetRecordSource.from_dict``: a source type (any case) and its data."""
    if not isinstance(source, dict) or not isinstance(source.get("source_type"), str):
        raise InvalidParameterValue("Record field 'source' must be an object with a string 'source_type'")
    unknown = set(source) - {"source_type", "source_data"}
    if unknown:
        raise InvalidParameterValue(f"Unknown fields in record source: {sorted(unknown)}")
    source_type = source["source_type"].upper()
    if source_type not in SOURCE_TYPES:
        raise InvalidParameterValue(
            f"Invalid dataset record source type: {source['source_type']}. Valid source types: {list(SOURCE_TYPES)}"
        )
    data = source.get("source_data") or {}
    if not isinstance(data, dict):
        raise InvalidParameterValue("Record field 'source.source_data' must be an object")
    return {"source_type": source_type, "source_data": data}


def new_record(dataset_id: str, key: str, record: dict[str, Any], now: int) -> DatasetRecord:
    """A record new to the dataset. Only a new record's source is read (a merge ignores it), so only then can a bad
    source type be refused, as in the reference."""
    tags = record.get("tags")
    user = tags.get(MLFLOW_USER) if tags else None
    return DatasetRecord(
        dataset_record_id=record_id_of(key),
        dataset_id=dataset_id,
        inputs=record.get("inputs", {}),
        outputs=record.get("outputs", {}),
        expectations=record.get("expectations"),
        tags=tags,
        source=parse_source(record["source"]) if record.get("source") else None,
        created_time=now,
        last_update_time=now,
        created_by=user,
        last_updated_by=user,
    )


def merge_record(existing: DatasetRecord, record: dict[str, Any], now: int) -> None:
    """``SqlEvaluationDatasetRecord.merge``."""
    if "outputs" in record:
        existing.outputs = record["outputs"]
    if expectations := record.get("expectations"):
        existing.expectations = {**(existing.expectations or {}), **expectations}
    if tags := record.get("tags"):
        existing.tags = {**(existing.tags or {}), **tags}
        if MLFLOW_USER in tags:
            existing.last_updated_by = tags[MLFLOW_USER]
    existing.last_update_time = now


def field_type(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string")):
        if isinstance(value, kind):
            return name
    return {list: "array", dict: "object"}.get(type(value), "unknown")


def updated_schema(schema_json: str | None, records: list[dict[str, Any]]) -> str | None:
    """``_update_dataset_schema``: the fields of the new records added to the dataset's schema, first type wins."""
    if not records and not schema_json:
        return None
    schema = json.loads(schema_json) if schema_json else {"inputs": {}, "outputs": {}, "expectations": {}}
    schema.setdefault("version", "1.0")
    for record in records:
        for part in ("inputs", "expectations"):
            for key, value in (record.get(part) or {}).items():
                schema[part].setdefault(key, field_type(value))
        outputs = record.get("outputs")
        if isinstance(outputs, dict):
            for key, value in outputs.items():
                schema["outputs"].setdefault(key, field_type(value))
        elif outputs is not None and not schema["outputs"]:
            schema["outputs"] = field_type(outputs)
    return json.dumps(schema)


def profile_of(num_records: int) -> str | None:
    return json.dumps({"num_records": num_records}) if num_records > 0 else None


def profile_after_delete(num_records: int) -> str:
    """``delete_dataset_records`` writes JSON ``null`` once the last record is gone."""
    return json.dumps({"num_records": num_records} if num_records > 0 else None)


# ---------------------------------------------------------------------------------------------------------------
# search: SearchEvaluationDatasetsUtils and the SQL it turns into
# ---------------------------------------------------------------------------------------------------------------


def parse_dataset_filter(filter_string: str | None) -> list[Clause]:
    clauses = parse_filter(filter_string, DATASETS)
    for clause in clauses:
        if isinstance(clause.value, tuple) and clause.comparator.upper() != "IN":
            raise InvalidParameterValue("List values for 'name' are only supported with the IN comparator.")
        if clause.entity == TAG and clause.comparator.upper() not in _TAG_COMPARATORS:
            raise InvalidParameterValue(f"Invalid comparator for tag: {clause.comparator}")
    return clauses


def matches(dataset: EvaluationDataset, clause: Clause) -> bool:
    comparator = clause.comparator.upper()
    if clause.entity == TAG:
        value = dataset.tags.get(clause.key)
        return value is not None and string_matcher(comparator, clause.value)(str(value))
    lhs = getattr(dataset, clause.key)
    if clause.key in DATASETS.numeric_attributes:
        return lhs is not None and bool(ORDERING_OPERATORS[comparator](lhs, clause.value))
    return string_matcher(comparator, clause.value)(lhs)


def sort_datasets(datasets: list[EvaluationDataset], order_by: list[str]) -> list[EvaluationDataset]:
    """``_get_search_datasets_order_by_clauses``: the keys given (``created_time DESC`` by default), then the id
    descending; sorted stably from the last key to the first."""
    keys = [parse_order_by(entry, DATASETS) for entry in (order_by or _DEFAULT_ORDER)]
    ordered = sorted(datasets, key=lambda d: d.dataset_id, reverse=True)
    for key in reversed(keys):
        ordered.sort(key=lambda d, k=key.key: getattr(d, k), reverse=not key.ascending)  # type: ignore[misc]
    return ordered
