"""Drive MLflow's web UI in headless Chromium (Selenium + Debian's chromedriver) and seed what its pages show.

``seed_ui_data`` logs, with the stock mlflow client, one experiment of a few runs (params, metrics over steps, tags,
a PNG image, a registered sklearn model with an alias and a stage). ``UiBrowser.visit`` opens one page, waits until
what a user would look at is drawn, and returns what went wrong on the way: requests to the server under test that
failed (4xx/5xx or no answer, read from Chrome's DevTools performance log), console errors and error banners.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
PAGE_TIMEOUT_SECONDS = 60  # generous: CI runs these next to the rest of the suite on two CPUs
QUIET_NETWORK_SECONDS = 1.0
SLOW_REQUEST_SECONDS = 5.0
"""A request to the server under test that took this long (or never finished) is listed in a failure's report."""
PAGE_TEXT_SHOWN = 500
RUN_NAMES = ("ui-run-alpha", "ui-run-beta", "ui-run-gamma")
IMAGE_ARTIFACT = "images/gradient.png"
ALIAS = "champion"
STAGE = "Staging"

# Set before the app's scripts run, as a returning user's browser has them: the assistant side panel closed and the
# registry's promo dialog dismissed (screenshots show the page), the registry's current UI (the one showing aliases).
UI_PREFERENCES = {
    "mlflow.assistant.panelOpen_v1": "false",
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
    "_mlflow_model_registry_promo_modal_dismissed_v1": "true",
    "_mlflow_user_setting_dismiss_next_model_registry_ui": "false",
}

# Texts the UI renders when a request it needs failed (its error boundary, error states and notifications), matched
# without regard to case: "Failed to load" is the GenAI Overview's "Failed to load chart data" and its siblings,
# "error occurred" the error boundary's "An error occurred while rendering this component." (a chart's "Failed
# Calls" or "Errors" title is not an error).
ERROR_TEXTS = (
    "Something went wrong",
    "Request failed",
    "Request error",
    "INTERNAL_ERROR",
    "Internal Server Error",
    "Page not found",
    "does not exist",
    "Failed to fetch",
    "Failed to load",
    "Error fetching",
    "error occurred",
    "Unable to load",
    "load error",
)


def error_texts_shown(driver: object) -> list[str]:
    """The lines of the page's text that hold one of the ``ERROR_TEXTS`` ("Failed to load chart data"), once each."""
    body = driver.execute_script("return document.body ? document.body.innerText : ''")
    errors = [text.lower() for text in ERROR_TEXTS]
    lines = (line.strip() for line in body.splitlines())
    return list(dict.fromkeys(line[:200] for line in lines if any(error in line.lower() for error in errors)))


@dataclass(frozen=True)
class SeededData:
    """Identifiers of what ``seed_ui_data`` logged, for building page URLs and checking what a page shows."""

    experiment_id: str
    experiment_name: str
    run_ids: tuple[str, ...]
    run_names: tuple[str, ...]
    model_name: str
    model_version: str
    model_id: str


@dataclass(frozen=True)
class SeededEvaluation:
    """What ``seed_evaluation_data`` logged in its GenAI experiment: an evaluation dataset with records, a registered
    scorer, an issue, and an evaluation run of ``mlflow.genai.evaluate`` over the dataset (with its traces)."""

    experiment_id: str
    dataset_id: str
    dataset_name: str
    questions: tuple[str, ...]
    scorer_name: str
    evaluation_run_name: str


@dataclass(frozen=True)
class FailedRequest:
    """A request to the server under test that got a 4xx/5xx or no answer at all."""

    method: str
    url: str
    status: int | None
    error: str = ""

    @property
    def key(self) -> tuple[str, str, int | None]:
        """(method, path without query, status): what a known failure of the reference is matched on."""
        return self.method, urlsplit(self.url).path, self.status

    @property
    def path(self) -> str:
        """The URL's path and query, without scheme and host (what the reference comparison keys on)."""
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status if self.status is not None else self.error}"


