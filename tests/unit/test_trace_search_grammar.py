"""The GenAI trace filter and order_by grammar (contract §3): what it accepts, every 400 in the reference's words,
and how a clause matches a trace."""

from __future__ import annotations

import re

import pytest

from stratus.domain.search.traces import (
    TraceClause,
    TraceOrderKey,
    compile_trace_search,
    parse_trace_filter,
    parse_trace_order_by,
)
from stratus.domain.trace_records import SpanSummary, TraceRecord
from stratus.errors import InvalidParameterValue

TIE_BREAKERS = [TraceOrderKey("attribute", "timestamp_ms", False), TraceOrderKey("attribute", "request_id", True)]


@pytest.mark.parametrize(
    ("filter_string", "clauses"),
    [
        ("", []),
        ("trace.status = 'OK'", [TraceClause("attribute", "status", "=", "OK")]),
        ("status = \"OK\"", [TraceClause("attribute", "status", "=", "OK")]),
        ("attributes.status IN ('OK', 'ERROR')", [TraceClause("attribute", "status", "IN", ("OK", "ERROR"))]),
        ("trace.status not in ('OK')", [TraceClause("attribute", "status", "NOT IN", ("OK",))]),
        ("trace.status rlike '^O'", [TraceClause("attribute", "status", "RLIKE", "^O")]),
        ("timestamp > 5", [TraceClause("attribute", "timestamp_ms", ">", 5)]),
        ("trace.timestamp > 5", [TraceClause("attribute", "timestamp_ms", ">", 5)]),
        ("trace.execution_time_ms < 10.5", [TraceClause("attribute", "execution_time_ms", "<", 10.5)]),
        ("trace.end_time >= 1", [TraceClause("attribute", "end_time_ms", ">=", 1)]),
        ("trace.name = 'agent'", [TraceClause("tag", "mlflow.traceName", "=", "agent")]),
        ("trace.run_id = 'r1'", [TraceClause("request_metadata", "mlflow.sourceRun", "=", "r1")]),
        ("trace.prompt = 'p/1'", [TraceClause("tag", "mlflow.linkedPrompts", "=", "p/1")]),
        ("trace.text ILIKE '%x%'", [TraceClause("span", "content", "ILIKE", "%x%")]),
        ("tags.user_tag IS NULL", [TraceClause("tag", "user_tag", "IS NULL", None)]),
        ("tag.`user tag` IS NOT NULL", [TraceClause("tag", "user tag", "IS NOT NULL", None)]),
        ("metadata.`mlflow.user` = 'root'", [TraceClause("request_metadata", "mlflow.user", "=", "root")]),
        ("metadata.mlflow.user = 'root'", [TraceClause("request_metadata", "mlflow.user", "=", "root")]),
        ("span.type IN ('LLM', 'TOOL')", [TraceClause("span", "type", "IN", ("LLM", "TOOL"))]),
        ("span.attributes.`mlflow.llm.model` LIKE '%gpt%'",
         [TraceClause("span", "attributes.`mlflow.llm.model`", "LIKE", "%gpt%")]),
        ("feedback.relevance = '0.1'", [TraceClause("feedback", "relevance", "=", "0.1")]),
        ("feedback.relevance >= 0.5", [TraceClause("feedback", "relevance", ">=", 0.5)]),
        ("expectation.answer LIKE '%MLflow%'", [TraceClause("expectation", "answer", "LIKE", "%MLflow%")]),
        ("issue.id = 'iss-1'", [TraceClause("issue", "id", "=", "iss-1")]),
        (
            "trace.status = 'OK' and tags.a = 'b'",
            [TraceClause("attribute", "status", "=", "OK"), TraceClause("tag", "a", "=", "b")],
        ),
        (
            "attributes.timestamp_ms > 1796050014698 AND attributes.timestamp_ms < 1796654814698",
            [
                TraceClause("attribute", "timestamp_ms", ">", 1796050014698),
                TraceClause("attribute", "timestamp_ms", "<", 1796654814698),
            ],
        ),
    ],
)  # fmt: skip
def test_a_filter_is_read_as_the_reference_reads_it(filter_string: str, clauses: list[TraceClause]) -> None:
    assert parse_trace_filter(filter_string) == clauses


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("trace.status = 'OK' OR trace.status = 'ERROR'", "Invalid clause(s) in filter string: 'OR'"),
        ("(trace.status = 'OK')", "Invalid clause(s) in filter string: '(trace.status = 'OK')'"),
        ("trace.status = 'OK'; trace.status = 'x'", "Search filter contained multiple expression"),
        ("trace.status", "Invalid clause(s) in filter string: 'trace.status'"),
        ("trace.status = OK", "Parameter value is either not quoted or unidentified quote types used for string "
         "value OK. Use either single or double quotes."),
        ("foo.bar = 'x'", "Invalid entity type 'foo'. Valid values are {"),
        ("trace.state = 'OK'", "Invalid attribute key 'state' specified. Valid keys are '{"),
        ("trace.status = 5", "Only the '{"),
        ("trace.timestamp_ms IN ('a')", "Only attributes in {"),
        ("trace.status > 'OK'", "Invalid comparator '>' not one of '{"),
        ("trace.status IS NULL", "Invalid comparator 'IS NULL' not one of '{"),
        ("trace.name IN ('a')", "Invalid comparator 'IN' not one of '{"),
        ("trace.run_id IN ('r')", "Invalid comparator 'IN' not one of '{"),
        ("trace.prompt = 'p'", "Invalid prompts filter value 'p'. Expected format: prompt = \"name/version\""),
        ("trace.prompt LIKE 'p/1'", "Invalid comparator 'LIKE' for prompts filter."),
        ("trace.text = 'x'", "span.content comparator '=' not one of '{"),
        ("tags.x > 'a'", "Invalid comparator '>' not one of '{"),
        ("tags.x = 5", "Expected a quoted string value for tag (e.g. 'my-value'). Got value 5"),
        ("metadata.x IN ('root')", "Expected a quoted string value for request_metadata (e.g. 'my-value'). Got value "
         "('root')"),
        ("metadata.`mlflow.trace.tokenUsage` LIKE 'x'", "Comparator 'LIKE' is not supported for reserved metadata "
         "'mlflow.trace.tokenUsage'. Only '=', '!=', 'IS NULL', and 'IS NOT NULL' are supported."),
        ("span.foo = 'x'", "Invalid span attribute 'foo'. Supported attributes: name, status, type, "
         "attributes.<attribute_name>."),
        ("span.name > 'x'", "span.name comparator '>' not one of '{"),
        ("span.attributes. = 'x'", "Span attribute name cannot be empty after 'attributes.'"),
        ("feedback.relevance = 0.1", "Expected a quoted string value for feedback (e.g. 'my-value'). Got value 0.1"),
        ("feedback.relevance > '0.5'", "Expected a numeric value for feedback when using comparator '>'. Got value "
         "'0.5'"),
        ("feedback.correct = true", "Invalid clause(s) in filter string: 'feedback.correct', '=', 'true'"),
        ("feedback.x IN ('a')", "Expected a quoted string value for feedback (e.g. 'my-value'). Got value ('a')"),
        ("issue.foo = 'i'", "Invalid issue attribute 'foo'. Supported attributes: id"),
        ("issue.id != 'i'", "issue.id comparator '!=' not one of '{'='}'"),
    ],
)  # fmt: skip
def test_a_bad_filter_is_refused_in_the_reference_words(filter_string: str, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=re.escape(message)):
        parse_trace_filter(filter_string)


