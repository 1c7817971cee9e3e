"""A deployment's plan: the candidate's share of traffic at each step, and how long each
step bakes before the next.

- ``canary``: the steps given as percents (default ``10,50,100``);
- ``linear``: N equal steps (default 4: 25, 50, 75, 100);
- ``blue-green``: green is warmed with no traffic, then takes everything at once
  (default ``100``), or after one canary step (``--steps 10,100``);
- ``shadow``: the candidate is a shadow variant that gets a copy of a ``sample`` of the
  requests and answers none, until the deployment is ended by hand; its report compares
  the two variants' answers to the same requests;
- ``ab``: an A/B test: the candidate takes ``weight`` percent of the traffic, assigned
  stickily by the routing key, until the test is ended by hand (promoted or rolled back).

Every strategy starts with a warm-up with the candidate at weight 0 (serving processes
load and warm every variant of their endpoints in the background), and bakes its last
step too: the stable variant stays loaded at weight 0 until then, so a rollback moves
no model.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.features.definitions import parse_duration

STRATEGIES = ("canary", "linear", "blue-green", "shadow", "ab")
DEFAULT_STEPS = {"canary": "10,50,100", "linear": "4", "blue-green": "100", "shadow": "", "ab": ""}
DEFAULT_BAKE = timedelta(minutes=5)
DEFAULT_WARM = timedelta(seconds=5)  # longer than the serving processes' refresh period


@dataclass(frozen=True)
class Plan:
    strategy: str
    shares: tuple[float, ...]  # the candidate's share at each step, the last 1.0
    bake: timedelta
    warm: timedelta = DEFAULT_WARM
    sample: float = 1.0  # a shadow's share of the requests it gets copies of

    def to_spec(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "shares": list(self.shares),
            "bake_seconds": self.bake.total_seconds(),
            "warm_seconds": self.warm.total_seconds(),
            "sample": self.sample,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Plan:
        return cls(
            spec["strategy"],
            tuple(float(s) for s in spec["shares"]),
            timedelta(seconds=float(spec["bake_seconds"])),
            timedelta(seconds=float(spec["warm_seconds"])),
            float(spec.get("sample", 1.0)),
        )


def make_plan(
    strategy: str,
    steps: str | Sequence[float] | int | None = None,
    bake: Any = DEFAULT_BAKE,
    warm: Any = DEFAULT_WARM,
    sample: Any = 1.0,
    weight: Any = None,
) -> Plan:
    """The plan for ``strategy`` with ``steps`` (percents, or a count for linear) and a
    ``bake`` period per step (``30s``, ``5m``, seconds, or a timedelta); a shadow's
    ``sample`` (above 0, at most 1); an A/B test's ``weight`` (the candidate's percent)."""
    if strategy not in STRATEGIES:
        raise InvalidInput(
            f"Unknown strategy {strategy!r}.",
            hint=f"Use one of: {', '.join(STRATEGIES)}.",
        )
    if strategy == "ab":
        if steps:
            raise InvalidInput("An A/B test has no steps: give --weight (the candidate's %).")
        share = _fraction(weight)
        if share is None or not 0 < share < 1:
            raise InvalidInput(
                f"An A/B test's weight is the candidate's percent, above 0 and below 100, "
                f"got {weight!r}.",
                hint="For example --weight 30.",
            )
        return Plan(strategy, (share,), DEFAULT_BAKE, parse_duration(warm, "The warm-up")
                    or timedelta(0))  # fmt: skip
    if strategy == "shadow":
        if steps:
            raise InvalidInput("A shadow deployment has no steps: give --sample instead.")
        if isinstance(sample, bool) or not isinstance(sample, int | float) or not 0 < sample <= 1:
            raise InvalidInput(
                f"The shadow's sample must be above 0 and at most 1, got {sample!r}.",
                hint="For example --sample 0.2: a copy of one request in five.",
            )
        return Plan(strategy, (), DEFAULT_BAKE, timedelta(0), float(sample))
    text = DEFAULT_STEPS[strategy] if steps is None else steps
    shares = _linear(text) if strategy == "linear" else _percents(text)
    baked = _positive(parse_duration(bake, "The bake period"), "The bake period")
    warmed = parse_duration(warm, "The warm-up") or timedelta(0)
    return Plan(strategy, shares, baked, warmed)


def _linear(steps: Any) -> tuple[float, ...]:
    count = steps if isinstance(steps, int) else str(steps).strip()
    if isinstance(count, str) and not count.isdigit():
        raise InvalidInput(
            f"A linear deployment takes a number of steps, got {steps!r}.",
            hint="For example --steps 4 (25%, 50%, 75%, 100%).",
        )
    number = int(count)
    if not 1 <= number <= 100:
        raise InvalidInput(f"A linear deployment takes 1 to 100 steps, got {number}.")
    return tuple((i + 1) / number for i in range(number))


def _percents(steps: Any) -> tuple[float, ...]:
    items = str(steps).split(",") if isinstance(steps, str) else list(steps)
    try:
        percents = [float(str(item).strip().rstrip("%")) for item in items]
    except ValueError:
        raise InvalidInput(
            f"Steps are percents of traffic separated by commas, got {steps!r}.",
            hint="For example --steps 10,50,100.",
        ) from None
    wrong = (
        not percents
        or any(not 0 < p <= 100 for p in percents)
        or any(b <= a for a, b in itertools.pairwise(percents))
        or percents[-1] != 100
    )
    if wrong:
        raise InvalidInput(
            f"Steps must rise from above 0 to 100 percent, got {steps!r}.",
            hint="For example --steps 10,50,100: the last step sends everything.",
        )
    return tuple(p / 100 for p in percents)


def _fraction(percent: Any) -> float | None:
    if percent is None or isinstance(percent, bool):
        return None
    try:
        return float(str(percent).strip().rstrip("%")) / 100
    except ValueError:
        return None


def _positive(value: timedelta | None, what: str) -> timedelta:
    if value is None or value.total_seconds() <= 0:
        raise InvalidInput(f"{what} must be above 0.", hint="For example 30s or 5m.")
    return value
