"""The filter and order_by grammar of MLflow search, parsed the way the reference server parses it.

The reference (``mlflow/utils/search_utils.py``, ``SearchUtils`` and ``SearchExperimentsUtils``) tokenizes with
``sqlparse`` and then reads the token tree. Which strings it accepts, and the wording of its errors, follow from
sqlparse's lexer and grouping rules, so this module uses the same library (pin the version the reference uses) and
reproduces only the reading of the tree. The result is a list of plain :class:`Clause` objects (the "syntax" phase);
the runs and experiments modules then check comparators and build predicates (the "semantic" phase, which the
reference does while building SQL).

Runs and experiments share the grammar but differ in entity prefixes, attribute keys and some messages; a
:class:`Dialect` carries those differences.
"""

from __future__ import annotations

import ast
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlparse
from sqlparse import tokens as T
from sqlparse.sql import Comparison, Identifier, Parenthesis, Statement, Token

from stratus.errors import InvalidParameterValue

METRIC = "metric"
PARAM = "parameter"
TAG = "tag"
ATTRIBUTE = "attribute"
DATASET = "dataset"

IS_NULL = "IS NULL"
IS_NOT_NULL = "IS NOT NULL"

Value = str | int | float | tuple[object, ...] | None

_STRING_TYPES = (T.Literal.String.Single,)
_NUMBER_TYPES = (T.Literal.Number.Integer, T.Literal.Number.Float)
_ORDER_DIRECTIONS = ("asc", "desc")


def set_repr(items: Iterable[str]) -> str:
    """Render names the way the reference prints a Python ``set`` of strings in its messages.

    The reference's order depends on the process's hash seed (it varies between its workers), so any order is one
    it can print; ours is fixed so that messages are stable.
    """
    return "{" + ", ".join(repr(item) for item in items) + "}"


@dataclass(frozen=True)
class Clause:
    """One comparison of a filter: ``entity`` is one of METRIC, PARAM, TAG, ATTRIBUTE, DATASET.

    ``comparator`` is spelled as the user wrote it (``like``, ``NOT IN``, ``IS NULL``); ``value`` is a string,
    an int or float (numeric attributes), a tuple (``IN`` lists, as ``ast.literal_eval`` read them) or None
    (``IS [NOT] NULL``). Metric values stay strings, as in the reference.
    """

    entity: str
    key: str
    comparator: str
    value: Value


@dataclass(frozen=True)
class OrderKey:
    """One parsed order_by element."""

    entity: str
    key: str
    ascending: bool


@dataclass(frozen=True)
class Dialect:
    """What differs between the runs grammar and the experiments grammar."""

    entity_names: Sequence[str]  # for "Valid values are [...]" in the runs message
    entity_whitelist: Sequence[str] | None  # experiments accept only these prefixes, spelled exactly
    search_attributes: Sequence[str]
    order_attributes: Sequence[str]
    numeric_attributes: frozenset[str]
    list_keys: Sequence[str]
    dataset_keys: Sequence[str]
    null_entities: Sequence[str]  # entities that accept IS NULL / IS NOT NULL
    quote_invalid_clauses: bool
    # evaluation datasets (SearchEvaluationDatasetsUtils) word an unknown prefix or attribute their own way
    identifier_errors: str = "runs"


RUN_ENTITY_ALIASES = {
    "metric": METRIC,
    "metrics": METRIC,
    "parameter": PARAM,
    "parameters": PARAM,
    "param": PARAM,
    "params": PARAM,
    "tag": TAG,
    "tags": TAG,
    "attribute": ATTRIBUTE,
    "attributes": ATTRIBUTE,
    "attr": ATTRIBUTE,
    "run": ATTRIBUTE,
    "dataset": DATASET,
    "datasets": DATASET,
}

RUN_ORDER_ATTRIBUTES = (
    "artifact_uri",
    "end_time",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
    "created",
    "Created",
)
# Filters also accept the "run name" spellings, which order_by does not.
RUN_SEARCH_ATTRIBUTES = (*RUN_ORDER_ATTRIBUTES, "run name", "Run name", "Run Name")

RUNS = Dialect(
    entity_names=(METRIC, PARAM, TAG, ATTRIBUTE, DATASET),
    entity_whitelist=None,
    search_attributes=RUN_SEARCH_ATTRIBUTES,
    order_attributes=RUN_ORDER_ATTRIBUTES,
    numeric_attributes=frozenset({"start_time", "end_time", "created", "Created"}),
    list_keys=("run_id",),
    dataset_keys=("name", "digest", "context"),
    null_entities=(TAG, PARAM),
    quote_invalid_clauses=True,
)

