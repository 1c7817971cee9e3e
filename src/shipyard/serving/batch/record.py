"""A batch transform's record: a tracked run (``ws.runs``) of kind ``batch-transform``.

The run is in the experiment ``batch-transform``, named after the model version; its
params are the options, its tags the kind and the model version, its record the lineage
(the model version and its package, the input's dataset version and content hash or its
files' fingerprint, the output's URL and digest), and the output's ``_manifest.json`` is
logged with it. A run that fails is ended as failed with its error; its rerun (which
resumes) is a run of its own, whose ``resumed_parts`` metric says how many parts it
found done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.training.tracking import Run
    from shipyard.workspace import Workspace

EXPERIMENT = "batch-transform"
KIND = "batch-transform"


def start_record(
    workspace: Workspace, model: str, params: dict[str, Any], lineage: dict[str, Any]
) -> Run:
    run = workspace.runs.start_run(
        EXPERIMENT, name=model, record={"batch_transform": lineage},
        tags={"kind": KIND, "model": model},
    )  # fmt: skip
    run.log_params({k: "" if v is None else v for k, v in params.items()})
    return run


def finish_record(
    run: Run, lineage: dict[str, Any], manifest: dict[str, Any], metrics: dict[str, float]
) -> None:
    run.update_record({"batch_transform": lineage})
    run.log_metrics(metrics)
    run.log_dict("_manifest.json", manifest)
    run.end()
