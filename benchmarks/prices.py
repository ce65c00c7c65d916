"""AWS list prices the cost model uses: us-east-1, on-demand, without free tier. The one place prices live.

Written down on 2026-11-27 and checked against stored copies of public sources (not fetched by the benchmark; no
live page was read, so check https://aws.amazon.com/pricing/ before quoting a figure):

- AWS's own pages, undated copies: the Lambda, DynamoDB, S3, EventBridge, CloudWatch and KMS pricing pages. Most
  of their price cells are drawn in the browser, so only DynamoDB storage ($0.25 a GB-month past 25 GB) and KMS
  ($1 a key-month) could be read there. The AWS Compute Blog "Introducing tiered pricing for AWS Lambda" (2022)
  gives the Lambda tier boundaries.
- AWS Price List API answers for us-east-1 quoted in public GitHub markdown files: S3, EventBridge and CloudWatch
  retrieved 2025-10-28, API Gateway HTTP APIs retrieved October 2025 (rates effective 2025-07-01); DynamoDB point-in-
  time recovery in us-west-2 retrieved 2026-09-05. Price List rows for us-east-1 (Lambda, S3, DynamoDB, KMS, HTTP
  API) also appear in an undated public test fixture, and a public cost guide gives the DynamoDB rates as reviewed
  on 2026-05-13.
- Secondary guides: cloudchipr.com Lambda (2024), airbyte.com DynamoDB (2025-07-21, after the November 2024 on-demand
  price cut), cloudburn.io EventBridge (2026-03-13) and KMS (2026-03-14), duckbillgroup.com Lambda logs (2025).

Every figure checked matched those sources; only docstrings were corrected. MANAGED_MLFLOW_HOUR is unconfirmed.
"""

from __future__ import annotations

PRICES_DATE = "2026-11-27"
REGION = "us-east-1"

LAMBDA_ARM64_GB_SECOND = 0.0000133334
"""Lambda duration, arm64, first 7.5 billion GB-seconds a month (then $0.0000120001 for the next 11.25 billion)."""
LAMBDA_REQUEST = 0.20 / 1_000_000
"""Lambda requests, either architecture."""
HTTP_API_REQUEST = 1.00 / 1_000_000
"""API Gateway HTTP API, first 300 million requests a month, then $0.90 a million (metered in 512 KB increments)."""
DYNAMODB_WRITE_REQUEST_UNIT = 0.625 / 1_000_000
"""On-demand write request unit, Standard table class, since the November 2024 price cut."""
DYNAMODB_READ_REQUEST_UNIT = 0.125 / 1_000_000
"""On-demand read request unit, Standard table class, since the November 2024 price cut."""
DYNAMODB_STORAGE_GB_MONTH = 0.25
"""Standard table class, beyond the first 25 GB (which are free); charged here from the first byte."""
S3_PUT_REQUEST = 0.005 / 1_000
"""S3 Standard PUT, COPY, POST and LIST requests (CreateMultipartUpload, UploadPart, CompleteMultipartUpload too)."""
S3_GET_REQUEST = 0.0004 / 1_000
"""S3 Standard GET, SELECT and all other requests (HEAD among them); DELETE and CANCEL requests are free."""
S3_STORAGE_GB_MONTH = 0.023
"""S3 Standard, first 50 TB a month."""
EVENTBRIDGE_EVENT = 1.00 / 1_000_000
"""Custom events put on a bus (each 64 KB chunk of a PutEvents entry)."""
CLOUDWATCH_LOGS_INGEST_GB = 0.50
"""Standard log class ingestion; Lambda's own logs are tiered since 2025, at this rate for the first 10 TB a month."""
MANAGED_MLFLOW_HOUR = 0.642
"""The always-on managed MLflow tracking server Stratus is compared with (figure given in the brief of issue 7).

Not confirmed: a search of the stored pages found no public quote of SageMaker's managed MLflow hourly rates."""
HOURS_PER_MONTH = 730
KMS_KEY_MONTH = 1.00
"""A customer managed KMS key (the webhook secrets key), whether used or not, prorated hourly.

template.yaml enables automatic rotation, which adds $1 a month for each of the first two rotations (yearly by
default), so the key costs $2 a month in its second year and $3 from its third; this figure is the first year's."""
DYNAMODB_PITR_GB_MONTH = 0.20
"""Point-in-time recovery (continuous backups), per GB of table and local indexes, enabled in template.yaml.

No us-east-1 quote of the AWS page or Price List API was found; $0.20 is the Price List API figure for us-west-2
(2026-09-05) and what secondary guides give without naming a region."""
