"""``mlflow-stratus``: follow a project run that ``mlflow run --backend stratus`` submitted (the CLI returns as soon
as the run is submitted). Talks to the Stratus at ``MLFLOW_TRACKING_URI`` with the tracking client's credentials.

    mlflow-stratus status <run_id>     the project run as Stratus reports it (JSON)
    mlflow-stratus wait <run_id>       wait until it ends; exit 0 if it FINISHED, 1 otherwise
    mlflow-stratus cancel <run_id>     stop its job and wait until the run is KILLED
    mlflow-stratus logs <run_id>       the job's output, once the run has ended (the run's stratus/ artifact)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient, get_tracking_uri

from mlflow_stratus.api import ProjectsApi
from mlflow_stratus.projects import StratusSubmittedRun

LOG_ARTIFACT = "stratus/project-output.log"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlflow-stratus", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("status", "wait", "cancel", "logs"))
    parser.add_argument("run_id")
    args = parser.parse_args(argv)
    uri = get_tracking_uri()
    api = ProjectsApi.for_tracking_uri(uri)
    run = StratusSubmittedRun(args.run_id, api)
    try:
        if args.command == "status":
            print(json.dumps(api.get_run(args.run_id), indent=2))
            return 0
        if args.command == "wait":
            return 0 if run.wait() else 1
        if args.command == "cancel":
            run.cancel()
            return 0
        with tempfile.TemporaryDirectory() as folder:
            path = MlflowClient(uri).download_artifacts(args.run_id, LOG_ARTIFACT, folder)
            sys.stdout.write(Path(path).read_text(errors="replace"))
        return 0
    except MlflowException as exc:
        print(f"mlflow-stratus: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
