"""MLflow's web UI over an experiment with GenAI traces, served by ``stratus local`` and opened in headless Chromium:
the Overview's charts (usage, quality, tool calls) drawn from the traces, the Traces tab listing them, one trace's
span tree and assessments, and every other page of the experiment's left-hand navigation, each without a failed
request or error text. The traces are logged with the stock client: nested ``@mlflow.trace`` spans (a tool call and
an LLM call with token usage), an error trace, tags, a feedback and an expectation, and a trace inside a run.

The same pages with no trace at all are test_ui_browser.py's (its experiment has only classic runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from mlflow.entities import AssessmentSource, SpanType
from test_large_trace import _send_trace
from test_ui_browser import NAVIGATION, _navigation
from ui_browser import CHROMEDRIVER, CHROMIUM, PageVisit, UiBrowser, error_texts_shown, ui_browser

pytestmark = pytest.mark.xdist_group("ui_browser")

SCREENSHOT_DIR = Path(__file__).resolve().parent / ".screenshots" / "traces"
QUESTION = "What does Stratus store in DynamoDB"
FAILING_QUESTION = "Which question breaks the agent"
RUN_QUESTION = "Asked from inside a run"
FEEDBACK, EXPECTATION = "answer_relevance", "expected_facts"
TOOL, LLM = "lookup_docs", "call_model"

# The basic-auth app's current user, which the UI asks on every page and the reference answers 404 too; review
# queues, which Stratus does not serve (test_ui_browser.py says why).
ALLOWED_404 = (
    "/ajax-api/2.0/mlflow/users/current",
    "/ajax-api/3.0/mlflow/review-queues/list",
    "/ajax-api/3.0/mlflow/review-queues/get-or-create-user",
    "/ajax-api/3.0/mlflow/label-schemas/list",
)
BENIGN_CONSOLE = (*ALLOWED_404, "ResizeObserver loop", "https://mlflow.org/")


@dataclass(frozen=True)
class SeededTraces:
    experiment_id: str
    trace_id: str
    error_trace_id: str
    run_trace_id: str
    run_name: str


@mlflow.trace(span_type=SpanType.TOOL, name=TOOL)
def _lookup(question: str) -> list[str]:
    return [f"doc about {question[:12]}", "doc about tables"]


@mlflow.trace(span_type=SpanType.LLM, name=LLM)
def _call_model(question: str, documents: list[str]) -> str:
    span = mlflow.get_current_active_span()
    span.set_attribute("mlflow.chat.tokenUsage", {"input_tokens": 42, "output_tokens": 8, "total_tokens": 50})
    if question == FAILING_QUESTION:
        raise RuntimeError("the model is unavailable")
    return f"Stratus keeps {len(documents)} things"


@mlflow.trace(span_type=SpanType.AGENT, name="agent")
def _agent(question: str) -> str:
    mlflow.update_current_trace(tags={"team": "search"})
    return _call_model(question, _lookup(question))


def _last_trace_id() -> str:
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None
    return trace_id


def seed_traces() -> SeededTraces:
    """Three traces in a new experiment, flushed to the server; assessments on the first."""
    experiment_id = mlflow.create_experiment(f"ui-traces-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=experiment_id)
    _agent(QUESTION)
    trace_id = _last_trace_id()
    with pytest.raises(RuntimeError):
        _agent(FAILING_QUESTION)
    error_trace_id = _last_trace_id()
    with mlflow.start_run() as run:
        _agent(RUN_QUESTION)
        run_trace_id = _last_trace_id()
    mlflow.flush_trace_async_logging()
    source = AssessmentSource(source_type="HUMAN", source_id="reviewer@example.com")
    mlflow.log_feedback(trace_id=trace_id, name=FEEDBACK, value=True, source=source, rationale="on topic")
    mlflow.log_expectation(trace_id=trace_id, name=EXPECTATION, value=["records", "pointers"], source=source)
    return SeededTraces(experiment_id, trace_id, error_trace_id, run_trace_id, run.info.run_name)


@dataclass(frozen=True)
class Page:
    """A page: its hash route, and the texts it must show within ``scope`` (a CSS selector; the whole page if None)."""

    name: str
    route: str
    texts: tuple[str, ...]
    scope: str | None = None


TRACE_DRAWER = "[role=dialog]"
ASSESSMENTS_BUTTON = "//div[@role='dialog']//button[starts-with(normalize-space(.), 'Assess')]"


def _pages(data: SeededTraces) -> list[Page]:
    genai = f"/experiments/{data.experiment_id}/{{}}?workflowType=genai"
    detail = f"/experiments/{data.experiment_id}/traces?workflowType=genai&selectedEvaluationId={data.trace_id}"
    return [
        # 3 traces, 1 of them an error; the LLM span's token usage; the feedback's value; the tool span's calls
        Page("overview-usage", genai.format("overview/usage"), ("Latency", "Overall error rate: 33.3%", "Tokens")),
        Page("overview-quality", genai.format("overview/quality"), ("Quality Summary", FEEDBACK, "true")),
        Page("overview-tool-calls", genai.format("overview/tool-calls"), ("Total Tool Calls", TOOL, "100.00%")),
        Page("traces", genai.format("traces"), (QUESTION, FAILING_QUESTION, RUN_QUESTION)),
        Page("trace-detail", detail, ("agent", TOOL, LLM, QUESTION, "50 tokens"), TRACE_DRAWER),
        Page("sessions", genai.format("chat-sessions"), ("The Sessions view has moved to the Traces tab.",)),
        Page("review", genai.format("review-queue"), ("New queue",)),
        Page("datasets", genai.format("datasets"), ("Create an evaluation dataset",)),
        Page("evaluation-runs", genai.format("evaluation-runs"), (data.run_name,)),
        Page("prompts", genai.format("prompts"), ("Create your first prompt",)),
        Page("agent-versions", genai.format("models"), ()),
        Page("run-table", f"/experiments/{data.experiment_id}/runs", (data.run_name,)),
    ]


PAGE_NAMES = tuple(page.name for page in _pages(SeededTraces("0", "", "", "", "")))


def _text(driver: object, scope: str | None) -> str:
    script = (
        "const e = arguments[0] ? document.querySelector(arguments[0]) : document.body; return e ? e.innerText : ''"
    )
    return str(driver.execute_script(script, scope))


def _missing(page: Page, driver: object) -> list[str]:
    body = _text(driver, page.scope)
    return [text for text in page.texts if text not in body]


def _shows(page: Page) -> Callable[[object], bool]:
    return lambda driver: not _missing(page, driver) or bool(error_texts_shown(driver))


def _unexpected(visit: PageVisit) -> list[str]:
    failed = [str(r) for r in visit.failed_requests if not (r.status == 404 and r.key[1] in ALLOWED_404)]
    console = [text for text in visit.console_errors if not any(known in text for known in BENIGN_CONSOLE)]
    return failed + console + visit.error_banners


@pytest.fixture(scope="module")
def seeded(tracking_uri: str) -> SeededTraces:
    return seed_traces()


@pytest.fixture(scope="module")
def browser(tracking_uri: str) -> Iterator[UiBrowser]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed: `make browser` installs Debian's chromium-driver")
    with ui_browser(tracking_uri, SCREENSHOT_DIR) as opened:
        yield opened


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_genai_page_shows_the_seeded_traces(name: str, browser: UiBrowser, seeded: SeededTraces) -> None:
    page = next(p for p in _pages(seeded) if p.name == name)

    visit = browser.visit(f"traces-{page.name}", page.route, _shows(page))
    if visit.timed_out:  # loaded once more, as test_ui_browser.py does, before judging
        visit = browser.visit(f"traces-{page.name}", page.route, _shows(page))

    assert not _missing(page, browser.driver), visit.report()
    assert not _unexpected(visit), visit.report()


def test_a_traces_assessments_show_in_its_detail(browser: UiBrowser, seeded: SeededTraces) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    detail = next(p for p in _pages(seeded) if p.name == "trace-detail")
    visit = browser.visit("traces-trace-assessments", detail.route, _shows(detail))
    assert not _missing(detail, browser.driver), visit.report()

    browser.driver.find_element(By.XPATH, ASSESSMENTS_BUTTON).click()
    shown = lambda driver: all(name in _text(driver, TRACE_DRAWER) for name in (FEEDBACK, EXPECTATION))  # noqa: E731
    WebDriverWait(browser.driver, 30, poll_frequency=0.25).until(shown)
    drawer = _text(browser.driver, TRACE_DRAWER)
    assert "reviewer@example.com" in drawer  # the assessments' source
    assert '["records","pointers"]' in drawer  # the expectation's value
    assert not error_texts_shown(browser.driver)


def test_every_page_of_the_navigation_of_an_experiment_with_traces_is_opened(
    browser: UiBrowser, seeded: SeededTraces
) -> None:
    """The navigation's links (test_ui_browser.py's ``NAVIGATION``) all lead to pages opened above."""
    linked = _navigation(browser, seeded.experiment_id, f"/experiments/{seeded.experiment_id}")

    assert {"overview/usage", "traces"} <= linked
    assert linked <= NAVIGATION.keys(), f"pages the tests do not open: {sorted(linked - NAVIGATION.keys())}"
    assert {NAVIGATION[route] for route in linked} - {None} <= set(PAGE_NAMES)


def test_a_trace_larger_than_a_lambda_response_opens_in_the_trace_view(tracking_uri: str, browser: UiBrowser) -> None:
    """Its spans (7 MB: a direct answer would be the gateway's 500) come from a 307 to the answer stored in S3, another
    origin, which the browser's fetch follows."""
    experiment_id = mlflow.create_experiment(f"ui-large-trace-{uuid.uuid4().hex[:8]}")
    trace_id = _send_trace(tracking_uri, experiment_id)
    route = f"/experiments/{experiment_id}/traces?workflowType=genai&selectedEvaluationId={trace_id}"
    page = Page("large-trace-detail", route, ("root", "step_1", "chunk 0 lorem ipsum"), TRACE_DRAWER)

    visit = browser.visit(f"traces-{page.name}", page.route, _shows(page))

    assert not _missing(page, browser.driver), visit.report()
    assert not _unexpected(visit), visit.report()
