"""A baseline on disk: ``statistics.json`` and ``constraints.json`` (or ``.yaml``).

``statistics.json`` follows SageMaker Model Monitor's field names where they
fit: ``version``, ``dataset.item_count``, and per feature ``name``,
``inferred_type``, ``numerical_statistics`` (``common.num_present``,
``common.num_missing``, ``mean``, ``sum``, ``std_dev``, ``min``, ``max``,
``distribution.kll.buckets``) or ``string_statistics`` (``common``,
``distinct_count``, ``distribution.categorical.buckets``). Shipyard's own
fields sit under ``"shipyard"`` keys: per feature the kind, Arrow type,
quantiles, rank error and notes; at the top level the whole profile
(``shipyard.profile.v1``), so a baseline is profiled once and never re-scanned.
Files are written to a temporary name and renamed, never left half-written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.data.profiles import serialize as S
from shipyard.data.profiles.column import ColumnProfile
from shipyard.data.profiles.constraints import Constraints
from shipyard.data.profiles.kinds import inferred_type
from shipyard.data.profiles.table import TableProfile
from shipyard.errors import InvalidInput
from shipyard.yaml_errors import yaml_problem

STATISTICS_FORMAT = "shipyard.statistics.v1"
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass(frozen=True)
class Baseline:
    """A reference profile and its constraints: ``statistics.json`` + ``constraints.json``."""

    profile: TableProfile
    constraints: Constraints

    def write(self, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write both files into ``directory``; returns their paths."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        stats = folder / "statistics.json"
        document = statistics_document(self.profile.rows, list(self.profile))
        _write(stats, S.dumps(document, indent=2))
        return stats, save_constraints(self.constraints, folder / "constraints.json")

    @classmethod
    def read(cls, directory: str | os.PathLike[str]) -> Baseline:
        folder = Path(directory)
        profile = read_statistics(folder / "statistics.json")
        return cls(profile, load_constraints(folder / "constraints.json", columns=profile.columns))


def save_constraints(constraints: Constraints, path: str | os.PathLike[str]) -> Path:
    """Write constraints as YAML (``.yaml``/``.yml``) or JSON (anything else).

    >>> save_constraints(suggest_constraints(profile), "constraints.yaml")  # doctest: +SKIP
    """
    target = Path(path)
    document = constraints.to_dict()
    if target.suffix.lower() in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        text = S.dumps(document, indent=2)
    _write(target, text)
    return target


def load_constraints(
    path: str | os.PathLike[str], *, columns: Iterable[str] | None = None
) -> Constraints:
    """Read and validate a constraints file (JSON or YAML, by its suffix).

    >>> load_constraints("baseline/constraints.json").features[0].completeness  # doctest: +SKIP
    1.0
    """
    source = Path(path)
    text = _read(source)
    if source.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{source} is not valid YAML: {yaml_problem(exc)}") from None
    else:
        data = S.loads(text, source=str(source))
    return Constraints.from_dict(data, source=str(source), columns=columns)


def read_statistics(path: str | os.PathLike[str]) -> TableProfile:
    """The profile stored in a ``statistics.json`` written by :meth:`Baseline.write`."""
    source = Path(path)
    data = S.loads(_read(source), source=str(source))
    own = data.get("shipyard") if isinstance(data, dict) else None
    if not isinstance(own, dict) or own.get("format") != STATISTICS_FORMAT:
        raise InvalidInput(f"{source} is not a Shipyard statistics file (no shipyard.format).")
    return TableProfile.from_dict(own.get("profile"), source=str(source))


def statistics_document(rows: int, columns: list[ColumnProfile]) -> dict[str, Any]:
    """``statistics.json``: SageMaker Model Monitor's field names, plus Shipyard's own.

    Shipyard's fields sit under ``"shipyard"`` keys: per feature the kind, Arrow
    type, rank error, quantiles and notes; at the top the whole profile
    (``shipyard.profile.v1``), which :func:`read_statistics` reads back.
    """
    return {
        "version": 0.0,
        "dataset": {"item_count": rows},
        "features": [_feature_statistics(c) for c in columns],
        "shipyard": {"format": STATISTICS_FORMAT, "profile": S.encode_profile(rows, columns)},
    }


def _feature_statistics(col: ColumnProfile) -> dict[str, Any]:
    common = {"num_present": col.n, "num_missing": col.missing}
    own: dict[str, Any] = {"kind": col.kind, "arrow_type": col.arrow_type, "notes": col.notes}
    feature: dict[str, Any] = {
        "name": col.name,
        "inferred_type": inferred_type(col.kind, col.integral),
    }
    if col.path == "numeric":
        histogram = col.histogram(10)
        edges = histogram.edges or []
        buckets = [
            {"lower_bound": S.number(lo), "upper_bound": S.number(hi), "count": count}
            for lo, hi, count in zip(edges, edges[1:], histogram.counts, strict=False)
        ]
        mean, std = col.mean, col.std
        feature["numerical_statistics"] = {
            "common": common,
            "mean": S.number(mean),
            "sum": S.number(None if mean is None else mean * col.n),
            "std_dev": S.number(std),
            "min": S.number(col.min),
            "max": S.number(col.max),
            "distribution": {"kll": {"buckets": buckets}},
        }
        quantiles = col.quantiles(_QUANTILES)
        own["quantiles"] = {
            f"p{round(q * 100):02d}": S.number(float(v))
            for q, v in zip(_QUANTILES, quantiles, strict=True)
        }
        own["rank_error"] = col.rank_error
        if col.kind == "timestamp":
            own["unit"] = "epoch microseconds, UTC"
    elif col.path == "categorical":
        counts = col.category_counts()
        # Every category when the counts are exact; else the 20 most frequent, estimated.
        items = col.frequent_items(20 if counts is None else len(counts))
        feature["string_statistics"] = {
            "common": common,
            "distinct_count": col.distinct(),
            "distribution": {
                "categorical": {"buckets": [{"value": v, "count": c} for v, c in items]}
            },
        }
        own["exact_counts"] = counts is not None
    else:
        own["common"] = common
    feature["shipyard"] = own
    return feature


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"No file at {path}.", hint="Check the path.") from None


def _write(path: Path, text: str) -> None:
    # Write beside the target, then rename: a reader never sees half a file.
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
