"""What a Stratus deployment runs (issue 14, docs/deployments.md): MLflow's scoring protocol for one model, behind
the Stratus API (a Lambda function from a container image on AWS; a worker process under ``stratus local``).

The protocol is MLflow's own code (``mlflow.pyfunc.scoring_server.invocations``), so every input format, content
type and error answers exactly as ``mlflow models serve`` does; this package adds the Lambda/HTTP API shape and the
headers that name the model version and run behind each answer. It runs in its own image and may import mlflow;
the API's layer never imports it."""
