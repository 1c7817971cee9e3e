"""Confidence-based performance estimation (CBPE) for binary classifiers.

Labels arrive late (a loan defaults months after the decision); the model's
predicted probability of the positive class is known at once. If those
probabilities are calibrated -- of the rows scored 0.8, about 80% turn out
positive -- each production row is, in expectation, ``p`` of a positive and
``1 - p`` of a negative. Adding those fractions up gives the *expected*
confusion matrix, and from it the quality metrics to expect once the labels
come in, before they do:

* :func:`calibration` -- on rows whose labels are known (the reference period):
  how far the probabilities are from calibrated (expected calibration error
  over equal-frequency bins, the largest bin gap), and a monotone (isotonic)
  recalibration fitted on them.
* :func:`estimate` -- on production rows without labels: the expected ROC AUC,
  accuracy, precision, recall and F1. Given a :class:`Calibration` that found
  the model poorly calibrated, the recalibrated probabilities are used as the
  expected labels (the model's own scores still rank the rows and make the
  decisions).
* :func:`realized` -- the same metrics from the labels, once they arrive, with
  the same formulas, so an estimate and its realized value are comparable.

The estimate is only as good as the assumption: a change in how the world maps
features to outcomes (concept shift) is invisible in the probabilities. A shift
of the inputs (covariate shift) is what CBPE handles.

Example::

    cal = calibration(y_reference, proba_reference)
    cal.warning          # None, or why the estimates use recalibrated probabilities
    estimate(proba_production, calibration=cal)
    # {'roc_auc': 0.81, 'accuracy': 0.77, 'precision': 0.64, 'recall': 0.52, 'f1': 0.57}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from sklearn.isotonic import IsotonicRegression

__all__ = [
    "MAX_ECE",
    "METRICS",
    "Calibration",
    "calibration",
    "estimate",
    "realized",
]

MAX_ECE = 0.05
"""A model whose expected calibration error is at most this is taken as calibrated."""

METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")

_PROBA_HINT = "Pass the predicted probability of the positive class, e.g. predict_proba(X)[:, 1]."


@dataclass(frozen=True)
class Calibration:
    """How calibrated a model's probabilities are on labelled rows, and a fix for them.

    ``ece`` is the expected calibration error: rows sorted by probability are cut
    into ``bins`` bins of equal size, and the gaps ``|mean probability - share of
    positives|`` of the bins are averaged, weighted by their rows. ``max_gap`` is
    the largest bin gap. ``well_calibrated`` is ``ece <= max_ece``; otherwise
    ``warning`` says so. :meth:`apply` maps probabilities through the isotonic
    regression fitted on the same rows.

    Example::

        cal = calibration(y_true, proba)
        if not cal.well_calibrated:
            fixed = cal.apply(proba_production)
    """

    ece: float
    max_gap: float
    well_calibrated: bool
    rows: int
    bins: int
    max_ece: float
    warning: str | None
    calibrator: IsotonicRegression = field(repr=False, compare=False)

    def apply(self, proba: Any) -> np.ndarray:
        """The recalibrated probabilities of ``proba`` (clipped to the fitted range).

        Example::

            cal = calibration([0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.7, 0.8, 0.2, 0.9])
            cal.apply([0.1, 0.5, 0.9])   # array([0. , 0.5, 1. ])
        """
        p = _proba(proba, "apply")
        if p.size == 0:
            return p
        return np.asarray(self.calibrator.predict(p), dtype=np.float64)


def calibration(
    y_true: Any, proba: Any, *, bins: int = 10, max_ece: float = MAX_ECE
) -> Calibration:
    """Measure the calibration of ``proba`` against ``y_true`` and fit a recalibration.

    ``y_true`` holds 0/1 (or booleans), ``proba`` the predicted probability of the
    positive class for the same rows; at least 2 rows and both classes are needed.
    ``bins`` is the number of equal-frequency bins of the expected calibration
    error (at most one per row).

    Example::

        cal = calibration([0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.7, 0.8, 0.2, 0.9], bins=2)
        cal.ece, cal.well_calibrated   # (0.2, False): cal.warning says why
    """
    from sklearn.isotonic import IsotonicRegression

    where = "calibration"
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise InvalidInput(
            f"The 'bins' argument of {where} must be a whole number >= 1, got {bins!r}.",
            hint="The default is 10 equal-frequency bins.",
        )
    if not 0.0 < max_ece <= 1.0:
        raise InvalidInput(
            f"The 'max_ece' argument of {where} must be in (0, 1], got {max_ece!r}.",
            hint=f"The default is {MAX_ECE}.",
        )
    y, p = _labelled(y_true, proba, where)
    n = p.size
    if n < 2:
        raise InvalidInput(
            f"{where} needs at least 2 labelled rows, got {n}.",
            hint="Measure calibration on a reference period with labels.",
        )
    positives = int(y.sum())
    if positives in (0, n):
        only = "positive (1)" if positives else "negative (0)"
        raise InvalidInput(
            f"{where} needs both classes in 'y_true', but all {n} rows are {only}.",
            hint="Use a labelled period that holds positives and negatives.",
        )

    bins = int(min(bins, n))
    order = np.argsort(p, kind="stable")
    starts = (np.arange(bins) * n) // bins  # equal-frequency: sizes differ by at most one
    sizes = np.diff(np.append(starts, n))
    gaps = np.abs(np.add.reduceat(p[order], starts) - np.add.reduceat(y[order], starts))
    ece = float(gaps.sum() / n)
    max_gap = float((gaps / sizes).max())

    calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    calibrator.fit(p, y)

    well = ece <= max_ece
    warning = None
    if not well:
        warning = (
            f"The model is poorly calibrated on these {n} labelled rows: expected calibration "
            f"error {ece:.3f} > {max_ece:g} ({bins} equal-frequency bins, largest gap "
            f"{max_gap:.3f}). Estimates given this calibration use the recalibrated "
            "probabilities (isotonic regression fitted on these rows)."
        )
    return Calibration(
        ece=ece,
        max_gap=max_gap,
        well_calibrated=well,
        rows=n,
        bins=bins,
        max_ece=float(max_ece),
        warning=warning,
        calibrator=calibrator,
    )


def estimate(
    proba: Any, *, threshold: float = 0.5, calibration: Calibration | None = None
) -> dict[str, float | None]:
    """The metrics to expect on these rows once their labels arrive.

    Each row counts as ``p`` of a positive and ``1 - p`` of a negative, where ``p``
    is its probability, recalibrated when ``calibration`` found the model poorly
    calibrated. A row is predicted positive when its (raw) ``proba >= threshold``.
    ROC AUC is the area under the expected ROC curve. A metric that cannot be
    estimated (too few rows; no expected positives or negatives) is None.

    Example::

        estimate([0.1, 0.4, 0.35, 0.8])
        # {'roc_auc': 0.84, 'accuracy': 0.74, 'precision': 0.8, 'recall': 0.48, 'f1': 0.6}
    """
    _threshold(threshold, "estimate")
    # Sorted once: recalibration is monotone, so it keeps the order, and the rows
    # predicted positive are a suffix.
    scores = np.sort(_proba(proba, "estimate"))
    p = scores
    if calibration is not None and not calibration.well_calibrated and scores.size:
        p = calibration.apply(scores)
    first = int(np.searchsorted(scores, threshold, side="left"))
    tp = float(p[first:].sum())
    fn = float(p[:first].sum())
    fp = float(scores.size - first) - tp
    tn = float(first) - fn
    return {"roc_auc": _expected_auc(scores, p), **_from_confusion(tp, fp, fn, tn)}


def realized(y_true: Any, proba: Any, *, threshold: float = 0.5) -> dict[str, float | None]:
    """The metrics on these rows from their labels; None where undefined.

    ROC AUC needs both classes, precision a predicted positive, recall a positive.

    Example::

        realized([0, 1, 1, 0], [0.1, 0.4, 0.35, 0.8])
        # {'roc_auc': 0.5, 'accuracy': 0.25, 'precision': 0.0, 'recall': 0.0, 'f1': 0.0}
    """
    from sklearn.metrics import confusion_matrix, roc_auc_score

    _threshold(threshold, "realized")
    y, p = _labelled(y_true, proba, "realized")
    if p.size == 0:
        return dict.fromkeys(METRICS)
    tn, fp, fn, tp = confusion_matrix(y, (p >= threshold).astype(np.int8), labels=[0, 1]).ravel()
    positives = int(tp + fn)
    auc = float(roc_auc_score(y, p)) if 0 < positives < p.size else None
    return {"roc_auc": auc, **_from_confusion(float(tp), float(fp), float(fn), float(tn))}


# --- internals ---------------------------------------------------------------------------


def _from_confusion(tp: float, fp: float, fn: float, tn: float) -> dict[str, float | None]:
    """Accuracy, precision, recall and F1 of a (possibly expected) confusion matrix."""
    # Expected counts are sums of fractions: a "zero" may come out as -1e-13.
    eps = 1e-9

    def ratio(num: float, den: float) -> float | None:
        return min(max(num / den, 0.0), 1.0) if den > eps else None

    return {
        "accuracy": ratio(tp + tn, tp + fp + fn + tn),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2.0 * tp, 2.0 * tp + fp + fn),
    }


def _expected_auc(scores: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the expected ROC curve when row i, of ``scores[i]``, is positive with ``p[i]``.

    ``scores`` is sorted ascending. Walking down from the highest score, equal
    scores grouped into one step, the expected TPR and FPR are the cumulative sums
    of ``p`` and ``1 - p``; the trapezoids give half credit to pairs within a tie,
    as the realized AUC does. The curve also pairs each row with itself (``p * (1 -
    p)``, half credit as a tie), which no realized AUC can: those pairs are taken
    out of the area and of the number of positive-negative pairs, so the estimate
    is E[correctly ordered pairs] / E[positive-negative pairs], exact at any size
    and undefined (None) for a single row or when no row can be of both classes
    (all p 0, or all 1).
    """
    if scores.size < 2:
        return None
    neg = 1.0 - p
    starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])  # each group of ties
    tpr = np.r_[0.0, np.cumsum(np.add.reduceat(p, starts)[::-1])]
    fpr = np.r_[0.0, np.cumsum(np.add.reduceat(neg, starts)[::-1])]
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)
    # einsum, not dot: BLAS would wake its threads for a sum (slower under load).
    self_pairs = float(np.einsum("i,i->", p, neg))
    pairs = float(tpr[-1] * fpr[-1]) - self_pairs
    if pairs <= 1e-9 * max(1.0, float(scores.size)):
        return None
    return min(max((area - 0.5 * self_pairs) / pairs, 0.0), 1.0)


