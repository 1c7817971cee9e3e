"""How strongly features go together: one association score in [0, 1] per pair.

* number-number: absolute Spearman (rank) or Pearson correlation;
* category-category: Cramér's V (no bias correction);
* number-category: the correlation ratio η (the share of the number's spread that
  the category explains, square-rooted), on ranks when the method is Spearman.

The three scales differ, but each is 1 for a feature that is a function of the other
(a duplicate, a recoding), which is what a redundancy check needs. Pairs at or above
``threshold`` are flagged as redundant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from rich.table import Table

from shipyard.errors import InvalidInput
from shipyard.jsonsafe import jsonable
from shipyard.training.features import column_kinds


@dataclass(frozen=True)
class CorrelationReport:
    """The association matrix and the redundant pairs (``(a, b, score)``, strongest first)."""

    method: str
    threshold: float
    rows: int
    matrix: pd.DataFrame
    redundant: list[tuple[str, str, float]]

    def redundant_with(self, feature: str) -> list[str]:
        """The features flagged as redundant with ``feature``."""
        return [b if a == feature else a for a, b, _ in self.redundant if feature in (a, b)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the matrix as nested dicts and the redundant pairs."""
        out: dict[str, Any] = jsonable(
            {
                "method": self.method,
                "threshold": self.threshold,
                "rows": self.rows,
                "matrix": {c: self.matrix[c].to_dict() for c in self.matrix.columns},
                "redundant": [{"a": a, "b": b, "score": s} for a, b, s in self.redundant],
            }
        )
        return out

    def table(self) -> Table:
        """The redundant pairs."""
        table = Table(title=f"Redundant feature pairs (association ≥ {self.threshold:g})")
        for column in ("feature", "redundant with", "association"):
            table.add_column(column)
        for a, b, score in self.redundant:
            table.add_row(a, b, f"{score:.3f}")
        return table


def _cramers_v(a: pd.Series, b: pd.Series) -> float:
    counts = pd.crosstab(a, b).to_numpy(dtype="float64")
    n = counts.sum()
    if n == 0 or min(counts.shape) < 2:
        return math.nan
    expected = counts.sum(axis=1, keepdims=True) * counts.sum(axis=0, keepdims=True) / n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    return math.sqrt(chi2 / n / (min(counts.shape) - 1))


def _eta(values: pd.Series, groups: pd.Series) -> float:
    both = pd.DataFrame({"v": values, "g": groups}).dropna(subset=["v"])
    total = float(((both["v"] - both["v"].mean()) ** 2).sum())
    if total == 0:
        return math.nan
    by = both.groupby("g", observed=True)["v"]
    between = float((by.count() * (by.mean() - both["v"].mean()) ** 2).sum())
    return math.sqrt(between / total)


def correlation_report(
    frame: pd.DataFrame,
    features: Sequence[str] | None = None,
    *,
    method: Literal["spearman", "pearson"] = "spearman",
    threshold: float = 0.9,
    max_rows: int = 50_000,
    seed: int = 0,
) -> CorrelationReport:
    """Associations between ``features`` of ``frame`` (a seeded sample of ``max_rows``).

    >>> f = pd.DataFrame({"a": range(10), "b": [2 * i for i in range(10)], "c": list("xyxyxyxyxy")})
    >>> correlation_report(f).redundant
    [('a', 'b', 1.0)]
    """
    if method not in ("spearman", "pearson"):
        raise InvalidInput(f"Unknown method {method!r}.", hint="Use 'spearman' or 'pearson'.")
    names = list(features if features is not None else frame.columns)
    sample = frame[names]
    if len(sample) > max_rows:
        sample = sample.sample(max_rows, random_state=seed)
    numeric, categorical = column_kinds(sample)
    numbers = sample[numeric].astype("float64")
    if method == "spearman":
        numbers = numbers.rank()  # Spearman is Pearson on ranks; η then uses ranks too
    texts = {c: sample[c].astype(object).fillna("<missing>") for c in categorical}
    scores = np.eye(len(names))
    at = {name: i for i, name in enumerate(names)}
    if numeric:
        rows = [at[c] for c in numeric]
        scores[np.ix_(rows, rows)] = numbers.corr().abs().to_numpy()
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            if a in texts and b in texts:
                scores[i, j] = scores[j, i] = _cramers_v(texts[a], texts[b])
            elif a in texts or b in texts:
                number, group = (b, a) if a in texts else (a, b)
                scores[i, j] = scores[j, i] = _eta(numbers[number], texts[group])
    matrix = pd.DataFrame(scores, index=names, columns=names)
    redundant = [
        (a, names[j], round(float(scores[i, j]), 6))
        for i, a in enumerate(names)
        for j in range(i + 1, len(names))
        if scores[i, j] >= threshold  # NaN (a constant column) never counts
    ]
    redundant.sort(key=lambda item: -item[2])
    return CorrelationReport(method, threshold, len(sample), matrix, redundant)
