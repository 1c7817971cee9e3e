"""``shipyard labels``: aggregate crowd annotations from a CSV or Parquet file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from shipyard.cli.context import console
from shipyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # pandas and the aggregators load only when a command runs
    import pandas as pd

    from shipyard.data.labels import LabelAggregation

_EXAMPLE = "Example: shipyard labels aggregate annotations.csv --method ds --out labels.parquet"

app = typer.Typer(
    help="Aggregate crowd annotations (item, worker, label rows) into one label per item.",
    no_args_is_help=True,
    epilog=_EXAMPLE,
)

_READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_REVIEW_ROWS = 10  # the review preview stays readable in a terminal


@app.callback()
def _labels() -> None:
    # A callback keeps "aggregate" a named subcommand even while it is the only one.
    pass


def read_annotations(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, chosen by its extension."""
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(
            f"Cannot read {str(path)!r}: unknown extension {path.suffix or '(none)'!r}.",
            hint="Use a .csv or .parquet (.pq) file.",
        )
    if not path.is_file():
        raise NotFound(
            f"Annotations file {str(path)!r} does not exist.",
            hint="Check the path; it is relative to the current directory.",
        )
    import pandas as pd

    if kind == "csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _summary_table(result: LabelAggregation, threshold: float) -> Table:
    s = result.summary(threshold)
    table = Table(title="Label aggregation", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("method", {"mv": "majority vote", "ds": "Dawid-Skene"}[result.method])
    table.add_row("items", str(s["items"]))
    table.add_row("workers", str(s["workers"]))
    table.add_row("annotations", str(s["annotations"]))
    alpha = _fmt(result.alpha)
    if result.alpha_note:
        alpha += f" ({result.alpha_note})"
    table.add_row("Krippendorff's alpha", alpha)
    if result.kappa is not None:
        table.add_row("Fleiss' kappa", _fmt(result.kappa))
    table.add_row("mean agreement", _fmt(s["mean_agreement"]))
    table.add_row(f"items below {threshold:g}", str(s["items_below_threshold"]))
    if result.method == "ds":
        converged = "" if s["converged"] is None else f" (converged: {s['converged']})"
        table.add_row("DS iterations", f"{s['iterations']}{converged}")
    for note in result.notes:
        table.add_row("note", note)
    return table


def _review_table(result: LabelAggregation, threshold: float) -> Table | None:
    review = result.for_review(threshold)
    if review.empty:
        return None
    shown = review.head(_REVIEW_ROWS)
    table = Table(
        title=f"For review: agreement < {threshold:g}",
        caption=f"{len(shown)} of {len(review)} shown, least agreed first",
    )
    for column in ("item", "label", "agreement", "n_votes"):
        table.add_column(column)
    for item, label, agreement, n_votes in zip(
        shown["item"], shown["label"], shown["agreement"], shown["n_votes"], strict=True
    ):
        table.add_row(str(item), str(label), f"{agreement:.2f}", str(n_votes))
    return table


@app.command("aggregate", epilog=_EXAMPLE)
def aggregate_command(
    annotations: Path = typer.Argument(
        ..., help="CSV or Parquet file with one row per (item, worker, label).", show_default=False
    ),
    method: str = typer.Option(
        "mv", "--method", "-m", metavar="mv|ds", help="mv = majority vote, ds = Dawid-Skene."
    ),
    out: Path = typer.Option(
        Path("labels.parquet"), "--out", "-o", help="Where to write the per-item labels (Parquet)."
    ),
    item_col: str = typer.Option("item", help="Column naming the item."),
    worker_col: str = typer.Option("worker", help="Column naming the annotator."),
    label_col: str = typer.Option("label", help="Column holding the label given."),
    review_threshold: float = typer.Option(
        0.6, help="Items whose agreement is below this are listed for review."
    ),
) -> None:
    """Aggregate annotations and write one label per item to a Parquet file.

    The output has columns item, label, agreement, n_votes, tied and, for ds,
    confidence. A summary table (alpha, items to review, DS iterations) is printed.
    """
    from shipyard.data.labels import aggregate

    if out.suffix.lower() not in (".parquet", ".pq"):
        raise InvalidInput(
            f"Output {str(out)!r} must be a Parquet file.",
            hint="Give --out a name ending in .parquet, e.g. --out labels.parquet.",
        )
    if not 0.0 <= review_threshold <= 1.0:
        raise InvalidInput(
            f"--review-threshold must be between 0 and 1, got {review_threshold!r}.",
            hint="Agreement is a share of votes; try 0.6.",
        )
    frame = read_annotations(annotations)
    result = aggregate(frame, method, item_col=item_col, worker_col=worker_col, label_col=label_col)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.items.to_parquet(out, index=False)
    console.print(_summary_table(result, review_threshold))
    review = _review_table(result, review_threshold)
    if review is not None:
        console.print(review)
    console.print(f"Wrote {len(result.items)} labels to {out}")
