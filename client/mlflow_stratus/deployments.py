"""The ``stratus`` target of ``mlflow.deployments``: serve a registered model from Stratus (issue 14).

``get_deploy_client("stratus")`` talks to the Stratus at the tracking URI (``MLFLOW_TRACKING_URI``) through
``/api/2.0/stratus/deployments/...`` with MLflow's own HTTP client and credentials, as the projects backend does.
MLflow's plugin loader needs this module to hold exactly one ``BaseDeploymentClient`` subclass and the functions
``run_local`` and ``target_help``.

Target URIs, as ``mlflow.deployments.utils.parse_target_uri`` reads them (the scheme, or the whole URI when it has
none, names the plugin): ``stratus`` is the Stratus at the tracking URI; ``stratus:/<url>`` the Stratus at ``<url>``
(``stratus:/https://abc123.execute-api.eu-west-1.amazonaws.com/prod``), with the same credentials.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlparse

import mlflow
from mlflow.deployments import BaseDeploymentClient, PredictionsResponse
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    DEADLINE_EXCEEDED,
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.utils.proto_json_utils import NumpyEncoder

from mlflow_stratus.http import StratusHttp

# A child of MLflow's logger, which `mlflow` sets up to print INFO: `mlflow deployments create` shows the progress.
_logger = logging.getLogger("mlflow.deployments.stratus")

TARGET = "stratus"
PREFIX = "/api/2.0/stratus/deployments"
FLAVOR = "python_function"
#: The one key the plugin reads itself and never sends: wait for the rollout (default) or return at once. Named as
#: MLflow's SageMaker target names it.
SYNCHRONOUS = "synchronous"
BUSY_STATES = frozenset({"PENDING", "UPDATING"})
WAIT_SECONDS = 1800.0  # an image build in CodeBuild, a function update and a smoke test
FIRST_POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 5.0
# The input keys of MLflow's scoring protocol (mlflow.pyfunc.scoring_server); a dict made of one of them (and
# "params") is a scoring request already, sent as it is.
SCORING_INPUT_KEYS = frozenset({"dataframe_split", "dataframe_records", "instances", "inputs"})
# run_local's settings: `mlflow models serve`'s options, except port (5000 is where `stratus local` listens) and
# env_manager (the Python that runs the command, as `stratus local` serves deployments by default).
RUN_LOCAL_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 5001,
    "env_manager": "local",
    "timeout": 60,
    "workers": 1,
}
_RUN_LOCAL_RANGES = {"port": (1, 65535), "timeout": (1, 86400), "workers": (1, 64)}


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def stratus_url(target_uri: str) -> str:
    """The Stratus URL a target URI names: the tracking URI for ``stratus``, ``<url>`` for ``stratus:/<url>``."""
    if target_uri in (TARGET, f"{TARGET}:", f"{TARGET}:/"):
        return mlflow.get_tracking_uri()
    url = target_uri.removeprefix(f"{TARGET}:/")
    if url == target_uri or urlparse(url).scheme not in ("http", "https"):
        raise _invalid(
            f"Unknown stratus target URI {target_uri!r}: use 'stratus' (the Stratus at MLFLOW_TRACKING_URI) or "
            f"'stratus:/<url>' (e.g. 'stratus:/https://abc123.execute-api.eu-west-1.amazonaws.com/prod')"
        )
    return url


class StratusDeploymentClient(BaseDeploymentClient):
    """Deployments on a Stratus server: each serves one ``python_function`` model through MLflow's scoring protocol
    from a serverless function, and one made from ``models:/<name>@<alias>`` follows the alias.

    ``create_deployment`` and ``update_deployment`` wait until the rollout has ended, as MLflow's plugin contract
    asks, unless ``config`` has ``synchronous=false``. The deployment dicts are Stratus's (docs/deployments.md):
    ``name``, ``flavor``, ``model_uri``, ``config``, ``state`` (PENDING, UPDATING, READY, FAILED), ``message``,
    ``endpoint_url``, ``model_version``, ``run_id``, ... ``endpoint`` arguments are refused: Stratus has no endpoints
    that group deployments.
    """

    def __init__(
        self,
        target_uri: str,
        http: StratusHttp | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(target_uri)
        self._http = http or StratusHttp(stratus_url(target_uri))
        self._sleep = sleep
        self._clock = clock

    def create_deployment(self, name, model_uri, flavor=None, config=None, endpoint=None) -> dict[str, Any]:
        """Deploy ``model_uri`` (``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``models:/<model_id>``
        or ``runs:/<run_id>/<path>``) as deployment ``name``; wait until it serves unless ``synchronous=false``."""
        _no_endpoint(endpoint)
        synchronous, settings = _split_config(config)
        body = _without_none({"name": name, "model_uri": model_uri, "flavor": flavor, "config": settings})
        deployment = _deployment(self._http.post(f"{PREFIX}/create", body), "create")
        return self._settled(deployment) if synchronous else deployment

    def update_deployment(self, name, model_uri=None, flavor=None, config=None, endpoint=None) -> dict[str, Any]:
        """Move deployment ``name`` to ``model_uri`` and/or change its ``config`` (only the keys given); wait until
        the rollout has ended unless ``synchronous=false``. The deployment, which MLflow's CLI prints from."""
        _no_endpoint(endpoint)
        if flavor is not None and model_uri is None:
            raise _invalid("A flavor can only be given with a model_uri (MLflow's update_deployment contract)")
        synchronous, settings = _split_config(config)
        body = _without_none({"name": name, "model_uri": model_uri, "flavor": flavor, "config": settings})
        deployment = _deployment(self._http.post(f"{PREFIX}/update", body), "update")
        return self._settled(deployment) if synchronous else deployment

    def delete_deployment(self, name, config=None, endpoint=None) -> None:
        """Delete deployment ``name`` and its function. Deleting one that does not exist (or no longer does, when a
        retried request had already deleted it) is not an error, as MLflow's plugin contract asks."""
        _no_endpoint(endpoint)
        if config:
            raise _invalid(f"delete_deployment takes no config for the stratus target, got {sorted(config)}")
        try:
            self._http.post(f"{PREFIX}/delete", {"name": name})
        except MlflowException as error:
            if error.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                raise

    def list_deployments(self, endpoint=None) -> list[dict[str, Any]]:
        """Every deployment, following ``next_page_token`` to the last page."""
        _no_endpoint(endpoint)
        deployments: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        while True:
            answer = self._http.get(f"{PREFIX}/list", params)
            page = answer.get("deployments", [])
            if not isinstance(page, list):
                raise MlflowException(
                    f"Stratus's answer to {PREFIX}/list has no deployments", error_code=INTERNAL_ERROR
                )
            deployments.extend(page)
            token = answer.get("next_page_token")
            if not token:
                return deployments
            params = {"page_token": str(token)}

    def get_deployment(self, name, endpoint=None) -> dict[str, Any]:
        """Deployment ``name``; RESOURCE_DOES_NOT_EXIST if there is none."""
        _no_endpoint(endpoint)
        return _deployment(self._http.get(f"{PREFIX}/get", {"name": name}), "get")

    def get_deployment_history(self, name: str, max_results: int | None = None) -> list[dict[str, Any]]:
        """Which model version deployment ``name`` served when, and why it switched: newest first."""
        params = {"name": name} if max_results is None else {"name": name, "max_results": str(int(max_results))}
        history = self._http.get(f"{PREFIX}/history", params).get("history", [])
        if not isinstance(history, list):
            raise MlflowException(f"Stratus's answer to {PREFIX}/history has no history", error_code=INTERNAL_ERROR)
        return history

    def predict(self, deployment_name=None, inputs=None, endpoint=None, params=None) -> PredictionsResponse:
        """Score ``inputs`` with deployment ``deployment_name``, sent as ``mlflow models serve`` expects them
        (:func:`scoring_request`); MLflow's error JSON answers (bad input, a schema mismatch, nothing serving yet)
        are raised as ``MlflowException`` with their error code."""
        _no_endpoint(endpoint)
        if not deployment_name:
            raise _invalid("predict needs the deployment's name")
        path = f"{PREFIX}/{quote(str(deployment_name), safe='')}/invocations"
        answer = self._http.post_data(path, scoring_request(inputs, params), "application/json")
        if "predictions" not in answer:
            raise MlflowException(
                f"Deployment '{deployment_name}' answered without 'predictions': {sorted(answer)}",
                error_code=INTERNAL_ERROR,
            )
        return PredictionsResponse(answer)

    def _settled(self, deployment: dict[str, Any]) -> dict[str, Any]:
        """``deployment`` once no rollout is under way; an error if the rollout it had started did not succeed."""
        name = deployment["name"]
        rollout_id = (deployment.get("rollout") or {}).get("id")
        deadline = self._clock() + WAIT_SECONDS
        interval = FIRST_POLL_SECONDS
        seen = None
        while deployment.get("state") in BUSY_STATES:
            if (deployment.get("state"), deployment.get("message")) != seen:
                seen = (deployment.get("state"), deployment.get("message"))
                _logger.info("Deployment '%s' is %s: %s", name, *seen)
            if self._clock() >= deadline:
                raise MlflowException(
                    f"Deployment '{name}' is still {deployment.get('state')} after {WAIT_SECONDS:.0f} s "
                    f"({deployment.get('message')}); it goes on in Stratus: follow it with `mlflow deployments get "
                    f"-t {self.target_uri} --name {name}`",
                    error_code=DEADLINE_EXCEEDED,
                )
            self._sleep(interval)
            interval = min(interval * 1.5, MAX_POLL_SECONDS)
            deployment = self.get_deployment(name)
        _raise_if_failed(deployment, rollout_id)
        return deployment


