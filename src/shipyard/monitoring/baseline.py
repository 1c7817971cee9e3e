"""A model version's training baseline: what its monitoring compares the traffic with.

Made once per model version, from its training data (and its validation data when
there is one):

* ``input``: the profile and constraints of the training data (``statistics.json`` and
  ``constraints.json``, a :class:`~shipyard.data.quality_service.BaselineVersion`); the
  ``input`` and ``enriched`` stages are checked against it;
* ``outputs``: the profile of the model's own scores (``score_i`` or ``score``) and
  answers (``prediction``) on that data, for the ``scores`` and ``output`` stages;
* ``metrics``: its quality on the validation set (ROC AUC, accuracy... for a classifier;
  RMSE, MAE for a regressor), the level ground truth is compared with;
* ``validation``: the validation rows' scores and labels (Parquet), from which the
  quality estimate before labels (CBPE) checks and corrects the model's calibration.

The baseline is a JSON document in the artifact store; the version's tag ``monitoring``
holds its digest (and ``monitoring_baseline`` the training baseline's ref, as before).
An endpoint's variants find their baselines through the versions they serve.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from shipyard.data.quality_service import BaselineVersion
    from shipyard.registry.records import ModelVersion
    from shipyard.workspace import Workspace

TAG = "monitoring"
SAMPLE_ROWS = 200_000  # rows of the training data the model scores for the outputs' profile


@dataclass(frozen=True)
class ModelBaseline:
    """What one model version's traffic is compared with (see the module)."""

    model: str
    version: int
    task: str  # classification | regression
    input: BaselineVersion
    outputs: BaselineVersion | None
    metrics: dict[str, float]
    validation: str | None  # artifact digest of the validation scores and labels
    positive: int | None  # the score column of the positive class (binary classifiers)

    def stage(self, stage: str) -> BaselineVersion | None:
        """The baseline a stage is checked against (None: this stage has none)."""
        return self.input if stage in ("input", "enriched") else self.outputs


def make_baseline(
    ws: Any,  # a Workspace, or a pipeline step's view of one
    version: ModelVersion,
    training: Any,
    *,
    validation: Any = None,
    target: str | None = None,
    trust: bool = False,
) -> ModelBaseline:
    """Make and attach the baseline of ``version`` from its training data (a DataFrame,
    Arrow table, Parquet path or dataset reference) and, for quality, its validation data
    with its ``target`` column. The model is loaded to score the data: a pickled model
    needs ``trust=True``, as :meth:`~shipyard.registry.service.ModelRegistry.load` says."""
    features = version.signature.input_names
    train = _frame(ws, training, "training data")
    missing = [c for c in features if c not in train.columns]
    if missing:
        raise InvalidInput(
            f"The training data lacks columns the model takes: {', '.join(missing)}.",
            hint="Pass the data the model was trained on (its features, with their names).",
        )
    columns = [*features, *([target] if target and target in train.columns else [])]
    input_data = ws.datasets.register(
        f"{version.name}-reference-training", train[columns].reset_index(drop=True)
    )
    input_base = ws.quality.baseline(str(input_data.ref))
    loaded = ws.models.load(version.name, version.version, trust=trust)
    sample = train[features].head(SAMPLE_ROWS)
    outputs_table = _outputs(loaded, sample)
    outputs_base = None
    if outputs_table is not None:
        outputs_data = ws.datasets.register(f"{version.name}-reference-outputs", outputs_table)
        outputs_base = ws.quality.baseline(str(outputs_data.ref))
    task = "classification" if loaded.supports_proba else "regression"
    metrics: dict[str, float] = {}
    scored = None
    positive = _positive(loaded)
    if validation is not None:
        if not target:
            raise InvalidInput(
                "Validation data needs its target column to measure quality.",
                hint="Pass target= (the label column).",
            )
        valid = _frame(ws, validation, "validation data")
        if target not in valid.columns:
            raise InvalidInput(f"The validation data has no column {target!r}.")
        metrics, scored = _validation(loaded, valid[features], valid[target], positive)
    document = {
        "model": version.name,
        "version": version.version,
        "task": task,
        "input": str(input_base.ref),
        "outputs": str(outputs_base.ref) if outputs_base else None,
        "metrics": metrics,
        "validation": ws.artifacts.put_bytes(scored).digest if scored else None,
        "positive": positive,
    }
    digest = ws.artifacts.put_bytes(json.dumps(document, sort_keys=True).encode()).digest
    ws.models.set_tag(version.name, version.version, TAG, digest)
    ws.models.set_tag(version.name, version.version, "monitoring_baseline", str(input_base.ref))
    return _build(ws, document)