EXPERIMENT_ATTRIBUTES = ("name", "experiment_id", "creation_time", "last_update_time")

EXPERIMENTS = Dialect(
    entity_names=(METRIC, PARAM, TAG, ATTRIBUTE, DATASET),
    entity_whitelist=("attribute", "tag", "tags"),
    search_attributes=EXPERIMENT_ATTRIBUTES,
    order_attributes=EXPERIMENT_ATTRIBUTES,
    numeric_attributes=frozenset({"creation_time", "last_update_time"}),
    list_keys=("experiment_id",),
    dataset_keys=(),
    null_entities=(TAG,),
    quote_invalid_clauses=False,
)


# ---------------------------------------------------------------------------------------------------------------
# filter strings
# ---------------------------------------------------------------------------------------------------------------


def parse_statement(filter_string: str) -> Statement:
    """The one SQL statement a filter string must be, as sqlparse reads it, with the reference's errors for a filter
    that does not parse or holds several statements (every search grammar starts here: runs, registry, traces)."""
    try:
        statements = sqlparse.parse(filter_string)
    except Exception as exc:  # the reference turns any parser failure into this message
        raise InvalidParameterValue(f"Error on parsing filter '{filter_string}'") from exc
    if len(statements) == 0 or not isinstance(statements[0], Statement):
        raise InvalidParameterValue(f"Invalid filter '{filter_string}'. Could not be parsed.")
    if len(statements) > 1:
        raise InvalidParameterValue(
            f"Search filter contained multiple expression {filter_string!r}. Provide AND-ed expression list."
        )
    return statements[0]


def parse_filter(filter_string: str | None, dialect: Dialect) -> list[Clause]:
    """Split a filter into its AND-ed clauses, raising the reference's error for anything it rejects while parsing."""
    if not filter_string:
        return []
    return _read_statement(parse_statement(filter_string), dialect)


def _read_statement(statement: Statement, dialect: Dialect) -> list[Clause]:
    items = _join_list_and_null_comparisons(statement.tokens)
    invalid = [item for item in items if isinstance(item, Token) and _is_invalid_token(item)]
    if invalid:
        if dialect.quote_invalid_clauses:
            listed = ", ".join(f"'{token}'" for token in invalid)
        else:
            listed = ", ".join(str(token) for token in invalid)
        raise InvalidParameterValue(f"Invalid clause(s) in filter string: {listed}")
    return [_read_comparison(item, dialect) for item in items if isinstance(item, list)]


def _is_invalid_token(token: Token) -> bool:
    return not token.is_whitespace and not token.match(T.Keyword, ["AND"])


def _join_list_and_null_comparisons(tokens: Sequence[Token]) -> list[Token | list[Token]]:
    """Group ``x IN (...)``, ``x NOT IN (...)``, ``x IS NULL`` and ``x IS NOT NULL``, which sqlparse leaves apart.

    Grouped comparisons (sqlparse's own and these) come out as lists of their non-blank tokens; everything else
    stays a token. The scan mirrors the reference's, including what it skips after a failed match.
    """
    items = [token for token in tokens if not token.is_whitespace]
    joined: list[Token | list[Token]] = []
    index = 0
    while index < len(items):
        if len(items) - index < 3:
            joined.extend(_as_item(token) for token in items[index:])
            break
        first = items[index]
        if not isinstance(first, Identifier):
            joined.append(_as_item(first))
            index += 1
            continue
        group, consumed = _match_special_comparison(items, index)
        if group is not None:
            joined.append(group)
        else:
            joined.extend(_as_item(token) for token in items[index : index + consumed])
        index += consumed
    return joined


def _match_special_comparison(items: Sequence[Token], index: int) -> tuple[list[Token] | None, int]:
    first, second, third = items[index], items[index + 1], items[index + 2]
    if second.match(T.Keyword, ["IN"]) and isinstance(third, Parenthesis):
        return [first, second, third], 3
    if second.match(T.Keyword, ["IS"]) and third.match(T.Keyword, ["NULL"]):
        return [first, Token(T.Keyword, IS_NULL)], 3
    if second.match(T.Keyword, ["IS"]) and third.ttype == T.Keyword and third.value.upper() == "NOT NULL":
        return [first, Token(T.Keyword, IS_NOT_NULL)], 3
    if index + 3 >= len(items):
        return None, 3
    fourth = items[index + 3]
    if second.match(T.Keyword, ["NOT"]) and third.match(T.Keyword, ["IN"]) and isinstance(fourth, Parenthesis):
        return [first, Token(T.Keyword, "NOT IN"), fourth], 4
    return None, 4


