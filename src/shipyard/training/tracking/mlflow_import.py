"""Bring run history over from MLflow: experiments, runs, params, metric histories, tags.

Reads through MLflow's own client (``pip install "shipyard[mlflow]"``), so any
tracking URI MLflow can read works: ``sqlite:///mlflow.db``, a PostgreSQL URL,
an ``http://`` tracking server, a ``file:`` store. Each MLflow run becomes a
Shipyard run with its original start and end times, status, every metric value
with its step and timestamp, params and tags; its record keeps the MLflow run id,
so importing again skips runs already brought over.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import BackendUnavailable, InvalidInput

if TYPE_CHECKING:
    from shipyard.training.tracking.tracker import Tracker

_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed", "RUNNING": "running"}
_BAD_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class ImportSummary:
    """What an import brought over."""

    experiments: tuple[str, ...]
    runs: int
    skipped: int
    metric_values: int


def import_mlflow(tracker: Tracker, tracking_uri: str) -> ImportSummary:
    """Copy every MLflow experiment and run at ``tracking_uri`` into ``tracker``.

    >>> import_mlflow(ws.runs, "sqlite:///mlflow.db")  # doctest: +SKIP
    ImportSummary(experiments=('churn',), runs=12, skipped=0, metric_values=4800)
    """
    _check_source(tracking_uri)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise BackendUnavailable(
            "Importing from MLflow needs the mlflow client.",
            hint='Install it with `pip install "shipyard[mlflow]"`.',
        ) from None
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines are not ours
    client = MlflowClient(tracking_uri=tracking_uri)
    already = _imported_ids(tracker)
    names, runs, skipped, values = [], 0, 0, 0
    for experiment in client.search_experiments():
        name = _name(experiment.name)
        names.append(name)
        for run in _all_runs(client, experiment.experiment_id):
            if run.info.run_id in already:
                skipped += 1
                continue
            values += _copy_run(tracker, client, name, run, tracking_uri)
            runs += 1
    return ImportSummary(tuple(names), runs, skipped, values)


def _check_source(uri: str) -> None:
    """MLflow creates an empty database for a missing SQLite file; importing must not."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        if not path.is_file():
            raise InvalidInput(
                f"No MLflow database at {path}.",
                hint="Check the path: sqlite:///relative.db or sqlite:////absolute/path.db.",
            )


def _all_runs(client: Any, experiment_id: str) -> Any:
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _copy_run(tracker: Tracker, client: Any, experiment: str, run: Any, uri: str) -> int:
    from shipyard.stores.tracking.base import NewRun

    store = tracker.store
    info = run.info
    key = store.create_run(
        NewRun(
            uid=uuid.uuid4().hex,
            experiment_id=tracker.experiment_id(experiment),
            name=_name(info.run_name or info.run_id),
            start_time=_time(info.start_time) or datetime.now(UTC),
            created_by=info.user_id or tracker.principal,
            record={
                "imported_from": "mlflow",
                "mlflow_run_id": info.run_id,
                "mlflow_experiment_id": info.experiment_id,
            },
        )
    )
    metrics = [
        (key.id, m.key, int(m.step), float(m.value), m.timestamp / 1000.0)
        for name in run.data.metrics
        for m in client.get_metric_history(info.run_id, name)
    ]
    status = _STATUS.get(info.status, "finished")
    ends = (
        [] if status == "running" else [(key.id, status, _time(info.end_time) or datetime.now(UTC))]
    )
    store.log_batch(
        params=[(key.id, k, str(v)) for k, v in run.data.params.items()],
        metrics=metrics,
        tags=[(key.id, k, str(v)) for k, v in run.data.tags.items()],
        ends=ends,
    )
    return len(metrics)


def _imported_ids(tracker: Tracker) -> set[str]:
    from shipyard.training.tracking.tracker import MAX_SEARCH_RESULTS

    found = tracker.search(max_results=MAX_SEARCH_RESULTS)
    return {str(r.record["mlflow_run_id"]) for r in found if "mlflow_run_id" in r.record}


def _name(text: str) -> str:
    """MLflow allows any name; Shipyard names are letters, digits, '_', '.' and '-'."""
    cleaned = _BAD_NAME.sub("-", text).strip("-.") or "mlflow"
    return cleaned[:128]


def _time(millis: int | None) -> datetime | None:
    return None if millis is None else datetime.fromtimestamp(millis / 1000.0, tz=UTC)
