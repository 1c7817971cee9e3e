"""CBPE: estimates against realized metrics on calibrated, shifted and miscalibrated data.

Synthetic data: a row's true probability of being positive is ``p``; its label is
drawn as Bernoulli(p). A calibrated model reports ``p``; the miscalibrated one
reports ``p**3``. Covariate shift is a change in the distribution of ``p``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from shipyard.errors import InvalidInput
from shipyard.monitoring.cbpe import (
    MAX_ECE,
    METRICS,
    Calibration,
    calibration,
    estimate,
    realized,
)

ROWS = 20_000

# The distribution of p in each period: a shift of the inputs moves it.
SHIFTS = {
    "reference": (2.0, 3.0),
    "more_positives": (4.0, 2.0),
    "more_confident": (0.5, 0.5),
    "fewer_positives": (1.0, 6.0),
}


def draw(seed: int, shift: str, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    """(labels, true probabilities) of ``rows`` rows under ``shift``."""
    rng = np.random.default_rng(seed)
    p = rng.beta(*SHIFTS[shift], size=rows)
    return (rng.random(rows) < p).astype(np.int64), p


def gap(estimated: float | None, realized_value: float | None) -> float:
    """|estimated - realized|, both defined."""
    assert estimated is not None and realized_value is not None
    return abs(estimated - realized_value)


def brute_force_auc(scores: np.ndarray, p: np.ndarray) -> float:
    """E[correctly ordered positive-negative pairs] / E[positive-negative pairs], pair by pair."""
    num = den = 0.0
    for i in range(scores.size):
        for j in range(scores.size):
            if i == j:
                continue
            weight = p[i] * (1.0 - p[j])  # i positive and j negative
            den += weight
            num += weight * (
                1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
            )
    return num / den


# --- calibrated data: estimates match the realized metrics ---------------------------------


@pytest.mark.parametrize("shift", list(SHIFTS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_matches_realized_on_calibrated_data(seed: int, shift: str) -> None:
    y, p = draw(seed, shift)
    est, real = estimate(p), realized(y, p)
    assert set(est) == set(real) == set(METRICS)
    for metric in ("roc_auc", "accuracy"):
        assert gap(est[metric], real[metric]) < 0.02, (metric, est[metric], real[metric])


def test_calibrated_reference_is_recognised_and_leaves_the_estimate_alone() -> None:
    y, p = draw(7, "reference")
    cal = calibration(y, p)
    assert isinstance(cal, Calibration)
    assert cal.well_calibrated and cal.warning is None
    assert cal.ece <= MAX_ECE and cal.max_gap >= cal.ece
    assert cal.rows == ROWS and cal.bins == 10
    _, shifted = draw(8, "more_positives")
    assert estimate(shifted, calibration=cal) == estimate(shifted)


def test_realized_equals_scikit_learn() -> None:
    y, p = draw(3, "reference", rows=2_000)
    pred = p >= 0.3
    real = realized(y, p, threshold=0.3)
    assert real["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert real["precision"] == pytest.approx(precision_score(y, pred))
    assert real["recall"] == pytest.approx(recall_score(y, pred))
    assert real["f1"] == pytest.approx(f1_score(y, pred))


# --- miscalibrated model ----------------------------------------------------------------------


def test_miscalibrated_model_is_flagged_and_recalibration_fixes_the_estimate() -> None:
    y_ref, p_ref = draw(11, "reference")
    cal = calibration(y_ref, p_ref**3)
    assert not cal.well_calibrated
    assert cal.ece > MAX_ECE
    assert cal.warning is not None and "poorly calibrated" in cal.warning
    assert "recalibrated" in cal.warning

    y, p = draw(12, "more_positives")
    scores = p**3
    real = realized(y, scores)
    fixed = estimate(scores, calibration=cal)
    naive = estimate(scores)
    for metric in METRICS:
        assert gap(fixed[metric], real[metric]) < 0.03, (metric, fixed[metric], real[metric])
    # Without the recalibration the estimate is far off: the test has teeth.
    assert gap(naive["accuracy"], real["accuracy"]) > 0.1


def test_apply_is_monotone_and_clipped_to_probabilities() -> None:
    y, p = draw(5, "reference", rows=5_000)
    cal = calibration(y, p**2)
    grid = np.linspace(0.0, 1.0, 101)
    fixed = cal.apply(grid)
    assert fixed.shape == grid.shape
    assert np.all(np.diff(fixed) >= 0.0)
    assert fixed.min() >= 0.0 and fixed.max() <= 1.0
    assert cal.apply([]).shape == (0,)


def test_ece_uses_equal_frequency_bins() -> None:
    # Two bins of two rows: gaps |0.1+0.3-0| = 0.4 and |0.6+0.8-1| = 0.4.
    cal = calibration([0, 0, 0, 1], [0.1, 0.3, 0.6, 0.8], bins=2)
    assert cal.ece == pytest.approx(0.8 / 4)
    assert cal.max_gap == pytest.approx(0.2)
    assert calibration([0, 1], [0.2, 0.6], bins=10).bins == 2  # at most one bin per row


# --- ties and exactness of the estimated AUC ----------------------------------------------


@pytest.mark.parametrize("value", [0.0, 0.3, 0.5, 1.0])
def test_all_equal_scores_estimate_auc_one_half(value: float) -> None:
    scores = np.full(1_000, value)
    if value in (0.0, 1.0):  # no row can be of the other class
        assert estimate(scores)["roc_auc"] is None
        return
    assert estimate(scores)["roc_auc"] == pytest.approx(0.5)


def test_all_equal_scores_with_recalibrated_labels_estimate_one_half() -> None:
    y, p = draw(9, "reference", rows=2_000)
    cal = calibration(y, p**4)
    assert not cal.well_calibrated
    assert estimate(np.full(500, 0.2), calibration=cal)["roc_auc"] == pytest.approx(0.5)


def test_tied_scores_estimate_the_mean_realized_auc() -> None:
    # Three tied groups: ordering rows within a tie would move the estimate by ~0.1.
    rng = np.random.default_rng(4)
    scores = rng.choice([0.2, 0.5, 0.8], size=3_000)
    draws = [realized(rng.random(scores.size) < scores, scores)["roc_auc"] for _ in range(200)]
    mean_realized = float(np.mean([d for d in draws if d is not None]))
    assert estimate(scores)["roc_auc"] == pytest.approx(mean_realized, abs=0.005)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0]), min_size=2, max_size=25),
)
def test_estimated_auc_equals_the_pairwise_formula(values: list[float]) -> None:
    scores = np.asarray(values)
    got = estimate(scores)["roc_auc"]
    den = float(scores.sum() * (1 - scores).sum() - np.dot(scores, 1 - scores))
    if den <= 1e-12:
        assert got is None
    else:
        assert got == pytest.approx(brute_force_auc(scores, scores), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]) | st.floats(0.0, 1.0), st.booleans()),
        min_size=2,
        max_size=40,
    ),
    st.sampled_from([0.0, 0.3, 0.5, 1.0]),
)
def test_certain_probabilities_estimate_exactly_the_realized(
    rows: list[tuple[float, bool]], threshold: float
) -> None:
    # A calibrator that maps each score to its rows' label (tied rows share the first
    # one's): with p in {0, 1} every label is known, so the estimate is the realized value.
    label_of: dict[float, float] = {}
    for score, label in rows:
        label_of.setdefault(score, float(label))
    scores = np.asarray([score for score, _ in rows])
    y = np.asarray([label_of[score] for score in scores], dtype=np.int64)
    est = estimate(scores, threshold=threshold, calibration=oracle(label_of))
    real = realized(y, scores, threshold=threshold)
    for metric in METRICS:
        if real[metric] is None:
            assert est[metric] is None, metric
        else:
            assert est[metric] == pytest.approx(real[metric], abs=1e-9), metric


def oracle(label_of: dict[float, float]) -> Calibration:
    """A poorly calibrated Calibration whose calibrator knows each score's label."""

    class Oracle:
        def predict(self, values: np.ndarray) -> np.ndarray:
            return np.asarray([label_of[float(v)] for v in values])

    return Calibration(
        ece=1.0, max_gap=1.0, well_calibrated=False, rows=len(label_of), bins=1,
        max_ece=MAX_ECE, warning="oracle", calibrator=Oracle(),
    )  # fmt: skip


