"""``/health``, ``/version`` and ``server-info``: what the client probes before it decides what to use."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus import MLFLOW_COMPAT_VERSION


def build() -> Router:
    router = Router()

    @router.get("/health")
    def health() -> Response:
        return Response(status_code=200, content_type="text/plain", body="OK")

    @router.get("/version")
    def version() -> Response:
        return Response(status_code=200, content_type="text/plain", body=MLFLOW_COMPAT_VERSION)

    def server_info() -> dict[str, Any]:
        return {
            "store_type": "SqlStore",
            "workspaces_enabled": False,
            "trace_archival_enabled": False,
            # Proxied artifacts live in S3: large uploads go in presigned parts, every download is presigned.
            "multipart_uploads_enabled": True,
            "multipart_downloads_enabled": True,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False,
            "features_enabled": {"gateway": False},
        }

    router.get("/api/3.0/mlflow/server-info")(server_info)
    router.get("/ajax-api/3.0/mlflow/server-info")(server_info)
    return router