@dataclass
class PageVisit:
    """What one page load showed and what failed during it."""

    name: str
    url: str
    failed_requests: list[FailedRequest] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    error_banners: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    timed_out: bool = False
    slow_requests: list[str] = field(default_factory=list)
    page_text: str = ""

    def report(self) -> str:
        """A readable summary for an assertion message."""
        lines = [f"page {self.name} ({self.url})", f"screenshot: {self.screenshot}"]
        if self.timed_out:
            lines.append(f"  its content did not show within {PAGE_TIMEOUT_SECONDS}s")
        lines += [f"  failed request: {request}" for request in self.failed_requests]
        lines += [f"  error banner: {text}" for text in self.error_banners]
        lines += [f"  console error: {text[:300]}" for text in self.console_errors]
        lines += [f"  slow or unanswered request: {text}" for text in self.slow_requests]
        if self.timed_out:
            lines.append(f"  page text: {self.page_text[:PAGE_TEXT_SHOWN]!r}")
        return "\n".join(lines)


def _png_image() -> object:
    """A small, recognisable RGB gradient (numpy array) for ``mlflow.log_image``."""
    import numpy as np

    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    red = np.tile(ramp, (64, 1))
    return np.stack([red, red.T, np.full_like(red, 128)], axis=-1)


def _log_runs(client: object, experiment_id: str) -> list[str]:
    """Three runs with params, tags and two metrics over ten steps; returns their ids."""
    from mlflow.entities import Metric, Param, RunTag

    run_ids = []
    for index, run_name in enumerate(RUN_NAMES):
        run = client.create_run(experiment_id, run_name=run_name, tags={"team": "vision", "variant": str(index)})
        now = int(time.time() * 1000)
        metrics = [
            Metric(key, value, now + step, step)
            for step in range(10)
            for key, value in (("loss", 1.0 / (step + index + 1)), ("accuracy", 0.5 + 0.04 * step + 0.01 * index))
        ]
        params = [Param("learning_rate", str(0.01 * (index + 1))), Param("batch_size", str(32 * (index + 1)))]
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=[RunTag("stage", "train")])
        run_ids.append(run.info.run_id)
    return run_ids


