"""``stratus local`` with authentication, as a team sharing one machine uses it: the stock client with
``MLFLOW_TRACKING_TOKEN`` or ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` gets in, and its runs and registry changes are
recorded as that user; without them it gets ``UNAUTHENTICATED``. The server runs in its own process (credentials
from the environment and the command line), since a stack sets the process environment its handlers read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
from local_process import stratus_local_process

TOKEN = "team-token-" + uuid.uuid4().hex
USERS = {"ana": "ana-" + uuid.uuid4().hex, "ben": "ben:" + uuid.uuid4().hex}
CREDENTIAL_ENV = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@pytest.fixture(scope="module")
def auth_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``stratus local`` requiring a token (from STRATUS_AUTH_TOKEN) or a user (one from STRATUS_AUTH_USERS, one
    from --auth-user, which then replaces the variable's list)."""
    log_path = tmp_path_factory.mktemp("auth") / "stratus.log"
    users = [f"{name}:{password}" for name, password in USERS.items()]
    options = [arg for user in users for arg in ("--auth-user", user)]
    env = {"STRATUS_AUTH_TOKEN": TOKEN}
    with stratus_local_process(options, log_path, env=env, dropped_env=("MLFLOW_",)) as exports:
        yield exports["MLFLOW_TRACKING_URI"]
    log_text = log_path.read_text()
    assert TOKEN not in log_text and not any(p in log_text for p in USERS.values()), "a secret reached the log"


@pytest.fixture
def client(auth_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A stock MlflowClient on the authenticated server, with no credentials until a test sets them."""
    from mlflow import MlflowClient

    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    yield MlflowClient(tracking_uri=auth_uri, registry_uri=auth_uri)


def _experiment(client: object) -> str:
    return client.create_experiment(f"auth-{uuid.uuid4().hex[:8]}")  # type: ignore[attr-defined]


def test_a_client_without_credentials_is_unauthenticated(client: object) -> None:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as refused:
        client.search_experiments()  # type: ignore[attr-defined]

    assert refused.value.error_code == "UNAUTHENTICATED"
    assert "MLFLOW_TRACKING_TOKEN" in refused.value.message


def test_wrong_credentials_are_unauthenticated(client: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", USERS["ben"])

    with pytest.raises(MlflowException) as refused:
        client.search_experiments()  # type: ignore[attr-defined]

    assert refused.value.error_code == "UNAUTHENTICATED"


def test_the_token_gets_in_and_its_runs_are_the_token_users(client: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)

    run = client.create_run(_experiment(client), tags={"mlflow.user": "someone-else"})  # type: ignore[attr-defined]

    fetched = client.get_run(run.info.run_id)  # type: ignore[attr-defined]
    assert (fetched.info.user_id, fetched.data.tags["mlflow.user"]) == ("token", "token")


@pytest.mark.parametrize("user", sorted(USERS))
def test_each_user_gets_in_and_the_registry_records_who_promoted(
    client: object, monkeypatch: pytest.MonkeyPatch, auth_uri: str, user: str
) -> None:
    # Given a user signed in with HTTP Basic (which the client prefers to a token, when both are set)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", USERS[user])
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "not-the-token")

    # When they log a run and promote a version of a model from it
    run = client.create_run(_experiment(client))  # type: ignore[attr-defined]
    name = f"auth-model-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)  # type: ignore[attr-defined]
    version = client.create_model_version(  # type: ignore[attr-defined]
        name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias(name, "champion", version.version)  # type: ignore[attr-defined]

    # Then the run is theirs and the promotion history names them
    assert client.get_run(run.info.run_id).info.user_id == user  # type: ignore[attr-defined]
    history = requests.get(
        f"{auth_uri}/api/2.0/stratus/registered-models/history",
        params={"name": name},
        auth=(user, USERS[user]),
        timeout=10,
    )
    assert history.status_code == 200, history.text
    assert [(e["kind"], e["actor"]) for e in history.json()["events"]] == [("alias_set", user)]