def _as_item(token: Token) -> Token | list[Token]:
    if isinstance(token, Comparison):
        return [part for part in token.tokens if not part.is_whitespace]
    return token


def _read_comparison(parts: list[Token], dialect: Dialect) -> Clause:
    _check_comparison_shape(parts)
    if len(parts) == 2:
        entity, key = parse_identifier(parts[0].value, dialect.search_attributes, dialect)
        if entity not in dialect.null_entities:
            if dialect is EXPERIMENTS:
                message = f"IS NULL / IS NOT NULL is only supported for tags, not for attribute '{key}'"
            else:
                message = f"IS NULL / IS NOT NULL is only supported for tags and params, not for '{entity}' '{key}'"
            raise InvalidParameterValue(message)
        return Clause(entity, key, parts[1].value.upper(), None)
    entity, key = parse_identifier(parts[0].value, dialect.search_attributes, dialect)
    return Clause(entity, key, parts[1].value, _read_value(entity, key, parts[2], dialect))


def _check_comparison_shape(parts: list[Token]) -> None:
    if len(parts) == 2 and parts[1].value.upper() in (IS_NULL, IS_NOT_NULL):
        if not isinstance(parts[0], Identifier):
            raise InvalidParameterValue(f"Invalid comparison clause. Expected 'Identifier' found '{parts[0]}'")
        return
    if len(parts) != 3:
        raise InvalidParameterValue(f"Invalid comparison clause. Expected 3 tokens found {len(parts)}")
    if not isinstance(parts[0], Identifier):
        raise InvalidParameterValue(f"Invalid comparison clause. Expected 'Identifier' found '{parts[0]}'")


def parse_identifier(identifier: str, valid_attributes: Sequence[str], dialect: Dialect) -> tuple[str, str]:
    """Resolve ``prefix.key`` (or a bare attribute key) to ``(entity, key)``, unquoting the key."""
    entity_name, separator, key = identifier.partition(".")
    datasets = dialect.identifier_errors == "datasets"
    if not separator:
        entity, key = ATTRIBUTE, entity_name
    elif datasets and entity_name != "tags":
        raise InvalidParameterValue(f"Invalid identifier token '{entity_name}' specified")
    else:
        entity = _resolve_entity(entity_name, dialect)
    key = _trim_backticks(_strip_quotes(key))
    if entity == ATTRIBUTE and key not in valid_attributes:
        valid = f": {set_repr(valid_attributes)}" if datasets else f" '{set_repr(valid_attributes)}'"
        raise InvalidParameterValue(f"Invalid attribute key '{key}' specified. Valid keys are{valid}")
    if entity == DATASET and key not in dialect.dataset_keys:
        raise InvalidParameterValue(
            f"Invalid dataset key '{key}' specified. Valid keys are '{set_repr(dialect.dataset_keys)}'"
        )
    return entity, key


def _resolve_entity(entity_name: str, dialect: Dialect) -> str:
    if dialect.entity_whitelist is not None and entity_name not in dialect.entity_whitelist:
        raise InvalidParameterValue(
            f"Invalid entity type '{entity_name}'. Valid entity types are {tuple(dialect.entity_whitelist)}"
        )
    trimmed = _trim_backticks(entity_name)
    if trimmed not in RUN_ENTITY_ALIASES:
        raise InvalidParameterValue(f"Invalid entity type '{trimmed}'. Valid values are {list(dialect.entity_names)}")
    return RUN_ENTITY_ALIASES[trimmed]


def _is_quoted(text: str, quote: str) -> bool:
    return len(text) >= 2 and text.startswith(quote) and text.endswith(quote)


def _trim_backticks(text: str) -> str:
    return text[1:-1] if _is_quoted(text, "`") else text


def _strip_quotes(text: str) -> str:
    return text[1:-1] if _is_quoted(text, "'") or _is_quoted(text, '"') else text


def _quoted_string(text: str) -> str:
    if _is_quoted(text, "'") or _is_quoted(text, '"'):
        return text[1:-1]
    raise InvalidParameterValue(
        "Parameter value is either not quoted or unidentified quote types used for string value "
        f"{text}. Use either single or double quotes."
    )


def _is_string_token(token: Token) -> bool:
    return token.ttype in _STRING_TYPES or isinstance(token, Identifier)


