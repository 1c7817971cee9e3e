"""Batch transform as a service (``ws.batch``): a registered model version over a whole
input, written to Parquet, on the local engine or a Dask cluster.

>>> ws.batch.transform("model:delay@3", "flights.parquet", "out/")  # doctest: +SKIP
TransformResult(output='out/', rows=2000000, parts=16, resumed=0, ...)

Access: loading the model needs ``models:Read`` on it, a dataset input ``datasets:Read``,
and the run record ``runs:Write`` on ``shipyard:experiment:batch-transform``; all are
checked before any work starts. Layout and resume rule: :mod:`.output`; columns:
:mod:`.plan`; the record: :mod:`.record`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.engines import Engine, open_engine
from shipyard.errors import InvalidInput
from shipyard.serving.batch.enrich import plan_enrichment
from shipyard.serving.batch.inputs import BatchInput, Part, open_input
from shipyard.serving.batch.output import OutputFolder, output_digest
from shipyard.serving.batch.parts import PartFailed, PartResult, transform_part
from shipyard.serving.batch.plan import plan_transform
from shipyard.serving.batch.record import EXPERIMENT, finish_record, start_record
from shipyard.types import Ref

if TYPE_CHECKING:
    from shipyard.workspace import Workspace

DEFAULT_BATCH_ROWS = 64 * 1024
Progress = Callable[[int, int], None]  # (rows done, rows in all)


@dataclass(frozen=True)
class TransformResult:
    """What a batch transform wrote: where, how much, and what was found done already."""

    output: str
    rows: int
    parts: int
    resumed: int  # parts found done by an earlier run of the same job
    digest: str  # sha256 over the parts' sha256s (see output.output_digest)
    run: str | None  # the tracked run's uid
    manifest: dict[str, Any] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "rows": self.rows, "parts": self.parts,
                "resumed": self.resumed, "digest": self.digest, "run": self.run}  # fmt: skip


class BatchService:
    """Run batch transforms as the workspace's principal."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def transform(
        self,
        model: str,
        input: str,
        output: str,
        *,
        engine: str | Engine = "local",
        scheduler: str | None = None,
        workers: int | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        input_filter: Sequence[str] | None = None,
        join_source: bool = False,
        output_filter: Sequence[str] | None = None,
        proba: bool | None = None,
        timestamp_column: str | None = None,
        overwrite: bool = False,
        trust: bool = False,
        progress: Progress | None = None,
    ) -> TransformResult:
        """Predict every row of ``input`` (Parquet file or folder, local or an fsspec URL,
        or ``dataset:NAME@V``) with ``model`` (``model:NAME@V``) into the folder ``output``.

        ``input_filter``: the input columns sent to the model (default: those it takes);
        ``join_source``: the output rows carry the input's columns first;
        ``output_filter``: the output columns kept; ``proba``: the class probabilities
        (default: for a classifier). A model trained on feature views gets those inputs
        from the offline point-in-time join (:mod:`.enrich`) at each row's
        ``timestamp_column`` (default: the one it was trained with, if recorded). A rerun
        of the same job resumes where the last stopped; an output folder of another job is
        refused unless ``overwrite``. ``engine`` is ``local``, ``dask`` or an
        :class:`~shipyard.engines.Engine`.
        """
        from shipyard.serving.inference import Predictor
        from shipyard.training.tracking.tracker import experiment_resource

        ref = Ref.parse(model, kind="model")
        if isinstance(engine, str) and engine not in ("local", "dask"):
            open_engine(engine)  # raises, naming the engines
        version = self._ws.models.get(ref.name, ref.version)
        self._ws.authorize("runs:Write", experiment_resource(EXPERIMENT))
        model_ref = f"model:{version.name}@{version.version}"
        loaded = self._ws.models.load(version.name, version.version, trust=trust)
        source = open_input(self._ws, input)
        predictor = Predictor(loaded)
        predictor.warm()
        enrichment = plan_enrichment(
            self._ws, version, predictor.schema, source.schema.names, timestamp_column
        )
        if enrichment is None and timestamp_column is not None:
            raise InvalidInput(
                f"timestamp_column is for a model whose inputs come from feature views; "
                f"{model_ref} takes none.",
                hint="Leave out timestamp_column (--timestamp-column).",
            )
        spec = plan_transform(
            predictor, source, output=_output_url(output),
            model={"ref": model_ref, "package": version.package}, batch_rows=batch_rows,
            input_filter=input_filter, join_source=join_source, output_filter=output_filter,
            proba=proba, enrichment=enrichment,
        )  # fmt: skip
        folder = OutputFolder(spec.output, spec.job)
        finished = folder.manifest()
        if finished is not None and not overwrite:
            return _result(spec.output, finished, resumed=len(source.parts))
        done = folder.prepare(source.parts, overwrite=overwrite)
        lineage: dict[str, Any] = {
            "model": model_ref, "package": version.package, "input": source.record,
            "output": {"url": spec.output}, "job": spec.job,
        }  # fmt: skip
        if enrichment is not None:
            lineage["enrichment"] = enrichment.record
        params = {
            "input": source.given, "output": spec.output, "batch_rows": batch_rows,
            "input_filter": ",".join(spec.model_columns), "join_source": join_source,
            "output_filter": None if spec.kept is None else ",".join(spec.kept),
            "proba": spec.proba,
            "timestamp_column": enrichment.timestamp_column if enrichment else None,
        }  # fmt: skip
        owned = isinstance(engine, str)
        runner = (
            open_engine(engine, scheduler=scheduler, workers=workers)
            if isinstance(engine, str)
            else engine
        )
        lineage["engine"] = runner.describe()
        run = start_record(self._ws, model_ref, {**params, "engine": runner.name}, lineage)
        started = time.perf_counter()
        try:
            results = _run_parts(runner, spec, source, done, progress)
        except BaseException as exc:
            error = exc.error() if isinstance(exc, PartFailed) else exc
            run.fail(error)
            if error is not exc:
                raise error from None
            raise
        finally:
            if owned:
                runner.close()
        digest = output_digest(results)
        manifest = {
            "job": spec.job, "model": model_ref, "package": version.package,
            "input": source.record, "rows": source.rows, "digest": digest,
            "columns": spec.schema.names if spec.schema is not None else [],
            "parts": [{"file": r.file, "rows": r.rows, "sha256": r.sha256} for r in results],
            "run": run.uid,
        }  # fmt: skip
        folder.finish(manifest)
        lineage["output"] = {"url": spec.output, "digest": digest, "rows": source.rows}
        finish_record(run, lineage, manifest, {
            "rows": source.rows, "parts": len(results), "resumed_parts": len(done),
            "seconds": time.perf_counter() - started,
        })  # fmt: skip
        return _result(spec.output, manifest, resumed=len(done))

    def __repr__(self) -> str:
        return f"BatchService(principal={self._ws.principal!r})"


