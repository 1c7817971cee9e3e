"""A model version's lineage: what the caller gives, checked and filled in.

The registry stores these keys in the version's attributes (the feature
registry reads ``feature_views`` and ``feature_service`` to find the models
that depend on a view) and writes the same facts as a :class:`Lineage` record
for ``shipyard lineage model:NAME@V``:

- ``datasets``: dataset references with versions, such as ``dataset:flights@3``
- ``feature_views``: ``weather@2`` (name@version)
- ``feature_service``: ``delay@1`` or None
- ``split``: ``split:flights@1`` or None
- ``run``: the training run id
- ``code``: ``{"commit", "dirty", "diff_hash"}``
- ``build_id``, ``pipeline_run``: set by the pipeline

Keys not given come from the training run's record when there is one (its
datasets, split and code), else ``code`` is the git state of the working
directory at registration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.lineage import CodeVersion, Lineage, code_version
from shipyard.types import Ref

LINEAGE_KEYS = (
    "datasets",
    "feature_views",
    "feature_service",
    "split",
    "run",
    "code",
    "build_id",
    "pipeline_run",
    "known_after",
    "expected_strong",
)


def model_lineage(
    given: Mapping[str, Any] | Lineage | None,
    *,
    run: str | None = None,
    run_record: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The lineage keys of a new version, checked, with defaults from the run's record."""
    values = _from_lineage(given) if isinstance(given, Lineage) else dict(given or {})
    unknown = sorted(set(values) - set(LINEAGE_KEYS))
    if unknown:
        raise InvalidInput(
            f"Unknown lineage key(s): {', '.join(unknown)}.",
            hint=f"Use: {', '.join(LINEAGE_KEYS)}.",
        )
    if run and values.get("run") not in (None, run):
        raise InvalidInput(f"run={run!r} but the lineage names run {values['run']!r}.")
    record = run_record or {}
    datasets = values.get("datasets", record.get("datasets") or [])
    service = values.get("feature_service")
    return {
        "datasets": [_ref(d, "dataset") for d in _listed(datasets, "datasets")],
        "feature_views": [
            _named(v, "feature_view") for v in _listed(values.get("feature_views"), "feature_views")
        ],
        "feature_service": _named(service, "feature_service") if service else None,
        "split": _split(values.get("split") or record.get("split")),
        "run": _text(run or values.get("run"), "run"),
        "code": _code(values.get("code"), record.get("code")),
        "build_id": _text(values.get("build_id"), "build_id"),
        "pipeline_run": _text(values.get("pipeline_run"), "pipeline_run"),
        # Declared leakage facts: columns known only after the event, and strong
        # features accepted as expected (column -> reason).
        "known_after": sorted(_listed(values.get("known_after"), "known_after")),
        "expected_strong": dict(values.get("expected_strong") or {}),
    }


def lineage_record(
    lineage: Mapping[str, Any],
    *,
    package: str,
    flavor: str,
    approvals: Sequence[str] = (),
) -> Lineage:
    """The :class:`Lineage` written for ``model:NAME@V``."""
    features = [f"feature_view:{v}" for v in lineage.get("feature_views", [])]
    if lineage.get("feature_service"):
        features.append(f"feature_service:{lineage['feature_service']}")
    code = lineage.get("code") or {}
    return Lineage(
        datasets=tuple(lineage.get("datasets", [])),
        features=tuple(features),
        split_plan=lineage.get("split"),
        run=lineage.get("run"),
        code=CodeVersion(code.get("commit"), bool(code.get("dirty")), code.get("diff_hash")),
        build_id=lineage.get("build_id"),
        pipeline_run=lineage.get("pipeline_run"),
        approvals=tuple(approvals),
        extra={"package": f"sha256:{package}", "flavor": flavor},
    )


def _from_lineage(given: Lineage) -> dict[str, Any]:
    views = [f for f in given.features if not f.startswith("feature_service:")]
    services = [f for f in given.features if f.startswith("feature_service:")]
    values: dict[str, Any] = {
        "datasets": list(given.datasets),
        "feature_views": views,
        "feature_service": services[0] if services else None,
        "split": given.split_plan,
        "run": given.run,
        "build_id": given.build_id,
        "pipeline_run": given.pipeline_run,
    }
    if given.code.in_git:
        values["code"] = given.code
    return {k: v for k, v in values.items() if v not in (None, [])}


def _listed(value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        example = "dataset:flights@3" if key == "datasets" else "weather@2"
        raise InvalidInput(
            f"Lineage {key} must be a list, got {value!r}.",
            hint=f"For example {key}=[{example!r}].",
        )
    return list(value)


def _ref(text: Any, kind: str) -> str:
    """``kind:name@V`` from ``name@V`` or ``kind:name@V``; the version is required."""
    ref = Ref.parse(str(text), kind=kind)
    if ref.version is None:
        raise InvalidInput(
            f"Lineage reference {text!r} has no version.",
            hint=f"Write {kind}:{ref.name}@N so the model records exactly what it used.",
        )
    return str(ref)


def _named(text: Any, kind: str) -> str:
    """``name@V`` (the form the feature registry reads)."""
    ref = Ref.parse(_ref(text, kind), kind=kind)
    return f"{ref.name}@{ref.version}"


def _split(text: Any) -> str | None:
    return _ref(text, "split") if text else None


def _text(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidInput(f"Lineage {key} must be a non-empty text, got {value!r}.")
    return value


def _code(given: Any, recorded: Any) -> dict[str, Any]:
    """``{"commit", "dirty", "diff_hash"}`` from the caller, the run's record, or git."""
    if isinstance(given, CodeVersion):
        given = asdict(given)
    source = given if given is not None else recorded
    if source is None:
        now = code_version()
        return {"commit": now.commit, "dirty": now.dirty, "diff_hash": now.diff_hash}
    if not isinstance(source, Mapping):
        raise InvalidInput(
            f"Lineage code must be a mapping, got {source!r}.",
            hint="Pass {'commit': ..., 'dirty': ..., 'diff_hash': ...}.",
        )
    return {
        "commit": source.get("commit"),
        "dirty": bool(source.get("dirty", False)),
        "diff_hash": source.get("diff_hash", source.get("diff_sha256")),
    }
