"""``stratus import`` / ``stratus export``: copy one MLflow-compatible tracking server into another.

Both directions are the same copier (:func:`copy_server`) with source and destination swapped. It talks to both
sides through the stock ``mlflow`` client only, so the destination may be Stratus or a plain ``mlflow server``.
docs/migration.md says what is copied, how ids are kept, and what a second run does.
"""

from stratus_local.migrate.copier import copy_server
from stratus_local.migrate.report import Summary

__all__ = ["Summary", "copy_server"]
