"""Run search within bounds: a filter too big or text no database can store is a clear
InvalidInput naming the limit, never a database error that prints the SQL."""

from __future__ import annotations

import pytest

from shipyard import Workspace
from shipyard.errors import InvalidInput
from shipyard.training.tracking.search import (
    MAX_COMPARISONS,
    MAX_ORDER_TERMS,
    MAX_STRING_LENGTH,
    MAX_TEXT_LENGTH,
    parse_filter,
)


@pytest.fixture
def runs(workspace: Workspace) -> Workspace:
    for auc in (0.6, 0.7, 0.8):
        with workspace.runs.start_run("limits", f"auc-{auc}") as run:
            run.log_metric("auc", auc)
            run.log_params({"model": "hgb"})
    return workspace


def test_thousands_of_terms_are_refused_naming_the_limit(runs: Workspace) -> None:
    text = " and ".join(["metrics.a>1"] * 3000)
    with pytest.raises(InvalidInput) as caught:
        runs.runs.search(text)
    message = str(caught.value)
    assert f"more than {MAX_COMPARISONS} comparisons" in message
    assert "SELECT" not in message and "SQL" not in message


def test_the_largest_filter_allowed_runs_on_the_database(runs: Workspace) -> None:
    """50 comparisons, with and without nesting, stay inside every database's limits."""
    flat = " and ".join(["metrics.auc > 0.65"] * MAX_COMPARISONS)
    assert len(runs.runs.search(flat, experiment="limits")) == 2
    either = " or ".join([f"metrics.auc = {v}" for v in (0.6, 0.8)] * (MAX_COMPARISONS // 2))
    assert len(runs.runs.search(either, experiment="limits")) == 2
    nested = "(" * 49 + "metrics.auc > 0.75" + ")" * 49
    nested += " and params.model = 'hgb'" * (MAX_COMPARISONS - 1)
    assert len(runs.runs.search(nested, experiment="limits")) == 1
    with pytest.raises(InvalidInput, match="more than 50"):
        parse_filter(flat + " and metrics.auc > 0")


def test_too_many_order_terms_are_refused(runs: Workspace) -> None:
    order = [f"metrics.m{i} DESC" for i in range(MAX_ORDER_TERMS)]
    assert len(runs.runs.search(order_by=order, experiment="limits")) == 3
    with pytest.raises(InvalidInput, match=f"at most {MAX_ORDER_TERMS}"):
        runs.runs.search(order_by=[*order, "metrics.auc"])


def test_overlong_text_is_refused(runs: Workspace) -> None:
    longest = "[" * MAX_STRING_LENGTH  # 30 kB once a GLOB pattern: inside SQLite's limit
    assert runs.runs.search(f"params.model LIKE '{longest}'") == []
    with pytest.raises(InvalidInput, match=r"A string in the filter .* at most 10,000"):
        runs.runs.search(f"params.model LIKE '{longest}['")
    with pytest.raises(InvalidInput, match="at most 100,000"):
        parse_filter("metrics.a > 1" + " " * MAX_TEXT_LENGTH)


@pytest.mark.parametrize(
    ("text", "shown"),
    [("params.model = 'a\x00b'", "'\\x00'"), ("tags.team = '\ud800'", "'\\ud800'")],
)
def test_text_no_database_can_store_is_refused(runs: Workspace, text: str, shown: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        runs.runs.search(text)
    assert shown in str(caught.value) and "position" in str(caught.value)
    with pytest.raises(InvalidInput):
        runs.runs.search(order_by=[text.split(" ")[0] + "\ud800"])
