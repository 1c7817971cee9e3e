"""The array-updated HyperLogLog: accurate within its error, exact merges, stable bytes."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.data.profiles.hll import RELATIVE_STANDARD_ERROR, VectorHLL
from shipyard.errors import InvalidInput


@pytest.mark.parametrize("distinct", [1, 10, 1_000, 10_000, 300_000])
def test_estimates_are_within_three_standard_errors(distinct: int) -> None:
    rng = np.random.default_rng(distinct)
    values = rng.choice(rng.random(distinct), size=max(distinct * 3, 10))
    sketch = VectorHLL()
    sketch.update_values(values)
    true = len(np.unique(values))
    assert abs(sketch.get_estimate() - true) <= max(1.0, 3 * RELATIVE_STANDARD_ERROR * true)
    assert sketch.get_lower_bound(3) <= true <= sketch.get_upper_bound(3)


def test_strings_and_merges() -> None:
    a, b, both = VectorHLL(), VectorHLL(), VectorHLL()
    left = np.array([f"k{i}" for i in range(20_000)], dtype=object)
    right = np.array([f"k{i}" for i in range(10_000, 40_000)], dtype=object)
    a.update_values(left)
    b.update_values(right)
    both.update_values(np.concatenate([left, right]))
    assert a.union(b) == both  # register-wise max: the merge is exact
    assert abs(both.get_estimate() - 40_000) < 40_000 * 3 * RELATIVE_STANDARD_ERROR


def test_serialisation_round_trips_and_refuses_other_bytes() -> None:
    sketch = VectorHLL()
    sketch.update_values(np.arange(5_000.0))
    assert VectorHLL.deserialize(sketch.serialize_compact()) == sketch
    with pytest.raises(InvalidInput):
        VectorHLL.deserialize(b"not a sketch")
