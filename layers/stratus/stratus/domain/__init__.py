"""MLflow's rules: entities and services. No boto3, pynamodb or event_handler imports here."""
