"""The scoring requests both scoring tests send (``test_scoring_protocol``: the adapter against ``mlflow models
serve``; ``test_deployments_local``: a deployment's endpoint against the adapter), and how two answers are compared:
every JSON input format with and without params, CSV, parquet, the wrong content type, malformed JSON, two formats at
once, a schema mismatch. The model takes two iris features, ``sepal_length`` and ``sepal_width``."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pandas as pd

SET_LITERAL = re.compile(r"\{('[^']*'(?:, '[^']*')*)\}")


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


ROWS = [{"sepal_length": 5.1, "sepal_width": 3.5}, {"sepal_length": 6.7, "sepal_width": 3.0}]
FRAME = pd.DataFrame(ROWS)
JSON = "application/json"
CASES: dict[str, tuple[str, bytes]] = {
    "dataframe_split": (JSON, json.dumps({"dataframe_split": FRAME.to_dict(orient="split")}).encode()),
    "dataframe_records": (JSON, json.dumps({"dataframe_records": ROWS}).encode()),
    "instances": (JSON, json.dumps({"instances": ROWS}).encode()),
    "inputs": (JSON, json.dumps({"inputs": {"sepal_length": [5.1], "sepal_width": [3.5]}}).encode()),
    "params": (JSON, json.dumps({"dataframe_records": ROWS, "params": {"unused": 1}}).encode()),
    "charset": ("application/json; charset=utf-8", json.dumps({"dataframe_records": ROWS}).encode()),
    "csv": ("text/csv", FRAME.to_csv(index=False).encode()),
    "parquet": ("application/x-parquet", _parquet(FRAME)),
    "wrong content type": ("text/plain", b"hello"),
    "latin-1": ("application/json; charset=latin-1", b"{}"),
    "unknown parameter": ("application/json; format=pandas-split", b"{}"),
    "malformed json": (JSON, b"{not json"),
    "two formats": (JSON, json.dumps({"dataframe_records": ROWS, "instances": ROWS}).encode()),
    "no format": (JSON, json.dumps({"rows": ROWS}).encode()),
    "schema mismatch": (JSON, json.dumps({"dataframe_records": [{"sepal_length": "x"}]}).encode()),
    "missing column": (JSON, json.dumps({"dataframe_records": [{"sepal_length": 5.1}]}).encode()),
    "empty body": (JSON, b""),
}


def comparable(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    kind = content_type.split(";")[0].strip()
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = body.decode(errors="replace")
    if isinstance(parsed, dict) and "stack_trace" in parsed:
        parsed = {k: v for k, v in parsed.items() if k != "stack_trace"}  # file paths differ between the processes
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        # MLflow prints a set of field names, whose order differs from process to process
        parsed["message"] = SET_LITERAL.sub(
            lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", parsed["message"]
        )
    return {"status": status, "content type": kind, "body": parsed}