def _run_parts(
    engine: Engine,
    spec: Any,
    source: BatchInput,
    done: dict[int, PartResult],
    progress: Progress | None,
) -> list[PartResult]:
    """Every part's result: those done already, then the rest as the engine runs them."""
    todo = [part for part in source.parts if part.index not in done]
    total = source.rows
    finished = [sum(done[i].rows for i in done)]
    if progress is not None:
        progress(finished[0], total)

    def on_done(part: Part, result: PartResult) -> None:
        finished[0] += result.rows
        if progress is not None:
            progress(finished[0], total)

    ran = engine.map_parts(transform_part, todo, shared=spec, on_done=on_done)
    return sorted([*done.values(), *ran], key=lambda r: r.index)


def _output_url(output: str) -> str:
    import os

    if not isinstance(output, str) or not output.strip():
        raise InvalidInput("Give an output folder (a path or an fsspec URL).")
    return output if "://" in output else os.path.abspath(os.path.expanduser(output))


def _result(output: str, manifest: dict[str, Any], *, resumed: int) -> TransformResult:
    return TransformResult(
        output=output, rows=int(manifest["rows"]), parts=len(manifest["parts"]),
        resumed=resumed, digest=str(manifest["digest"]), run=manifest.get("run"),
        manifest=manifest,
    )  # fmt: skip