def load_baseline(ws: Workspace, model: str, version: int) -> ModelBaseline | None:
    """The baseline attached to ``model@version``, or None when it has none."""
    tags = ws.models.get(model, version).tags
    digest = tags.get(TAG)
    if digest:
        return _build(ws, json.loads(ws.artifacts.get_bytes(digest)))
    if tags.get("monitoring_baseline"):  # made before outputs and metrics were kept
        document = {"model": model, "version": version, "task": "classification",
                    "input": tags["monitoring_baseline"], "outputs": None, "metrics": {},
                    "validation": None, "positive": None}  # fmt: skip
        return _build(ws, document)
    return None


def validation_scores(ws: Workspace, baseline: ModelBaseline) -> tuple[np.ndarray, np.ndarray]:
    """The validation rows' positive-class probabilities and labels (0/1)."""
    if baseline.validation is None:
        raise NotFound(f"model:{baseline.model}@{baseline.version} kept no validation scores.")
    table = pq.read_table(io.BytesIO(ws.artifacts.get_bytes(baseline.validation)))
    return table.column("score").to_numpy(), table.column("label").to_numpy()


def _build(ws: Workspace, document: dict[str, Any]) -> ModelBaseline:
    return ModelBaseline(
        model=document["model"],
        version=int(document["version"]),
        task=document["task"],
        input=ws.quality.get_baseline(document["input"]),
        outputs=ws.quality.get_baseline(document["outputs"]) if document["outputs"] else None,
        metrics={k: float(v) for k, v in document["metrics"].items()},
        validation=document["validation"],
        positive=document["positive"],
    )


def _frame(ws: Workspace, data: Any, what: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pa.Table):
        return data.to_pandas()
    text = str(data)
    if text.endswith((".parquet", ".pq")):
        try:
            return pq.read_table(text).to_pandas()
        except (OSError, pa.ArrowInvalid) as exc:
            raise InvalidInput(f"Cannot read the {what} at {text}: {exc}.") from None
    version = ws.datasets.get(text)
    return pq.read_table(ws.datasets.path(version.ref)).to_pandas()


def _outputs(loaded: Any, sample: pd.DataFrame) -> pa.Table | None:
    """The model's scores and answers on ``sample``, in the capture's stage columns."""
    if not len(sample):
        return None
    columns: dict[str, Any] = {}
    if loaded.supports_proba:
        proba = np.asarray(loaded.predict_proba(sample), dtype=np.float64)
        for i in range(proba.shape[1]):
            columns[f"score_{i}"] = proba[:, i]
    predictions = np.asarray(loaded.predict(sample))
    if not loaded.supports_proba and predictions.dtype.kind in "iuf":
        columns["score"] = predictions.astype(np.float64)
    if predictions.ndim == 1:
        columns["prediction"] = predictions
    return pa.table(columns) if columns else None


def _positive(loaded: Any) -> int | None:
    classes = loaded.classes
    return 1 if loaded.supports_proba and classes is not None and len(classes) == 2 else None


def _validation(
    loaded: Any, features: pd.DataFrame, labels: pd.Series, positive: int | None
) -> tuple[dict[str, float], bytes | None]:
    """Validation metrics, and (binary classifiers) the scores and labels as Parquet."""
    from shipyard.monitoring.quality import classification_metrics, regression_metrics

    if positive is None:
        if loaded.supports_proba:
            return {}, None  # multiclass: quality needs per-class metrics, not yet kept
        predicted = np.asarray(loaded.predict(features), dtype=np.float64)
        return regression_metrics(labels.to_numpy(dtype=np.float64), predicted), None
    classes = list(loaded.classes)
    y = (labels.to_numpy() == classes[positive]).astype(np.int8)
    score = np.asarray(loaded.predict_proba(features), dtype=np.float64)[:, positive]
    metrics = {k: v for k, v in classification_metrics(y, score).items() if v is not None}
    sink = io.BytesIO()
    pq.write_table(pa.table({"score": score, "label": y}), sink)
    return metrics, sink.getvalue()