@pytest.mark.parametrize(
    ("order_by", "keys"),
    [
        ([], TIE_BREAKERS),
        (["timestamp DESC"], [TIE_BREAKERS[0], TIE_BREAKERS[1]]),
        (["timestamp_ms"], [TraceOrderKey("attribute", "timestamp_ms", True), TIE_BREAKERS[1]]),
        (["name"], [TraceOrderKey("tag", "mlflow.traceName", True), *TIE_BREAKERS]),
        (["run_id DESC"], [TraceOrderKey("request_metadata", "mlflow.sourceRun", False), *TIE_BREAKERS]),
        (["tags.x", "request_id DESC"],
         [TraceOrderKey("tag", "x", True), TraceOrderKey("attribute", "request_id", False), TIE_BREAKERS[0]]),
    ],
)  # fmt: skip
def test_order_by_ends_with_the_reference_tie_breakers(order_by: list[str], keys: list[TraceOrderKey]) -> None:
    assert parse_trace_order_by(order_by) == keys


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        (["timestamp_ms sideways"], "Invalid ordering key in order_by clause 'timestamp_ms sideways'."),
        (["span.name"], "Invalid identifier type 'span'"),
        (["feedback.x"], "Invalid identifier type 'feedback'"),
        (["foo"], "Invalid attribute key 'foo' specified."),
        (["metadata.`mlflow.trace.tokenUsage`"], "Ordering by reserved metadata 'mlflow.trace.tokenUsage' is not "
         "supported because it is represented by multiple columns."),
        (["name", "name DESC"], "`order_by` contains duplicate fields: ['name', 'name DESC']"),
    ],
)  # fmt: skip
def test_a_bad_order_by_is_refused_in_the_reference_words(order_by: list[str], message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=re.escape(message)):
        parse_trace_order_by(order_by)


