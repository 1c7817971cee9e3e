"""Steps: the units a pipeline is made of, and what a step sees while it runs.

A step is either a plain function decorated with :func:`step`::

    @step
    def clean(raw: pd.DataFrame, min_rows: int) -> pd.DataFrame: ...

    @step(outputs=("train", "test"), version="2")
    def split(clean: pd.DataFrame, context: StepContext) -> tuple[pd.DataFrame, pd.DataFrame]: ...

or a class with a ``run`` method and (optionally) declared ``inputs``,
``outputs``, ``name``, ``version`` and ``cache`` attributes::

    class Train:
        outputs = ("model",)
        version = "1"

        def __init__(self, model: str = "hgb") -> None:
            self.model = model

        def run(self, train: pd.DataFrame, context: StepContext) -> object: ...

Inputs are the parameter names (or the declared ``inputs``); each is matched by
name to an output of another step or to a pipeline parameter. A parameter named
``context`` receives the :class:`StepContext` instead. Outputs are named by
``outputs=(...)``; without it the step has one output named like the step, or
none when the function is annotated ``-> None``. With two or more outputs the
step returns a tuple (in order) or a dict (by name).

Nothing here knows what a step does: training, a gate, a deployment are all
just steps, so new kinds of step need no change to the runner.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.config import Settings
    from shipyard.data.datasets import DatasetService
    from shipyard.data.quality_service import QualityService
    from shipyard.data.split_service import SplitService
    from shipyard.deploy.service import DeploymentService
    from shipyard.features.store import FeatureStore
    from shipyard.lineage import Lineage
    from shipyard.registry.service import ModelRegistry
    from shipyard.runtime import Runtime
    from shipyard.security.service import SecurityService
    from shipyard.serving.endpoints import EndpointService
    from shipyard.stores.artifacts import ArtifactStore
    from shipyard.stores.metadata import MetadataStore
    from shipyard.training.service import TrainingService
    from shipyard.training.tracking import Tracker
    from shipyard.types import Ref

CONTEXT = "context"  # the parameter name that receives the StepContext
_STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")

F = TypeVar("F", bound=Callable[..., Any])


class StepWorkspace(Protocol):
    """The services a step may use, acting as one principal (a
    :class:`~shipyard.workspace.Workspace` is one). Named here so that the pipeline
    package needs nothing from the workspace module, which builds the pipeline service."""

    @property
    def principal(self) -> str: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def metadata(self) -> MetadataStore: ...
    @property
    def artifacts(self) -> ArtifactStore: ...
    @property
    def datasets(self) -> DatasetService: ...
    @property
    def splits(self) -> SplitService: ...
    @property
    def quality(self) -> QualityService: ...
    @property
    def runs(self) -> Tracker: ...
    @property
    def training(self) -> TrainingService: ...
    @property
    def security(self) -> SecurityService: ...
    @property
    def features(self) -> FeatureStore: ...
    @property
    def models(self) -> ModelRegistry: ...
    @property
    def endpoints(self) -> EndpointService: ...
    @property
    def deployments(self) -> DeploymentService: ...
    @property
    def runtime(self) -> Runtime: ...
    def lineage(self, ref: str | Ref) -> Lineage: ...


@dataclass(frozen=True)
class StepContext:
    """What a running step may use besides its inputs.

    ``workspace`` acts as the pipeline principal (``pipeline``); ``scratch`` is
    an empty folder that is removed after the run (store what must last as an
    output); ``params`` are all of the run's parameters, read-only.
    """

    workspace: StepWorkspace
    build_id: str
    pipeline: str
    step: str
    logger: logging.Logger
    scratch: Path
    params: Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class Step:
    """A resolved step: its name, inputs, outputs, and how to call it.

    Build one with :func:`step` (or let :class:`~shipyard.pipeline.Pipeline`
    convert a function or a class); calling it calls the underlying function,
    so a step can be unit-tested like the function it wraps.
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    call: Callable[..., Any] = field(repr=False)
    code: object = field(repr=False)  # the function or class whose source is the step's code
    state: Mapping[str, Any] = field(default_factory=dict, repr=False)  # closure/instance values
    version: str = ""
    cache: bool = True
    wants_context: bool = False
    optional: frozenset[str] = frozenset()  # inputs with a default value
    unpack: bool = False  # a tuple/dict return is split into the outputs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(*args, **kwargs)

    def split_outputs(self, value: Any) -> dict[str, Any]:
        """The step's return value as ``{output name: value}``; InvalidInput if it does not fit."""
        if not self.outputs:
            return {}
        if not self.unpack:
            return {self.outputs[0]: value}
        if isinstance(value, Mapping):
            return self._from_mapping(value)
        if isinstance(value, tuple | list) and len(value) == len(self.outputs):
            return dict(zip(self.outputs, value, strict=True))
        raise InvalidInput(
            f"Step {self.name!r} declares outputs {', '.join(self.outputs)} but returned "
            f"{_describe(value)}.",
            hint=f"Return a tuple of {len(self.outputs)} values or a dict with those keys.",
        )

    def _from_mapping(self, value: Mapping[Any, Any]) -> dict[str, Any]:
        if set(value) != set(self.outputs):
            raise InvalidInput(
                f"Step {self.name!r} returned a dict with keys {sorted(map(str, value))}, "
                f"but declares outputs {list(self.outputs)}.",
                hint="Return exactly the declared outputs.",
            )
        return {name: value[name] for name in self.outputs}


