"""Features not available at prediction time: declared ones, and each feature's score alone.

Declared: a column named in ``known_after`` is only known after the event the model
predicts (a departure delay, for an arrival-delay model); using it as a feature is an
error whatever it scores.

Measured: each feature alone is scored against the target on the validation set
(the rules that turn scores into findings are in ``proxy_rules``).

* Binary target (two distinct values; the larger is "positive"): ROC AUC. A numeric
  (or datetime) feature is scored twice and the better score counts: used as it is,
  with ``max(auc, 1 - auc)`` since either direction gives the answer away; and
  binned on training (one bin per value when it has at most 32, else 32 quantile
  bins), each bin replaced by its training positive rate, which catches a feature
  that is telling without being monotone (an hour of day). A categorical feature
  (text, category, boolean) is replaced by the positive rate of its value learned on
  training (the training rate for values training never saw), and that raw AUC is
  the score.
* Multi-class target (text/category/boolean, or integers with at most 20 classes):
  accuracy of predicting, for each feature value, the majority class of that value on
  training (a number training never saw takes the majority of the nearest number it
  saw). Accuracy is flagged only when it beats always predicting the commonest class
  (``baseline``).
* Numeric target (floats, or integers with more than 20 values): absolute Spearman
  correlation with the feature (categoricals: with their training mean of the
  target; numbers: the better of the raw value and its bin's training mean).

Nulls: rows with a null target are left out of fitting and scoring. A null in a
categorical feature is a value of its own. For AUC, nulls in a numeric feature are
ranked once below and once above every value and the higher score counts, so a
feature whose missingness gives the target away is caught; for Spearman they are
dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from shipyard.data.leakage.report import FeatureScore, Finding, as_float
from shipyard.data.leakage.report import is_numeric as _is_numeric

MAX_INTEGER_CLASSES = 20
MAX_BINS = 32
METRIC_NAMES = {"roc_auc": "ROC AUC", "accuracy": "accuracy", "spearman": "|Spearman|"}


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float | None:
    """ROC AUC of ``scores`` for boolean ``labels`` via the rank-sum (Mann-Whitney U)
    identity; tied scores count half. Rows with a NaN score are dropped; ``None`` when
    one class is absent.

    >>> roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    """
    from scipy.stats import rankdata  # scipy.stats takes ~0.5 s to import: only when used

    s = np.asarray(scores, dtype="float64")
    y = np.asarray(labels, dtype=bool)
    keep = ~np.isnan(s)
    s, y = s[keep], y[keep]
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    u = float(rankdata(s)[y].sum()) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def target_kind(values: pd.Series) -> str:
    """``"binary"``, ``"multiclass"``, ``"continuous"`` or ``"constant"`` (see above).

    >>> target_kind(pd.Series([0, 1, 1])), target_kind(pd.Series([0.5, 1.5, 2.0]))
    ('binary', 'continuous')
    """
    distinct = values.nunique(dropna=True)
    if distinct < 2:
        return "constant"
    if distinct == 2:
        return "binary"
    if pd.api.types.is_float_dtype(values) or (
        _is_numeric(values) and distinct > MAX_INTEGER_CLASSES
    ):
        return "continuous"
    return "multiclass"


def feature_scores(
    training: pd.DataFrame, validation: pd.DataFrame, *, features: Sequence[str], target: str
) -> list[FeatureScore]:
    """Each feature's univariate score on ``validation`` (fitted on ``training``).

    >>> tr = pd.DataFrame({"x": [1, 2, 3, 4], "c": list("aabb"), "y": [0, 0, 1, 1]})
    >>> [(s.feature, s.score) for s in feature_scores(tr, tr, features=["x", "c"], target="y")]
    [('x', 1.0), ('c', 1.0)]
    """
    tr = training.loc[training[target].notna().to_numpy(), [*features, target]]
    va = validation.loc[validation[target].notna().to_numpy(), [*features, target]]
    if len(tr) == 0 or len(va) == 0:
        return []
    kind, y_tr, y_va = encode_target(tr[target], va[target])
    if kind == "constant":
        return []
    scores = []
    for name in features:
        numeric = _is_numeric(tr[name]) and _is_numeric(va[name])
        kind_of = "numeric" if numeric else "categorical"
        if kind == "binary":
            scores.append(_binary(name, tr[name], va[name], y_tr, y_va, numeric, kind_of))
        elif kind == "multiclass":
            scores.append(_multiclass(name, tr[name], va[name], y_tr, y_va, numeric, kind_of))
        else:
            scores.append(_continuous(name, tr, va, target, numeric, kind_of))
    return scores


def encode_target(train: pd.Series, valid: pd.Series) -> tuple[str, np.ndarray, np.ndarray]:
    """The target's kind and its values as numbers: booleans (binary: is it the larger
    value), class codes (multi-class) or floats; the input has no nulls.

    >>> encode_target(pd.Series(["a", "b"]), pd.Series(["b"]))[0::2]
    ('binary', array([ True]))
    """
    both = pd.concat([train, valid], ignore_index=True)
    kind = target_kind(both)
    if kind == "binary":
        values = pd.unique(both)
        try:
            positive = sorted(values)[-1]
        except TypeError:  # unorderable mix: any fixed choice does
            positive = values[-1]
        return (
            kind,
            (train == positive).to_numpy(dtype=bool),
            (valid == positive).to_numpy(dtype=bool),
        )
    if kind == "continuous":
        return kind, as_float(train), as_float(valid)
    codes, _ = pd.factorize(both)
    return kind, codes[: len(train)], codes[len(train) :]


def abs_spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """|Spearman correlation| over the rows where ``x`` is not NaN; None below 3 rows,
    0.0 when either side is constant."""
    from scipy.stats import rankdata  # scipy.stats takes ~0.5 s to import: only when used

    keep = ~np.isnan(x)
    if keep.sum() < 3:
        return None
    rx, ry = rankdata(x[keep]), rankdata(y[keep])
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return abs(float(np.corrcoef(rx, ry)[0, 1]))


def _codes(train: pd.Series, valid: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Shared integer codes of a categorical feature; null is a value of its own."""
    codes, _ = pd.factorize(pd.concat([train, valid], ignore_index=True), use_na_sentinel=False)
    return codes[: len(train)], codes[len(train) :], int(codes.max()) + 1 if codes.size else 1


