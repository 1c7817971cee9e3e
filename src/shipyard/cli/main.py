"""The `shipyard` entry point: commands, global options, and one place that turns errors
into one readable line and an exit code (the code comes from the error's class)."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import typer

from shipyard._version import __version__
from shipyard.cli import (
    alarms,
    artifacts,
    data,
    db,
    deployments,
    endpoints,
    features,
    jobs,
    labels,
    models,
    monitor,
    pipeline,
    policies,
    runs,
    schedules,
)
from shipyard.cli.audit import audit
from shipyard.cli.batch import EPILOG as BATCH_EPILOG
from shipyard.cli.batch import batch_transform
from shipyard.cli.context import state
from shipyard.cli.deployments import deploy
from shipyard.cli.lifecycle import EPILOG as LIFECYCLE_EPILOG
from shipyard.cli.lifecycle import lifecycle
from shipyard.cli.lineage import lineage
from shipyard.cli.quickstart import quickstart
from shipyard.cli.serve import serve
from shipyard.cli.server import server
from shipyard.cli.worker import worker
from shipyard.cli.workspace import info, init
from shipyard.errors import ShipyardError

app = typer.Typer(
    name="shipyard",
    help="Shipyard: self-hosted MLOps, from raw data to a monitored endpoint.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    epilog="Example: shipyard --home ./ws init && shipyard --home ./ws info",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shipyard {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", help="Workspace folder (default: $SHIPYARD_HOME or ./.shipyard)."
    ),
    # metavar="": these are flags; Typer would otherwise show them as taking a <bool>.
    debug: bool = typer.Option(
        False, "--debug", metavar="", help="Show tracebacks on errors (anywhere in the command)."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        metavar="",
        help="Print the version and exit.",
    ),
) -> None:
    options = state(ctx)
    options.home = home
    options.debug = debug


app.command(epilog="Example: shipyard init   (or: shipyard --home ./ws init)")(init)
app.command(epilog="Example: shipyard info --json")(info)
app.command(epilog="Example: shipyard quickstart ./qs   (again: cached, much faster)")(quickstart)
app.command(epilog="Example: shipyard server --host 127.0.0.1 --port 8080")(server)
app.command(epilog="Example: shipyard serve flights --port 8081")(serve)
app.command(epilog="Example: shipyard worker delay --threads 4")(worker)
app.command(epilog=LIFECYCLE_EPILOG)(lifecycle)
app.command(
    epilog="Example: shipyard deploy delay-api model:delay@3 --strategy canary --steps 10,50,100 "
    "--bake 5m --wait"
)(deploy)
app.command(epilog="Example: shipyard lineage model:delay@7 --json")(lineage)
app.command("batch-transform", epilog=BATCH_EPILOG)(batch_transform)
app.command(epilog="Example: shipyard audit --action models:SetAlias --since 2026-12-01 --json")(
    audit
)
app.add_typer(alarms.app, name="alarms")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(data.app, name="data")
app.add_typer(db.app, name="db")
app.add_typer(deployments.app, name="deployments")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(features.app, name="features")
app.add_typer(jobs.app, name="jobs")
app.add_typer(labels.app, name="labels")
app.add_typer(models.app, name="models")
app.add_typer(monitor.app, name="monitor")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(policies.app, name="policies")
app.add_typer(runs.app, name="runs")
app.add_typer(schedules.app, name="schedules")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of raising (used by the console script)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    if debug:  # accepted after the subcommand too: moved to where the option is defined
        args = ["--debug", *(a for a in args if a != "--debug")]
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="shipyard", standalone_mode=False)
    except ShipyardError as exc:
        return _fail(str(exc), exc.exit_code, debug)
    except (typer.Abort, KeyboardInterrupt):
        return _fail("interrupted", 130, debug)
    except Exception as exc:
        usage = _usage_error(exc)
        if usage is None:  # a bug: still one line; the traceback only with --debug
            message = f"unexpected {_summary(exc)} (rerun with --debug for details)"
            return _fail(message, 1, debug)
        return _fail(*usage, debug)
    return result if isinstance(result, int) else 0


def _summary(exc: Exception) -> str:
    """A bug's type and the first line of its message, without a database's SQL text."""
    text = str(exc).split("[SQL:")[0].strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


def _usage_error(exc: Exception) -> tuple[str, int] | None:
    """Message and exit code of a bad-arguments error from Typer's click, else None."""
    format_message = getattr(exc, "format_message", None)
    exit_code = getattr(exc, "exit_code", None)
    if format_message is None or not isinstance(exit_code, int):
        return None
    context = getattr(exc, "ctx", None)
    where = context.command_path if context is not None else "shipyard"
    return f"{format_message()} (see `{where} --help`)", exit_code


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    if not message.startswith(" (see"):  # help was shown instead of an error
        sys.stderr.write(f"error: {message}\n")
    return code


def run() -> None:
    """The console script: exit with main()'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()
