"""A lifecycle's configuration: ``lifecycle.yaml`` beside a standard pipeline's YAML.

The lifecycle (:mod:`.lifecycle`) needs to know which endpoint to deploy to, which months
of the pipeline's dataset to replay and when the second candidate is trained, the
business outcome to post, the drift alarm to set and how to roll out::

    pipeline: pipeline.yaml          # the standard pipeline (model, dataset, target, time)
    endpoint: delay
    replay:
      start: 2013-09-01              # replayed, monitored week by week
      fresh: 2013-11-01              # the second candidate is trained on what came before
      ab_start: 2013-11-16           # before: the canary's traffic; from here: the A/B test
      end: 2014-01-01
    outcome: rebooked                # per request: rows labelled and predicted positive
    alarm: {name: temp-drift, feature: weather__temp, n: 2, m: 2}
    deploy: {strategy: canary, steps: [25, 100], bake: 2s, ...}
    ab_alarms: [error_rate>0.02, p99_ratio>4]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import InvalidConfig
from shipyard.types import check_name

_KEYS = {"pipeline", "endpoint", "replay", "outcome", "alarm", "deploy", "ab_alarms"}
_REPLAY = ("start", "fresh", "ab_start", "end")


@dataclass(frozen=True)
class LifecycleConfig:
    """A checked ``lifecycle.yaml``, with what it takes from its pipeline's YAML."""

    path: Path
    pipeline: Path
    endpoint: str
    model: str
    dataset: str
    target: str
    time_column: str
    start: datetime
    fresh: datetime
    ab_start: datetime
    end: datetime
    outcome: str
    alarm: Mapping[str, Any]
    deploy: Mapping[str, Any]
    ab_alarms: tuple[str, ...]

    def pipeline_raw(self) -> dict[str, Any]:
        """The pipeline's YAML as a mapping, read afresh (a caller may change it)."""
        found: dict[str, Any] = yaml.safe_load(self.pipeline.read_text(encoding="utf-8"))
        return found


def read_lifecycle(path: str | Path) -> LifecycleConfig:
    """Read and check ``path``; InvalidConfig naming what is wrong."""
    where = Path(path)
    try:
        raw = yaml.safe_load(where.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidConfig(f"Cannot read the lifecycle file {where}: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidConfig(f"{where} must be a mapping of lifecycle settings.", hint=__doc__)
    unknown = sorted(set(raw) - _KEYS)
    missing = sorted(k for k in ("pipeline", "endpoint", "replay", "outcome", "alarm")
                     if k not in raw)  # fmt: skip
    if unknown or missing:
        raise InvalidConfig(
            f"{where}: " + "; ".join(
                ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
                + ([f"missing key(s) {', '.join(missing)}"] if missing else [])
            ) + ".",
            hint=f"The keys are {', '.join(sorted(_KEYS))}.",
        )  # fmt: skip
    pipeline = (where.parent / str(raw["pipeline"])).resolve()
    if not pipeline.is_file():
        raise InvalidConfig(f"{where}: the pipeline file {pipeline} does not exist.")
    steps = yaml.safe_load(pipeline.read_text(encoding="utf-8")) or {}
    replay = raw["replay"] if isinstance(raw["replay"], dict) else {}
    times = [_time(replay.get(k), f"replay.{k}", where) for k in _REPLAY]
    if times != sorted(times) or len(set(times)) != len(times):
        raise InvalidConfig(f"{where}: replay needs start < fresh < ab_start < end.")
    alarm = dict(raw["alarm"]) if isinstance(raw["alarm"], dict) else {}
    if not alarm.get("name") or not alarm.get("feature"):
        raise InvalidConfig(f"{where}: alarm needs a name and the feature it watches.")
    return LifecycleConfig(
        path=where,
        pipeline=pipeline,
        endpoint=check_name(str(raw["endpoint"]), "endpoint"),
        model=str(steps.get("model")),
        dataset=str(steps.get("dataset")),
        target=str(steps.get("target")),
        time_column=str((steps.get("features") or {}).get("timestamp_column", "event_timestamp")),
        start=times[0],
        fresh=times[1],
        ab_start=times[2],
        end=times[3],
        outcome=check_name(str(raw["outcome"]), "outcome"),
        alarm=alarm,
        deploy={"endpoint": raw["endpoint"], **dict(raw.get("deploy") or {})},
        ab_alarms=tuple(str(a) for a in raw.get("ab_alarms") or ()),
    )


def _time(value: Any, key: str, where: Path) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        found = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidConfig(f"{where}: {key} must be a date (YYYY-MM-DD), got {value!r}.") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)
