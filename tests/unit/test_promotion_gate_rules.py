"""The promotion gate's reading of a model's tags, and what counts as a nomination."""

from __future__ import annotations

import pytest

from stratus.domain.services.promotion import Gate, is_nomination, read_gate

GATE = {"stratus.gate.metric": "auc", "stratus.gate.threshold": "0.8", "stratus.gate.promote_to": "stage:Production"}


def test_a_complete_gate() -> None:
    assert read_gate(GATE) == Gate("auc", 0.8, ">=", "stage", "Production")
    assert read_gate(GATE | {"stratus.gate.comparison": "<"}) == Gate("auc", 0.8, "<", "stage", "Production")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"stratus.gate.metric": ""}, "no gate declared"),
        ({"stratus.gate.threshold": "high"}, "not a number"),
        ({"stratus.gate.comparison": "=="}, "must be one of"),
        ({"stratus.gate.promote_to": "champion"}, "alias:<name> or stage:<stage>"),
    ],
)
def test_an_unusable_gate_says_why(change: dict[str, str], reason: str) -> None:
    outcome = read_gate(GATE | change)
    assert isinstance(outcome, str) and reason in outcome


def test_nominations() -> None:
    assert is_nomination("Model Alias Set", {"alias": "challenger", "version": "3"})
    assert is_nomination("Model Alias Moved", {"alias": "challenger", "version": "4"})
    assert is_nomination("Model Version Stage Transitioned", {"stage": "Staging"})
    assert not is_nomination("Model Alias Set", {"alias": "champion", "version": "3"})  # the gate's own move
    assert not is_nomination("Model Version Stage Transitioned", {"stage": "Production"})
    assert not is_nomination("Model Alias Deleted", None)
