"""Deployment plans and guard alarms: what each strategy's steps are, what each alarm
judges, and the bad input each refuses."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from shipyard.deploy.guards import Traffic, evaluate, js_distance, parse_alarms
from shipyard.deploy.plan import make_plan
from shipyard.errors import InvalidInput


def test_each_strategy_has_its_steps() -> None:
    assert make_plan("canary").shares == (0.1, 0.5, 1.0)
    assert make_plan("canary", "5,25,100", bake="30s").bake == timedelta(seconds=30)
    assert make_plan("linear", "4").shares == (0.25, 0.5, 0.75, 1.0)
    assert make_plan("blue-green").shares == (1.0,)
    assert make_plan("blue-green", "10,100").shares == (0.1, 1.0)


@pytest.mark.parametrize(
    ("strategy", "steps", "bake", "says"),
    [
        ("yolo", None, "5m", "Unknown strategy"),
        ("canary", "50,10,100", "5m", "rise"),
        ("canary", "10,50", "5m", "rise from above 0 to 100"),
        ("canary", "ten", "5m", "percents"),
        ("linear", "0", "5m", "1 to 100 steps"),
        ("linear", "2.5", "5m", "number of steps"),
        ("canary", None, "0s", "above 0"),
        ("canary", None, "soon", "not a duration"),
    ],
)
def test_bad_plans_are_refused(strategy: str, steps: str | None, bake: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        make_plan(strategy, steps, bake)


def test_alarms_parse_and_typos_are_refused() -> None:
    assert [str(a) for a in parse_alarms(None)] == [
        "error_rate>0.01",
        "p99_ratio>2",
        "prediction_drift>0.2",
    ]
    assert parse_alarms([]) == ()
    for bad in ("error_rate<0.1", "latency>2", "error_rate>-1", "error_rate>nan"):
        with pytest.raises(InvalidInput):
            parse_alarms([bad])


def traffic(statuses: list[int], seconds: float, predictions: list[object]) -> Traffic:
    ok = [s == 200 for s in statuses]
    rows = pd.DataFrame(
        {
            "status": statuses,
            "total_seconds": [seconds] * len(statuses),
            "output": [f"[{p}]" if o else None for p, o in zip(predictions, ok, strict=True)],
        }
    )
    return Traffic.of(rows)


def test_the_error_rate_alarm_blames_only_what_the_stable_variant_does_not_do() -> None:
    alarms = parse_alarms(["error_rate>0.01"])
    good = traffic([200] * 100, 0.01, [1, 0] * 50)
    failing = traffic([200] * 70 + [422] * 30, 0.01, [1, 0] * 50)
    [fired] = evaluate(alarms, failing, good, min_requests=20)
    assert fired.candidate == pytest.approx(0.3) and fired.stable == 0.0
    assert "30.0% of the candidate's requests failed" in fired.message
    assert evaluate(alarms, failing, failing, min_requests=20) == []  # both refuse: callers
    assert evaluate(alarms, failing, good, min_requests=200) == []  # too few to judge


def test_latency_and_prediction_alarms() -> None:
    stable = traffic([200] * 50, 0.010, [0, 1] * 25)
    slow = traffic([200] * 50, 0.210, [0, 1] * 25)
    constant = traffic([200] * 50, 0.010, [1] * 50)
    a_little_slower = traffic([200] * 50, 0.025, [0, 1] * 25)  # 2.5x, but 15 ms
    assert evaluate(parse_alarms(None), a_little_slower, stable, 20) == []
    assert (
        evaluate(parse_alarms(None), slow, traffic([200] * 49, 0.01, [0, 1] * 24 + [0]), 20) == []
    )
    assert [f.alarm for f in evaluate(parse_alarms(None), slow, stable, 20)] == ["p99_ratio>2"]
    [drift] = evaluate(parse_alarms(None), constant, stable, 20)
    assert drift.alarm == "prediction_drift>0.2" and drift.candidate > 0.5
    assert evaluate(parse_alarms(None), stable, stable, 20) == []


def test_js_distance_bins_numbers_and_counts_categories() -> None:
    rng = np.random.default_rng(0)
    same = js_distance(list(rng.normal(size=2000)), list(rng.normal(size=2000)))
    shifted = js_distance(list(rng.normal(3, size=2000)), list(rng.normal(size=2000)))
    assert same < 0.1 < 0.8 < shifted <= 1.0
    assert js_distance(["a", "b"], ["a", "b"]) == 0.0
    assert js_distance(["a"] * 10, ["b"] * 10) == pytest.approx(1.0)


def test_prediction_drift_on_a_few_answers_must_be_more_than_chance() -> None:
    drift = parse_alarms(["prediction_drift>0.2"])
    stable = traffic([200] * 20, 0.01, [0] * 10 + [1] * 10)
    # 5 of 20 against 10 of 20: JS distance about 0.26, chi-square p about 0.1: chance.
    fewer = traffic([200] * 20, 0.01, [0] * 15 + [1] * 5)
    assert js_distance([0] * 15 + [1] * 5, [0] * 10 + [1] * 10) > 0.2
    assert evaluate(drift, fewer, stable, 20) == []
    # The same shares over 400 answers a side are no accident.
    many = traffic([200] * 400, 0.01, [0] * 300 + [1] * 100)
    [fired] = evaluate(drift, many, traffic([200] * 400, 0.01, [0, 1] * 200), 20)
    assert "chi-square p" in fired.message
