"""Benchmarks that print figures (never tests: nothing here fails on a target).

    python -m benchmarks.tracking      DynamoDB requests and capacity units per call, cold import and first request
    python -m benchmarks.local_scale   ``stratus local`` with 100,000 runs and 2,000,000 metric points
    python -m benchmarks.compare       Stratus against ``mlflow server``, same workloads, one run; AWS bill; cold start

Development only: nothing under ``layers/`` or ``functions/`` imports this package. Results: docs/benchmarks.md.
"""