def _record(**changes: object) -> TraceRecord:
    base = TraceRecord(
        trace_id="tr-1",
        experiment_id="1",
        request_time=1000,
        execution_duration=40,
        state="OK",
        trace_metadata={"mlflow.user": "root", "mlflow.sourceRun": "run-1", "mlflow.trace.session": "s-1"},
        tags={"mlflow.traceName": "agent", "user_tag": "hello"},
        assessments=[
            {"assessment_id": "a-1", "assessment_name": "relevance", "feedback": {"value": 0.8}, "valid": True},
            {"assessment_id": "a-2", "assessment_name": "relevance", "feedback": {"value": 0.1}, "valid": False},
            {"assessment_id": "a-3", "assessment_name": "ok", "feedback": {"value": True}, "valid": True},
            {"assessment_id": "a-4", "assessment_name": "verdict", "feedback": {"value": "yes"}, "valid": True},
            {
                "assessment_id": "a-5",
                "assessment_name": "answer",
                "expectation": {"serialized_value": {"serialization_format": "JSON_FORMAT", "value": '{"a": 1}'}},
                "valid": True,
            },
            {"assessment_id": "a-6", "assessment_name": "iss-9", "issue": {}, "valid": True},
        ],
        spans=[
            SpanSummary("0000000000000001", "agent", "AGENT", "OK"),
            SpanSummary("0000000000000002", "llm", "LLM", "OK"),
            SpanSummary("0000000000000003", "search", "TOOL", "ERROR"),
        ],
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("trace.status = 'OK'", True),
        ("trace.status != 'OK'", False),
        ("trace.status IN ('ERROR', 'OK')", True),
        ("trace.status LIKE 'o%'", False),
        ("trace.status ILIKE 'o%'", True),
        ("trace.status RLIKE 'K$'", True),
        ("trace.timestamp_ms >= 1000 AND trace.timestamp_ms < 1001", True),
        ("trace.timestamp_ms > '2024-01-01'", False),
        ("trace.timestamp_ms < '2024-01-01'", True),
        ("trace.timestamp_ms > '999'", True),
        ("trace.execution_time_ms < 40.5", True),
        ("trace.end_time_ms = 1040", True),
        ("trace.request_id = 'tr-1'", True),
        ("trace.name = 'agent'", True),
        ("tags.`mlflow.traceName` LIKE 'ag%'", True),
        ("tags.user_tag = 'hello'", True),
        ("tags.user_tag IS NULL", False),
        ("tags.nope IS NULL", True),
        ("tags.nope != 'x'", False),
        ("metadata.`mlflow.user` = 'root'", True),
        ("metadata.`mlflow.trace.session` = 's-1'", True),
        ("metadata.`mlflow.sourceRun` != 'run-2'", True),
        ("trace.run_id = 'run-1'", True),
        ("trace.run_id = 'run-2'", False),
        ("span.name = 'llm'", True),
        ("span.name = 'llm' AND span.type = 'TOOL'", False),
        ("span.name = 'search' AND span.status = 'ERROR'", True),
        ("span.name != 'llm'", True),
        ("span.type IN ('RETRIEVER')", False),
        ("feedback.relevance = '0.8'", True),
        ("feedback.relevance = '0.1'", False),
        ("feedback.relevance > 0.5", True),
        ("feedback.relevance < 0.5", False),
        ("feedback.ok = 'true'", True),
        ("feedback.ok > 0", False),
        ("feedback.verdict = 'yes'", True),
        ("feedback.verdict LIKE '%ye%'", True),
        ("feedback.missing IS NULL", True),
        ("feedback.relevance IS NOT NULL", True),
        ("expectation.answer = '{\"a\": 1}'", True),
        ("expectation.relevance IS NULL", True),
        ("issue.id = 'iss-9'", True),
        ("issue.id = 'iss-0'", False),
    ],
)
def test_a_clause_matches_a_trace_as_in_the_reference(filter_string: str, expected: bool) -> None:
    assert compile_trace_search(filter_string).matches(_record()) is expected