def _raise_if_failed(deployment: Mapping[str, Any], rollout_id: str | None) -> None:
    name = deployment["name"]
    if deployment.get("state") == "FAILED":
        raise MlflowException(f"Deployment '{name}' failed: {deployment.get('message')}", error_code=INTERNAL_ERROR)
    last = deployment.get("last_rollout") or {}
    if rollout_id and last.get("id") == rollout_id and last.get("outcome") != "SUCCEEDED":
        raise MlflowException(
            f"Deployment '{name}' did not move to the new model ({last.get('outcome')}: {last.get('message')}); "
            f"model version {deployment.get('model_version')} still serves",
            error_code=INTERNAL_ERROR,
        )


def _deployment(answer: Mapping[str, Any], route: str) -> dict[str, Any]:
    deployment = answer.get("deployment")
    if not isinstance(deployment, dict) or not isinstance(deployment.get("name"), str):
        raise MlflowException(f"Stratus's answer to {PREFIX}/{route} has no deployment", error_code=INTERNAL_ERROR)
    return deployment


def _no_endpoint(endpoint: Any) -> None:
    if endpoint is not None:
        raise _invalid(f"The stratus target has no endpoints (got endpoint={endpoint!r}); name the deployment")


def _without_none(body: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def _split_config(config: Mapping[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
    """``synchronous`` (read here, never sent) and the settings for the server, which checks them (values may be
    strings, as the CLI's ``-C key=value`` passes them)."""
    if config is None:
        return True, None
    if not isinstance(config, Mapping):
        raise _invalid(f"config must be a dict of settings, not {type(config).__name__}")
    settings = {str(key): value for key, value in config.items() if key != SYNCHRONOUS}
    return _flag(SYNCHRONOUS, config.get(SYNCHRONOUS, True)), settings or None


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise _invalid(f"config '{key}' must be true or false, got {value!r}")


def scoring_request(inputs: Any, params: Mapping[str, Any] | None = None) -> str:
    """The JSON body ``mlflow models serve`` takes for ``inputs``, as MLflow's scoring client builds it
    (``mlflow.utils.proto_json_utils.dump_input_data``): a pandas DataFrame as ``dataframe_split``; a numpy array,
    a scipy sparse matrix, a list or a dict of named inputs as ``inputs``; a dict that is a scoring request already
    (one of ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``, and ``params``) as it is; a
    string as the JSON body itself. ``params`` go in ``"params"``."""
    if params is not None and not isinstance(params, Mapping):
        raise _invalid(f"params must be a dict, not {type(params).__name__}")
    if isinstance(inputs, str):
        if params is not None:
            raise _invalid("params cannot be added to inputs given as a JSON string: put them in its 'params'")
        return inputs
    payload = _payload(inputs)
    if params is not None:
        if "params" in payload:
            raise _invalid("params are given twice: in inputs['params'] and as params")
        payload["params"] = dict(params)
    try:
        return json.dumps(payload, cls=NumpyEncoder)
    except (TypeError, ValueError) as error:
        raise _invalid(f"The inputs cannot be sent as JSON: {error}") from None


def _payload(inputs: Any) -> dict[str, Any]:
    # pandas, numpy and scipy are optional (mlflow-skinny has none): an object can only be theirs if they are loaded.
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(inputs, pandas.DataFrame):
        return {"dataframe_split": inputs.to_dict(orient="split")}
    sparse = sys.modules.get("scipy.sparse")
    if sparse is not None and sparse.issparse(inputs):
        inputs = inputs.toarray()
    numpy = sys.modules.get("numpy")
    if isinstance(inputs, list) or (numpy is not None and isinstance(inputs, numpy.ndarray)):
        return {"inputs": inputs}
    if isinstance(inputs, Mapping):
        if _is_scoring_request(inputs):
            return dict(inputs)
        return {"inputs": dict(inputs)}
    raise _invalid(
        f"Cannot send inputs of type {type(inputs).__name__}: give a pandas DataFrame, a numpy array, a list, a dict "
        f"or a JSON string"
    )


def _is_scoring_request(inputs: Mapping[str, Any]) -> bool:
    keys = set(inputs)
    return len(keys & SCORING_INPUT_KEYS) == 1 and keys <= SCORING_INPUT_KEYS | {"params"}


def run_local(name, model_uri, flavor=None, config=None) -> None:
    """Serve ``model_uri`` on this machine with MLflow's own scoring server, as ``mlflow models serve`` does, until
    interrupted; the model is read from the tracking server. ``config``: ``host`` (127.0.0.1), ``port`` (5001),
    ``env_manager`` (local, virtualenv, uv or conda; default local), ``timeout`` (60 s per request), ``workers`` (1).

    MLflow calls this as ``plugin.run_local(name, model_uri, flavor, config)`` (``mlflow.deployments.interface``):
    without the target its base-module stub names. Needs the full ``mlflow`` package, not only mlflow-skinny.
    """
    if flavor not in (None, FLAVOR):
        raise _invalid(f"Flavor '{flavor}' is not supported by the stratus target: it serves '{FLAVOR}' models")
    settings = _run_local_settings(config)
    from mlflow.models.flavor_backend_registry import get_flavor_backend

    _logger.info(
        "Serving %s locally as '%s' at http://%s:%s/invocations", model_uri, name, settings["host"], settings["port"]
    )
    backend = get_flavor_backend(model_uri, env_manager=settings["env_manager"], workers=settings["workers"])
    backend.serve(model_uri=model_uri, port=settings["port"], host=settings["host"], timeout=settings["timeout"])


def _run_local_settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    from mlflow.utils import env_manager

    settings = dict(RUN_LOCAL_DEFAULTS)
    for key, value in (config or {}).items():
        if key not in RUN_LOCAL_DEFAULTS:
            raise _invalid(f"Unknown run_local config key '{key}'; known keys: {', '.join(RUN_LOCAL_DEFAULTS)}")
        settings[key] = _whole_number(key, value) if key in _RUN_LOCAL_RANGES else str(value)
    env_manager.validate(settings["env_manager"])
    return settings


def _whole_number(key: str, value: Any) -> int:
    low, high = _RUN_LOCAL_RANGES[key]
    try:
        number = None if isinstance(value, bool) else int(str(value).strip())
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise _invalid(f"run_local config '{key}' must be a whole number from {low} to {high}, got {value!r}")
    return number


def target_help() -> str:
    """What ``mlflow deployments help -t stratus`` prints."""
    return _HELP


_HELP = """\
Stratus deployments: a registered MLflow model served from a serverless function (AWS Lambda from a container image;
a worker process under `stratus local`) through the Stratus API, answering MLflow's scoring protocol exactly as
`mlflow models serve` does. A deployment of models:/<name>@<alias> follows the alias: when the alias moves, Stratus
rolls the new version out by itself (smoke test, optional canary, automatic rollback). Costs nothing when idle.

Target URIs
  stratus            the Stratus at MLFLOW_TRACKING_URI (its URL, e.g. http://127.0.0.1:5000 for `stratus local`)
  stratus:/<url>     the Stratus at <url>, e.g. stratus:/https://abc123.execute-api.eu-west-1.amazonaws.com/prod
  Requests carry MLflow's tracking credentials (MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD,
  MLFLOW_TRACKING_AWS_SIGV4=true, ...).

Model URIs (resolved by the Stratus server, in its registry)
  models:/<name>@<alias>      follows the alias (every move starts a rollout)
  models:/<name>/<version>    one registered model version
  models:/<model_id>          one logged model (m-...)
  runs:/<run_id>/<path>       a model logged in a run
  Flavor: python_function (the default; no other flavor is served).

Config (-C key=value, or config={...}; whole numbers, checked by the server, which refuses unknown keys)
  memory_mb          function memory in MB, 512 to 10240 (default 2048)
  timeout_seconds    time per request, 1 to 900 (default 30; requests through API Gateway end at ~30 s)
  canary_percent     share of requests the new version gets first, 0 to 50 (default 0: switch at once)
  canary_seconds     how long the canary runs before the switch, 10 to 3600 (default 300)
  canary_max_errors  errors the canary may answer before it is rolled back, 0 to 1000 (default 0)
  synchronous        read by the plugin, not sent: true (default) waits until the rollout has ended and raises if
                     it failed; false returns at once (state PENDING or UPDATING)
  update_deployment changes only the keys given. delete_deployment takes no config.

run-local config (MLflow's scoring server on this machine, like `mlflow models serve`)
  host (127.0.0.1), port (5001), env_manager (local | virtualenv | uv | conda; default local), timeout (60),
  workers (1)

Deployment fields (get, list, create, update)
  name, flavor, model_uri, config, state (PENDING | UPDATING | READY | FAILED), message, endpoint_url (the full URL
  that answers scoring requests: <tracking URI>/api/2.0/stratus/deployments/<name>/invocations), model_name,
  model_version, run_id, model_id (what serves now), follows, rollout, last_rollout, created_at, updated_at.

Examples
  export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
  mlflow deployments create -t stratus --name wine -m models:/wine@champion
  mlflow deployments create -t stratus --name wine-canary -m models:/wine@champion -C canary_percent=10
  mlflow deployments update -t stratus --name wine -C memory_mb=4096
  mlflow deployments get -t stratus --name wine
  mlflow deployments list -t stratus
  mlflow deployments predict -t stratus --name wine --input-path input.json
  mlflow deployments delete -t stratus --name wine
  mlflow deployments run-local -t stratus --name wine -m models:/wine/3 -C port=5001

  from mlflow.deployments import get_deploy_client
  client = get_deploy_client("stratus")
  client.create_deployment("wine", "models:/wine@champion", config={"canary_percent": 10})
  client.predict("wine", df, params={"threshold": 0.5}).get_predictions()
"""