def _threshold(threshold: float, where: str) -> None:
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float | np.integer | np.floating)
        or not 0.0 <= float(threshold) <= 1.0
    ):
        raise InvalidInput(
            f"The 'threshold' argument of {where} must be a number in [0, 1], got {threshold!r}.",
            hint="A row is predicted positive when its probability >= threshold; default 0.5.",
        )


def _proba(proba: Any, where: str) -> np.ndarray:
    """``proba`` as a 1-D float64 array of probabilities, or InvalidInput saying what is wrong."""
    try:
        p = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"The 'proba' argument of {where} must be numbers, got {type(proba).__name__} ({exc}).",
            hint=_PROBA_HINT,
        ) from None
    if p.ndim != 1:
        raise InvalidInput(
            f"The 'proba' argument of {where} must be 1-D (one probability per row), "
            f"got shape {p.shape}.",
            hint=_PROBA_HINT,
        )
    bad = np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))  # NaN fails both comparisons
    if bad.size:
        raise InvalidInput(
            f"The 'proba' argument of {where} must hold probabilities in [0, 1]; "
            f"{bad.size} of {p.size} rows do not (row {int(bad[0])} is {p[bad[0]].item()!r}).",
            hint=_PROBA_HINT,
        )
    return p


def _labelled(y_true: Any, proba: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels as 0/1 float64 and probabilities, checked to be of the same length."""
    p = _proba(proba, where)
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise InvalidInput(
            f"The 'y_true' argument of {where} must be 1-D (one label per row), "
            f"got shape {y.shape}.",
            hint="Pass the 0/1 labels of the rows.",
        )
    if y.shape[0] != p.shape[0]:
        raise InvalidInput(
            f"'y_true' and 'proba' of {where} must have the same length, "
            f"got {y.shape[0]} labels and {p.shape[0]} probabilities.",
            hint="Pass one label and one probability for each row, in the same order.",
        )
    if y.dtype == np.bool_:
        return y.astype(np.float64), p
    if y.dtype.kind in "iuf":
        bad = np.flatnonzero((y != 0) & (y != 1))
        if not bad.size:
            return y.astype(np.float64), p
        got = f"{bad.size} of {y.size} rows are not (row {int(bad[0])} is {y[bad[0]].item()!r})"
    else:
        got = f"got dtype {y.dtype}"
    raise InvalidInput(
        f"The 'y_true' argument of {where} must hold binary labels 0 and 1; {got}.",
        hint="Map the classes to 1 (positive) and 0 (negative), e.g. (labels == 'churn').",
    )
