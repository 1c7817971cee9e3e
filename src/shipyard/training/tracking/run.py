"""The run handle: what training code logs through.

Params, metrics and tags are queued for the background writer and return at
once, like the run's own row when it starts (written within ~100 ms, or with
the run's end); artifacts, notes and the end of the run are written before the
call returns. A run used as a context manager ends ``finished``, or ``failed`` when
the block raises (``killed`` on KeyboardInterrupt), with the error recorded.
"""

from __future__ import annotations

import io
import json
import traceback
import warnings
from collections.abc import Mapping
from math import isfinite
from pathlib import Path
from time import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard.errors import Conflict, InvalidInput
from shipyard.stores.tracking.base import RunInfo, RunKey, RunStatus, TrackingStore
from shipyard.training.tracking.validate import (
    STEP_MAX,
    STEP_MIN,
    check_artifact_path,
    check_end_status,
    check_key,
    check_text,
    metric_step,
    metric_value,
)

if TYPE_CHECKING:
    from shipyard.training.tracking.tracker import Tracker

ERROR_TAG = "shipyard.error"


class Run:
    """A running run. Get one from :meth:`Tracker.start_run`.

    >>> with tracker.start_run("churn", name="hgb") as run:  # doctest: +SKIP
    ...     run.log_params({"model": "hgb", "lr": 0.1})
    ...     for epoch in range(10):
    ...         run.log_metric("val_auc", 0.8 + epoch / 100, step=epoch)
    """

    def __init__(
        self, tracker: Tracker, key: RunKey, *, experiment: str, name: str, parent: str | None
    ) -> None:
        self.uid = key.uid
        self.id = key.id
        self.experiment = experiment
        self.name = name
        self.parent = parent
        self.status: RunStatus = "running"
        self._tracker = tracker
        self._writer = tracker._writer
        self._keys: set[str] = set()  # keys already validated
        self._steps: dict[str, int] = {}
        self._params: dict[str, str] = {}

    # -- params, metrics, tags (queued) ------------------------------------------------

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Queue one value of a metric; ``step`` defaults to the key's previous step + 1."""
        if self.status != "running":
            raise self._ended("log a metric")
        if key not in self._keys:
            self._keys.add(check_key(key, "Metric key"))
        if type(value) is not float:
            value = metric_value(key, value)
        elif not isfinite(value):
            metric_value(key, value)  # raises with the message
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif type(step) is not int or not STEP_MIN <= step <= STEP_MAX:
            step = metric_step(key, step)
        self._steps[key] = step
        self._writer.add_metric((self.id, key, step, value, time()))

    def log_metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        """Queue several metrics at one step (each key counts its own steps when None)."""
        if self.status != "running":
            raise self._ended("log metrics")
        now = time()
        rows = []
        for key, raw in values.items():
            if key not in self._keys:
                self._keys.add(check_key(key, "Metric key"))
            value = metric_value(key, raw)
            at = self._steps.get(key, -1) + 1 if step is None else metric_step(key, step)
            rows.append((self.id, key, at, value, now))
        for row in rows:  # only once every value is valid: all or nothing
            self._steps[row[1]] = row[2]
        self._writer.add_metrics(rows)

    def log_param(self, key: str, value: Any) -> None:
        """Queue a param (stored as text); a param cannot change once logged."""
        self.log_params({key: value})

    def log_params(self, values: Mapping[str, Any]) -> None:
        """Queue several params.

        >>> run.log_params({"model": "hgb", "max_depth": 6})  # doctest: +SKIP
        """
        if self.status != "running":
            raise self._ended("log params")
        rows = []
        for key, raw in values.items():
            check_key(key, "Param key")
            text = check_text(raw, f"Param {key!r}")
            if self._params.get(key, text) != text:
                raise Conflict(
                    f"Param {key!r} of run {self.uid} is {self._params[key]!r}; "
                    f"it cannot become {text!r}.",
                    hint="Params are fixed once logged; log what changes as a metric or a tag.",
                )
            rows.append((self.id, key, text))
        self._params.update({key: text for _, key, text in rows})
        self._writer.add_params(rows)

    def set_tag(self, key: str, value: Any) -> None:
        """Queue a tag (stored as text); setting it again replaces it."""
        self.set_tags({key: value})

    def set_tags(self, values: Mapping[str, Any]) -> None:
        """Queue several tags."""
        if self.status != "running":
            raise self._ended("set tags")
        rows = [
            (self.id, check_key(key, "Tag key"), check_text(value, f"Tag {key!r}"))
            for key, value in values.items()
        ]
        self._writer.add_tags(rows)

    # -- artifacts and notes (written at once) ------------------------------------------

    def log_artifact(self, path: str | Path, name: str | None = None) -> dict[str, str]:
        """Store a file or a folder's files; returns each recorded path and its digest.

        A folder's files are recorded as ``name/relative/path``.
        """
        source = Path(path)
        if source.is_dir():
            base = check_artifact_path(name or source.name)
            files = sorted(p for p in source.rglob("*") if p.is_file())
            return {
                recorded: digest
                for file in files
                for recorded, digest in self.log_artifact(
                    file, f"{base}/{file.relative_to(source).as_posix()}"
                ).items()
            }
        recorded = self._check_artifact(name or source.name)
        stored = self._tracker._artifacts.put_file(source)
        self._stored().record_artifact(self.id, recorded, stored.digest, stored.size)
        return {recorded: stored.digest}

    def log_bytes(self, name: str, data: bytes) -> str:
        """Store ``data`` as the artifact ``name``; returns its sha256 digest."""
        recorded = self._check_artifact(name)
        stored = self._tracker._artifacts.put_bytes(data)
        self._stored().record_artifact(self.id, recorded, stored.digest, stored.size)
        return stored.digest

    def log_text(self, name: str, text: str) -> str:
        """Store text (UTF-8) as the artifact ``name``."""
        return self.log_bytes(name, text.encode())

    def log_dict(self, name: str, data: Mapping[str, Any]) -> str:
        """Store a JSON document as the artifact ``name``."""
        return self.log_bytes(name, json.dumps(data, indent=2, default=str).encode())

    def log_figure(self, figure: Any, name: str = "figure.png") -> str:
        """Store a matplotlib figure (format from ``name``'s suffix) or a Plotly one (HTML)."""
        if hasattr(figure, "savefig"):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=Path(name).suffix.lstrip(".") or "png")
            return self.log_bytes(name, buffer.getvalue())
        if hasattr(figure, "to_html"):
            return self.log_text(name, figure.to_html(include_plotlyjs="cdn"))
        raise InvalidInput(
            f"log_figure cannot save a {type(figure).__name__}.",
            hint="Pass a matplotlib Figure or a Plotly figure, or save it yourself and "
            "use log_artifact.",
        )

    def note(self, text: str) -> None:
        """Append a paragraph to the run's notes."""
        if self.status != "running":
            raise self._ended("add a note")
        self._stored().append_note(self.id, str(text))

    def update_record(self, values: Mapping[str, Any]) -> None:
        """Merge keys into the run's recorded environment (JSON-serialisable values)."""
        self._stored().update_record(self.id, dict(values))

    def _stored(self) -> TrackingStore:
        """The store, once this run's row is in it (the writer may still hold it)."""
        if self.id in self._writer.unwritten:
            self._writer.flush()
        return self._tracker._store

    def _check_artifact(self, name: str) -> str:
        if self.status != "running":
            raise self._ended("log an artifact")
        return check_artifact_path(name)

    # -- lifecycle ----------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything queued so far (the writer does this every ~100 ms anyway)."""
        self._writer.flush()

    def end(self, status: RunStatus = "finished") -> None:
        """Flush and set the final status: finished, failed or killed."""
        status = check_end_status(status)
        if self.status != "running":
            raise self._ended(f"end it as {status}")
        self._tracker._end_run(self, status)

    def fail(self, error: BaseException, status: RunStatus = "failed") -> None:
        """End the run as failed, recording the error in a tag and its traceback in the notes."""
        summary = "".join(traceback.format_exception_only(type(error), error)).strip()
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.set_tag(ERROR_TAG, summary[:5000])
        self._stored().append_note(self.id, trace[-100_000:])
        self.end(status)

    def info(self) -> RunInfo:
        """Everything recorded about this run so far."""
        return self._tracker.get_run(self.uid)

    def start_child(self, name: str | None = None, **kwargs: Any) -> Run:
        """Start a nested run in the same experiment."""
        return self._tracker.start_run(self.experiment, name=name, parent=self, **kwargs)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.status != "running":
            return
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.end("finished")
            return
        try:
            # KeyboardInterrupt and the like stop the run from outside: killed.
            self.fail(exc, "failed" if isinstance(exc, Exception | SystemExit) else "killed")
        except Exception as problem:  # the caller's error matters more; exit retries the rest
            warnings.warn(
                f"Could not record the failure of run {self.uid}: {problem}", stacklevel=2
            )

    def _ended(self, action: str) -> Conflict:
        return Conflict(
            f"Cannot {action}: run {self.uid} ({self.name}) has ended ({self.status}).",
            hint="Start a new run; annotate an ended run with tracker.set_tags or tracker.note.",
        )

    def __repr__(self) -> str:
        return f"Run(uid={self.uid!r}, name={self.name!r}, status={self.status!r})"
