"""LocalStack on the host, without Docker, for the `[localstack]` half of tests/integration (docs/localstack.md).

`python tests/localstack_host.py setup` (run by `make localstack`, which `make test` runs) installs it once into
``~/.cache/stratus/localstack``: a Python 3.13 virtualenv with localstack-core, and the file tree LocalStack expects
(a JDK, DynamoDB Local and the javaagent jar it passes to DynamoDB Local), so that it never downloads anything at run
time. tests/integration/conftest.py then starts it (:func:`start`) on a free port when the first `[localstack]` test
runs, and stops it when the tests end.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

LOCALSTACK_VERSION = "2026.3.0"
# localstack-core 2026.3.0 imports cbor2._decoder (gone in cbor2 6), makes its certificate with pyOpenSSL's
# X509.add_extensions (gone in 26, whose predecessor needs cryptography < 47), and Twisted's TLS imports
# service-identity, which [runtime] does not pull in.
PACKAGES = [
    f"localstack-core[runtime]=={LOCALSTACK_VERSION}",
    "cbor2<6",
    "pyopenssl<26",
    "cryptography>=45,<47",
    "service-identity",
]
SERVICES = "dynamodb,dynamodbstreams,s3,sqs,events,kms,logs,sts,iam"
REQUIRE_ENV = "STRATUS_REQUIRE_LOCALSTACK"  # CI sets it: a LocalStack that cannot be set up or started fails
# LocalStack passes -javaagent:ddb-local-loader-0.1.jar to DynamoDB Local (the agent only lifts its 20-GSI limit;
# Stratus's table has no GSI) and DynamoDB Local refuses to start without it. This is the class javac 17 makes of
#   public final class NoopAgent { public static void premain(String a, java.lang.instrument.Instrumentation i) {} }
NOOP_AGENT_CLASS = base64.b64decode(
    "yv66vgAAAD0ADwoAAgADBwAEDAAFAAYBABBqYXZhL2xhbmcvT2JqZWN0AQAGPGluaXQ+AQADKClWBwAIAQAJTm9vcEFnZW50AQAEQ29kZQEA"
    "D0xpbmVOdW1iZXJUYWJsZQEAB3ByZW1haW4BADsoTGphdmEvbGFuZy9TdHJpbmc7TGphdmEvbGFuZy9pbnN0cnVtZW50L0luc3RydW1lbnRh"
    "dGlvbjspVgEAClNvdXJjZUZpbGUBAA5Ob29wQWdlbnQuamF2YQAxAAcAAgAAAAAAAgABAAUABgABAAkAAAAdAAEAAQAAAAUqtwABsQAAAAEA"
    "CgAAAAYAAQAAAAEACQALAAwAAQAJAAAAGQAAAAIAAAABsQAAAAEACgAAAAYAAQAAAAIAAQANAAAAAgAO"
)


def home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stratus" / "localstack"


def _python() -> Path:
    return home() / "venv" / "bin" / "python"


def is_installed() -> bool:
    loader = home() / "fs" / "var" / "lib" / "localstack" / "lib" / "dynamodb-local" / "2" / "ddb-local-loader-0.1.jar"
    return _python().exists() and loader.exists() and (home() / "installed").exists()


def find_python313() -> str | None:
    """$PY313, else a working python3.13 on PATH, else pyenv's newest 3.13, else uv's."""
    candidates = [os.environ.get("PY313", ""), shutil.which("python3.13") or ""]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates += sorted((str(p / "bin" / "python3.13") for p in pyenv.glob("3.13*")), reverse=True)
    if shutil.which("uv"):
        found = subprocess.run(["uv", "python", "find", "3.13"], capture_output=True, text=True, check=False)
        candidates.append(found.stdout.strip())
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.startswith("Python 3.13"):
            return candidate
    return None


def _java_home() -> Path | None:
    """A JDK or JRE of Java 17 or later: LocalStack runs DynamoDB Local with <lib>/java/21/bin/java."""
    from stratus_local.backends import find_java

    found = find_java()
    return Path(found[0]).resolve().parents[1] if found else None


def setup(out=sys.stdout) -> str | None:
    """Install LocalStack once; returns why it could not be, or None."""
    from stratus_local.backends import dynamodb_local_home, fetch_dynamodb_local, is_dynamodb_local_dir

    if is_installed():
        return None
    python, java_home = find_python313(), _java_home()
    if python is None:
        return "no Python 3.13 (install one, e.g. `pyenv install 3.13` or `uv python install 3.13`, or set PY313)"
    if java_home is None:
        return "no Java 17 or later (DynamoDB Local needs it)"
    ddb = dynamodb_local_home()
    if not is_dynamodb_local_dir(ddb):
        fetch_dynamodb_local(ddb, out)
    if not is_dynamodb_local_dir(ddb):
        return f"DynamoDB Local could not be fetched into {ddb}"
    root = home()
    print(f"installing LocalStack {LOCALSTACK_VERSION} (host mode) into {root} ...", file=out, flush=True)
    if not _python().exists():
        subprocess.run([python, "-m", "venv", str(root / "venv")], check=True)
    subprocess.run(
        [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PACKAGES], check=True
    )
    lib = root / "fs" / "var" / "lib" / "localstack" / "lib"
    (lib / "java").mkdir(parents=True, exist_ok=True)
    ddb_dir = lib / "dynamodb-local" / "2"
    ddb_dir.mkdir(parents=True, exist_ok=True)
    for link, target in [
        (lib / "java" / "21", java_home),
        (ddb_dir / "DynamoDBLocal.jar", ddb / "DynamoDBLocal.jar"),
        (ddb_dir / "DynamoDBLocal_lib", ddb / "DynamoDBLocal_lib"),
    ]:
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    with zipfile.ZipFile(ddb_dir / "ddb-local-loader-0.1.jar", "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nPremain-Class: NoopAgent\r\n\r\n")
        jar.writestr("NoopAgent.class", NOOP_AGENT_CLASS)
    (root / "installed").write_text(LOCALSTACK_VERSION + "\n")
    return None


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def start(port: int, timeout: float = 90.0) -> subprocess.Popen[bytes]:
    """Start LocalStack's runtime (what its Docker image runs) on 127.0.0.1:port, in its own process group."""
    root = home()
    env = {
        **os.environ,
        "OVERRIDE_IN_DOCKER": "0",  # in a sandbox it would think it runs in its own image and use /var/lib/localstack
        "FILESYSTEM_ROOT": str(root / "fs"),
        "SERVICES": SERVICES,
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "LOCALSTACK_TELEMETRY_DISABLED": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
    }
    for name in [n for n in env if n.startswith("AWS_ENDPOINT_URL")]:
        del env[name]
    log = (root / f"localstack-{port}.log").open("wb")
    process = subprocess.Popen(
        [str(_python()), "-m", "localstack.runtime.main"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + timeout
    while not healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"LocalStack did not start on {url}; its log: {log.name}")
        time.sleep(0.25)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop LocalStack and DynamoDB Local, its java child, with it."""
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def endpoint(host: str) -> str:
    """The edge URL of a LocalStack at HOST[:PORT], as localstack-client resolves its service endpoints."""
    from localstack_client import config

    return config.get_service_endpoint("dynamodb", localstack_host=host)


def client(url: str, service: str):  # noqa: ANN201 (a boto3 client)
    """A client of one service of the LocalStack at ``url``, made by localstack-client."""
    from localstack_client.session import Session

    session = Session(
        aws_access_key_id="test", aws_secret_access_key="test", localstack_host=urllib.parse.urlsplit(url).netloc
    )
    return session.client(service)


@contextlib.contextmanager
def localstack_lock(url: str) -> Iterator[None]:
    """One test at a time on a shared LocalStack: its tables have the template's fixed names, so two tests (two pytest
    runs against one $STRATUS_LOCALSTACK_URL, or a stack and a handler test) would drop each other's tables."""
    lock_path = Path(tempfile.gettempdir()) / f"stratus-localstack-{re.sub(r'[^A-Za-z0-9]+', '_', url)}.lock"
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def fresh_state(url: str, project_dir: Path) -> None:
    """LocalStack keeps state between tests: empty every bucket (the template's, and those tests make), drop the
    template's tables and create them again."""
    from stratus_local.backends import create_tables
    from stratus_local.template import parse_project

    project = parse_project(project_dir)
    s3 = client(url, "s3")
    for bucket in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        with contextlib.suppress(s3.exceptions.NoSuchBucket):
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                versions = page.get("Versions", []) + page.get("DeleteMarkers", [])
                keys = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    dynamodb = client(url, "dynamodb")
    tables = project.tables
    for table in tables:
        with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
            dynamodb.delete_table(TableName=table.name)
            dynamodb.get_waiter("table_not_exists").wait(TableName=table.name, WaiterConfig={"Delay": 1})
    for _ in range(40):  # LocalStack can still refuse the name (in use) for a moment after the table is gone
        try:
            create_tables(dynamodb, tables, io.StringIO())
            return
        except dynamodb.exceptions.ResourceInUseException:
            time.sleep(0.25)
    create_tables(dynamodb, tables, io.StringIO())


def main(argv: list[str]) -> int:
    if argv != ["setup"]:
        print("usage: python tests/localstack_host.py setup", file=sys.stderr)
        return 2
    why = setup()
    if why is None:
        print(f"LocalStack {LOCALSTACK_VERSION} is installed in {home()}")
        return 0
    required = os.environ.get(REQUIRE_ENV) == "1"
    print(f"LocalStack not installed: {why}; the [localstack] tests will be skipped", file=sys.stderr)
    return 1 if required else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
