"""An entry point that logs a heartbeat metric and waits: something to cancel."""

from __future__ import annotations

import argparse
import time

import mlflow

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, required=True)
    seconds = parser.parse_args().seconds
    with mlflow.start_run():
        for second in range(seconds):
            mlflow.log_metric("heartbeat", second, step=second)
            print(f"waited {second} s", flush=True)
            time.sleep(1)
