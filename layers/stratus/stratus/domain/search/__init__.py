"""MLflow's search grammar for runs and experiments, evaluated in memory exactly as the reference server does.

Compile once, apply to many: ``compile_run_search(filter, order_by)`` validates a request before any data is read
(raising :class:`stratus.errors.InvalidParameterValue` with the reference's message) and returns a query whose
``apply(runs)`` filters and sorts. ``search_runs`` / ``search_experiments`` do both in one call. The view type
(active/deleted) and pagination stay with the caller.
"""

from stratus.domain.search.experiments import (
    ExperimentQuery,
    compile_experiment_search,
    search_experiments,
    validate_experiment_filter,
    validate_experiment_order_by,
)
from stratus.domain.search.logged_models import (
    LoggedModelQuery,
    compile_logged_model_search,
    search_logged_models,
)
from stratus.domain.search.registry import (
    ModelVersionQuery,
    RegisteredModelQuery,
    compile_model_version_search,
    compile_registered_model_search,
    search_model_versions,
    search_registered_models,
    validate_model_version_max_results,
    validate_registered_model_max_results,
)
from stratus.domain.search.runs import (
    RunQuery,
    compile_run_search,
    search_runs,
    validate_run_filter,
    validate_run_order_by,
)

__all__ = [
    "ExperimentQuery",
    "LoggedModelQuery",
    "ModelVersionQuery",
    "RegisteredModelQuery",
    "RunQuery",
    "compile_experiment_search",
    "compile_logged_model_search",
    "compile_model_version_search",
    "compile_registered_model_search",
    "compile_run_search",
    "search_experiments",
    "search_logged_models",
    "search_model_versions",
    "search_registered_models",
    "search_runs",
    "validate_experiment_filter",
    "validate_experiment_order_by",
    "validate_model_version_max_results",
    "validate_registered_model_max_results",
    "validate_run_filter",
    "validate_run_order_by",
]
