"""Choosing a variant, and the endpoint state a serving process keeps fresh."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import InvalidInput, NotFound
from shipyard.serving.routing import EndpointStates, choose_variant
from shipyard.stores.control.base import Endpoint, Variant

NOW = datetime.now(UTC)


def endpoint(*variants: Variant) -> Endpoint:
    return Endpoint("e", 1, {}, tuple(variants), NOW, "x", NOW, "x")


def test_weights_are_ratios_and_weight_zero_gets_nothing() -> None:
    state = endpoint(
        Variant("a", "m", 1, 3.0),
        Variant("b", "m", 2, 1.0),
        Variant("off", "m", 3, 0.0),
        Variant("shadow", "m", 4, 5.0, role="shadow"),
    )
    rng = random.Random(7)
    counts = Counter(choose_variant(state, rng=rng).name for _ in range(4000))
    assert set(counts) == {"a", "b"}
    assert 0.72 < counts["a"] / 4000 < 0.78  # 3:1 is 75%


def test_a_target_overrides_the_weights_and_an_unknown_target_is_refused() -> None:
    state = endpoint(Variant("a", "m", 1, 1.0), Variant("off", "m", 3, 0.0))
    assert choose_variant(state, "off").name == "off"
    with pytest.raises(InvalidInput, match="no variant 'nope'"):
        choose_variant(state, "nope")
    with pytest.raises(NotFound, match="no primary variant"):
        choose_variant(endpoint(Variant("off", "m", 3, 0.0)))


def test_states_refresh_in_the_background_and_swap_whole(tmp_path: Path) -> None:
    with shipyard.open_runtime(tmp_path / "ws") as runtime:
        control = runtime.control
        control.create_endpoint("e", {}, [Variant("a", "m", 1, 1.0)], by="pipeline")
        states = EndpointStates(control, ["e", "later"], refresh_seconds=0.05)
        try:
            first = states.get("e")
            control.update_endpoint(
                "e",
                expected_revision=1,
                by="pipeline",
                event="weights",
                variants=[Variant("a", "m", 1, 0.0), Variant("b", "m", 1, 1.0)],
            )
            deadline = time.monotonic() + 5
            while states.get("e").revision == 1:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert [v.name for v in states.get("e").variants] == ["a", "b"]
            assert [v.name for v in first.variants] == ["a"]  # a request's state is its own
            with pytest.raises(NotFound, match="does not serve endpoint 'other'"):
                states.get("other")
        finally:
            states.stop()


def test_an_ab_test_assigns_a_key_to_one_variant_and_splits_keys_by_weight() -> None:
    from datetime import UTC, datetime

    from shipyard.serving.routing import choose_variant
    from shipyard.stores.control.base import Endpoint, Variant

    at = datetime.now(UTC)
    variants = (Variant("primary", "m", 1, 0.7), Variant("candidate", "m", 2, 0.3),
                Variant("idle", "m", 3, 0.0))  # fmt: skip
    endpoint = Endpoint("e", 1, {"ab": {"salt": "s1"}}, variants, at, "p", at, "p")
    chosen = {choose_variant(endpoint, key="user-42").name for _ in range(1000)}
    assert len(chosen) == 1  # sticky
    keys = 10_000
    share = sum(choose_variant(endpoint, key=f"user-{i}").name == "candidate" for i in range(keys))
    # 99% binomial interval around 0.3: 0.3 +- 2.576 * sqrt(0.3 * 0.7 / n)
    margin = 2.576 * (0.3 * 0.7 / keys) ** 0.5
    assert abs(share / keys - 0.3) < margin, share
    assert all(choose_variant(endpoint, key=f"k{i}").name != "idle" for i in range(2000))
    other_salt = Endpoint("e", 1, {"ab": {"salt": "s2"}}, variants, at, "p", at, "p")
    moved = sum(choose_variant(endpoint, key=f"u{i}").name
                != choose_variant(other_salt, key=f"u{i}").name for i in range(2000))  # fmt: skip
    assert moved > 500  # a new test's salt assigns keys afresh