# --- too few rows: None, never NaN ------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "undefined"),
    [
        ([], set(METRICS)),
        ([0.7], {"roc_auc"}),
        ([0.0, 0.0, 0.0], {"roc_auc", "precision", "recall", "f1"}),
        ([1.0, 1.0], {"roc_auc"}),
        ([0.2, 0.4], {"precision"}),  # nothing predicted positive at 0.5
    ],
)
def test_undefined_metrics_are_none(scores: list[float], undefined: set[str]) -> None:
    est = estimate(scores)
    assert {m for m, v in est.items() if v is None} == undefined
    assert all(v is None or math.isfinite(v) for v in est.values())


def test_realized_with_one_class_has_no_auc() -> None:
    real = realized([1, 1, 1], [0.2, 0.6, 0.9])
    assert real["roc_auc"] is None
    assert real["accuracy"] == pytest.approx(2 / 3)
    assert real["recall"] == pytest.approx(2 / 3)
    assert realized([], []) == dict.fromkeys(METRICS)
    assert realized([0, 0], [0.1, 0.2])["recall"] is None


# --- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("y_true", "proba", "message"),
    [
        ([0, 1, 1], [0.1, 0.9], "same length"),
        ([0, 1], [0.1, 1.5], r"in \[0, 1\]"),
        ([0, 1], [-0.1, 0.5], r"in \[0, 1\]"),
        ([0, 1], [float("nan"), 0.5], r"in \[0, 1\]"),
        ([0, 1], ["a", "b"], "must be numbers"),
        ([0, 1], [[0.1, 0.9], [0.2, 0.8]], "1-D"),
        ([0, 2], [0.1, 0.9], "binary labels"),
        (["no", "yes"], [0.1, 0.9], "binary labels"),
        ([1, 1, 1], [0.1, 0.5, 0.9], "both classes"),
        ([0, 0], [0.1, 0.5], "both classes"),
        ([1], [0.5], "at least 2"),
    ],
)
def test_calibration_rejects_bad_inputs(y_true: object, proba: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        calibration(y_true, proba)
    assert caught.value.hint


@pytest.mark.parametrize("bins", [0, -3, 2.5, True])
def test_calibration_rejects_bad_bins(bins: object) -> None:
    with pytest.raises(InvalidInput, match="'bins'"):
        calibration([0, 1], [0.1, 0.9], bins=bins)  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), "0.5"])
def test_estimate_and_realized_reject_bad_thresholds(threshold: object) -> None:
    with pytest.raises(InvalidInput, match="'threshold'"):
        estimate([0.5], threshold=threshold)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="'threshold'"):
        realized([1], [0.5], threshold=threshold)  # type: ignore[arg-type]


def test_estimate_and_apply_reject_bad_probabilities() -> None:
    with pytest.raises(InvalidInput, match=r"row 1 is 2\.0"):
        estimate([0.5, 2.0])
    cal = calibration([0, 1, 0, 1], [0.1, 0.6, 0.3, 0.8])
    with pytest.raises(InvalidInput, match="apply"):
        cal.apply([0.5, -1.0])
    with pytest.raises(InvalidInput, match="same length"):
        realized([0, 1], [0.5])


def test_boolean_labels_are_accepted() -> None:
    y, p = draw(6, "reference", rows=1_000)
    assert realized(y.astype(bool), p) == realized(y, p)
    assert calibration(y.astype(bool), p).ece == calibration(y, p).ece
