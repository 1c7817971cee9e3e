"""`shipyard artifacts`: verify stored artifacts and repair the ones that went bad."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.context import workspace
from shipyard.errors import IntegrityError

app = typer.Typer(
    help="The artifact store: verify objects against their sha256, repair bad ones.",
    no_args_is_help=True,
    epilog="Example: shipyard artifacts verify dataset:flights@2",
)

VERIFY_EXAMPLE = (
    "Example: shipyard artifacts verify   (everything)   or: shipyard artifacts verify "
    "dataset:flights@2 --repair-from backups/artifacts/"
)


@app.command(epilog=VERIFY_EXAMPLE)
def verify(
    ctx: typer.Context,
    ref: str | None = typer.Argument(
        None,
        help="Check only what this names: dataset:NAME@V, model:NAME@V, model:NAME (every "
        "version), run:ID... Default: every object in the store.",
    ),
    repair_from: Path | None = typer.Option(
        None,
        "--repair-from",
        help="A file, or a folder searched recursively (e.g. a backup of the artifact store), "
        "with original bytes: files whose sha256 matches a bad object are put back.",
    ),
) -> None:
    """Hash stored artifacts; list each corrupt or missing one with the refs it breaks.

    Exits 9 while anything is still corrupt or missing.
    """
    from shipyard.integrity.artifact_check import check_artifacts, sql_store
    from shipyard.integrity.repair import repair_from as repair
    from shipyard.stores.metadata.payloads import CHECK_HINT
    from shipyard.types import Ref

    target = Ref.parse(ref) if ref else None
    ws = workspace(ctx)
    report = check_artifacts(sql_store(ws.metadata), ws.artifacts, target)
    wanted = {finding.digest for finding in report.findings}
    repaired = repair(ws.artifacts, repair_from, wanted) if repair_from else {}
    for finding in report.findings:
        needed_by = ", ".join(finding.refs) or "no record (an unreferenced object)"
        if finding.digest in repaired:
            typer.echo(
                f"repaired  sha256:{finding.digest}  from {repaired[finding.digest]}  "
                f"(needed by {needed_by})"
            )
        else:
            typer.echo(f"{finding.state:<8}  sha256:{finding.digest}  needed by {needed_by}")
    for damaged in report.damaged:
        typer.echo(f"damaged   {damaged.message}")
    left = [f for f in report.findings if f.digest not in repaired]
    scope = f"in {target}" if target else f"in {ws.artifacts.url}"
    typer.echo(
        f"Checked {report.checked} object(s) {scope}: "
        f"{sum(f.state == 'corrupt' for f in left)} corrupt, "
        f"{sum(f.state == 'missing' for f in left)} missing, {len(repaired)} repaired."
    )
    if left:
        raise IntegrityError(
            f"{len(left)} artifact(s) are corrupt or missing.",
            hint="Register the original data again, or pass the original files with "
            "`--repair-from PATH` (a file, or a folder such as a backup of the artifact store).",
        )
    if report.damaged:
        raise IntegrityError(
            f"{len(report.damaged)} record(s) are damaged, so the artifacts they name "
            "could not all be checked.",
            hint=CHECK_HINT,
        )