@overload
def step(fn: F, /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    outputs: tuple[str, ...] | list[str] | str | None = None,
    version: str = "",
    cache: bool = True,
) -> Callable[[F], Step]: ...


def step(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    outputs: tuple[str, ...] | list[str] | str | None = None,
    version: str = "",
    cache: bool = True,
) -> Step | Callable[[F], Step]:
    """Make a pipeline step of a function (use as ``@step`` or ``@step(...)``).

    ``outputs`` names the outputs (a tuple/dict return is split into them);
    ``version`` is part of the step's code hash: bump it to invalidate cached
    results when something the source does not show has changed; ``cache=False``
    makes the step run every time.

    >>> @step(outputs=("low", "high"))
    ... def bounds(values: list) -> tuple:
    ...     return min(values), max(values)
    >>> bounds.inputs, bounds.outputs
    (('values',), ('low', 'high'))
    """

    def wrap(function: F) -> Step:
        return function_step(function, name=name, outputs=outputs, version=version, cache=cache)

    return wrap(fn) if fn is not None else wrap


def function_step(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    outputs: tuple[str, ...] | list[str] | str | None = None,
    version: str = "",
    cache: bool = True,
) -> Step:
    """The Step of a plain function (what ``@step`` does)."""
    if not inspect.isfunction(fn):
        raise InvalidInput(
            f"@step needs a function, got {_describe(fn)}.",
            hint="Decorate a def, or give the pipeline a class with a run method.",
        )
    step_name = _check_step_name(name or fn.__name__)
    signature = inspect.signature(fn)
    inputs, optional, wants_context = _parameters(signature, step_name)
    declared = _declared_outputs(outputs, step_name, signature)
    return Step(
        name=step_name,
        inputs=inputs,
        outputs=declared,
        call=fn,
        code=fn,
        state=_closure_values(fn),
        version=str(version),
        cache=bool(cache),
        wants_context=wants_context,
        optional=optional,
        unpack=_unpacks(outputs),
    )