def seed_ui_data(tracking_uri: str) -> SeededData:
    """Log, with the stock client, everything the browser tests open: runs, an image, a registered model."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        suffix = uuid.uuid4().hex[:8]
        experiment_name = f"ui-browser-{suffix}"
        experiment_id = client.create_experiment(experiment_name, tags={"purpose": "browser tests"})
        run_ids = _log_runs(client, experiment_id)
        model_name = f"ui-model-{suffix}"
        # start_run(run_id=) refuses a run of another experiment than the active one, which earlier tests may set
        mlflow.set_experiment(experiment_id=experiment_id)
        with mlflow.start_run(run_id=run_ids[0]):
            mlflow.log_image(_png_image(), artifact_file=IMAGE_ARTIFACT)
            classifier = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]], [0, 1, 0, 1])
            # cloudpickle: the default (skops) takes ten seconds to import, and the UI shows the same either way.
            info = mlflow.sklearn.log_model(
                classifier,
                name="model",
                registered_model_name=model_name,
                pip_requirements=["scikit-learn"],
                serialization_format="cloudpickle",
            )
        version = str(info.registered_model_version)
        client.set_registered_model_alias(model_name, ALIAS, version)
        client.transition_model_version_stage(model_name, version, STAGE)
        for run_id in run_ids:
            client.set_terminated(run_id)
        return SeededData(
            experiment_id=experiment_id,
            experiment_name=experiment_name,
            run_ids=tuple(run_ids),
            run_names=RUN_NAMES,
            model_name=model_name,
            model_version=version,
            model_id=info.model_id,
        )
    finally:
        mlflow.set_tracking_uri(previous_uri)


def seed_evaluation_data(tracking_uri: str) -> SeededEvaluation:
    """Log, with the stock client, what the GenAI Evaluation pages show: a dataset (``mlflow.genai.datasets``), a
    registered built-in scorer, an issue (REST: the client has no issues API) and an evaluation run."""
    import mlflow
    import mlflow.genai.datasets as datasets
    import requests
    from mlflow.genai.scorers import Safety, scorer

    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        suffix = uuid.uuid4().hex[:8]
        experiment_id = mlflow.create_experiment(f"ui-evaluation-{suffix}")
        mlflow.set_experiment(experiment_id=experiment_id)
        dataset_name = f"ui-dataset-{suffix}"
        questions = ("What is MLflow?", "What does Stratus run on?")
        dataset = datasets.create_dataset(name=dataset_name, experiment_id=experiment_id, tags={"team": "qa"})
        dataset.merge_records(
            [{"inputs": {"question": q}, "expectations": {"expected_response": f"about {q}"}} for q in questions]
        )
        scorer_name = f"ui-safety-{suffix}"
        Safety().register(name=scorer_name, experiment_id=experiment_id)
        issue = {"experiment_id": experiment_id, "name": "wrong answers", "description": "seen in traces"}
        requests.post(f"{tracking_uri}/api/3.0/mlflow/issues", json=issue, timeout=30).raise_for_status()

        @scorer
        def exact(outputs: str, expectations: dict) -> bool:
            return outputs == expectations["expected_response"]

        result = mlflow.genai.evaluate(
            data=datasets.get_dataset(dataset_id=dataset.dataset_id),
            predict_fn=lambda question: f"about {question}",
            scorers=[exact],
        )
        return SeededEvaluation(
            experiment_id=experiment_id,
            dataset_id=dataset.dataset_id,
            dataset_name=dataset_name,
            questions=questions,
            scorer_name=scorer_name,
            evaluation_run_name=mlflow.get_run(result.run_id).info.run_name,
        )
    finally:
        mlflow.set_tracking_uri(previous_uri)


def _slow_requests(events: list[dict], origin: str) -> list[str]:
    """Requests to ``origin`` that took ``SLOW_REQUEST_SECONDS`` or more, or had no answer when the page was left
    (DevTools timestamps are seconds on one monotonic clock)."""
    sent: dict[str, tuple[str, str, float]] = {}
    ended: dict[str, float] = {}
    last = 0.0
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        last = max(last, float(params.get("timestamp") or 0.0))
        url = params.get("request", {}).get("url", "")
        # A web worker's script finishes loading in the worker, whose events this page's log does not carry.
        if method == "Network.requestWillBeSent" and url.startswith(origin) and not url.endswith(".worker.js"):
            request = params["request"]
            sent[params["requestId"]] = (request["method"], request["url"], float(params["timestamp"]))
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            ended[params["requestId"]] = float(params["timestamp"])
    slow = []
    for request_id, (verb, url, started) in sent.items():
        path = url[len(origin) :][:200]
        if request_id not in ended:
            slow.append(f"{verb} {path}: no answer after {last - started:.1f}s")
        elif ended[request_id] - started >= SLOW_REQUEST_SECONDS:
            slow.append(f"{verb} {path}: {ended[request_id] - started:.1f}s")
    return slow


def _response_failures(events: list[dict], origin: str) -> list[FailedRequest]:
    """Failed requests to ``origin`` among DevTools Network events (a cancelled load is not a failure)."""
    methods: dict[str, tuple[str, str]] = {}
    failures = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            request = params["request"]
            methods[params["requestId"]] = (request["method"], request["url"])
        elif method == "Network.responseReceived":
            response = params["response"]
            if response["status"] >= 400 and response["url"].startswith(origin):
                verb = methods.get(params["requestId"], ("GET", ""))[0]
                failures.append(FailedRequest(verb, response["url"], int(response["status"])))
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            verb, url = methods.get(params["requestId"], ("GET", ""))
            if url.startswith(origin) and params.get("errorText") != "net::ERR_ABORTED":
                failures.append(FailedRequest(verb, url, None, params.get("errorText", "")))
    return failures


class UiBrowser:
    """One headless Chromium for a test session; ``visit`` opens a page of the UI served at ``base_url``."""

    def __init__(self, base_url: str, screenshot_dir: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.base_url = base_url.rstrip("/")
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base_url))
        self.screenshot_dir = screenshot_dir
        screenshot_dir.mkdir(parents=True, exist_ok=True)
        self._profile = tempfile.mkdtemp(prefix="stratus-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={self._profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        self.driver.set_page_load_timeout(PAGE_TIMEOUT_SECONDS)
        preferences = json.dumps(UI_PREFERENCES)
        script = f"try {{ for (const [k, v] of Object.entries({preferences})) localStorage.setItem(k, v) }} catch {{}}"
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": script})

    def close(self) -> None:
        """Quit Chromium and remove its throw-away profile."""
        with contextlib.suppress(Exception):
            self.driver.quit()
        shutil.rmtree(self._profile, ignore_errors=True)

    def visit(self, name: str, route: str, ready: Callable[[object], object]) -> PageVisit:
        """Open ``route`` (the UI's hash route, e.g. ``/experiments/1``), wait for ``ready`` and the network to
        settle, take a screenshot and return what failed. A timeout waiting for ``ready`` is recorded, not raised."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get("about:blank")
        self._drain()
        url = f"{self.base_url}/#{route}"
        visit = PageVisit(name=name, url=url)
        self.driver.get(url)
        try:
            WebDriverWait(self.driver, PAGE_TIMEOUT_SECONDS, poll_frequency=0.25).until(ready)
        except TimeoutException:
            visit.timed_out = True
        events, console = self._settle()
        visit.failed_requests = _response_failures(events, self.origin)
        visit.slow_requests = _slow_requests(events, self.origin)
        if visit.timed_out:
            visit.page_text = self.driver.execute_script("return document.body ? document.body.innerText : ''")
        visit.console_errors = [entry["message"] for entry in console if entry.get("level") == "SEVERE"]
        visit.error_banners += self._error_banners()
        visit.screenshot = self.screenshot_dir / f"{name}.png"
        self.driver.save_screenshot(str(visit.screenshot))
        return visit

    def _drain(self) -> None:
        self.driver.get_log("performance")
        self.driver.get_log("browser")

    def _settle(self) -> tuple[list[dict], list[dict]]:
        """Collect DevTools events until none arrived for ``QUIET_NETWORK_SECONDS`` (or the page timeout)."""
        events: list[dict] = []
        console: list[dict] = []
        deadline = time.monotonic() + PAGE_TIMEOUT_SECONDS
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < QUIET_NETWORK_SECONDS:
            batch = [json.loads(entry["message"])["message"] for entry in self.driver.get_log("performance")]
            network = [event for event in batch if event.get("method", "").startswith("Network.")]
            if network:
                quiet_since = time.monotonic()
            events += network
            console += self.driver.get_log("browser")
            time.sleep(0.2)
        return events, console

    def _error_banners(self) -> list[str]:
        from selenium.webdriver.common.by import By

        banners = []
        for element in self.driver.find_elements(By.CSS_SELECTOR, "[role=alert], .ant-alert-error, .ant-notification"):
            text = element.text.strip()
            if text and element.is_displayed():
                banners.append(text[:300])
        banners += [f"page text: {line!r}" for line in error_texts_shown(self.driver)]
        return banners


@contextlib.contextmanager
def ui_browser(base_url: str, screenshot_dir: Path) -> Iterator[UiBrowser]:
    """A ``UiBrowser`` that is always closed."""
    browser = UiBrowser(base_url, screenshot_dir)
    try:
        yield browser
    finally:
        browser.close()
