"""`shipyard lineage REF`: where a stored thing came from."""

from __future__ import annotations

from typing import Any

import typer
from rich.tree import Tree

from shipyard.cli.context import console, workspace
from shipyard.errors import InvalidInput


def lineage(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="What to trace, such as model:delay@7."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for tools."),
) -> None:
    """Print the lineage recorded for REF: data, features, split, run, code and build."""
    ws = workspace(ctx)
    found = ws.lineage(ref)
    data = found.to_dict()
    upstream = _upstream(ws, data, seen={ref})
    if as_json:
        from shipyard.api.schemas import to_json
        from shipyard.api.schemas.lineage import LineageTrace

        typer.echo(to_json(LineageTrace.trace(ref, found, upstream)))
        return
    tree = Tree(f"[bold]{ref}[/bold]")
    _branches(tree, data)
    if upstream:
        _chain(tree.add("[bold]upstream[/bold] (back to the raw data)"), upstream)
    console.print(tree)


def _upstream(ws: Any, data: dict[str, Any], seen: set[str], depth: int = 0) -> dict[str, Any]:
    """The recorded lineage of every dataset, feature view and split this one names."""
    from shipyard.errors import NotFound

    found: dict[str, Any] = {}
    names = [*data.get("datasets", []), *data.get("features", []), data.get("split_plan")]
    for name in names:
        if not name or ":" not in str(name) or name in seen or depth > 6:
            continue
        seen.add(name)
        try:
            parent = ws.lineage(name).to_dict()
        except (NotFound, InvalidInput):
            found[name] = None  # recorded without lineage: a source
            continue
        found[name] = {"datasets": parent["datasets"], "features": parent["features"],
                       "upstream": _upstream(ws, parent, seen, depth + 1)}  # fmt: skip
    return found


def _chain(tree: Tree, upstream: dict[str, Any]) -> None:
    for name, parent in upstream.items():
        raw = parent is None and name.startswith("dataset:")
        node = tree.add(f"{name} (raw data)" if raw else name)
        if parent:
            _chain(node, parent["upstream"])


def _branches(tree: Tree, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if value in (None, [], {}, ()):
            continue
        if key == "code" and isinstance(value, dict) and not value.get("commit"):
            tree.add("code: not in git")  # a dirty flag means nothing without a commit
        elif isinstance(value, dict):
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
