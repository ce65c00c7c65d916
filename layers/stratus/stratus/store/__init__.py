"""Persistence. Only this package touches DynamoDB or S3."""
