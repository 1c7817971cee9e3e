"""`shipyard lifecycle`: a model's lifecycle after training, from configuration only."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.context import console, workspace

EPILOG = (
    "Example: shipyard lifecycle examples/departures/lifecycle.yaml --replay-every-nth-day 3   "
    "(in the workspace where examples/departures/prepare.py registered the data)"
)


def lifecycle(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="The lifecycle.yaml (it names its pipeline.yaml)."),
    replay_every_nth_day: int = typer.Option(
        1, "--replay-every-nth-day", min=1, help="Replay one day in N (a faster run)."
    ),
) -> None:
    """Run a model's lifecycle from a lifecycle.yaml: its standard pipeline with the deploy
    section (it stops for an approval), your approval, the deployment by the pipeline, a
    replay of the dataset's later weeks through the live endpoint with labels a day late,
    weekly monitoring and the drift alarm, a second candidate on fresh data by canary, and
    an A/B test. The pipeline's datasets must be registered; a rerun in the same
    workspace shows the recorded results.
    """
    from shipyard.cli.quickstart import shipyard_command
    from shipyard.cli.quickstart_lifecycle import ReplayBars, report_lifecycle
    from shipyard.quickstart.lifecycle import run_lifecycle
    from shipyard.quickstart.lifecycle_config import read_lifecycle

    config = read_lifecycle(path)
    ws = workspace(ctx)
    with ReplayBars(console) as bars:
        done = run_lifecycle(
            ws,
            config,
            stage=lambda s: bars.progress.console.print(f"- {s}"),
            progress=bars.update,
            observer=bars,
            replay_every_nth_day=replay_every_nth_day,
        )
    report_lifecycle(console, ws, done, config, Path(ws.settings.home), shipyard_command()[0])
