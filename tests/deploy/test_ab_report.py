"""The A/B report's outcome comparison: rates, interval, test, and when it cannot decide."""

from __future__ import annotations

import pandas as pd
import pytest

from shipyard.deploy.report import outcome_comparison


def sides(stable: int, candidate: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    def rows(prefix: str, n: int) -> pd.DataFrame:
        return pd.DataFrame({"request_id": [f"{prefix}{i}" for i in range(n)], "status": 200})

    return rows("s", stable), rows("c", candidate)


def outcomes(stable: int, candidate: int) -> pd.DataFrame:
    ids = [f"s{i}" for i in range(stable)] + [f"c{i}" for i in range(candidate)]
    return pd.DataFrame({"request_id": ids, "event": "rebooked"})


def test_a_clear_difference_is_significant_with_its_interval() -> None:
    stable, candidate = sides(2000, 2000)
    result = outcome_comparison(stable, candidate, outcomes(200, 300))["rebooked"]
    assert result["stable"]["rate"] == 0.10 and result["candidate"]["rate"] == 0.15
    assert result["difference"] == pytest.approx(0.05)
    low, high = result["interval"]
    assert 0 < low < 0.05 < high
    assert result["significant"] and result["p_value"] < 1e-5
    assert result["decision"].startswith("candidate has the higher rebooked rate")


def test_a_small_sample_says_how_many_more_requests_it_needs() -> None:
    stable, candidate = sides(100, 100)
    result = outcome_comparison(stable, candidate, outcomes(10, 12))["rebooked"]
    assert not result["significant"]
    # 10% against 12%: about 3,800 requests a variant for 80% power (two-sided 5%).
    assert 3_500 < result["needed_per_variant"] < 4_200
    assert "too small to decide" in result["decision"]


def test_no_requests_on_one_side_decides_nothing() -> None:
    stable, candidate = sides(10, 0)
    result = outcome_comparison(stable, candidate, outcomes(3, 0))["rebooked"]
    assert result["candidate"]["rate"] is None and "one side" in result["decision"]
