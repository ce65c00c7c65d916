"""AWS list prices the cost model uses: us-east-1, on-demand, without free tier. The one place prices live.

Written down on 2026-11-27 from AWS's public pricing pages as the author last read them (Lambda, API Gateway,
DynamoDB, S3, EventBridge and CloudWatch pricing pages; DynamoDB on-demand after its November 2024 price cut); not
fetched by the benchmark. Check them against https://aws.amazon.com/pricing/ before quoting a figure.
"""

from __future__ import annotations

PRICES_DATE = "2026-11-27"
REGION = "us-east-1"

LAMBDA_ARM64_GB_SECOND = 0.0000133334
"""Lambda duration, arm64, first 6 billion GB-seconds a month."""
LAMBDA_REQUEST = 0.20 / 1_000_000
HTTP_API_REQUEST = 1.00 / 1_000_000
"""API Gateway HTTP API, first 300 million requests a month (metered in 512 KB increments)."""
DYNAMODB_WRITE_REQUEST_UNIT = 0.625 / 1_000_000
DYNAMODB_READ_REQUEST_UNIT = 0.125 / 1_000_000
DYNAMODB_STORAGE_GB_MONTH = 0.25
"""Standard table class, beyond the first 25 GB (which are free); charged here from the first byte."""
S3_PUT_REQUEST = 0.005 / 1_000
"""S3 Standard PUT, COPY, POST and LIST requests (CreateMultipartUpload, UploadPart, CompleteMultipartUpload too)."""
S3_GET_REQUEST = 0.0004 / 1_000
"""S3 Standard GET, SELECT, HEAD and every other request."""
S3_STORAGE_GB_MONTH = 0.023
EVENTBRIDGE_EVENT = 1.00 / 1_000_000
"""Custom events put on a bus (each 64 KB chunk of a PutEvents entry)."""
CLOUDWATCH_LOGS_INGEST_GB = 0.50
MANAGED_MLFLOW_HOUR = 0.642
"""The always-on managed MLflow tracking server Stratus is compared with (figure given in the brief of issue 7)."""
HOURS_PER_MONTH = 730
KMS_KEY_MONTH = 1.00
"""A customer managed KMS key (the webhook secrets key), whether used or not."""
DYNAMODB_PITR_GB_MONTH = 0.20
"""Point-in-time recovery (continuous backups), per GB of table, enabled in template.yaml."""
