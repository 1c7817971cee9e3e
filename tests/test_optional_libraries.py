"""Optional libraries behind features Shipyard claims, whose tests skip without them.

CI installs each (scripts/test.sh: lightgbm through the dev extra, the CPU-only xgboost wheel
on its own line), so with SHIPYARD_TEST_REQUIRE_SERVICES=1 a missing one fails here rather
than leaving its feature untested behind a quiet skip.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os

import pytest

REQUIRE_ENV = "SHIPYARD_TEST_REQUIRE_SERVICES"


@pytest.mark.parametrize(
    ("module", "distributions", "major", "feature"),
    [
        ("xgboost", ("xgboost", "xgboost-cpu"), 2, "the xgboost flavor and XGBoostExperiment"),
        ("lightgbm", ("lightgbm",), 4, "the lightgbm flavor and LightGBMExperiment"),
    ],
)
def test_a_claimed_optional_library_is_installed(
    module: str, distributions: tuple[str, ...], major: int, feature: str
) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed, so the tests of {feature} skip"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1 forbids skipping)")
        pytest.skip(message)
    installed = []
    for name in distributions:
        try:
            installed.append(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            continue
    assert installed, f"{module} imports but none of {distributions} is installed"
    assert int(installed[0].split(".")[0]) >= major, installed  # as the boost extra asks
