"""The built-in promotion hook: a registered model's tags may declare a gate, and a version nominated for promotion
(alias ``challenger`` set on it, or moved to stage ``Staging``) is promoted when its run's metric passes the gate.
The outcome, either way, is written on the version as a tag, so it shows in MLflow's UI.

Gate tags on the registered model::

    stratus.gate.metric      = accuracy            # a metric of the version's source run (its latest value)
    stratus.gate.threshold   = 0.9
    stratus.gate.comparison  = >=                  # one of > >= < <= (default >=)
    stratus.gate.promote_to  = alias:champion      # or stage:Production
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from stratus.domain.actor import current_actor
from stratus.domain.services.registry import RegistryService
from stratus.domain.services.runs import RunService
from stratus.errors import StratusError

GATE_PREFIX = "stratus.gate."
RESULT_TAG = "stratus.gate.result"
NOMINATING_ALIAS = "challenger"
NOMINATING_STAGE = "Staging"
ACTOR = "stratus-promotion-gate"
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True)
class Gate:
    metric: str
    threshold: float
    comparison: str
    target_kind: str  # "alias" | "stage"
    target: str


@dataclass(frozen=True)
class GateOutcome:
    promoted: bool
    reason: str


def read_gate(tags: dict[str, str]) -> Gate | str:
    """The gate a model's tags declare, or why they declare none usable."""
    metric = tags.get(f"{GATE_PREFIX}metric")
    if not metric:
        return "no gate declared (tag stratus.gate.metric)"
    try:
        threshold = float(tags.get(f"{GATE_PREFIX}threshold", ""))
    except ValueError:
        return "stratus.gate.threshold is not a number"
    comparison = tags.get(f"{GATE_PREFIX}comparison", ">=")
    if comparison not in _COMPARISONS:
        return f"stratus.gate.comparison must be one of {', '.join(_COMPARISONS)}"
    kind, _, target = tags.get(f"{GATE_PREFIX}promote_to", "").partition(":")
    if kind not in ("alias", "stage") or not target:
        return "stratus.gate.promote_to must be alias:<name> or stage:<stage>"
    return Gate(metric, threshold, comparison, kind, target)


def is_nomination(detail_type: str, after: dict | None) -> bool:
    """Whether a registry event nominates a version for promotion."""
    after = after or {}
    if detail_type in ("Model Alias Set", "Model Alias Moved"):
        return after.get("alias") == NOMINATING_ALIAS
    if detail_type == "Model Version Stage Transitioned":
        return after.get("stage") == NOMINATING_STAGE
    return False


class PromotionGate:
    """Checks a nominated version against its model's gate and promotes it, or records why not."""

    def __init__(self, registry: RegistryService, runs: RunService) -> None:
        self._registry = registry
        self._runs = runs

    def evaluate(self, model_name: str, version: str) -> GateOutcome:
        token = current_actor.set(ACTOR)
        try:
            outcome = self._decide(model_name, version)
            if outcome.promoted or not outcome.reason.startswith("no gate"):
                self._registry.set_version_tag(model_name, version, RESULT_TAG, outcome.reason)
            return outcome
        finally:
            current_actor.reset(token)

    def _decide(self, model_name: str, version: str) -> GateOutcome:
        gate = read_gate(self._registry.get_model(model_name).tags)
        if isinstance(gate, str):
            return GateOutcome(False, gate)
        model_version = self._registry.get_version(model_name, version)
        if not model_version.run_id:
            return GateOutcome(False, f"rejected: version {version} has no source run to read {gate.metric} from")
        try:
            metric = self._runs.get(model_version.run_id).metrics.get(gate.metric)
        except StratusError as exc:
            return GateOutcome(False, f"rejected: its run cannot be read ({exc.message})")
        if metric is None:
            return GateOutcome(False, f"rejected: its run has no metric {gate.metric}")
        shown = f"{gate.metric} {metric.value:g} {gate.comparison} {gate.threshold:g}"
        if not _COMPARISONS[gate.comparison](metric.value, gate.threshold):
            return GateOutcome(False, f"rejected: {shown} is false")
        if gate.target_kind == "alias":
            self._registry.set_alias(model_name, gate.target, version, ACTOR)
        else:
            self._registry.transition_stage(model_name, version, gate.target, True, ACTOR)
        return GateOutcome(True, f"promoted to {gate.target_kind} {gate.target}: {shown}")
