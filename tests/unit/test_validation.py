"""MLflow's tracking-API input validation, with the texts the reference server (mlflow 3.17.2) answered.

Expected messages are copied from the reference server's responses recorded in docs/mlflow-validation.md. The last
section also compares against mlflow's own validation functions when mlflow is installed.
"""

from __future__ import annotations

import json
import math

import pytest

from stratus.domain import messages, validation
from stratus.domain.entities import Dataset, DatasetInput, Metric
from stratus.errors import InvalidParameterValue

RUN = "c84a5718a62945a582807ca8014a1749"
BAD_CHARS = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and "
    "slashes (/)."
)
RESOLVES = (
    "Names may be treated as files in certain cases, and must not resolve to other names when treated as such. "
    "This name would resolve to "
)
DOCS = " See the API docs for more information about request parameters."


def raised(fn, *args, **kwargs) -> InvalidParameterValue:
    with pytest.raises(InvalidParameterValue) as info:
        fn(*args, **kwargs)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert info.value.http_status == 400
    return info.value


def metric(key: str = "m", value: float = 1.0, timestamp: int = 1, step: int = 0) -> Metric:
    return Metric(key, value, timestamp, step)


# --------------------------------------------------------------------------- request-schema texts


def test_missing_parameter_message_matches_reference_text():
    assert messages.missing_parameter_message("experiment_id") == (
        "Missing value for required parameter 'experiment_id'." + DOCS
    )


def test_missing_parameter_message_names_nested_batch_fields():
    assert messages.missing_parameter_message("metrics[1].value") == (
        "Missing value for required parameter 'metrics[1].value'." + DOCS
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("name", 5, "Invalid value 5 for parameter 'name' supplied:  Hint: Value was of type 'int'."),
        (
            "max_results",
            "abc",
            "Invalid value \"abc\" for parameter 'max_results' supplied:  Hint: Value was of type 'str'.",
        ),
        (
            "tags",
            {"a": "b"},
            "Invalid value {\"a\":\"b\"} for parameter 'tags' supplied:  Hint: Value was of type 'dict'.",
        ),
        ("order_by", [1], "Invalid value [1] for parameter 'order_by' supplied:  Hint: Value was of type 'list'."),
        (
            "metrics",
            {"value": 1, "key": "bm", "timestamp": 1, "step": 0},
            'Invalid value {"key":"bm","step":0,"timestamp":1,"value":1} for parameter \'metrics\' supplied:  '
            "Hint: Value was of type 'dict'.",
        ),
    ],
)
def test_invalid_type_message_names_the_received_type_with_sorted_compact_json(field, value, expected):
    assert messages.invalid_type_message(field, value, "string") == expected + DOCS


def test_invalid_value_escapes_non_ascii_like_json_dumps():
    assert (
        messages.invalid_value("key", "é!", BAD_CHARS)
        == f"Invalid value \"\\u00e9!\" for parameter 'key' supplied: {BAD_CHARS}"
    )


# --------------------------------------------------------------------------- store-level texts


def test_store_messages_match_reference_texts():
    assert messages.run_not_found("nope") == "Run with id=nope not found"
    assert messages.experiment_not_found("99999") == "No Experiment with id=99999 exists"
    assert messages.experiment_name_not_found("nope") == "Could not find experiment with name 'nope'"
    assert messages.run_not_active(RUN) == f"The run {RUN} must be in the 'active' state. Current state is deleted."
    assert (
        messages.experiment_not_active("2")
        == "The experiment 2 must be in the 'active' state. Current state is deleted."
    )
    assert messages.run_tag_not_found("nope", RUN) == f"No tag with name: nope in run with id {RUN}"
    assert messages.experiment_tag_not_found("nope", "1") == "No tag with name: nope in experiment with id 1"
    assert messages.experiment_not_active_for_rename("x") == "Cannot rename a non-active experiment."


def test_experiment_not_found_prints_the_id_as_the_reference_parses_it():
    assert messages.experiment_not_found("007") == "No Experiment with id=7 exists"
    assert messages.experiment_not_found("abc") == "No Experiment with id=abc exists"


def test_experiment_already_exists_keeps_the_reference_prefix():
    assert messages.experiment_already_exists("val-exp") == "Experiment(name=val-exp) already exists."


def test_run_name_conflict_message():
    assert messages.run_name_conflict("a", "b") == (
        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
        "(run_name='a', mlflow.runName='b')."
    )