def test_run_id_also_matches_a_trace_linked_to_the_run() -> None:
    query = compile_trace_search("trace.run_id = 'run-7'")

    assert query.run_ids == ("run-7",)
    assert query.matches(_record(), linked_traces={"tr-1"})
    assert not query.matches(_record(), linked_traces={"tr-2"})


def test_span_content_filters_read_the_stored_span_json() -> None:
    contents = {
        "0000000000000002": '{"name": "llm", "attributes": {"mlflow.llm.model": "\\"gpt-4o\\""}}',
    }
    like = compile_trace_search("span.attributes.`mlflow.llm.model` LIKE '%gpt%'")
    rlike = compile_trace_search("span.attributes.`mlflow.llm.model` RLIKE '^gpt'")
    equal = compile_trace_search("span.attributes.`mlflow.llm.model` = 'gpt-4o'")
    text = compile_trace_search("trace.text LIKE '%gpt-4o%' AND span.name = 'llm'")

    assert like.needs_span_content
    assert like.matches(_record(), span_contents=contents)
    assert rlike.matches(_record(), span_contents=contents)
    assert not equal.matches(_record(), span_contents=contents)
    assert text.matches(_record(), span_contents=contents)
    assert not compile_trace_search("trace.text LIKE '%claude%'").matches(_record(), span_contents=contents)


def test_sort_key_orders_nulls_last_in_both_directions() -> None:
    named = [_record(trace_id=f"tr-{n}", tags={"mlflow.traceName": n}) for n in ("b", "a")]
    unnamed = _record(trace_id="tr-z", tags={})
    for direction, names in (("ASC", ["a", "b", None]), ("DESC", ["b", "a", None])):
        query = compile_trace_search(None, [f"name {direction}"])
        ordered = sorted([unnamed, *named], key=query.sort_key)
        assert [r.tags.get("mlflow.traceName") for r in ordered] == names


def test_default_order_is_newest_first_then_trace_id() -> None:
    records = [_record(trace_id="tr-b", request_time=1), _record(trace_id="tr-a", request_time=1),
               _record(trace_id="tr-c", request_time=2)]  # fmt: skip
    query = compile_trace_search(None)

    assert [r.trace_id for r in sorted(records, key=query.sort_key)] == ["tr-c", "tr-a", "tr-b"]