def _binary(
    name: str, tr: pd.Series, va: pd.Series, y_tr: np.ndarray, y_va: np.ndarray,
    numeric: bool, kind: str,
) -> FeatureScore:  # fmt: skip
    if numeric:
        x = as_float(va)
        nulls = np.isnan(x)
        fills = (-np.inf, np.inf) if nulls.any() else (0.0,)
        aucs = [roc_auc(np.where(nulls, fill, x), y_va) for fill in fills]
        binned = roc_auc(_bin_means(*_bins(as_float(tr), x), y_tr), y_va)
        candidates = [max(a, 1 - a) for a in aucs if a is not None]
        score = max([*candidates, *([binned] if binned is not None else [])], default=None)
    else:
        score = roc_auc(_bin_means(*_codes(tr, va), y_tr), y_va)
    return FeatureScore(name, "roc_auc", score, len(va), kind)


def _bins(train: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin codes of a numeric feature, learned on training: one bin per value when it
    has at most ``MAX_BINS`` (an unseen value takes the nearest), else training
    quantiles; NaN is a bin of its own."""
    finite = train[np.isfinite(train)]
    seen = np.unique(finite)
    if seen.size <= MAX_BINS:
        return _nearest(seen, train), _nearest(seen, valid), seen.size + 1
    inner = np.linspace(0.0, 1.0, MAX_BINS + 1)[1:-1]
    edges = np.unique(np.quantile(finite, inner))

    def code(x: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(x), edges.size + 1, np.searchsorted(edges, x, side="right"))

    return code(train), code(valid), edges.size + 2


def _bin_means(c_tr: np.ndarray, c_va: np.ndarray, n: int, y_tr: np.ndarray) -> np.ndarray:
    """Each validation row's bin (or category) mean of the training target; the training
    mean for bins training never filled."""
    y = y_tr.astype("float64")
    counts = np.bincount(c_tr, minlength=n)
    sums = np.bincount(c_tr, weights=y, minlength=n)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), y.mean() if y.size else 0.0)
    return means[c_va]


def _multiclass(
    name: str, tr: pd.Series, va: pd.Series, y_tr: np.ndarray, y_va: np.ndarray,
    numeric: bool, kind: str,
) -> FeatureScore:  # fmt: skip
    if numeric:
        # Per-value majority; an unseen number takes the majority of the nearest seen one.
        x_tr = as_float(tr)
        c_tr, seen = pd.factorize(x_tr, sort=True)
        n = seen.size + 1  # the last code is null
        c_tr = np.where(c_tr < 0, seen.size, c_tr)
        c_va = _nearest(np.asarray(seen, dtype="float64"), as_float(va))
    else:
        c_tr, c_va, n = _codes(tr, va)
    commonest = int(np.bincount(y_tr).argmax())
    counts = pd.DataFrame({"c": c_tr, "y": y_tr}).groupby(["c", "y"]).size().reset_index(name="n")
    # Most votes first, then the smaller class code: a deterministic tie-break.
    top = counts.sort_values(["n", "y"], ascending=[False, True]).drop_duplicates("c")
    predicted = np.full(n, commonest, dtype=np.int64)
    predicted[top["c"].to_numpy()] = top["y"].to_numpy()
    accuracy = float((predicted[c_va] == y_va).mean())
    baseline = float((y_va == commonest).mean())
    return FeatureScore(name, "accuracy", accuracy, len(va), kind, baseline)


def _nearest(seen: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the nearest of the sorted ``seen`` values for each ``x``; NaN -> len(seen)."""
    if seen.size == 0:
        return np.zeros(x.size, dtype=np.int64)
    right = np.clip(np.searchsorted(seen, x), 0, seen.size - 1)
    left = np.clip(right - 1, 0, None)
    nearest = np.where(np.abs(x - seen[left]) <= np.abs(seen[right] - x), left, right)
    return np.where(np.isnan(x), seen.size, nearest)


def _continuous(
    name: str, tr: pd.DataFrame, va: pd.DataFrame, target: str, numeric: bool, kind: str
) -> FeatureScore:
    y_va = as_float(va[target])
    y_tr = as_float(tr[target])
    if numeric:
        x = as_float(va[name])
        raw = abs_spearman(x, y_va)
        binned = abs_spearman(_bin_means(*_bins(as_float(tr[name]), x), y_tr), y_va)
        score = max((v for v in (raw, binned) if v is not None), default=None)
        rows = int((~np.isnan(x)).sum())
    else:
        x = _bin_means(*_codes(tr[name], va[name]), y_tr)
        score = abs_spearman(x, y_va)
        rows = len(x)
    return FeatureScore(name, "spearman", score, rows, kind)


def known_after_findings(
    *,
    features: Sequence[str],
    known_after: Sequence[str],
    sets: Mapping[str, int],
    scores: Sequence[FeatureScore],
) -> list[Finding]:
    """An error per ``known_after`` column among the features; ``sets`` maps set -> rows."""
    by_feature = {s.feature: s for s in scores}
    findings = []
    for name in dict.fromkeys(known_after):
        if name not in features:
            continue
        s = by_feature.get(name)
        measured = (
            f" Alone it reaches {METRIC_NAMES[s.metric]} {s.score:.3f} on validation."
            if s is not None and s.score is not None
            else ""
        )
        findings.append(Finding(
            "known_after_event", "error", tuple(sets), (name,), sum(sets.values()),
            f"'{name}' is declared known only after the event, yet it is a feature. It does "
            "not exist yet when the model is asked for a prediction, so offline scores "
            f"promise what production cannot deliver.{measured} Fix: drop '{name}' from the "
            "features, or replace it by a value known in time (e.g. a lagged one).",
            (), {"metric": s.metric if s else None, "score": s.score if s else None},
        ))  # fmt: skip
    return findings
