"""The Lambda side: import each function's handler the way the Python runtime does, and invoke it.

Every function lives in its own ``CodeUri`` folder and several may name their module ``app``; each module is loaded
from its file under a unique name (``_stratus_fn_<LogicalId>_app``), with the folder on ``sys.path`` while it
imports, so ``app.py`` files never shadow one another; sibling modules it imported from its folder are then dropped
from ``sys.modules`` for the same reason (so a sibling imported lazily, inside the handler, is not found locally).
Layer folders stay on ``sys.path``, as ``/opt/python`` does.

Invocation mirrors the runtime: the event arrives as JSON and is parsed afresh, the result is serialised as the
runtime serialises it (``Decimal`` allowed, anything else unserialisable is an error), and an unhandled exception or a
response over 6 MB is a function error, which API Gateway answers with 500.

Concurrency mirrors Lambda's too: an execution environment runs one invocation at a time, and an invocation that
finds every environment of its function busy gets a new one (a cold start), up to :data:`MAX_ENVIRONMENTS`. Each
environment is a copy of the handler's module (``_stratus_fn_<LogicalId>_app``, then ``..._app_env2``, ...) with its
own module state (what a composition root caches: settings, stores, services, the resolver), while the packages it
imports (layers) are the process's. Of their state, Powertools' resolvers keep the event being resolved in class
attributes that every resolver in the process shares; :func:`isolate_powertools_events` makes those per thread.
"""

from __future__ import annotations

import decimal
import importlib.util
import json
import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from stratus_local.gateway import LAMBDA_MAX_RESPONSE_BYTES, InvocationError
from stratus_local.template import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]
Wrapper = Callable[[Handler], Handler]

MAX_ENVIRONMENTS = 8
"""Execution environments of one function at most. Lambda scales a function out to the account's concurrency (1,000
by default); locally each environment is a module copy in this process, and 8 is as many requests as a team or an
8-thread loader sends at once (more wait for one to be free, as under reserved concurrency)."""

_IMPORT_LOCK = threading.Lock()
_ISOLATE_LOCK = threading.Lock()
_PER_THREAD_ROUTER_ATTRIBUTES = ("current_event", "lambda_context")


class _PerThread:
    """A data descriptor whose value is the calling thread's own (unset: ``AttributeError``, as for a class
    attribute never assigned)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._values = threading.local()

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        try:
            return getattr(self._values, self._name)
        except AttributeError:
            raise AttributeError(self._name) from None

    def __set__(self, instance: object, value: Any) -> None:
        setattr(self._values, self._name, value)

    def __delete__(self, instance: object) -> None:
        delattr(self._values, self._name)


def isolate_powertools_events() -> bool:
    """Make ``BaseRouter.current_event`` and ``BaseRouter.lambda_context`` of Powertools' event handler per thread.

    A resolver sets them on the class (``BaseRouter.current_event = ...``) and routes read them back, which is safe in
    a Lambda environment (one invocation per process) but not here, where invocations of different functions, and of
    one function's environments, run at once on different threads: a request could route and parse another's body.
    The class gets a data descriptor for reads through instances, and its metaclass a subclass with the same
    descriptors, for reads and writes on the class. Idempotent; False where Powertools is not installed."""
    try:
        from aws_lambda_powertools.event_handler.api_gateway import BaseRouter  # noqa: PLC0415 - optional
    except ImportError:
        return False
    with _ISOLATE_LOCK:
        if getattr(type(BaseRouter), "_stratus_local_per_thread", False):
            return True
        slots = {name: _PerThread(name) for name in _PER_THREAD_ROUTER_ATTRIBUTES}
        for name, slot in slots.items():
            type.__setattr__(BaseRouter, name, slot)
        meta = type(BaseRouter)
        BaseRouter.__class__ = type(f"PerThread{meta.__name__}", (meta,), {**slots, "_stratus_local_per_thread": True})
    return True


class LambdaContext:
    """The context object handed to a handler, with the attributes of the Python runtime's ``LambdaContext``."""

    def __init__(self, function: FunctionSpec, request_id: str) -> None:
        self.aws_request_id = request_id
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = str(function.memory_mb)  # a string, as the runtime reads it from the environment
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + function.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's Timeout would end the invocation on AWS."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _RuntimeEncoder(json.JSONEncoder):
    """Serialises results as the Lambda Python runtime does: ``Decimal`` as a number, no ASCII escaping."""

    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            if o.is_nan():
                return math.nan
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def encode_result(result: Any) -> bytes:
    """The response payload the runtime would send for ``result``."""
    if isinstance(result, bytes):
        return result
    return json.dumps(result, cls=_RuntimeEncoder, ensure_ascii=False).encode("utf-8")


