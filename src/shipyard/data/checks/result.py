"""What a check suite returns: one result per check, and a report over them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.table import Table

from shipyard.errors import GateFailed
from shipyard.jsonsafe import jsonable

Status = Literal["pass", "warn", "fail"]
_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


@dataclass(frozen=True)
class CheckResult:
    """One check on one column (or the table): what was seen, what was allowed, and why."""

    check: str
    column: str | None
    status: Status
    observed: Any
    expected: Any
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "column": self.column,
            "status": self.status,
            "observed": jsonable(self.observed),
            "expected": jsonable(self.expected),
            "why": self.why,
        }


@dataclass(frozen=True)
class CheckReport:
    """Every result of one run of a check suite."""

    results: tuple[CheckResult, ...]
    drift: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status == "fail")

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status == "warn")

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return not self.failures

    def of(self, check: str, column: str | None = None) -> list[CheckResult]:
        """Results of one check, optionally for one column."""
        return [r for r in self.results if r.check == check and column in (None, r.column)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failures": len(self.failures),
            "warnings": len(self.warnings),
            "results": [r.to_dict() for r in self.results],
            "drift": self.drift,
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def table(self, *, show_passed: bool = True) -> Table:
        """A Rich table, failures first."""
        order = {"fail": 0, "warn": 1, "pass": 2}
        table = Table(
            title=f"Data checks: {len(self.failures)} failed, {len(self.warnings)} warned, "
            f"{len(self.results) - len(self.failures) - len(self.warnings)} passed",
            show_lines=True,
        )
        # Two columns keep each result readable in an 80-column terminal.
        table.add_column("check", no_wrap=True)
        table.add_column("seen, allowed, why", ratio=1)
        for result in sorted(self.results, key=lambda r: order[r.status]):
            if result.status == "pass" and not show_passed:
                continue
            table.add_row(
                f"[{_STYLE[result.status]}]{result.status}[/] {result.check}\n"
                f"{result.column or '(table)'}",
                f"seen {_short(result.observed)}; allowed {_short(result.expected)}\n{result.why}",
            )
        return table

    def raise_for_failures(self) -> CheckReport:
        """Raise GateFailed naming every failed check; return the report otherwise."""
        if self.ok:
            return self
        listed = "; ".join(f"{r.check} on {r.column or 'the table'}" for r in self.failures[:10])
        more = f" and {len(self.failures) - 10} more" if len(self.failures) > 10 else ""
        raise GateFailed(
            f"{len(self.failures)} data check(s) failed: {listed}{more}.",
            hint="The report's table or JSON says what was seen and what was allowed.",
        )


def _short(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(jsonable(value))
    return text if len(text) <= 60 else text[:57] + "..."