def _read_value(entity: str, key: str, token: Token, dialect: Dialect) -> Value:
    if entity == METRIC:
        if token.ttype not in _NUMBER_TYPES:
            raise InvalidParameterValue(f"Expected numeric value type for metric. Found {token.value}")
        return str(token.value)
    if entity in (PARAM, TAG):
        if _is_string_token(token):
            return _quoted_string(token.value)
        raise InvalidParameterValue(
            f"Expected a quoted string value for {entity} (e.g. 'my-value'). Got value {token.value}"
        )
    if entity == ATTRIBUTE:
        return _read_attribute_value(key, token, dialect)
    return _read_dataset_value(token)


def _read_attribute_value(key: str, token: Token, dialect: Dialect) -> Value:
    if key in dialect.numeric_attributes:
        if token.ttype not in _NUMBER_TYPES:
            raise InvalidParameterValue(
                f"Expected numeric value type for numeric attribute: {key}. Found {token.value}"
            )
        return int(token.value) if token.ttype == T.Literal.Number.Integer else float(token.value)
    if _is_string_token(token):
        return _quoted_string(token.value)
    if isinstance(token, Parenthesis):
        if key not in dialect.list_keys:
            raise InvalidParameterValue(
                f"Only {sorted(dialect.list_keys)} attributes support comparison with a list of quoted string values."
            )
        return _read_list(token.value)
    raise InvalidParameterValue(f"Expected a quoted string value for attributes. Got value {token.value}")


def _read_dataset_value(token: Token) -> Value:
    if _is_string_token(token):
        return _quoted_string(token.value)
    if isinstance(token, Parenthesis):
        return _read_list(token.value)
    raise InvalidParameterValue(f"Expected a quoted string value for dataset attributes. Got value {token.value}")


def _read_list(text: str) -> tuple[object, ...]:
    """Read ``('a', 'b')`` as a Python literal, as the reference does (so escapes and implicit joins apply)."""
    try:
        parsed = ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        # The reference answers 500 for what is not a literal (ValueError); we keep it a user error.
        raise InvalidParameterValue(
            "While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list."
        ) from exc
    values = parsed if isinstance(parsed, tuple) else (parsed,)
    if len(values) == 0:
        raise InvalidParameterValue(
            "While parsing a list in the query, expected a non-empty list of string values, but got empty list"
        )
    if not all(isinstance(value, str) for value in values):
        raise InvalidParameterValue(
            "While parsing a list in the query, expected string value, punctuation, or whitespace, "
            f"but got different type in list: {values}"
        )
    return values


# ---------------------------------------------------------------------------------------------------------------
# order_by elements
# ---------------------------------------------------------------------------------------------------------------


def parse_order_by(order_by: str, dialect: Dialect) -> OrderKey:
    """Parse one order_by element such as ``metrics.`my acc` DESC`` into an :class:`OrderKey`."""
    text, ascending = _split_direction(order_by)
    entity, key = parse_identifier(text.strip(), dialect.order_attributes, dialect)
    return OrderKey(entity, key, ascending)


def _split_direction(order_by: str) -> tuple[str, bool]:
    token_value = _order_by_token_value(order_by)
    try:
        words = shlex.split(token_value.replace("`", '"'))
    except ValueError as exc:  # unbalanced quotes; the reference answers 500 here
        raise InvalidParameterValue(f"Invalid order_by clause '{order_by}'. Could not be parsed.") from exc
    if len(words) > 2:
        raise InvalidParameterValue(f"Invalid order_by clause '{order_by}'. Could not be parsed.")
    if len(words) == 2:
        direction = words[1].lower()
        if direction not in _ORDER_DIRECTIONS:
            raise InvalidParameterValue(f"Invalid ordering key in order_by clause '{order_by}'.")
        return words[0], direction == "asc"
    return token_value, True


def _order_by_token_value(order_by: str) -> str:
    try:
        statements = sqlparse.parse(order_by)
    except Exception as exc:  # the reference turns any parser failure into this message
        raise InvalidParameterValue(f"Error on parsing order_by clause '{order_by}'") from exc
    if len(statements) != 1 or not isinstance(statements[0], Statement):
        raise InvalidParameterValue(f"Invalid order_by clause '{order_by}'. Could not be parsed.")
    tokens = statements[0].tokens
    if len(tokens) == 1 and isinstance(tokens[0], Identifier):
        return str(tokens[0].value)
    if tokens[0].match(T.Name.Builtin, ["timestamp"]):
        if len(tokens) == 1:
            return "timestamp"
        if all(token.is_whitespace for token in tokens[1:-1]) and tokens[-1].ttype == T.Keyword.Order:
            return "timestamp " + tokens[-1].value
    raise InvalidParameterValue(f"Invalid order_by clause '{order_by}'. Could not be parsed.")