def test_changed_param_single_form_for_log_parameter():
    text = messages.params_changed(RUN, [("p", "1", "2")], batch=False)
    assert text == (
        "Changing param values is not allowed. Param with key='p' was already logged with value='1' "
        f"for run ID='{RUN}'. Attempted logging new value '2'."
    )


def test_changed_param_batch_form_for_log_batch_even_with_one_param():
    text = messages.params_changed(RUN, [("p", "1", "9")], batch=True)
    assert text == (
        "Changing param values is not allowed. Params were already logged="
        f"'[{{'key': 'p', 'old_value': '1', 'new_value': '9'}}]' for run ID='{RUN}'."
    )


def test_changed_params_batch_form_lists_every_changed_param():
    text = messages.params_changed(RUN, [("p", "1", "2"), ("p2", "a", "b")], batch=True)
    assert (
        "[{'key': 'p', 'old_value': '1', 'new_value': '2'}, {'key': 'p2', 'old_value': 'a', 'new_value': 'b'}]" in text
    )


# --------------------------------------------------------------------------- key names


@pytest.mark.parametrize("key", ["a..b", "a:b c-d_e.f/g", "é字", "a ", "x" * 250, "mlflow.runName"])
def test_tag_keys_the_reference_accepts(key):
    assert validation.validate_tag(key, "v") == "v"


@pytest.mark.parametrize("key", ["a!b", "a*b", "p#", "a$b", "a\nb", "é!"])
def test_keys_with_forbidden_characters_are_refused(key):
    error = raised(validation.validate_tag, key, "v")
    assert error.message == messages.invalid_value("key", key, BAD_CHARS)


@pytest.mark.parametrize(
    ("key", "resolves_to"),
    [
        ("/abs", "'/abs'"),
        ("a/./b", "'a/b'"),
        ("a/", "'a'"),
        (".", "'.'"),
        ("", "'.'"),
        ("../x", "'../x'"),
        ("..", "'..'"),
        ("..a", "'..a'"),
        ("a/..", "'.'"),
        ("./a", "'a'"),
        ("a//b", "'a/b'"),
    ],
)
def test_keys_that_resolve_to_another_path_are_refused(key, resolves_to):
    error = raised(validation.validate_param, key, "v")
    assert error.message == f"Invalid value {json.dumps(key)} for parameter 'key' supplied: {RESOLVES}{resolves_to}"


def test_path_not_unique_flags_dot_segments_and_absolute_paths_only():
    assert not validation.path_not_unique("a..b")
    assert not validation.path_not_unique("a/b")
    assert validation.path_not_unique("/a")
    assert validation.path_not_unique("a/../b")


# --------------------------------------------------------------------------- metrics


def test_metric_with_bad_key_names_the_name_parameter():
    error = raised(validation.validate_metric, "m!", 1.0, 1, 0)
    assert error.message == f"Invalid value \"m!\" for parameter 'name' supplied: {BAD_CHARS}"


def test_metric_key_that_escapes_its_directory_is_refused():
    error = raised(validation.validate_metric, "../m", 1.0, 1, 0)
    assert error.message == f"Invalid value \"../m\" for parameter 'name' supplied: {RESOLVES}'../m'"


def test_metric_with_negative_timestamp_is_refused_with_reference_text():
    error = raised(validation.validate_metric, "mneg", 1.0, -1, 0)
    assert error.message == (
        "Invalid value -1 for parameter 'timestamp' supplied: metric 'mneg' (value=1.0). "
        "Timestamp must be a nonnegative long (64-bit integer) "
    )


def test_metric_key_over_250_characters_is_refused():
    assert raised(validation.validate_metric, "m" * 251, 1.0, 1, 0).message == (
        "'Metric name' exceeds the maximum length of 250 characters"
    )


def test_metric_without_value_is_missing():
    assert (
        raised(validation.validate_metric, "m", None, 1, 0).message == "Missing value for required parameter 'value'."
    )


def test_metric_with_non_numeric_value_is_refused():
    error = raised(validation.validate_metric, "m", "abc", 5, 0)
    assert error.message == (
        "Invalid value \"abc\" for parameter 'value' supplied: (timestamp=5). "
        "Please specify value as a valid double (64-bit floating point)"
    )


def test_metric_with_boolean_value_is_refused():
    raised(validation.validate_metric, "m", True, 1, 0)


