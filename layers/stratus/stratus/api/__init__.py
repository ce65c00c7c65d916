"""HTTP: one Router per MLflow service family, request schemas, response serialisation, the error mapping."""
