"""Drift statistics and the decision rule: exactness, sketches, planted changes, false alarms.

Sketch tests use real KLL sketches from Apache DataSketches (``datasketches``);
they are skipped, with the reason shown, when it is not installed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from shipyard.data.drift import (
    ColumnStats,
    DriftThresholds,
    NumericSummary,
    categorical_drift,
    cramers_v_equal_size,
    decide,
    holm,
    js_distance,
    ks_from_cdfs,
    mean_shift,
    numeric_drift_from_samples,
    numeric_drift_from_summaries,
    psi,
    welch_from_summaries,
)
from shipyard.errors import InvalidInput


def kll_summary(values: np.ndarray, k: int = 200) -> tuple[NumericSummary, Any]:
    """A summary backed by a real KLL sketch, as the profile engine would build it."""
    datasketches = pytest.importorskip("datasketches")
    sketch = datasketches.kll_doubles_sketch(k)
    sketch.update(values)
    summary = NumericSummary(
        n=sketch.n,
        mean=float(values.mean()),
        variance=float(values.var(ddof=1)),
        # get_cdf returns one more value than points (the final 1.0): drop it.
        cdf=lambda points: np.asarray(sketch.get_cdf(points))[:-1],
        quantiles=lambda ranks: np.asarray(sketch.get_quantiles(ranks)),
        rank_error=sketch.normalized_rank_error(False),
    )
    return summary, sketch


# --- Welch, effect sizes, Holm ----------------------------------------------


def test_welch_from_summaries_equals_scipy_on_the_raw_data() -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(10, 2, 3000), rng.normal(10.2, 3, 1200)
    expected = stats.ttest_ind(cur, ref, equal_var=False)
    t, p = welch_from_summaries(NumericSummary.from_sample(ref), NumericSummary.from_sample(cur))
    assert t == pytest.approx(expected.statistic, rel=1e-10)
    assert p == pytest.approx(expected.pvalue, rel=1e-8)
    welch = numeric_drift_from_samples(ref, cur).tests["welch"]
    assert (welch.statistic, welch.p_value) == pytest.approx((t, p), rel=1e-10)


def test_mean_shift_is_in_reference_std_and_cohens_d_in_pooled_std() -> None:
    ref = NumericSummary.from_sample([1.0, 2.0, 3.0, 4.0])  # mean 2.5, var 5/3
    cur = NumericSummary.from_sample([2.0, 4.0, 6.0, 8.0])  # mean 5, var 20/3
    smd, d = mean_shift(ref, cur)
    assert smd == pytest.approx(2.5 / math.sqrt(5 / 3))
    assert d == pytest.approx(2.5 / math.sqrt((3 * 5 / 3 + 3 * 20 / 3) / 6))


def test_holm_matches_a_hand_computed_example() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert (adjusted <= 0.05).tolist() == [True, False, False, True]
    assert holm([0.5, 0.6]).tolist() == [1.0, 1.0]  # capped at 1
    assert holm([]).size == 0


def test_decide_applies_holm_across_every_p_value_of_the_comparison() -> None:
    rng = np.random.default_rng(2)
    cols = {
        "x": numeric_drift_from_samples(rng.normal(size=400), rng.normal(0.25, 1, 400)),
        "y": numeric_drift_from_samples(rng.normal(size=400), rng.normal(size=400)),
        "c": categorical_drift({"a": 60, "b": 40}, {"a": 45, "b": 55}),
    }
    result = decide(cols)
    raw = [cols[c].tests[t].p_value for c, t in [("x", "ks"), ("x", "welch"), ("y", "ks"),
                                                  ("y", "welch"), ("c", "chi2")]]  # fmt: skip
    got = [result[c].tests[t].adjusted_p for c, t in [("x", "ks"), ("x", "welch"), ("y", "ks"),
                                                      ("y", "welch"), ("c", "chi2")]]  # fmt: skip
    assert got == pytest.approx(holm(raw).tolist())
    assert "5 p-values from 3 columns" in result.notes[0]


@pytest.mark.parametrize(("n_ref", "n_cur"), [(3_000, 8_000), (30_000, 25_000)])
def test_ks_on_raw_samples_matches_scipy(n_ref: int, n_cur: int) -> None:
    rng = np.random.default_rng(11)
    ref, cur = rng.normal(size=n_ref), rng.normal(0.03, 1, n_cur)
    ks = numeric_drift_from_samples(ref, cur).tests["ks"]
    exact = stats.ks_2samp(ref, cur)
    assert ks.statistic == pytest.approx(exact.statistic, abs=1e-12)
    assert ks.effect == ks.statistic  # raw data: nothing to allow for
    assert ks.p_value == pytest.approx(exact.pvalue, abs=0.005)
    assert 0.001 < exact.pvalue < 0.9  # an informative range, not 0 or 1


# --- KS from KLL sketches ---------------------------------------------------


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_sketch_ks_is_within_the_rank_error_of_the_exact_statistic(shift: float) -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=200_000), rng.normal(shift, 1, 200_000)
    (a, _), (b, _) = kll_summary(ref), kll_summary(cur)
    ks = numeric_drift_from_summaries(a, b)
    exact = stats.ks_2samp(ref, cur).statistic
    tolerance = a.rank_error + b.rank_error
    assert 0.02 < tolerance < 0.03  # k=200: about 1.3% per sketch
    assert ks.details["ks_tolerance"] == pytest.approx(tolerance)
    assert abs(ks.tests["ks"].statistic - exact) <= tolerance
    assert ks.tests["ks"].effect == pytest.approx(max(0.0, ks.tests["ks"].statistic - tolerance))


def test_sketch_ks_allowance_stops_false_alarms_that_a_naive_sketch_ks_raises() -> None:
    rng = np.random.default_rng(4)
    n = 200_000
    ref, cur = rng.normal(size=n), rng.normal(size=n)  # the same distribution
    (a, _), (b, _) = kll_summary(ref), kll_summary(cur)
    column = numeric_drift_from_summaries(a, b)
    raw_d = column.tests["ks"].statistic
    # Naive: the KS p-value on the raw sketch D (what ignoring sketch error does).
    naive_p = stats.kstwo.sf(raw_d, n // 2)
    assert naive_p < 0.01, "sketch noise alone should look 'significant' at this n"
    assert stats.ks_2samp(ref, cur).pvalue > 0.01  # while the exact test sees nothing
    # Error-adjusted: D minus both rank errors is 0, so p = 1 and nothing is flagged.
    assert column.tests["ks"].effect == 0.0
    assert column.tests["ks"].p_value == 1.0
    assert not decide({"x": column}).columns[0].drifted


def test_sketch_summaries_catch_a_real_shift_and_mix_with_raw_summaries() -> None:
    rng = np.random.default_rng(5)
    ref_values = rng.normal(size=200_000)
    ref, sketch = kll_summary(ref_values)
    shifted = NumericSummary.from_sample(rng.normal(0.5, 1, 20_000))  # raw current window
    same = NumericSummary.from_sample(rng.normal(size=20_000))
    result = decide(
        {
            "shifted": numeric_drift_from_summaries(ref, shifted),
            "same": numeric_drift_from_summaries(ref, same),
        }
    )
    assert result.drifted_columns == ("shifted",)
    assert "after allowing 0.013 for sketch error" in result["shifted"].reason
    # The same reference as a stored CDF table (quantiles at 1,001 ranks).
    points = np.unique(sketch.get_quantiles(np.linspace(0, 1, 1001)))
    table = NumericSummary.from_cdf_table(
        points, np.asarray(sketch.get_cdf(points))[:-1],
        n=ref.n, mean=ref.mean, variance=ref.variance, rank_error=ref.rank_error,
    )  # fmt: skip
    via_table = numeric_drift_from_summaries(table, shifted).tests["ks"]
    via_sketch = numeric_drift_from_summaries(ref, shifted).tests["ks"]
    assert via_table.statistic == pytest.approx(via_sketch.statistic, abs=0.005)


def test_summaries_of_raw_data_reproduce_the_exact_ks() -> None:
    rng = np.random.default_rng(6)
    ref, cur = rng.normal(size=5000), rng.normal(0.1, 1, 8000)
    column = numeric_drift_from_summaries(
        NumericSummary.from_sample(ref), NumericSummary.from_sample(cur)
    )
    exact = stats.ks_2samp(ref, cur)
    assert column.details["method"] == "summary"
    assert column.tests["ks"].statistic == pytest.approx(exact.statistic, abs=1e-3)  # grid step
    assert column.tests["ks"].p_value == pytest.approx(exact.pvalue, rel=0.5)


# --- planted changes and the effect-size gate --------------------------------


def test_planted_changes_are_caught_and_unchanged_columns_are_not() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    mix_ref = dict(zip("abcd", rng.multinomial(n, [0.4, 0.3, 0.2, 0.1]).tolist(), strict=True))
    mix_cur = dict(zip("abcd", rng.multinomial(n, [0.3, 0.3, 0.2, 0.2]).tolist(), strict=True))
    new_cur = dict(
        zip("abcde", rng.multinomial(n, [0.38, 0.285, 0.19, 0.095, 0.05]).tolist(), strict=True)
    )
    same_cur = dict(zip("abcd", rng.multinomial(n, [0.4, 0.3, 0.2, 0.1]).tolist(), strict=True))
    cols = {
        "mean_shift": numeric_drift_from_samples(rng.normal(size=n), rng.normal(0.5, 1, n)),
        "variance": numeric_drift_from_samples(rng.normal(size=n), rng.normal(0, 2, n)),
        "steady": numeric_drift_from_samples(rng.lognormal(size=n), rng.lognormal(size=n)),
        "new_category": categorical_drift(mix_ref, new_cur),
        "mix": categorical_drift(mix_ref, mix_cur),
        "steady_cat": categorical_drift(mix_ref, same_cur),
    }
    result = decide(cols)
    assert result.drifted_columns == ("mean_shift", "variance", "new_category", "mix")
    assert "mean shift (Welch): +0.5" in result["mean_shift"].reason
    variance = result["variance"]
    assert variance.tests["ks"].effect > 0.1 and not variance.tests["welch"].exceeds
    assert "distribution change (KS): D = 0.1" in variance.reason
    new = result["new_category"]
    assert new.tests["new_categories"].effect == pytest.approx(0.05, abs=0.005)
    assert new.details["new_categories"] == ["e"]
    assert "new categories take 5." in new.reason
    assert result["mix"].tests["chi2"].effect > 0.1
    assert result["steady"].reason.startswith("No drift")


def test_tiny_shift_on_a_huge_sample_is_significant_but_not_drift() -> None:
    rng = np.random.default_rng(8)
    n = 500_000
    column = numeric_drift_from_samples(rng.normal(size=n), rng.normal(0.01, 1, n))
    result = decide({"x": column})
    welch = result["x"].tests["welch"]
    assert welch.p_value < 1e-4 and welch.significant  # the p-value alone would flag it
    assert abs(welch.effect) < 0.02
    assert not result["x"].drifted
    assert "mean shift (Welch) is significant but small" in result["x"].reason


def test_per_column_thresholds_override_the_defaults() -> None:
    rng = np.random.default_rng(9)
    cols = {c: numeric_drift_from_samples(rng.normal(size=5000), rng.normal(0.5, 1, 5000))
            for c in ("strict", "loose")}  # fmt: skip
    result = decide(cols, per_column={"loose": {"smd": 0.8, "ks_d": 0.3}})
    assert result.drifted_columns == ("strict",)
    assert result["loose"].tests["welch"].threshold == 0.8
    lenient = decide(cols, DriftThresholds(smd=1.0, ks_d=0.5))
    assert lenient.drifted_columns == ()


# --- false alarms -------------------------------------------------------------

NULL_DISTRIBUTIONS = (
    lambda rng, n: rng.normal(5, 2, n),
    lambda rng, n: rng.lognormal(0, 1, n),
    lambda rng, n: rng.exponential(3, n),
    lambda rng, n: rng.poisson(4, n).astype(float),  # ties
    lambda rng, n: rng.uniform(-1, 1, n),
)
CATEGORY_SHARES = (
    [0.5, 0.3, 0.2],
    [0.25] * 4,
    [0.6, 0.2, 0.1, 0.05, 0.03, 0.02],
    list(np.full(20, 0.05)),
    [0.9, 0.09, 0.009, 0.001],  # a rare category, pooled for chi-square
)


def test_false_alarm_rate_on_fresh_samples_of_the_same_distribution() -> None:
    rng = np.random.default_rng(10)
    resamples, alarms, significant, naive = 100, 0, 0, 0
    for _ in range(resamples):
        n_ref, n_cur = rng.integers(5_000, 20_001, size=2)
        cols: dict[str, ColumnStats] = {}
        for i in range(20):
            draw = NULL_DISTRIBUTIONS[i % len(NULL_DISTRIBUTIONS)]
            cols[f"num{i}"] = numeric_drift_from_samples(draw(rng, n_ref), draw(rng, n_cur))
        for j, shares in enumerate(CATEGORY_SHARES):
            names = [f"c{k}" for k in range(len(shares))]
            ref = dict(zip(names, rng.multinomial(n_ref, shares).tolist(), strict=True))
            cur = dict(zip(names, rng.multinomial(n_cur, shares).tolist(), strict=True))
            cols[f"cat{j}"] = categorical_drift(ref, cur)
        result = decide(cols)
        alarms += bool(result.drifted_columns)
        tests = [t for c in result.columns for t in c.tests.values() if t.p_value is not None]
        significant += any(t.significant for t in tests)
        naive += any((t.p_value or 0.0) < 0.05 for t in tests)
    assert alarms <= 5, f"{alarms} of {resamples} resamples raised a false alarm"
    assert significant <= 10, f"Holm let {significant} of {resamples} through"
    # Without any correction or gate, almost every run would raise something.
    assert naive >= 50


# --- categorical ---------------------------------------------------------------


def test_unseen_categories_form_one_new_bucket_reported_on_its_own() -> None:
    ref = {"a": 500, "b": 300, "c": 200, "gone": 0}
    cur = {"a": 480, "b": 290, "c": 180, "x": 30, "y": 20, "gone": 5}
    column = categorical_drift(ref, cur)
    expected = stats.chi2_contingency([[500, 300, 200, 0], [480, 290, 180, 55]], correction=False)
    assert column.tests["chi2"].statistic == pytest.approx(expected.statistic)
    assert column.tests["chi2"].p_value == pytest.approx(expected.pvalue)
    assert column.tests["new_categories"].effect == pytest.approx(55 / 1005)
    assert column.details["new_categories"] == ["x", "y", "gone"]
    assert column.details["n_new_categories"] == 3


def test_rare_categories_are_pooled_for_chi_square() -> None:
    ref = {"a": 1000, "b": 900, "r1": 2, "r2": 1}
    cur = {"a": 100, "b": 100, "r2": 1}
    column = categorical_drift(ref, cur)
    # r1 and r2 pooled ([3, 1]); still below 5 expected, so merged into the smallest (b).
    expected = stats.chi2_contingency([[1000, 903], [100, 101]], correction=False)
    assert column.tests["chi2"].statistic == pytest.approx(expected.statistic)
    assert column.details["categories_pooled_as_rare"] == 2
    assert column.details["categories_tested"] == 2
    assert column.details["vanished_categories"] == ["r1"]


def test_cramers_v_does_not_depend_on_the_ratio_of_sample_sizes() -> None:
    table = np.array([[400, 300, 300], [300, 300, 400]])
    usual = stats.contingency.association(table, method="cramer")
    assert cramers_v_equal_size(table) == pytest.approx(usual)  # equal rows: the usual V
    big_ref = table * np.array([[100], [1]])
    assert cramers_v_equal_size(big_ref) == pytest.approx(usual)
    assert stats.contingency.association(big_ref, method="cramer") < usual / 3


# --- PSI and JS -----------------------------------------------------------------


def test_psi_known_values() -> None:
    assert psi([50, 50], [25, 75]) == pytest.approx(-0.25 * math.log(0.5) + 0.25 * math.log(1.5))
    assert psi([1, 2, 3], [10, 20, 30]) == pytest.approx(0.0)
    # An empty bin is floored at epsilon and the shares renormalised.
    p = np.array([0.5, 0.5, 1e-4]) / 1.0001
    q = np.array([0.4, 0.4, 0.2])
    assert psi([0.5, 0.5, 0.0], q) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert psi([0.5, 0.5, 0.0], q) > psi([0.5, 0.5, 0.0], q, epsilon=0.01)


def test_js_distance_known_values() -> None:
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_distance([3, 7], [30, 70]) == pytest.approx(0.0)
    # P=(.5,.5), Q=(1,0), M=(.75,.25): KL(P|M)=.5*log2(2/3)+.5*log2(2), KL(Q|M)=log2(4/3)
    jsd = 0.5 * (0.5 * math.log2(2 / 3) + 0.5) + 0.5 * math.log2(4 / 3)
    assert js_distance([1, 1], [1, 0]) == pytest.approx(math.sqrt(jsd))
    assert js_distance([1, 1], [1, 0]) == pytest.approx(js_distance([1, 0], [1, 1]))


# --- results, edge cases, bad input ----------------------------------------------


def test_constant_columns_and_json_safe_results() -> None:
    result = decide(
        {
            "same": numeric_drift_from_samples(np.ones(50), np.ones(80)),
            "moved": numeric_drift_from_samples(np.ones(50), np.full(80, 2.0)),
            "nan": numeric_drift_from_samples([1.0, 2.0, np.nan, 3.0], [1.0, np.nan, 2.0, 3.5]),
        }
    )
    assert result.drifted_columns == ("moved",)
    assert result["moved"].tests["welch"].effect == math.inf
    assert result["nan"].details["missing_share_ref"] == 0.25
    body = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert body["drifted_columns"] == ["moved"]
    assert body["columns"][1]["tests"]["welch"]["effect"] is None  # inf is not JSON


BAD_CALLS = [
    (lambda: numeric_drift_from_samples([], [1.0, 2.0]), "0 non-missing"),
    (lambda: numeric_drift_from_samples([np.nan] * 5, [1.0, 2.0]), "all NaN"),
    (lambda: numeric_drift_from_samples([1.0, np.inf], [1.0, 2.0]), "infinite"),
    (lambda: numeric_drift_from_samples(np.ones((3, 2)), [1.0, 2.0]), "1-D"),
    (lambda: numeric_drift_from_samples(["a", "b"], [1.0, 2.0]), "numeric"),
    (lambda: numeric_drift_from_samples([1.0, 2.0], [1.0, 3.0], bins=1), "bins"),
    (lambda: categorical_drift({"a": -1, "b": 3}, {"a": 1}), "non-negative whole"),
    (lambda: categorical_drift({"a": 1.5}, {"a": 1}), "non-negative whole"),
    (lambda: categorical_drift({"a": math.nan}, {"a": 1}), "non-negative whole"),
    (lambda: categorical_drift({"a": 3}, {"a": 0}), "all zero"),
    (lambda: categorical_drift([("a", 3)], {"a": 1}), "mapping"),  # type: ignore[arg-type]
    (lambda: psi([1, 2, 3], [1, 2]), "3 bins but current has 2"),
    (lambda: js_distance([1, -2], [1, 2]), "non-negative"),
    (lambda: psi([0, 0], [1, 2]), "sum to zero"),
    (lambda: ks_from_cdfs([0.1, 0.5], [0.2], n_ref=10, n_cur=10), "same non-empty"),
    (lambda: ks_from_cdfs([0.5, 0.1], [0.2, 0.3], n_ref=10, n_cur=10), "must not decrease"),
    (
        lambda: NumericSummary.from_cdf_table(
            [1, 2], [0.5], n=10, mean=0, variance=1, rank_error=0.01
        ),
        "2 points but 1",
    ),
    (
        lambda: NumericSummary.from_cdf_table(
            [2, 1], [0.5, 1], n=10, mean=0, variance=1, rank_error=0.01
        ),
        "strictly increasing",
    ),
    (
        lambda: NumericSummary(n=1, mean=0.0, variance=-1.0, cdf=np.sign, quantiles=np.sign),
        "n must be an integer >= 2, got 1; variance must be finite",
    ),
    (lambda: holm([0.1, math.nan]), "without NaN"),
    (lambda: holm([1.2]), "in \\[0, 1\\]"),
    (lambda: DriftThresholds(ks_d=0.0), "'ks_d' must be a number in \\(0, 1"),
    (lambda: decide({}), "No columns"),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS, ids=[m for _, m in BAD_CALLS])
def test_bad_input_is_refused_with_a_message_saying_what(call: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        call()
    assert info.value.hint


def test_decide_refuses_unknown_columns_thresholds_and_alpha() -> None:
    cols = {"x": categorical_drift({"a": 5, "b": 5}, {"a": 5, "b": 5})}
    with pytest.raises(InvalidInput, match="not compared: \\['y'\\]"):
        decide(cols, per_column={"y": {"js": 0.2}})
    with pytest.raises(InvalidInput, match="Unknown drift threshold\\(s\\) \\['jsd'\\]"):
        decide(cols, per_column={"x": {"jsd": 0.2}})
    with pytest.raises(InvalidInput, match="alpha"):
        decide(cols, alpha=1.5)
    with pytest.raises(InvalidInput, match="lacks the tests"):
        decide({"x": ColumnStats("numeric", {}, {})})


def test_a_raw_datasketches_cdf_is_refused_with_a_hint_to_drop_the_last_value() -> None:
    good = NumericSummary.from_sample(np.arange(100.0))
    raw = NumericSummary(
        n=100, mean=49.5, variance=841.7, quantiles=good.quantiles,
        cdf=lambda points: np.append(good.cdf(points), 1.0),
    )  # fmt: skip
    with pytest.raises(InvalidInput, match="returned 101 values for 100 points") as info:
        numeric_drift_from_summaries(good, raw)
    assert "drop it" in str(info.value)


def test_a_change_of_spread_alone_is_caught_and_sized_by_the_iqr() -> None:
    rng = np.random.default_rng(42)
    reference = rng.normal(0.0, 1.0, 200_000)
    wider = rng.normal(0.0, np.sqrt(1.8), 200_000)  # variance x1.8: KS D is only about 0.07
    same = rng.normal(0.0, 1.0, 200_000)
    result = decide(
        {
            "wider": numeric_drift_from_samples(reference, wider),
            "same": numeric_drift_from_samples(reference, same),
        }
    )
    assert result.drifted_columns == ("wider",)
    assert "spread change" in result["wider"].reason
    assert result["wider"].tests["ks"].effect < 0.1  # the D gate alone would miss it
    assert 1.3 < result["wider"].tests["spread"].statistic < 1.4


def test_a_new_category_needs_rows_as_well_as_a_share() -> None:
    reference = {"a": 5000, "b": 5000}
    # One new value in a window of 40 rows is 2.5% of it, but one row: not drift.
    small = decide({"c": categorical_drift(reference, {"a": 20, "b": 19, "z": 1})})
    assert not small["c"].drifted and "1 rows" in small["c"].reason
    # Thirty rows of it in a window of 1,000: a new code upstream.
    big = decide({"c": categorical_drift(reference, {"a": 485, "b": 485, "z": 30})})
    assert big["c"].drifted and "new categories" in big["c"].reason
    assert decide({"c": categorical_drift(reference, {"a": 485, "b": 485, "z": 30})},
                  DriftThresholds(new_rows=50)).drifted_columns == ()  # fmt: skip
    with pytest.raises(InvalidInput, match="new_rows"):
        DriftThresholds(new_rows=0)
