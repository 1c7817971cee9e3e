"""Options several commands share, defined once so they check their values the same way."""

from __future__ import annotations

from typing import Any

import typer


def limit_option(default: int, what: str = "runs") -> Any:
    """``--limit N``: at most N items, N >= 1 (zero or a negative number is bad input)."""
    return typer.Option(default, "--limit", min=1, help=f"At most this many {what} (1 or more).")
