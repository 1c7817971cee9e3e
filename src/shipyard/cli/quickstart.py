"""`shipyard quickstart`: raw flights data to a gated, registered model, in one command."""

from __future__ import annotations

import math
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from shipyard.cli.pipeline import StepDisplay

# Of the full year, the replay sends one day in three: the whole run within 5 minutes.
REPLAY_EVERY_NTH_DAY = 3


def quickstart(
    folder: Path = typer.Argument(
        Path("quickstart-workspace"), help="The workspace folder to create (or reuse)."
    ),
    every_nth_day: int = typer.Option(
        1, "--every-nth-day", min=1, help="Keep flights of every Nth day only (a faster run)."
    ),
) -> None:
    """Run the quickstart on real 2013 New York flights, the whole lifecycle: data,
    features, split, training, gate; approval and deployment by the pipeline; a replay of
    September to December through the live endpoint with labels a day late; monitoring,
    a drift alarm; a second candidate by canary; an A/B test.

    Running it again in a fresh folder starts clean; in the same folder, the pipeline
    reuses its cache.
    """
    import shipyard
    from shipyard.cli.quickstart_lifecycle import ReplayBars, report_lifecycle
    from shipyard.pipeline.standard import STEPS
    from shipyard.quickstart.lifecycle import RECORD, run_lifecycle
    from shipyard.quickstart.lifecycle_config import read_lifecycle
    from shipyard.quickstart.run import LIFECYCLE, run_quickstart

    out = Console(file=sys.stdout, soft_wrap=True)
    out.print(f"Shipyard quickstart in [bold]{folder.resolve()}[/bold]")
    with shipyard.connect(folder) as ws:
        total = len(STEPS)  # the standard pipeline's steps
        with StepDisplay(out, total) as display:
            result = run_quickstart(
                ws,
                every_nth_day=every_nth_day,
                observer=display,
                stage=lambda s: out.print(f"- {s}"),
                rollout=True,
            )
        _report(out, result, folder)
        recorded = Path(ws.settings.home) / RECORD  # or .started: it says why it will not run
        rerun = recorded.is_file() or recorded.with_suffix(".started").is_file()
        if result.run.failed_step not in (None, "deploy") and not rerun:
            result.run.check()  # deploy: it waits for an approval (after a rerun: production
            # moved on since, and the gate may refuse the first candidate against it)
        if result.run.failed_step == "deploy":
            out.print("The pipeline stopped before deploying: a person approves first.")
        config = read_lifecycle(Path(ws.settings.home) / "scenario" / LIFECYCLE)
        with ReplayBars(out) as bars:
            done = run_lifecycle(
                ws,
                config,
                first=result.run,
                stage=lambda s: bars.progress.console.print(f"- {s}"),
                progress=bars.update,
                observer=bars,
                replay_every_nth_day=1 if every_nth_day > 1 else REPLAY_EVERY_NTH_DAY,
            )
        report_lifecycle(out, ws, done, config, folder, shipyard_command()[0])


def _report(out: Console, result: Any, folder: Path) -> None:
    split, training = result.output("split"), result.output("training")
    evaluation, gate = result.output("evaluation"), result.output("gate_report")
    version = result.output("model_version")
    out.print(f"\nDatasets: {', '.join(result.datasets.values())}")
    if split:
        for column, why in split["refused"].items():
            out.print(f"[yellow]Leakage check refused feature {column}[/yellow]: {why}")
        out.print(f"Features used: {', '.join(split['features'])}")
    if training:
        out.print(_metrics_table(training, evaluation or {}))
    if evaluation:
        out.print(_slices_table(evaluation))
    if gate:
        verdict = "[green]passed[/green]" if gate["passed"] else "[red]failed[/red]"
        out.print(f"Gate ({gate['candidate']} vs {gate['reference']}): {verdict}")
    elif result.run.failed_step:
        out.print(f"[red]Stopped at {result.run.failed_step}[/red]: {result.run.error}")
    if version:
        ref = f"model:{version['model']}@{version['version']}"
        out.print(f"Registered [bold]{ref}[/bold] (aliases: {', '.join(version['aliases'])})")
        command, activate = shipyard_command()
        home = f"--home {shlex.quote(str(folder))}"
        runs = " ".join(r[:12] for r in training["runs"].values())
        out.print("\nLook further:")
        if command != "shipyard":
            where = "not on your PATH" if shutil.which("shipyard") is None else "another one"
            tip = f" (or `source {shlex.quote(str(activate))}` first, then `shipyard`)"
            out.print(
                f"  (`shipyard` is {where}: run these as printed"
                f"{tip if activate is not None else ''})",
                markup=False,
                highlight=False,
            )
        for rest in (
            f"runs compare {runs}",
            f"lineage {ref}",
            f"models show {version['model']}",
            "features show weather",
            f"pipeline show {result.run.build_id}",
        ):
            out.print(f"  {command} {home} {rest}", markup=False, highlight=False)


def shipyard_command() -> tuple[str, Path | None]:
    """How to run the ``shipyard`` that is running now: ``shipyard`` when that name on
    the PATH is this executable, else its full path and the environment's activate
    script (None when there is none to name).

    The running executable is ``sys.argv[0]`` when it is the console script, else the
    ``shipyard`` script beside the running interpreter (a virtual environment's bin).
    """
    launched = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if launched is None or launched.name != "shipyard" or not launched.is_file():
        launched = Path(sys.executable).with_name("shipyard")
        if not launched.is_file():
            return "shipyard", None
    running = launched.resolve()
    found = shutil.which("shipyard")
    if found is not None and Path(found).resolve() == running:
        return "shipyard", None
    activate = Path(os.path.abspath(launched)).with_name("activate")
    return shlex.quote(os.path.abspath(launched)), activate if activate.is_file() else None


def _metrics_table(training: dict[str, Any], evaluation: dict[str, Any]) -> Table:
    metric = training["metric"]
    table = Table(title=f"{metric} by experiment and set (best: {training['best']})")
    sets = list(dict.fromkeys(s for m in training["metrics"].values() for s in m))
    table.add_column("experiment")
    for name in sets:
        table.add_column(name, justify="right")
    for name, metrics in training["metrics"].items():
        values = [_fmt(metrics.get(s, {}).get(metric)) for s in sets]
        table.add_row(f"[bold]{name}[/bold]" if name == training["best"] else name, *values)
    return table


def _slices_table(evaluation: dict[str, Any]) -> Table:
    sets = list(evaluation)
    first = evaluation[sets[0]]
    table = Table(title=f"{first['experiment']}: {first['metric']} per slice")
    table.add_column("slice")
    for name in sets:
        table.add_column(name, justify="right")
    table.add_row(
        "[bold]all[/bold]", *(_fmt(evaluation[s]["overall"].get(first["metric"])) for s in sets)
    )
    names = [s["name"] for s in first["slices"]]
    for name in names:
        cells = []
        for set_name in sets:
            found = next((s for s in evaluation[set_name]["slices"] if s["name"] == name), None)
            cells.append(
                ""
                if found is None
                else _fmt(found["value"]) + (" (small)" if found["too_small"] else "")
            )
        table.add_row(name, *cells)
    return table


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{float(value):.3f}"