def test_metric_with_non_numeric_step_is_refused():
    error = raised(validation.validate_metric, "m", 2.0, 1, "x")
    assert error.message == (
        "Invalid value \"x\" for parameter 'step' supplied: metric 'm' (value=2.0). Step must be a valid long (64-bit "
        "integer)."
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.0, -1e300])
def test_metric_accepts_nan_infinities_and_any_double(value):
    validation.validate_metric("m", value, 0, -3)


def test_metric_without_key_says_a_key_name_must_be_provided():
    error = raised(validation.validate_metric, None, 1.0, 1, 0)
    assert error.message == (
        "Invalid value null for parameter 'name' supplied: Metric name cannot be None. A key name must be provided."
    )


def test_infinite_metric_values_come_back_as_the_largest_double():
    assert validation.stored_metric_value(math.inf) == 1.7976931348623157e308
    assert validation.stored_metric_value(-math.inf) == -1.7976931348623157e308
    assert math.isnan(validation.stored_metric_value(math.nan))
    assert validation.stored_metric_value(2.5) == 2.5


# --------------------------------------------------------------------------- params and tags


def test_param_value_over_6000_characters_is_truncated_not_refused():
    assert validation.validate_param("plong", "v" * 6001) == "v" * 6000


def test_param_key_over_250_characters_is_refused_as_param_key():
    assert raised(validation.validate_param, "k" * 251, "v").message == (
        "'Param key' exceeds the maximum length of 250 characters"
    )


def test_param_without_key_says_a_key_name_must_be_provided():
    assert raised(validation.validate_param, None, "v").message == (
        "Invalid value \"\" for parameter 'key' supplied: A key name must be provided."
    )


def test_param_without_value_is_stored_empty():
    assert validation.validate_param("pnov", None) == ""


def test_tag_value_over_8000_characters_is_truncated_not_refused():
    assert validation.validate_tag("longv", "v" * 8001) == "v" * 8000


def test_tag_key_over_250_characters_is_refused_under_its_path():
    assert (
        raised(validation.validate_tag, "k" * 251, "v").message == "'key' exceeds the maximum length of 250 characters"
    )
    assert raised(validation.validate_tag, "k" * 251, "v", path="tags[0]").message == (
        "'tags[0].key' exceeds the maximum length of 250 characters"
    )


def test_tag_without_key_is_a_missing_value():
    assert raised(validation.validate_tag, None, "v").message == "Missing value for required parameter 'key'."


def test_truncate_helpers_cut_to_the_reference_limits():
    assert validation.truncate_param_value("x" * 7000) == "x" * 6000
    assert validation.truncate_tag_value("x" * 9000) == "x" * 8000
    assert validation.truncate_tag_value("short") == "short"


# --------------------------------------------------------------------------- experiment tags and names


def test_experiment_tag_value_over_20000_characters_is_refused_not_truncated():
    assert raised(validation.validate_experiment_tag, "k", "v" * 20001).message == (
        "'value' exceeds the maximum length of 20000 characters"
    )


def test_experiment_tag_key_over_250_characters_is_refused():
    assert raised(validation.validate_experiment_tag, "k" * 251, "v").message == (
        "'key' exceeds the maximum length of 250 characters"
    )


def test_experiment_tag_key_with_bad_characters_is_refused():
    assert raised(validation.validate_experiment_tag, "a$b", "v").message == (
        f"Invalid value \"a$b\" for parameter 'key' supplied: {BAD_CHARS}"
    )


def test_experiment_tag_accepts_missing_value():
    validation.validate_experiment_tag("novalue", None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not json", "Trace archival config must be encoded as a JSON object."),
        ("[1]", "Trace archival config must be encoded as a JSON object."),
        ('{"type": "x", "value": "30d"}', "Trace archival config must use type 'duration'."),
        (
            '{"type": "duration", "value": "30 days"}',
            "Trace archival retention must be in the form `<int><unit>`, where unit is one of 'm', 'h', or 'd'.",
        ),
        (
            '{"type": "duration", "value": "' + "1" * 40 + 'd"}',
            "Trace archival duration must be at most 32 characters.",
        ),
    ],
)
def test_trace_archival_retention_tag_must_be_a_duration_config(value, expected):
    assert raised(validation.validate_experiment_tag, "mlflow.trace.archivalRetention", value).message == expected


