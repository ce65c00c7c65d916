"""The DynamoDB adapter (pynamodb). Keys and access patterns: docs/data-model.md."""

from stratus.store.dynamodb.binding import bind_table, warm_table
from stratus.store.dynamodb.deployments import DynamoDeploymentStore
from stratus.store.dynamodb.issues import DynamoIssueStore
from stratus.store.dynamodb.logged_models import DynamoLoggedModelStore
from stratus.store.dynamodb.projects import DynamoProjectRunStore
from stratus.store.dynamodb.registry import DynamoRegistryStore
from stratus.store.dynamodb.scorers import DynamoScorerStore
from stratus.store.dynamodb.tracking import DynamoTrackingStore
from stratus.store.dynamodb.uploads import DynamoUploadClaims
from stratus.store.dynamodb.webhooks import DynamoWebhookStore

__all__ = [
    "DynamoDeploymentStore",
    "DynamoIssueStore",
    "DynamoLoggedModelStore",
    "DynamoProjectRunStore",
    "DynamoRegistryStore",
    "DynamoScorerStore",
    "DynamoTrackingStore",
    "DynamoUploadClaims",
    "DynamoWebhookStore",
    "bind_table",
    "warm_table",
]