def load_handler(function: FunctionSpec, environment: int = 1) -> Handler:
    """Import ``function``'s handler module from its CodeUri folder and return the handler callable; each
    ``environment`` (1, 2, ...) has a module copy of its own."""
    module_path, _, attribute = function.handler.rpartition(".")
    relative = Path(*module_path.split("."))
    candidates = [function.code_dir / f"{relative}.py", function.code_dir / relative / "__init__.py"]
    source = next((path for path in candidates if path.is_file()), None)
    if source is None:
        raise ImportError(f"{function.logical_id}: no module {module_path!r} in {function.code_dir}")
    unique_name = f"_stratus_fn_{function.logical_id}_{module_path.replace('.', '_')}"
    if environment > 1:
        unique_name += f"_env{environment}"
    with _IMPORT_LOCK:
        module = sys.modules.get(unique_name)
        if module is None:
            module = _import_from(source, unique_name, function)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise ImportError(f"{function.logical_id}: {source} has no callable {attribute!r}")
    return handler  # type: ignore[no-any-return]


def _import_from(source: Path, unique_name: str, function: FunctionSpec) -> ModuleType:
    for layer_dir in reversed(function.layer_dirs):
        if str(layer_dir) not in sys.path:
            sys.path.insert(0, str(layer_dir))
    spec = importlib.util.spec_from_file_location(unique_name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    code_dir = str(function.code_dir)
    sys.path.insert(0, code_dir)
    sys.modules[unique_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[unique_name]
        raise
    finally:
        sys.path.remove(code_dir)
        _forget_modules_under(function.code_dir)
    return module


def _forget_modules_under(code_dir: Path) -> None:
    """Drop the sibling modules a handler imported from its folder (they stay referenced by the handler's module),
    so the next function's ``import helper`` finds its own ``helper.py``, not this one's."""
    folder = os.path.join(os.path.abspath(code_dir), "")  # (strings: a Path per module cost 0.15 s per function)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and not name.startswith("_stratus_fn_") and os.path.abspath(file).startswith(folder):
            del sys.modules[name]


class _Environment:
    """One execution environment: its handler (wrapped, if the function is)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler


class LocalFunction:
    """One function: its execution environments, each made on first need (the first one at start), and invocation."""

    def __init__(self, spec: FunctionSpec, log: TextIO = sys.stderr, max_environments: int = MAX_ENVIRONMENTS) -> None:
        self.spec = spec
        self.log = log
        self.max_environments = max_environments
        self._all: list[_Environment] = []  # in the order made
        self._idle: list[_Environment] = []  # free for an invocation; the last one freed is used first
        self._busy = 0  # invocations running or waiting for a new environment
        self._wrappers: list[Wrapper] = []
        self._making = threading.Lock()  # environments are made (imported) one at a time, numbered in order
        # One invocation at a time per environment, as in a Lambda execution environment: handlers rely on it.
        self._state = threading.Condition()

    @property
    def environments(self) -> int:
        """How many execution environments the function has."""
        return len(self._all)

    def load(self) -> Handler:
        """Start the first environment now (the cold start: the import) and return its handler; a failure is
        retried on the next invocation, as Lambda does."""
        with self._making:
            if not self._all:
                environment = self._start_environment()
                with self._state:
                    self._idle.append(environment)
            return self._all[0].handler

    def wrap(self, wrapper: Wrapper) -> None:
        """Put ``wrapper`` around the handler of every environment, those made later included (benchmarks time
        invocations this way)."""
        with self._making, self._state:
            self._wrappers.append(wrapper)
            for environment in self._all:
                environment.handler = wrapper(environment.handler)

    def _start_environment(self) -> _Environment:
        """A new environment (the caller holds ``_making``)."""
        handler = load_handler(self.spec, len(self._all) + 1)
        for wrapper in self._wrappers:
            handler = wrapper(handler)
        environment = _Environment(handler)
        with self._state:
            self._all.append(environment)
        return environment

    def _acquire(self) -> _Environment:
        """An idle environment, or a new one when every one is busy, once fewer than ``max_environments``
        invocations run."""
        with self._state:
            while self._busy >= self.max_environments:
                self._state.wait()
            self._busy += 1
            if self._idle:
                return self._idle.pop()
        try:
            with self._making:
                return self._start_environment()
        except BaseException:
            self._release(None)
            raise

    def _release(self, environment: _Environment | None) -> None:
        with self._state:
            self._busy -= 1
            if environment is not None:
                self._idle.append(environment)
            self._state.notify()

    def invoke(self, event_json: bytes, request_id: str) -> bytes:
        """Run the handler on one event; raise :class:`InvocationError` where Lambda reports a function error."""
        name = self.spec.logical_id
        try:
            environment = self._acquire()
        except Exception as exc:
            self.report(f"Runtime.ImportModuleError: cannot import the handler {self.spec.handler!r}", exc)
            raise InvocationError(name) from exc
        try:  # the context's deadline and the elapsed time start when the invocation does
            context = LambdaContext(self.spec, request_id)
            started = time.monotonic()
            try:
                result = environment.handler(json.loads(event_json), context)
            except Exception as exc:
                self.report(f"unhandled {type(exc).__name__} in request {request_id}", exc)
                raise InvocationError(name) from exc
            elapsed = time.monotonic() - started
        finally:
            self._release(environment)
        if elapsed > self.spec.timeout_s:
            print(
                f"[{name}] WARNING: took {elapsed:.1f} s; on AWS it would time out after {self.spec.timeout_s:g} s "
                "(Timeout in template.yaml) and API Gateway would answer 500",
                file=self.log,
            )
        try:
            payload = encode_result(result)
        except (TypeError, ValueError) as exc:
            self.report("Runtime.MarshalError: unable to marshal the response", exc)
            raise InvocationError(name) from exc
        if len(payload) > LAMBDA_MAX_RESPONSE_BYTES:
            print(
                f"[{name}] Function.ResponseSizeTooLarge: the response is {len(payload)} bytes; Lambda returns at "
                f"most {LAMBDA_MAX_RESPONSE_BYTES} bytes to a synchronous caller, so API Gateway answers 500",
                file=self.log,
            )
            raise InvocationError(name)
        return payload

    def report(self, what: str, exc: BaseException) -> None:
        """Print ``what`` and the traceback of ``exc`` to the log, as the runtime prints to CloudWatch."""
        trace = "".join(traceback.format_exception(exc))
        print(f"[{self.spec.logical_id}] {what}\n{trace}", file=self.log, end="")


class FunctionSet:
    """All functions of the template, invoked by logical id (the gateway's ``invoke`` callable)."""

    def __init__(self, functions: dict[str, FunctionSpec], log: TextIO = sys.stderr) -> None:
        isolate_powertools_events()
        self.functions = {logical_id: LocalFunction(spec, log) for logical_id, spec in functions.items()}
        self.log = log

    def load_all(self) -> list[str]:
        """Import every handler now; return the logical ids that failed (their errors are printed)."""
        failed = []
        for logical_id, function in self.functions.items():
            try:
                function.load()
            except Exception as exc:  # noqa: BLE001 - whatever the module raises, Lambda reports an init error
                function.report(f"cannot import the handler {function.spec.handler!r}", exc)
                failed.append(logical_id)
        return failed

    def __call__(self, function_id: str, event_json: bytes, request_id: str) -> bytes:
        return self.functions[function_id].invoke(event_json, request_id)
