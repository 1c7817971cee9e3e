"""Runs side by side: the params that differ, the latest metrics, the tags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.stores.tracking.base import RunInfo


@dataclass(frozen=True)
class RunComparison:
    """Each table maps a key to ``{run uid: value}``; a run without the key has None.

    ``params`` holds only the params whose values differ (or are missing in some
    run); ``same_params`` the ones every run shares.
    """

    runs: tuple[str, ...]
    names: dict[str, str]
    params: dict[str, dict[str, str | None]]
    same_params: dict[str, str]
    metrics: dict[str, dict[str, float | None]]
    tags: dict[str, dict[str, str | None]]

    def metrics_table(self) -> list[dict[str, Any]]:
        """One row per metric: ``{"metric": key, <uid>: value, ...}``, keys sorted."""
        return [{"metric": key, **values} for key, values in self.metrics.items()]


def compare_runs(infos: Sequence[RunInfo]) -> RunComparison:
    """Compare runs given in the order they should appear.

    >>> compare_runs([]).runs
    ()
    """
    uids = tuple(info.uid for info in infos)
    params = _table([info.params for info in infos], uids)
    differing = {k: v for k, v in params.items() if len(set(v.values())) > 1}
    same = {k: str(next(iter(v.values()))) for k, v in params.items() if k not in differing}
    return RunComparison(
        runs=uids,
        names={info.uid: info.name for info in infos},
        params=differing,
        same_params=same,
        metrics=_table([info.metrics for info in infos], uids),
        tags=_table([info.tags for info in infos], uids),
    )


def _table(dicts: Sequence[dict[str, Any]], uids: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    keys = sorted({key for d in dicts for key in d})
    return {key: {uid: d.get(key) for uid, d in zip(uids, dicts, strict=True)} for key in keys}
