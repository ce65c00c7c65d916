"""``stratus local``: serve the project's Lambda handlers on http://127.0.0.1:5000 as API Gateway + Lambda would."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from stratus_local.auth import TOKEN_ENV, USERS_ENV, AuthConfigError, LocalAuth
from stratus_local.backends import BackendError, localstack_environment
from stratus_local.backup import backup_state, restore_state, restore_table
from stratus_local.stack import SERVING_ENVS, LocalStack, find_project_dir
from stratus_local.template import TemplateError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stratus", description="Stratus developer commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser(
        "local",
        help="serve the Lambda handlers locally behind an emulated API Gateway, with AWS emulated too",
        description=(
            "Serve template.yaml's HttpApi routes on HOST:PORT exactly as API Gateway HTTP API + Lambda would, "
            "with DynamoDB Local and moto standing in for AWS (or the service at AWS_ENDPOINT_URL, if set)."
        ),
    )
    local.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    local.add_argument("--port", type=int, default=5000, help="port to listen on (default: %(default)s)")
    local.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where state persists across restarts (default: .stratus in the project folder)",
    )
    local.add_argument("--ephemeral", action="store_true", help="keep nothing: all state in memory")
    local.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="folder holding template.yaml and functions/ (default: nearest above the current folder, else this repo)",
    )
    local.add_argument(
        "--artifacts",
        choices=("proxied", "direct"),
        default=None,
        help=(
            "proxied (default, from samconfig.toml): artifacts go through this server and presigned URLs; "
            "direct: clients write the emulated S3 themselves (set the printed MLFLOW_S3_ENDPOINT_URL)"
        ),
    )
    local.add_argument(
        "--serving-env",
        choices=SERVING_ENVS,
        default="local",
        help=(
            "where model deployments run: local (default), in this Python, which must hold the models' packages; "
            "virtualenv: in a virtualenv built from each model's requirements, as CodeBuild builds its image on AWS"
        ),
    )
    local.add_argument(
        "--localstack",
        nargs="?",
        const="localhost:4566",
        default=None,
        metavar="HOST:PORT",
        help=(
            "use the LocalStack at HOST:PORT (default localhost:4566) for DynamoDB, S3, SQS and EventBridge instead "
            "of starting DynamoDB Local and moto (docs/localstack.md)"
        ),
    )
    local.add_argument("--quiet", action="store_true", help="do not log each request")
    local.add_argument(
        "--verbose", action="store_true", help="at start-up, list every route, function and emulated service"
    )
    auth = local.add_argument_group(
        "authentication",
        "Without these, anyone who reaches HOST:PORT may do anything. Options on a command line are visible to every "
        f"user of the machine (ps): prefer {TOKEN_ENV} and {USERS_ENV} (comma-separated USER:PASSWORD pairs).",
    )
    auth.add_argument(
        "--auth-token",
        metavar="TOKEN",
        default=None,
        help=f"require this bearer token (clients: MLFLOW_TRACKING_TOKEN); default ${TOKEN_ENV}",
    )
    auth.add_argument(
        "--auth-user",
        metavar="USER:PASSWORD",
        action="append",
        default=None,
        help=(
            "accept this user, repeatable (clients: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD); runs and "
            f"registry changes are recorded as USER; default ${USERS_ENV}"
        ),
    )
    _add_backup_commands(commands)
    _add_migration_commands(commands)
    return parser


def _add_backup_commands(commands: Any) -> None:
    where = {"type": Path, "default": None, "help": "the state folder (default: .stratus in the project folder)"}
    project = {"type": Path, "default": None, "help": "folder holding template.yaml (default: as stratus local)"}
    backup = commands.add_parser(
        "backup",
        help="copy stratus local's state (every table, the saved S3 objects) to a folder; stop stratus local first",
    )
    backup.add_argument("folder", type=Path, help="where to write <table>.jsonl and s3/")
    restore = commands.add_parser(
        "restore",
        help="make stratus local's state that of a backup folder (only what differs is written); stop it first",
    )
    restore.add_argument("folder", type=Path, help="a folder written by stratus backup")
    for command in (backup, restore):
        command.add_argument("--state-dir", **where)
        command.add_argument("--project-dir", **project)
    copy = commands.add_parser(
        "restore-table",
        help="on AWS: make a table's items those of another (a point-in-time restore), writing only what differs",
    )
    copy.add_argument("--source", required=True, help="the table to copy from (the restored one)")
    copy.add_argument("--target", required=True, help="the table to make equal to it (the stack's)")
    copy.add_argument("--region", default=None, help="default: the AWS CLI's")


def _backup_command(args: argparse.Namespace) -> int:
    if args.command == "restore-table":
        result = restore_table(args.source, args.target, args.region)
        print(f"{args.target}: {result.put} put, {result.deleted} deleted, {result.unchanged} unchanged")
        return 0
    project_dir = (args.project_dir or find_project_dir()).resolve()
    state_dir = (args.state_dir or project_dir / ".stratus").resolve()
    try:
        if args.command == "backup":
            lines = backup_state(state_dir, project_dir, args.folder, sys.stderr)
        else:
            lines = restore_state(state_dir, project_dir, args.folder, sys.stderr)
    except (BackendError, RuntimeError) as exc:
        print(f"stratus {args.command}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _build_stack(args: argparse.Namespace, auth: LocalAuth | None) -> LocalStack:
    """The stack the options describe; with --localstack, its endpoints go into the environment first."""
    project_dir = (args.project_dir or find_project_dir()).resolve()
    if args.localstack:
        os.environ.update(localstack_environment(args.localstack, os.environ))
    return LocalStack(
        project_dir,
        state_dir=None if args.ephemeral else (args.state_dir or project_dir / ".stratus"),
        ephemeral=args.ephemeral,
        host=args.host,
        port=args.port,
        log_requests=not args.quiet,
        parameter_overrides={"ArtifactAccess": args.artifacts} if args.artifacts else None,
        auth=auth,
        serving_env=args.serving_env,
    )


def _add_migration_commands(commands: argparse._SubParsersAction) -> None:
    importing = commands.add_parser(
        "import",
        help="copy everything an MLflow tracking server holds into the Stratus at MLFLOW_TRACKING_URI",
        description=(
            "Copy experiments, runs (params, every metric point, tags, dataset inputs, artifacts), logged models and "
            "the model registry from the MLflow server at --from into the Stratus at MLFLOW_TRACKING_URI. "
            "Run it again to resume: nothing is copied twice. See docs/migration.md."
        ),
    )
    importing.add_argument("--from", dest="other", required=True, metavar="URI", help="the MLflow server to copy")
    exporting = commands.add_parser(
        "export",
        help="copy everything the Stratus at MLFLOW_TRACKING_URI holds into another MLflow tracking server",
        description="The reverse of `stratus import`: from the Stratus at MLFLOW_TRACKING_URI into --to.",
    )
    exporting.add_argument("--to", dest="other", required=True, metavar="URI", help="the MLflow server to fill")
    for command in (importing, exporting):
        command.add_argument("--workers", type=int, default=4, help="items copied at once (default: %(default)s)")
        command.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def migrate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``stratus import`` / ``stratus export``: print the summary; exit 1 when something was refused."""
    try:
        from stratus_local.migrate import copy_server
        from stratus_local.migrate.report import Progress
    except ImportError as exc:
        parser.error(f"stratus {args.command} needs mlflow ({exc}): pip install 'stratus[migrate]'")
    stratus = os.environ.get("MLFLOW_TRACKING_URI")
    if not stratus:
        parser.error(f"stratus {args.command}: set MLFLOW_TRACKING_URI to the Stratus to use")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar: ours
    source, destination = (args.other, stratus) if args.command == "import" else (stratus, args.other)
    print(f"stratus {args.command}: {source} -> {destination}", file=sys.stderr, flush=True)
    progress = Progress(None if args.no_progress else sys.stderr)
    started = time.monotonic()
    summary = copy_server(source, destination, workers=args.workers, progress=progress)
    print(summary.render(), flush=True)
    print(f"stratus {args.command}: done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return 1 if summary.refusals else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stratus`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("import", "export"):
        return migrate(args, parser)
    if args.command != "local":
        return _backup_command(args)
    return _serve(parser, args)


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``stratus local``: start the stack and serve until Ctrl-C or SIGTERM."""
    try:
        auth = LocalAuth.from_options(args.auth_token, args.auth_user)
    except AuthConfigError as exc:
        parser.error(str(exc))
    stack = _build_stack(args, auth)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        stack.start()
    except KeyboardInterrupt:
        return 130  # start() already stopped what it had started
    except (TemplateError, BackendError, ImportError) as exc:
        stack.stop()
        print(f"stratus local: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        stack.stop()
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        print(f"stratus local: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        print("  (pick another with --port; on macOS, AirPlay Receiver holds port 5000)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print(stack.banner() if args.verbose else stack.summary(), file=sys.stderr)
    if auth is not None:
        print(f"  Auth: {auth.describe()}", file=sys.stderr)
    print("\nIn the shell that runs your code:", file=sys.stderr)
    print(f"export MLFLOW_TRACKING_URI={stack.base_url}", flush=True)
    for name, value in stack.client_environment().items():
        print(f"export {name}={value}", flush=True)
    print(flush=True)  # the end of the exports, for whoever reads stdout (tests/e2e/local_process.py)
    print("\nPress Ctrl-C (or send SIGTERM) to stop everything it started.", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("stratus local: stopping ...", file=sys.stderr, flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
