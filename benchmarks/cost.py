"""What AWS would bill for the counted work (:mod:`benchmarks.aws_meter`), at the prices of :mod:`benchmarks.prices`.

Counted, not guessed: requests and invocations per service, DynamoDB capacity units (computed from item sizes by
:mod:`benchmarks.dynamo_meter`), S3 requests by billing class (counted where they arrive, at the embedded moto server,
so the client's presigned-URL uploads and downloads are included), EventBridge events, handler time.

Assumed, because a laptop cannot measure them (each is a constant below, used nowhere else):

* Lambda duration = the CPU time of the handler's thread (measured here; on a machine shared with other jobs it is
  much steadier than wall time, which includes waiting for a CPU) times :data:`LAMBDA_CPU_FACTOR`, plus
  :data:`AWS_CALL_MS` per AWS call the handler made (DynamoDB Local and moto answer at their own speed, not AWS's),
  plus half a millisecond per invocation for Lambda's rounding up, at the function's memory size from template.yaml.
  The CPU time includes botocore's own work on each call (serialising, signing, parsing), which Lambda bills too.
* CloudWatch Logs: :data:`LOG_BYTES_PER_INVOCATION` (the runtime's START/END/REPORT lines; the handlers log nothing
  else on success) plus :data:`ACCESS_LOG_BYTES_PER_REQUEST` per HTTP API request (the access log line).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks import prices
from benchmarks.aws_meter import StackUsage

LAMBDA_CPU_FACTOR = 1.7
"""A 1024 MB arm64 Lambda has ~0.58 of a vCPU: CPU-bound time there is ~1.7x this machine's (docs/benchmarks.md)."""
AWS_CALL_MS = 8.0
"""What one DynamoDB, S3 or EventBridge request keeps a handler waiting on AWS (same-region, single-digit ms)."""
LOG_BYTES_PER_INVOCATION = 350
ACCESS_LOG_BYTES_PER_REQUEST = 400
GB = 1024**3


@dataclass
class Bill:
    """Dollars per line item, and the quantities behind them."""

    dollars: dict[str, float] = field(default_factory=dict)
    quantities: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.dollars.values())

    def scaled(self, factor: float) -> Bill:
        return Bill(
            {k: v * factor for k, v in self.dollars.items()}, {k: v * factor for k, v in self.quantities.items()}
        )

    def plus(self, other: Bill) -> Bill:
        keys = [*self.dollars, *(k for k in other.dollars if k not in self.dollars)]
        qkeys = [*self.quantities, *(k for k in other.quantities if k not in self.quantities)]
        return Bill(
            {k: self.dollars.get(k, 0.0) + other.dollars.get(k, 0.0) for k in keys},
            {k: self.quantities.get(k, 0.0) + other.quantities.get(k, 0.0) for k in qkeys},
        )


def lambda_gb_seconds(usage: StackUsage) -> float:
    """GB-seconds Lambda would bill, from the measured handler time and the assumptions above."""
    total = 0.0
    for function in usage.functions.values():
        ms = function.cpu_seconds * 1000 * LAMBDA_CPU_FACTOR + function.aws_calls * AWS_CALL_MS
        ms += function.invocations * 0.5  # Lambda rounds each invocation up to the millisecond
        total += ms / 1000 * function.memory_mb / 1024
    return total