def test_trace_archive_now_tag_may_omit_its_duration():
    validation.validate_experiment_tag("mlflow.trace.archiveNow", "{}")
    validation.validate_experiment_tag("mlflow.trace.archivalRetention", '{"type": "duration", "value": "30d"}')


@pytest.mark.parametrize(
    ("name", "expected"), [("", "Invalid experiment name: ''"), (None, "Invalid experiment name: 'None'")]
)
def test_empty_experiment_name_is_refused(name, expected):
    assert raised(validation.validate_experiment_name, name).message == expected


def test_experiment_name_over_500_characters_is_refused():
    assert raised(validation.validate_experiment_name, "n" * 501).message == (
        "'name' exceeds the maximum length of 500 characters"
    )


def test_experiment_name_of_500_characters_or_only_spaces_is_accepted():
    validation.validate_experiment_name("n" * 500)
    validation.validate_experiment_name("   ")


def test_non_string_experiment_name_is_refused():
    assert raised(validation.validate_experiment_name, 5).message == "Invalid experiment name: 5. Expects a string."


# --------------------------------------------------------------------------- ids


def test_experiment_id_must_parse_as_integer():
    assert raised(validation.validate_experiment_id, "abc").message == (
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."
    )


def test_experiment_id_is_returned_in_the_form_the_reference_looks_up():
    assert validation.validate_experiment_id(" 01 ") == "1"
    assert validation.validate_experiment_id("-1") == "-1"


def test_experiment_id_format_check_of_the_file_store():
    validation.validate_experiment_id_format("abc-1")
    assert raised(validation.validate_experiment_id_format, "../x").message == "Invalid experiment ID: '../x'"


def test_malformed_run_id_is_refused():
    assert (
        raised(validation.validate_run_id, "../x").message == "Invalid value \"../x\" for parameter 'run_id' supplied."
    )
    validation.validate_run_id(RUN)
    validation.validate_run_id("a" * 256)
    raised(validation.validate_run_id, "a" * 257)
    raised(validation.validate_run_id, "")


# --------------------------------------------------------------------------- batches


def test_batch_over_1000_metrics_is_refused():
    assert raised(validation.validate_batch_limits, 1001, 0, 0).message == (
        "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up metrics across "
        "multiple requests and try again."
    )


def test_batch_over_100_params_or_tags_is_refused():
    assert "at most 100 params. Got 101 params." in raised(validation.validate_batch_limits, 0, 101, 0).message
    assert "at most 100 tags. Got 101 tags." in raised(validation.validate_batch_limits, 0, 0, 101).message


def test_batch_over_1000_entities_in_all_is_refused():
    assert raised(validation.validate_batch_limits, 900, 100, 1).message == (
        "A batch logging request can contain at most 1000 metrics, params, and tags. Got 1001 metrics, params, and "
        "tags. Please split up metrics, params, and tags across multiple requests and try again."
    )


def test_batch_at_the_limits_is_accepted():
    validation.validate_batch_limits(1000, 0, 0)
    validation.validate_batch_limits(800, 100, 100)


def test_batch_payload_names_the_offending_metric_by_index():
    error = raised(validation.validate_batch_payload, [metric(), metric("a!b")], [], [])
    assert error.message == f"Invalid value \"a!b\" for parameter 'metrics[1].name' supplied: {BAD_CHARS}"


def test_batch_payload_names_the_offending_param_and_tag_by_index():
    params = [("ok", "v"), ("b@d", "v")]
    assert "'params[1].key'" in raised(validation.validate_batch_payload, [], params, []).message
    assert "'tags[0].key'" in raised(validation.validate_batch_payload, [], [], [("t!", "v")]).message


def test_batch_payload_for_single_entity_endpoints_uses_plain_names():
    assert "'name'" in raised(validation.validate_batch_payload, [metric("m!")], [], [], indexed=False).message
    assert "parameter 'key'" in raised(validation.validate_batch_payload, [], [("p#", "v")], [], indexed=False).message


def test_batch_payload_negative_timestamp_names_its_index():
    assert raised(validation.validate_batch_payload, [metric("bm", timestamp=-1)], [], []).message == (
        "Invalid value -1 for parameter 'metrics[0].timestamp' supplied: metric 'bm' (value=1.0). "
        "Timestamp must be a nonnegative long (64-bit integer) "
    )


