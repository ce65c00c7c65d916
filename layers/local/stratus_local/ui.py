"""MLflow's own web UI on ``stratus local``: ``GET /`` and ``/static-files/<path>`` straight from the installed
``mlflow`` wheel's ``mlflow/server/js/build`` folder, as ``mlflow server`` serves them; every other request goes on
to the emulated API Gateway.

The folder is found with :func:`importlib.util.find_spec`, which locates the package without importing it (mlflow's
import costs seconds and pulls half of PyPI), and nothing of the UI is copied into this repository. Without mlflow
installed, ``/`` answers a page saying how to install it.
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib.util
import mimetypes
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from stratus_local.gateway import HttpHandler, HttpRequest, HttpResponse

STATIC_PREFIX = "/static-files/"
"""Where the UI's build expects its assets (``index.html`` links ``static-files/static/js/main.*.js``)."""
STATIC_MAX_AGE_SECONDS = 2_419_200
"""Four weeks, as the reference: asset names carry a content hash, so a changed file has a new name."""
BUILD_FOLDER = ("server", "js", "build")

MISSING_UI_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stratus: MLflow UI not installed</title></head>
<body style="font-family: sans-serif; max-width: 44em; margin: 3em auto">
<h1>The MLflow UI is not installed</h1>
<p>Stratus serves MLflow's own web UI from the installed <code>mlflow</code> package, and no <code>mlflow</code>
package with a UI build was found in the Python environment running <code>stratus local</code>.</p>
<p>Install it next to Stratus, then restart <code>stratus local</code>:</p>
<pre>pip install 'stratus[ui]'      # or: pip install mlflow==3.17.2</pre>
<p>The API itself works without it: point <code>MLFLOW_TRACKING_URI</code> at this server.</p>
</body></html>
"""

# The UI's asset types; mimetypes alone varies by platform (Windows registry, /etc/mime.types).
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".txt": "text/plain; charset=utf-8",
    ".wasm": "application/wasm",
}


def find_ui_build() -> Path | None:
    """The installed mlflow's UI build folder (holding ``index.html``), found without importing mlflow."""
    try:
        spec = importlib.util.find_spec("mlflow")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location).joinpath(*BUILD_FOLDER)
        if (folder / "index.html").is_file():
            return folder
    return None


def content_type(path: Path) -> str:
    """The ``Content-Type`` of an asset."""
    known = _CONTENT_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


@dataclass
class UiAssets:
    """Serves ``/`` and ``/static-files/...`` from ``build`` (None: mlflow is not installed)."""

    build: Path | None

    def answers(self, request: HttpRequest) -> bool:
        """Whether this request is for the UI rather than the API."""
        if request.method.upper() not in ("GET", "HEAD"):
            return False
        path = request.target.partition("?")[0]
        return path == "/" or path.startswith(STATIC_PREFIX)

    def serve(self, request: HttpRequest) -> HttpResponse:
        """Answer a request :meth:`answers` took."""
        path = request.target.partition("?")[0]
        if self.build is None:
            return HttpResponse(200 if path == "/" else 404, [("Content-Type", "text/html; charset=utf-8")], _missing())
        if path == "/":
            return self._file(request, self.build / "index.html", cache=False)
        relative = path[len(STATIC_PREFIX) :]
        target = self._inside_build(relative)
        if target is None:
            return _not_found()
        return self._file(request, target, cache=True)

    def _inside_build(self, relative: str) -> Path | None:
        """The file ``relative`` names inside the build folder; None for a folder, a missing file or an escape."""
        assert self.build is not None
        parts = unquote(relative).split("/")
        if not relative or any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
            return None
        root = self.build.resolve()
        target = root.joinpath(*parts).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return None
        return target

    def _file(self, request: HttpRequest, path: Path, *, cache: bool) -> HttpResponse:
        stat = path.stat()
        etag = '"' + hashlib.sha1(f"{path}:{stat.st_mtime_ns}:{stat.st_size}".encode()).hexdigest()[:20] + '"'
        headers = [
            ("Content-Type", content_type(path)),
            ("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True)),
            ("ETag", etag),
        ]
        if cache:
            headers.append(("Cache-Control", f"public, max-age={STATIC_MAX_AGE_SECONDS}"))
            headers.append(("Expires", email.utils.formatdate(time.time() + STATIC_MAX_AGE_SECONDS, usegmt=True)))
        else:
            headers.append(("Cache-Control", "no-cache"))  # index.html names this build's assets: revalidate it
        if etag in (request.header("if-none-match") or ""):
            return HttpResponse(304, headers)
        return HttpResponse(200, headers, path.read_bytes())


def _missing() -> bytes:
    return MISSING_UI_PAGE.encode("utf-8")


def _not_found() -> HttpResponse:
    return HttpResponse(404, [("Content-Type", "text/plain; charset=utf-8")], b"Not Found")


class UiGateway:
    """The UI's files in front of the API: the UI's requests are answered here, the rest by ``api``."""

    def __init__(self, api: HttpHandler, assets: UiAssets | None = None) -> None:
        self.api = api
        self.assets = assets if assets is not None else UiAssets(find_ui_build())

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request."""
        if self.assets.answers(request):
            return self.assets.serve(request)
        return self.api.handle(request)
