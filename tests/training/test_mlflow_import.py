"""Import from a real MLflow tracking database, written by MLflow's own client."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard

mlflow = pytest.importorskip("mlflow")


def make_mlflow_history(uri: str) -> dict[str, str]:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("churn model v2")
    ids = {}
    for i in range(3):
        with mlflow.start_run(run_name=f"gbm {i}") as run:
            mlflow.log_params({"learning_rate": 0.1 * (i + 1), "model": "gbm"})
            for step in range(5):
                mlflow.log_metric("val_auc", 0.6 + 0.01 * step + 0.02 * i, step=step)
            mlflow.set_tag("team", "risk")
            ids[f"gbm {i}"] = run.info.run_id
    with mlflow.start_run(run_name="broken") as run:
        mlflow.log_metric("loss", 1.5)
        ids["broken"] = run.info.run_id
        mlflow.end_run("FAILED")
    return ids


def test_runs_come_over_with_history_status_and_times(
    workspace: shipyard.Workspace, tmp_path: Path
) -> None:
    from shipyard.training.tracking.mlflow_import import import_mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ids = make_mlflow_history(uri)
    summary = import_mlflow(workspace.runs, uri)
    assert summary.runs == 4 and summary.metric_values == 16
    assert "churn-model-v2" in summary.experiments

    runs = {r.name: r for r in workspace.runs.search(experiment="churn-model-v2")}
    assert set(runs) == {"gbm-0", "gbm-1", "gbm-2", "broken"}
    best = runs["gbm-2"]
    assert best.params == {"learning_rate": "0.30000000000000004", "model": "gbm"}
    assert best.metrics["val_auc"] == pytest.approx(0.68)
    assert best.tags["team"] == "risk" and best.record["mlflow_run_id"] == ids["gbm 2"]
    history = workspace.runs.metric_history(best.uid, "val_auc")
    assert [p.step for p in history] == [0, 1, 2, 3, 4]
    assert runs["broken"].status == "failed" and best.status == "finished"
    client = mlflow.tracking.MlflowClient(uri)
    original = client.get_run(ids["gbm 2"]).info
    assert abs(best.start_time.timestamp() * 1000 - original.start_time) < 1

    found = workspace.runs.search("metrics.val_auc > 0.65 and params.model = 'gbm'")
    assert {r.name for r in found} == {"gbm-1", "gbm-2"}
    again = import_mlflow(workspace.runs, uri)
    assert again.runs == 0 and again.skipped == 4