def bill(usage: StackUsage) -> Bill:
    """The bill for one stretch of work."""
    invocations = sum(f.invocations for f in usage.functions.values())
    gb_seconds = lambda_gb_seconds(usage)
    s3_put = sum(n for (service, kind), n in usage.moto.items() if service == "s3" and kind == "PUT")
    s3_get = sum(n for (service, kind), n in usage.moto.items() if service == "s3" and kind == "GET")
    wcu = usage.dynamodb.wcu if usage.dynamodb is not None else 0.0
    rcu = usage.dynamodb.rcu if usage.dynamodb is not None else 0.0
    log_bytes = invocations * LOG_BYTES_PER_INVOCATION + usage.gateway_requests * ACCESS_LOG_BYTES_PER_REQUEST
    quantities = {
        "HTTP API requests": float(usage.gateway_requests),
        "Lambda invocations": float(invocations),
        "Lambda GB-s": gb_seconds,
        "DynamoDB WRU": wcu,
        "DynamoDB RRU": rcu,
        "S3 PUT/LIST": float(s3_put),
        "S3 GET/HEAD": float(s3_get),
        "EventBridge events": float(usage.events),
        "log GB": log_bytes / GB,
    }
    dollars = {
        "HTTP API requests": usage.gateway_requests * prices.HTTP_API_REQUEST,
        "Lambda invocations": invocations * prices.LAMBDA_REQUEST,
        "Lambda GB-s": gb_seconds * prices.LAMBDA_ARM64_GB_SECOND,
        "DynamoDB WRU": wcu * prices.DYNAMODB_WRITE_REQUEST_UNIT,
        "DynamoDB RRU": rcu * prices.DYNAMODB_READ_REQUEST_UNIT,
        "S3 PUT/LIST": s3_put * prices.S3_PUT_REQUEST,
        "S3 GET/HEAD": s3_get * prices.S3_GET_REQUEST,
        "EventBridge events": usage.events * prices.EVENTBRIDGE_EVENT,
        "log GB": log_bytes / GB * prices.CLOUDWATCH_LOGS_INGEST_GB,
    }
    return Bill(dollars, quantities)


# -------------------------------------------------------------------------------------------------------- the team


@dataclass(frozen=True)
class Team:
    """The usage the monthly figures are for."""

    points_per_month: int = 5_000_000
    searches_per_month: int = 20_000
    runs_searched_per_search: int = 1_000
    points_per_run: int = 2_000
    """Runs a month follow from the points (the logging workload's runs have 2,000 points each)."""


@dataclass(frozen=True)
class Storage:
    """DynamoDB bytes per stored metric point and per run, measured by scanning the table after the benchmark."""

    bytes_per_point: float
    bytes_per_run: float


@dataclass
class Monthly:
    per_million_points: float
    per_thousand_runs_searched: float
    usage: float
    """A month of the team's logging and searching."""
    idle_empty: float
    """A month with no traffic and no data: what is charged whether used or not."""
    idle_year_of_data: float
    """A month with no traffic, holding a year of the team's data."""
    managed: float

    def total(self, usage_multiple: float, months_of_data: int = 12) -> float:
        """Stratus per month at ``usage_multiple`` times the team's usage, holding that many months of data."""
        stored = (self.idle_year_of_data - self.idle_empty) * usage_multiple * months_of_data / 12
        return self.idle_empty + self.usage * usage_multiple + stored


def storage_month(storage: Storage, points: float, runs: float) -> float:
    """DynamoDB storage and its point-in-time recovery for ``points`` points in ``runs`` runs, per month."""
    gigabytes = (points * storage.bytes_per_point + runs * storage.bytes_per_run) / GB
    return gigabytes * (prices.DYNAMODB_STORAGE_GB_MONTH + prices.DYNAMODB_PITR_GB_MONTH)


def monthly(logging: Bill, points_logged: int, search: Bill, runs_searched: int, storage: Storage) -> Monthly:
    """The per-unit and per-month figures. ``search`` covers every page of a search over ``runs_searched`` runs."""
    team = Team()
    per_point = logging.total / points_logged
    per_thousand = search.total / (runs_searched / 1_000)
    usage = per_point * team.points_per_month + per_thousand * team.searches_per_month * (
        team.runs_searched_per_search / 1_000
    )
    runs_per_year = 12 * team.points_per_month / team.points_per_run
    idle_empty = prices.KMS_KEY_MONTH
    idle_year = idle_empty + storage_month(storage, 12 * team.points_per_month, runs_per_year)
    return Monthly(
        per_million_points=per_point * 1_000_000,
        per_thousand_runs_searched=per_thousand,
        usage=usage,
        idle_empty=idle_empty,
        idle_year_of_data=idle_year,
        managed=prices.MANAGED_MLFLOW_HOUR * prices.HOURS_PER_MONTH,
    )