def test_batch_payload_returns_truncated_values():
    _, params, tags = validation.validate_batch_payload([], [("p", "v" * 6001)], [("t", "w" * 8001)])
    assert params == [("p", "v" * 6000)]
    assert tags == [("t", "w" * 8000)]


def test_duplicate_param_keys_are_refused_even_with_equal_values():
    assert raised(validation.validate_param_keys_unique, [("d", "1"), ("d", "1")]).message == (
        "Duplicate parameter keys have been submitted: ['d']. Please ensure the request contains only one param "
        "value per param key."
    )


def test_duplicate_param_keys_lists_every_repeat():
    params = [("d", "1"), ("d", "2"), ("e", "1"), ("e", "1")]
    assert "submitted: ['d', 'e']." in raised(validation.validate_param_keys_unique, params).message


def test_log_batch_checks_entities_before_limits_before_duplicates():
    too_many_with_bad_key = [(f"q{i}", "v") for i in range(100)] + [("b!", "v")]
    assert "'params[100].key'" in raised(validation.validate_log_batch, [], too_many_with_bad_key, []).message
    too_many_duplicates = [("same", "v")] * 101
    assert "at most 100 params" in raised(validation.validate_log_batch, [], too_many_duplicates, []).message


def test_batch_request_over_one_megabyte_is_refused():
    validation.validate_batch_request_size(1_000_000)
    assert raised(validation.validate_batch_request_size, 1_000_001).message == (
        "Batched logging API requests must be at most 1000000 bytes, got a request of size 1000001."
    )


# --------------------------------------------------------------------------- datasets


def dataset_input(tags=(), **fields) -> DatasetInput:
    values = {"name": "ds", "digest": "abc", "source_type": "local", "source": "{}"} | fields
    return DatasetInput(Dataset(**values), tuple(tags))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "n" * 501}, "'name' exceeds the maximum length of 500 characters"),
        ({"digest": "d" * 37}, "'digest' exceeds the maximum length of 36 characters"),
        ({"source": "s" * 65536}, "'source' exceeds the maximum length of 65535 characters"),
        ({"schema": "s" * 1048576}, "'schema' exceeds the maximum length of 1048575 characters"),
    ],
)
def test_dataset_fields_over_their_limits_are_refused(fields, expected):
    assert raised(validation.validate_dataset_inputs, [dataset_input(**fields)]).message == expected


def test_dataset_input_tags_over_their_limits_are_refused():
    long_key = [("k" * 256, "v")]
    assert raised(validation.validate_dataset_inputs, [dataset_input(long_key)]).message == (
        "'key' exceeds the maximum length of 255 characters"
    )
    long_value = [("k", "v" * 501)]
    assert raised(validation.validate_dataset_inputs, [dataset_input(long_value)]).message == (
        "'value' exceeds the maximum length of 500 characters"
    )


def test_dataset_with_empty_fields_is_accepted_as_over_rest():
    validation.validate_dataset_inputs([dataset_input(name="", digest="", source_type="", source="")])


def test_dataset_missing_fields_are_refused_for_direct_callers():
    assert raised(validation.validate_dataset, None).message == "Dataset cannot be None"
    assert raised(validation.validate_dataset, Dataset(None, "d", "s", "s")).message == "Dataset name cannot be None"  # type: ignore[arg-type]


# --------------------------------------------------------------------------- artifact locations


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("runs:/abc/x", "Artifact location cannot be a runs:/ URI. Given: 'runs:/abc/x'"),
        ("s3://b/p#frag", "'artifact_location' URL can't include fragments or params."),
        ("/abs/p;x=1", "'artifact_location' URL can't include fragments or params."),
        ("s3://b/p?x=../y", "Invalid query string"),
        ("s3://b/p?x=%2E%2E/y", "Invalid query string"),
        (
            "http://evil.example/p",
            "'artifact_location' cannot use the 'http' scheme: the 'http' scheme addresses a host other than the "
            "tracking server's configured artifact storage, so the server would connect to the host named in the "
            "URI. Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server to allow "
            "it.",
        ),
        (
            "s3://b/" + "p" * 2050,
            "Invalid artifact path length. The length of the artifact path cannot be greater than 2048 characters. To "
            "configure this limit, please set the MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable.",
        ),
    ],
)
def test_experiment_artifact_locations_the_reference_refuses(location, expected):
    assert raised(validation.validate_experiment_artifact_location, location).message == expected


