"""`shipyard lineage REF`: where a stored thing came from."""

from __future__ import annotations

import json

import typer
from rich.tree import Tree

from shipyard.cli.context import console, workspace


def lineage(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="What to trace, such as model:delay@7."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for tools."),
) -> None:
    """Print the lineage recorded for REF: data, features, split, run, code and build."""
    record = workspace(ctx).lineage(ref)
    data = record.to_dict()
    if as_json:
        typer.echo(json.dumps({"subject": ref, **data}, indent=2, default=str))
        return
    tree = Tree(f"[bold]{ref}[/bold]")
    for key, value in data.items():
        if value in (None, [], {}, ()):
            continue
        if isinstance(value, dict):
            branch = tree.add(key)
            for sub_key, sub_value in value.items():
                if sub_value not in (None, [], {}):
                    branch.add(f"{sub_key}: {sub_value}")
        elif isinstance(value, list):
            branch = tree.add(key)
            for item in value:
                branch.add(str(item))
        else:
            tree.add(f"{key}: {value}")
    console.print(tree)
