"""Guard alarms: is the candidate worse than the stable variant on live traffic?

Each alarm compares the two variants' captured requests of the current step (the
capture the serving processes write; see ``docs/operations.md``):

- ``error_rate>X``: the candidate's share of answers that are not 200 is above X and
  above the stable variant's (so a burst of bad requests, which both refuse, is not the
  candidate's fault);
- ``p99_ratio>X``: the candidate's 99th percentile latency is above X times the stable's
  and at least 25 ms above it, over at least 50 answered requests of each (with fewer,
  a 99th percentile is one slow request: a pause of the process, not the model);
- ``prediction_drift>X``: the Jensen-Shannon distance (0 to 1) between the two
  variants' predictions is above X (class frequencies, or ten bins of the stable's
  deciles for numbers) and a chi-square test of the two says the difference is real
  (p < 0.01): with a few dozen answers a side, a distance of 0.25 happens by chance.

An alarm needs ``min_requests`` of each variant before it judges; the defaults are
:data:`DEFAULT_ALARMS`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput

KINDS = ("error_rate", "p99_ratio", "prediction_drift")
DEFAULT_ALARMS = ("error_rate>0.01", "p99_ratio>2", "prediction_drift>0.2")
MIN_REQUESTS = 20
P99_REQUESTS = 50  # answered requests of each variant before a p99 is compared
P99_GAP_SECONDS = 0.025  # below this, a doubled p99 is noise, not a slow model
_ALARM = re.compile(r"^\s*([a-z_0-9]+)\s*>\s*([0-9.eE+-]+)\s*$")


@dataclass(frozen=True)
class Alarm:
    kind: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.kind}>{self.threshold:g}"


@dataclass(frozen=True)
class Fired:
    """An alarm that went off, with the values that set it off."""

    alarm: str
    candidate: float
    stable: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "alarm": self.alarm,
            "candidate": self.candidate,
            "stable": self.stable,
            "message": self.message,
        }


def parse_alarms(texts: Sequence[str] | None) -> tuple[Alarm, ...]:
    """``["error_rate>0.02", ...]`` (None: the defaults) as alarms."""
    alarms = []
    for text in DEFAULT_ALARMS if texts is None else texts:
        match = _ALARM.match(str(text))
        if match is None or match[1] not in KINDS:
            raise InvalidInput(
                f"Alarm {text!r} is not KIND>THRESHOLD.",
                hint=f"KIND is one of {', '.join(KINDS)}; for example error_rate>0.01.",
            )
        try:
            threshold = float(match[2])
        except ValueError:
            raise InvalidInput(f"Alarm {text!r} has no number after '>'.") from None
        if not math.isfinite(threshold) or threshold < 0:
            raise InvalidInput(f"Alarm {text!r} needs a threshold of 0 or more.")
        alarms.append(Alarm(match[1], threshold))
    return tuple(alarms)


@dataclass(frozen=True)
class Traffic:
    """One variant's captured requests in a step: statuses, latencies, predictions."""

    statuses: np.ndarray
    seconds: np.ndarray  # total latency of the 200s
    predictions: list[Any]

    @classmethod
    def of(cls, rows: Any) -> Traffic:
        """From captured rows (a pandas frame of ``read_capture``)."""
        if rows is None or len(rows) == 0:
            return cls(np.zeros(0, dtype=int), np.zeros(0), [])
        statuses = rows["status"].to_numpy(dtype=int)
        ok = rows[statuses == 200]
        predictions: list[Any] = []
        for text in ok["output"]:
            if text is not None:
                value = json.loads(text)
                predictions.extend(value if isinstance(value, list) else [value])
        return cls(statuses, ok["total_seconds"].to_numpy(dtype=float), predictions)

    @property
    def requests(self) -> int:
        return len(self.statuses)


def evaluate(
    alarms: Sequence[Alarm], candidate: Traffic, stable: Traffic, min_requests: int
) -> list[Fired]:
    """The alarms that fire for ``candidate`` against ``stable``."""
    if candidate.requests < min_requests:
        return []
    fired = []
    for alarm in alarms:
        found = _CHECKS[alarm.kind](alarm.threshold, candidate, stable, min_requests)
        if found is not None:
            fired.append(found)
    return fired