@pytest.mark.parametrize(
    "location", ["s3://bucket/prefix", "mlflow-artifacts:/exp", "/abs/path", "C:\\dir", "gs://b/p"]
)
def test_experiment_artifact_locations_the_reference_accepts(location):
    validation.validate_experiment_artifact_location(location)


def test_host_addressed_scheme_is_accepted_when_allowed():
    validation.validate_experiment_artifact_location("https://host/p", allowed_host_schemes=["HTTPS"])
    raised(validation.validate_experiment_artifact_location, "mlflow-artifacts://host:5000/p")


def test_custom_view_tags_are_capped_at_50_per_experiment():
    keys = [f"mlflow.customView.view{i}" for i in range(51)]
    assert raised(validation.validate_custom_view_count, keys).message == (
        "Unable to create another custom view; the maximum number of custom views per experiment is 50. Delete an "
        "existing custom view before creating a new one."
    )
    existing = keys[:50]
    validation.validate_custom_view_tag_write("3", existing, keys[0])
    assert (
        "custom view for experiment 3;"
        in raised(validation.validate_custom_view_tag_write, "3", existing, "mlflow.customView.viewNew").message
    )


# --------------------------------------------------------------------------- search and history arguments


@pytest.mark.parametrize(("n", "bad"), [(0, "0"), (-1, "-1")])
def test_search_runs_max_results_below_one_is_refused(n, bad):
    assert raised(validation.validate_search_runs_max_results, n).message == (
        f"Invalid value {bad} for parameter 'max_results' supplied. It must be a positive integer"
    )


def test_search_runs_max_results_above_50000_fails_the_schema_check():
    assert raised(validation.validate_search_runs_max_results, 123456789).message == (
        "Invalid value 123456789 for parameter 'max_results' supplied:  Hint: Value was of type 'int'." + DOCS
    )


def test_search_runs_accepts_50000_and_no_limit():
    validation.validate_search_runs_max_results(50000)
    validation.validate_search_runs_max_results(None)


def test_search_experiments_max_results_must_be_between_1_and_50000():
    assert raised(validation.validate_search_experiments_max_results, 0).message == (
        "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer"
    )
    assert raised(validation.validate_search_experiments_max_results, 50001).message == (
        "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000"
    )
    assert "Invalid value None" in raised(validation.validate_search_experiments_max_results, None).message
    validation.validate_search_experiments_max_results(50000)


def test_metric_history_max_results_must_be_positive_when_given():
    assert raised(validation.validate_metric_history_max_results, -5).message == (
        "Invalid value -5 for parameter 'max_results' supplied. It must be a positive integer."
    )
    validation.validate_metric_history_max_results(None)
    validation.validate_metric_history_max_results(30000)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (([], "m", None, None, None), "Missing value for required parameter 'run_ids'." + DOCS),
        ((["r"], "", None, None, None), "Missing value for required parameter 'metric_key'." + DOCS),
        (
            ([f"r{i}" for i in range(101)], "m", None, None, None),
            "GetMetricHistoryBulkInterval request must specify at most 100 run_ids. Received 101 run_ids." + DOCS,
        ),
        ((["r"], "m", 0, None, None), "max_results must be between 1 and 2500." + DOCS),
        ((["r"], "m", 2501, None, None), "max_results must be between 1 and 2500." + DOCS),
        ((["r"], "m", None, 1, None), "If either start step or end step are specified, both must be specified."),
        ((["r"], "m", None, 5, 1), "end_step must be greater than start_step. Found start_step=5 and end_step=1."),
    ],
)
def test_bulk_interval_arguments_the_reference_refuses(args, expected):
    assert raised(validation.validate_bulk_interval_request, *args).message == expected


def test_bulk_interval_accepts_a_complete_request():
    validation.validate_bulk_interval_request(["r"] * 100, "m", 2500, 1, 1)


# --------------------------------------------------------------------------- request field types


@pytest.mark.parametrize(("value", "expected"), [(5, 5), ("123", 123), ("-7", -7), (2.0, 2), ("1.0", 1), ("1e3", 1000)])
def test_int_fields_accept_what_proto_json_accepts(value, expected):
    assert validation.coerce_int("start_time", value) == expected


@pytest.mark.parametrize("value", ["abc", 1.5, "1.5", True, " 1", 2**63, "inf", None, [1]])
def test_int_fields_refuse_what_proto_json_cannot_parse(value):
    error = raised(validation.coerce_int, "start_time", value)
    assert error.message == messages.invalid_type_message("start_time", value)


