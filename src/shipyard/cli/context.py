"""What every command shares: the global options, the workspace they select, the consoles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

console = Console(soft_wrap=True)  # long lines (commands, paths) stay whole, copyable


@dataclass
class CliState:
    home: Path | None = None
    debug: bool = False


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def settings(ctx: typer.Context) -> Settings:
    from shipyard.config import load_settings

    return load_settings(state(ctx).home)


def workspace(ctx: typer.Context) -> Workspace:
    """Open the selected workspace; closed when the command ends."""
    from shipyard.workspace import open_workspace

    ws = open_workspace(settings(ctx), source="cli")
    ctx.call_on_close(ws.close)
    return ws
