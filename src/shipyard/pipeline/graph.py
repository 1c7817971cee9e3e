"""A pipeline: named steps and parameters, resolved into a validated graph up front.

Each step input is bound, by name, to exactly one thing: the output of another
step, a pipeline parameter, or (when nothing else supplies it) the default
value of the step's own parameter. Everything that can be wrong with the graph
is found when the :class:`Pipeline` is built, before any step runs: inputs that
nothing supplies, two steps producing the same output, a name that is both an
output and a parameter, two steps with one name, and cycles. The order of the
``steps`` list does not matter; steps run in a topological order that keeps
the list's order where the graph leaves a choice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from shipyard.errors import InvalidInput
from shipyard.pipeline.step import Step, as_step
from shipyard.types import check_name

if TYPE_CHECKING:
    from shipyard.pipeline.runner import PipelineRun, PipelineService

Source = Literal["output", "param", "default"]


class RunsPipelines(Protocol):
    """Anything with a pipeline service (a workspace)."""

    @property
    def pipelines(self) -> PipelineService: ...


@dataclass(frozen=True)
class Binding:
    """Where one step input comes from: another step's output, a parameter, or its default."""

    source: Source
    producer: str | None = None  # the step that produces it, for outputs


class Pipeline:
    """Steps and parameters, validated into a graph when built.

    >>> from shipyard.pipeline import step
    >>> @step
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> @step
    ... def report(double: int) -> str:
    ...     return f"got {double}"
    >>> p = Pipeline("demo", steps=[report, double], params={"x": 2})
    >>> [s.name for s in p.order]
    ['double', 'report']
    """

    def __init__(
        self,
        name: str,
        steps: Sequence[Any],
        params: Mapping[str, Any] | None = None,
        *,
        description: str = "",
        source: str | Path | None = None,
    ) -> None:
        self.name = check_name(name, "Pipeline name")
        self.params: dict[str, Any] = dict(params or {})
        self.description = description
        self.source = Path(source) if source is not None else None
        self.steps: tuple[Step, ...] = tuple(as_step(s) for s in steps)
        _check_params(self.params)
        self.bindings, self.producers = _resolve(self.steps, self.params)
        self.order: tuple[Step, ...] = _topological_order(self.steps, self.bindings)

    def step(self, name: str) -> Step:
        """The step called ``name``; InvalidInput naming the known steps if there is none."""
        for candidate in self.steps:
            if candidate.name == name:
                return candidate
        known = ", ".join(s.name for s in self.steps)
        raise InvalidInput(f"Pipeline {self.name!r} has no step {name!r}.", hint=f"Steps: {known}.")

    def upstream(self, name: str) -> set[str]:
        """The steps whose outputs ``name`` reads directly."""
        return {b.producer for b in self.bindings[name].values() if b.producer is not None}

    def downstream(self, name: str) -> set[str]:
        """Every step that depends, directly or not, on ``name``'s outputs."""
        found: set[str] = set()
        frontier = {name}
        while frontier:
            frontier = {s.name for s in self.steps if self.upstream(s.name) & frontier} - found
            found |= frontier
        return found

    def resolve_params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The pipeline's parameters with ``overrides`` applied; unknown names are refused."""
        unknown = sorted(set(overrides or {}) - set(self.params))
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise InvalidInput(
                f"Pipeline {self.name!r} has no parameter {', '.join(map(repr, unknown))}.",
                hint=f"Its parameters: {known}. Declare new ones in Pipeline(params=...).",
            )
        return {**self.params, **(overrides or {})}

    def run(
        self,
        workspace: RunsPipelines,
        params: Mapping[str, Any] | None = None,
        *,
        cache: bool = True,
    ) -> PipelineRun:
        """Run this pipeline in ``workspace`` (see :class:`~shipyard.pipeline.PipelineService`)."""
        return workspace.pipelines.run(self, params, cache=cache)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={[s.name for s in self.order]})"