def class_step(obj: Any) -> Step:
    """The Step of a class (instantiated with no arguments) or of an instance with ``run``."""
    instance = obj() if inspect.isclass(obj) else obj
    cls = type(instance)
    run = getattr(instance, "run", None)
    if not callable(run):
        raise InvalidInput(f"{cls.__name__} has no run method, so it cannot be a step.")
    step_name = _check_step_name(getattr(instance, "name", None) or _snake(cls.__name__))
    signature = inspect.signature(run)
    found, optional, wants_context = _parameters(signature, step_name)
    declared_inputs = getattr(instance, "inputs", None)
    inputs = _names(declared_inputs, step_name, "input") if declared_inputs is not None else found
    outputs = getattr(instance, "outputs", None)
    return Step(
        name=step_name,
        inputs=inputs,
        outputs=_declared_outputs(outputs, step_name, signature),
        call=run,
        code=cls,
        state=dict(getattr(instance, "__dict__", {})),
        version=str(getattr(instance, "version", "")),
        cache=bool(getattr(instance, "cache", True)),
        wants_context=wants_context,
        optional=optional & set(inputs),
        unpack=_unpacks(outputs),
    )


def as_step(obj: Any) -> Step:
    """Whatever a pipeline was given as a step, as a :class:`Step`."""
    if isinstance(obj, Step):
        return obj
    if inspect.isfunction(obj):
        return function_step(obj)
    if inspect.isclass(obj) or callable(getattr(obj, "run", None)):
        return class_step(obj)
    raise InvalidInput(
        f"{_describe(obj)} is not a step.",
        hint="Use a function decorated with @step, or a class with a run method.",
    )


def _parameters(
    signature: inspect.Signature, step_name: str
) -> tuple[tuple[str, ...], frozenset[str], bool]:
    """Inputs (parameter names but ``context``), those with defaults, and whether it wants one."""
    inputs: list[str] = []
    optional: set[str] = set()
    wants_context = False
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue  # *args/**kwargs take nothing by name; declare ``inputs`` on a class
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise InvalidInput(
                f"Step {step_name!r}: parameter {parameter.name!r} is positional-only.",
                hint="Step inputs are passed by name; remove the '/'.",
            )
        if parameter.name == CONTEXT:
            wants_context = True
            continue
        inputs.append(parameter.name)
        if parameter.default is not parameter.empty:
            optional.add(parameter.name)
    return tuple(inputs), frozenset(optional), wants_context


def _declared_outputs(
    outputs: Any, step_name: str, signature: inspect.Signature
) -> tuple[str, ...]:
    if outputs is None:
        returns_none = signature.return_annotation in (None, "None")
        return () if returns_none else (_identifier(step_name, step_name, "output"),)
    return _names(outputs, step_name, "output")


def _unpacks(outputs: Any) -> bool:
    return outputs is not None and not isinstance(outputs, str) and len(outputs) > 1


def _names(value: Any, step_name: str, what: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    names = tuple(_identifier(item, step_name, what) for item in items)
    if len(set(names)) != len(names):
        raise InvalidInput(f"Step {step_name!r} names an {what} twice: {list(names)}.")
    return names


def _identifier(name: Any, step_name: str, what: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or name == CONTEXT:
        raise InvalidInput(
            f"Step {step_name!r}: {what} name {name!r} is not allowed.",
            hint="Input and output names are Python identifiers other than 'context' "
            "(they are passed as keyword arguments).",
        )
    return name


def _check_step_name(name: Any) -> str:
    if not isinstance(name, str) or not _STEP_NAME.match(name):
        raise InvalidInput(
            f"Step name {name!r} is not valid.",
            hint="Use up to 128 letters, digits, '_', '.' or '-', starting with a letter or '_'.",
        )
    return name


def _closure_values(fn: Callable[..., Any]) -> dict[str, Any]:
    """Values a function closes over: part of its code, since the source does not show them."""
    cells = getattr(fn, "__closure__", None) or ()
    names = fn.__code__.co_freevars
    values: dict[str, Any] = {}
    for name, cell in zip(names, cells, strict=True):
        try:
            values[name] = cell.cell_contents
        except ValueError:  # a cell not yet assigned
            values[name] = None
    return values


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _describe(value: Any) -> str:
    kind = type(value).__name__
    return f"a {kind}" if not isinstance(value, tuple | list) else f"a {kind} of {len(value)}"


def freeze(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view of ``mapping`` (what steps get as ``context.params``)."""
    return MappingProxyType(dict(mapping))
