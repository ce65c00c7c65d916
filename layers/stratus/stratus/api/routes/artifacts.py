"""``/mlflow-artifacts/*``: proxied artifacts. Paths come from the event's path, which HTTP APIs deliver already
percent-decoded, and are resolved by the service; a download answers with the file's bytes up to 4 MiB, as the
reference does, and with a 307 to a presigned URL beyond (a Lambda response holds about 6 MB)."""

from __future__ import annotations

import base64
import json
import mimetypes
import posixpath
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from stratus.api import schemas, serialize
from stratus.api.request import parse
from stratus.domain.services.artifact_files import ArtifactFile
from stratus.domain.services.artifacts import ArtifactService

_ANY_PATH = ".+"  # Powertools compiles route rules as regular expressions; artifact paths span segments


def _raw_path_after(router: Router, marker: str) -> str:
    """The part of the (decoded) request path after ``marker``."""
    return router.current_event.path.partition(marker)[2]


def _body_bytes(router: Router) -> bytes:
    event = router.current_event
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


TEXT_EXTENSIONS = frozenset(
    {
        *("txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop", "hocon", "toml", "yaml", "yml"),
        *("xml", "json", "js", "py", "py3", "csv", "tsv", "md", "rst", "ipynb", "MLmodel", "mlproject"),
    }
)
"""The reference's ``get_text_extensions``: files it sends as ``text/plain`` (``MLmodel``, ``mlproject`` by name)."""


def content_type_of(name: str) -> str:
    """The reference's ``_guess_mime_type``: text files as ``text/plain`` (so a ``.json`` file is text too, never a
    JSON body, which Powertools would try to serialise again), else by extension, else ``application/octet-stream``."""
    extension = posixpath.splitext(name)[1].removeprefix(".") or name
    if extension in TEXT_EXTENSIONS:
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def file_response(found: ArtifactFile) -> Response:
    """The file as an attachment (as the reference sends it, so a browser never renders it on this origin); too
    large for a Lambda response, a redirect to a presigned URL."""
    if found.url is not None:
        return Response(status_code=307, headers={"Location": found.url}, body="")
    safe_name = json.dumps(found.name)  # quoted, with any quote escaped
    return Response(
        status_code=200,
        content_type=content_type_of(found.name),
        body=found.body or b"",
        headers={"Content-Disposition": f"attachment; filename={safe_name}", "X-Content-Type-Options": "nosniff"},
    )


def build(service: ArtifactService) -> Router:
    router = Router()
    files = "/mlflow-artifacts/artifacts/"

    @router.put(files + _ANY_PATH)
    def upload() -> dict[str, Any]:
        service.upload(
            _raw_path_after(router, files), _body_bytes(router), router.current_event.headers.get("content-type")
        )
        return {}

    @router.get(files + _ANY_PATH)
    def download() -> Response:
        return file_response(service.download(_raw_path_after(router, files)))

    @router.delete(files + _ANY_PATH)
    def delete() -> dict[str, Any]:
        service.delete(_raw_path_after(router, files))
        return {}

    @router.get("/mlflow-artifacts/artifacts")
    def list_artifacts() -> dict[str, Any]:
        entries = service.list(parse(router, schemas.ListArtifacts).path)
        listed = [serialize.file_info(e) for e in entries]
        return {"files": listed} if listed else {}

    @router.get("/mlflow/logged-models/<model_id>/artifacts/directories")
    def list_model_artifacts(model_id: str) -> dict[str, Any]:
        req = parse(router, schemas.ListLoggedModelArtifacts)
        root_uri, entries = service.list_model_artifacts(model_id, req.artifact_directory_path)
        return (
            {"root_uri": root_uri, "files": [serialize.file_info(e) for e in entries]}
            if entries
            else {"root_uri": root_uri}
        )

    @router.get("/mlflow-artifacts/presigned/" + _ANY_PATH)
    def presigned() -> dict[str, Any]:
        found = service.presigned_download(_raw_path_after(router, "/mlflow-artifacts/presigned/"))
        return {"url": found.url, "headers": {}, "file_size": found.file_size}

    @router.post("/mlflow-artifacts/mpu/create/" + _ANY_PATH)
    def mpu_create() -> dict[str, Any]:
        req = parse(router, schemas.CreateMultipartUpload)
        upload = service.create_multipart(_raw_path_after(router, "/mpu/create/"), req.path, req.num_parts)
        credentials = [{"part_number": n, "url": url, "headers": {}} for n, url in enumerate(upload.part_urls, 1)]
        return {"upload_id": upload.upload_id, "credentials": credentials}

    @router.post("/mlflow-artifacts/mpu/complete/" + _ANY_PATH)
    def mpu_complete() -> dict[str, Any]:
        req = parse(router, schemas.CompleteMultipartUpload)
        parts = [(p.part_number, p.etag) for p in req.parts]
        service.complete_multipart(_raw_path_after(router, "/mpu/complete/"), req.path, req.upload_id, parts)
        return {}

    @router.post("/mlflow-artifacts/mpu/abort/" + _ANY_PATH)
    def mpu_abort() -> dict[str, Any]:
        req = parse(router, schemas.AbortMultipartUpload)
        service.abort_multipart(_raw_path_after(router, "/mpu/abort/"), req.path, req.upload_id)
        return {}

    return router


def build_ui_upload(service: ArtifactService) -> Router:
    """``POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=`` (the web UI's upload; only under
    ``/ajax-api``, as in the reference): the body is the file. The reference answers an empty 200."""
    router = Router()

    @router.post("/ajax-api/2.0/mlflow/upload-artifact")
    def upload_artifact() -> Response:
        event = router.current_event
        query = parse_qs(event.get("rawQueryString") or "", keep_blank_values=True)
        run_id, path = (query.get(name, [None])[0] for name in ("run_uuid", "path"))
        service.upload_run_file(run_id, path, _body_bytes(router), event.headers.get("content-type"))
        return Response(status_code=200, content_type="application/json", body="")

    return router