def _error_rate(limit: float, candidate: Traffic, stable: Traffic, _: int) -> Fired | None:
    rate = float(np.mean(candidate.statuses != 200))
    base = float(np.mean(stable.statuses != 200)) if stable.requests else 0.0
    if rate > limit and rate > base:
        return Fired(
            f"error_rate>{limit:g}",
            rate,
            base,
            f"{rate:.1%} of the candidate's requests failed (stable: {base:.1%}).",
        )
    return None


def _p99_ratio(limit: float, candidate: Traffic, stable: Traffic, least: int) -> Fired | None:
    least = max(least, P99_REQUESTS)
    if len(candidate.seconds) < least or len(stable.seconds) < least:
        return None
    mine = float(np.percentile(candidate.seconds, 99))
    theirs = float(np.percentile(stable.seconds, 99))
    if theirs > 0 and mine / theirs > limit and mine - theirs > P99_GAP_SECONDS:
        return Fired(
            f"p99_ratio>{limit:g}",
            mine,
            theirs,
            f"The candidate's p99 latency {mine * 1000:.1f} ms is "
            f"{mine / theirs:.1f}x the stable's {theirs * 1000:.1f} ms.",
        )
    return None


def _drift(limit: float, candidate: Traffic, stable: Traffic, least: int) -> Fired | None:
    if len(candidate.predictions) < least or len(stable.predictions) < least:
        return None
    distance = js_distance(candidate.predictions, stable.predictions)
    if distance <= limit:
        return None
    # A few dozen answers a side differ by chance: the distance must also be real.
    p_value = homogeneity_p(candidate.predictions, stable.predictions)
    if p_value >= DRIFT_ALPHA:
        return None
    return Fired(
        f"prediction_drift>{limit:g}",
        distance,
        0.0,
        f"The candidate's predictions differ from the stable's: Jensen-Shannon "
        f"distance {distance:.3f} (chi-square p = {p_value:.2g}).",
    )


DRIFT_ALPHA = 0.01  # how sure a prediction drift must be before it rolls a deployment back


def homogeneity_p(values: Sequence[Any], reference: Sequence[Any]) -> float:
    """The chi-square test's p-value that both samples come from one distribution, over
    the same categories or bins as :func:`js_distance`."""
    from scipy.stats import chi2_contingency

    mine, theirs = _histograms(values, reference)
    table = np.vstack([mine, theirs])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


_CHECKS = {"error_rate": _error_rate, "p99_ratio": _p99_ratio, "prediction_drift": _drift}


def js_distance(values: Sequence[Any], reference: Sequence[Any]) -> float:
    """The Jensen-Shannon distance (base 2, 0 to 1) between two samples: over their
    categories, or over ten bins cut at the reference's deciles when both are numbers
    with more than ten distinct values."""
    mine, theirs = _histograms(values, reference)
    p = mine / mine.sum()
    q = theirs / theirs.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        right = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(math.sqrt(max((left + right) / 2, 0.0)))


def _histograms(values: Sequence[Any], reference: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    numeric = all(_is_number(v) for v in [*values, *reference])
    if numeric and len(set(reference)) > 10:
        edges = np.unique(np.quantile(np.asarray(reference, dtype=float), np.linspace(0, 1, 11)))
        inner = edges[1:-1]
        mine = np.bincount(np.searchsorted(inner, values), minlength=len(inner) + 1)
        theirs = np.bincount(np.searchsorted(inner, reference), minlength=len(inner) + 1)
        return mine.astype(float), theirs.astype(float)
    categories = sorted({json.dumps(v) for v in [*values, *reference]})
    index = {c: i for i, c in enumerate(categories)}
    mine = np.bincount([index[json.dumps(v)] for v in values], minlength=len(categories))
    theirs = np.bincount([index[json.dumps(v)] for v in reference], minlength=len(categories))
    return mine.astype(float), theirs.astype(float)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