def _check_params(params: Mapping[str, Any]) -> None:
    for key in params:
        if not isinstance(key, str) or not key.isidentifier():
            raise InvalidInput(
                f"Pipeline parameter name {key!r} is not allowed.",
                hint="Parameter names are Python identifiers (steps receive them by name).",
            )


def _resolve(
    steps: Sequence[Step], params: Mapping[str, Any]
) -> tuple[dict[str, dict[str, Binding]], dict[str, str]]:
    """Bind every input of every step, or raise one InvalidInput listing every problem."""
    problems: list[str] = []
    if not steps:
        problems.append("it has no steps")
    problems += _duplicate_names(steps)
    producers, clashes = _producers(steps)
    problems += clashes
    problems += [
        f"{output!r} is both a parameter and an output of step {producers[output]!r}"
        for output in sorted(set(producers) & set(params))
    ]
    bindings: dict[str, dict[str, Binding]] = {}
    for item in steps:
        bound, unbound = _bind(item, producers, params)
        bindings[item.name] = bound
        problems += unbound
    if problems:
        raise InvalidInput(
            "The pipeline is not valid: " + "; ".join(problems) + ".",
            hint=_known_names(producers, params),
        )
    return bindings, producers


def _duplicate_names(steps: Sequence[Step]) -> list[str]:
    counts = Counter(s.name for s in steps)
    return [f"two steps are called {name!r}" for name, n in sorted(counts.items()) if n > 1]


def _producers(steps: Sequence[Step]) -> tuple[dict[str, str], list[str]]:
    producers: dict[str, str] = {}
    clashes: list[str] = []
    for item in steps:
        for output in item.outputs:
            if output in producers and producers[output] != item.name:
                clashes.append(
                    f"steps {producers[output]!r} and {item.name!r} both produce {output!r}"
                )
            producers.setdefault(output, item.name)
    return producers, clashes


def _bind(
    item: Step, producers: Mapping[str, str], params: Mapping[str, Any]
) -> tuple[dict[str, Binding], list[str]]:
    bound: dict[str, Binding] = {}
    problems: list[str] = []
    for name in item.inputs:
        if name in producers:
            bound[name] = Binding("output", producers[name])
        elif name in params:
            bound[name] = Binding("param")
        elif name in item.optional:
            bound[name] = Binding("default")
        else:
            problems.append(f"step {item.name!r} reads {name!r}, which no step or parameter gives")
    return bound, problems


def _known_names(producers: Mapping[str, str], params: Mapping[str, Any]) -> str:
    outputs = ", ".join(sorted(producers)) or "none"
    names = ", ".join(sorted(params)) or "none"
    return f"Outputs: {outputs}. Parameters: {names}."


def _topological_order(
    steps: Sequence[Step], bindings: Mapping[str, Mapping[str, Binding]]
) -> tuple[Step, ...]:
    """Kahn's algorithm, always taking the earliest listed step that is ready."""
    needs = {s.name: {b.producer for b in bindings[s.name].values() if b.producer} for s in steps}
    order: list[Step] = []
    done: set[str] = set()
    remaining = list(steps)
    while remaining:
        ready = next((s for s in remaining if needs[s.name] <= done), None)
        if ready is None:
            raise InvalidInput(
                f"The pipeline has a cycle: {_find_cycle(remaining, bindings)}.",
                hint="A step cannot depend, directly or not, on its own outputs.",
            )
        order.append(ready)
        done.add(ready.name)
        remaining.remove(ready)
    return tuple(order)


def _find_cycle(remaining: Sequence[Step], bindings: Mapping[str, Mapping[str, Binding]]) -> str:
    """Walk upstream from a blocked step until a step repeats: that loop is a cycle."""
    names = {s.name for s in remaining}
    path = [remaining[0].name]
    while True:
        upstream = sorted(
            b.producer
            for b in bindings[path[-1]].values()
            if b.producer in names and b.producer is not None
        )
        following = upstream[0]
        if following in path:
            loop = [*path[path.index(following) :], following]
            return " → ".join(reversed(loop))
        path.append(following)
