"""MLflow's scoring protocol for one loaded model, answered as ``mlflow models serve`` answers it: ``/invocations``
(JSON ``dataframe_split``/``dataframe_records``/``instances``/``inputs`` with ``params``, CSV, parquet), ``/ping``,
``/health``, ``/version``. Each answer names the model behind it (``Model.lineage_headers``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

PREDICT_PATHS = ("/invocations",)
HEALTH_PATHS = ("/ping", "/health")


@dataclass(frozen=True)
class Lineage:
    """Which registered model version, and which run, a deployment serves (set when the deployment is made)."""

    model_uri: str
    model_name: str = ""
    model_version: str = ""
    run_id: str = ""
    deployment: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | os._Environ[str] = os.environ) -> Lineage:
        return cls(
            model_uri=environ.get("STRATUS_MODEL_URI", ""),
            model_name=environ.get("STRATUS_MODEL_NAME", ""),
            model_version=environ.get("STRATUS_MODEL_VERSION", ""),
            run_id=environ.get("STRATUS_MODEL_RUN_ID", ""),
            deployment=environ.get("STRATUS_DEPLOYMENT_NAME", ""),
        )

    def headers(self) -> dict[str, str]:
        named = {
            "x-stratus-deployment": self.deployment,
            "x-stratus-model-uri": self.model_uri,
            "x-stratus-model-name": self.model_name,
            "x-stratus-model-version": self.model_version,
            "x-stratus-run-id": self.run_id,
        }
        return {k: v for k, v in named.items() if v}


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


class Scorer:
    """One loaded pyfunc model and its input schema, answering scoring requests."""

    def __init__(self, model: Any, lineage: Lineage) -> None:
        from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT  # noqa: PLC0415

        self.model = model
        self.lineage = lineage
        self.input_schema = model.metadata.get_input_schema()
        os.environ[_MLFLOW_IS_IN_SERVING_ENVIRONMENT.name] = "true"  # as mlflow models serve sets it

    @classmethod
    def load(cls, lineage: Lineage) -> Scorer:
        import mlflow.pyfunc  # noqa: PLC0415 - 1-2 s: once per container (cold start)

        return cls(mlflow.pyfunc.load_model(lineage.model_uri), lineage)

    def answer(self, method: str, path: str, content_type: str | None, body: bytes) -> Answer:
        """What ``mlflow models serve`` answers ``method path`` with ``body``, plus the lineage headers."""
        from mlflow.exceptions import MlflowException  # noqa: PLC0415
        from mlflow.pyfunc.scoring_server import invocations  # noqa: PLC0415
        from mlflow.version import VERSION  # noqa: PLC0415

        headers = self.lineage.headers()
        if method == "GET" and path in HEALTH_PATHS:
            return Answer(200, b"\n", "application/json", headers)
        if method == "GET" and path == "/version":
            return Answer(200, VERSION.encode(), "application/json", headers)
        if method != "POST" or path not in PREDICT_PATHS:
            return Answer(404, b'{"detail":"Not Found"}', "application/json", headers)
        try:
            result = invocations(body, content_type or "", self.model, self.input_schema)
        except MlflowException as error:
            return Answer(error.get_http_status_code(), error.serialize_as_json().encode(), "application/json", headers)
        return Answer(result.status, result.response.encode(), result.mimetype, headers)