def test_int32_fields_have_a_smaller_range():
    raised(validation.coerce_int, "max_results", 2**31, bits=32)
    assert validation.coerce_int("max_results", 2**31 - 1, bits=32) == 2**31 - 1


@pytest.mark.parametrize(
    ("value", "expected"), [(1, 1.0), ("1.5", 1.5), ("Infinity", math.inf), ("-Infinity", -math.inf)]
)
def test_double_fields_accept_numbers_and_numeric_strings(value, expected):
    assert validation.coerce_double("value", value) == expected


def test_double_fields_accept_nan_spelled_as_proto_json_does():
    assert math.isnan(validation.coerce_double("value", "NaN"))
    assert math.isnan(validation.coerce_double("value", math.nan))


@pytest.mark.parametrize("value", ["abc", "nan", None, [1], 10**400])
def test_double_fields_refuse_unparseable_values(value):
    assert raised(validation.coerce_double, "value", value).message == messages.invalid_type_message("value", value)


def test_string_fields_refuse_other_types():
    assert validation.require_string("run_id", "x") == "x"
    assert raised(validation.require_string, "run_id", 5).message == (
        "Invalid value 5 for parameter 'run_id' supplied:  Hint: Value was of type 'int'." + DOCS
    )


def test_list_param_check_suggests_wrapping_the_value():
    assert raised(validation.validate_list_param, "experiment_ids", "1").message == (
        "experiment_ids must be a list, got str. Did you mean to use experiment_ids=['1']?"
    )
    validation.validate_list_param("experiment_ids", None, allow_none=True)


# --------------------------------------------------------------------------- parity with mlflow's own functions


@pytest.fixture(scope="module")
def ref():
    return pytest.importorskip("mlflow.utils.validation")


def reference_message(fn, *args, **kwargs) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        fn(*args, **kwargs)
    except MlflowException as exc:
        assert exc.error_code == "INVALID_PARAMETER_VALUE"
        return exc.message
    return None


def our_message(fn, *args, **kwargs) -> str | None:
    try:
        fn(*args, **kwargs)
    except InvalidParameterValue as exc:
        return exc.message
    return None


KEYS = ["ok", "a..b", "a!b", "../x", "/abs", "a/./b", "", ".", "é字", "a\n", "k" * 251, "a:b", "x y"]


@pytest.mark.parametrize("key", KEYS)
def test_param_and_tag_checks_match_mlflow(ref, key):
    assert our_message(validation.validate_param, key, "v") == reference_message(ref._validate_param, key, "v")
    assert our_message(validation.validate_tag, key, "v") == reference_message(ref._validate_tag, key, "v")
    assert our_message(validation.validate_experiment_tag, key, "v") == reference_message(
        ref._validate_experiment_tag, key, "v"
    )


@pytest.mark.parametrize(
    ("key", "value", "timestamp", "step"),
    [(k, 1.0, 1, 0) for k in KEYS] + [("m", None, 1, 0), ("m", "x", 1, 0), ("m", 1.0, -1, 0), ("m", 1.0, 1, "s")],
)
def test_metric_checks_match_mlflow(ref, key, value, timestamp, step):
    ours = our_message(validation.validate_metric, key, value, timestamp, step, path="metrics[3]")
    assert ours == reference_message(ref._validate_metric, key, value, timestamp, step, path="metrics[3]")


@pytest.mark.parametrize("counts", [(1001, 0, 0), (0, 101, 0), (0, 0, 101), (900, 100, 1), (1000, 0, 0)])
def test_batch_limits_match_mlflow(ref, counts):
    lists = [[None] * n for n in counts]
    assert our_message(validation.validate_batch_limits, *counts) == reference_message(
        ref._validate_batch_log_limits, *lists
    )


@pytest.mark.parametrize("name", ["", None, 5, "n" * 501, "fine", "   "])
def test_experiment_name_check_matches_mlflow(ref, name):
    assert our_message(validation.validate_experiment_name, name) == reference_message(
        ref._validate_experiment_name, name
    )


@pytest.mark.parametrize("run_id", [RUN, "../x", "a" * 257, "-a", "a-b_c"])
def test_run_id_check_matches_mlflow(ref, run_id):
    assert our_message(validation.validate_run_id, run_id) == reference_message(ref._validate_run_id, run_id)
