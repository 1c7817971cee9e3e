"""Rows shared across sets: copies, copies with a different label, near copies, and
other events that happen to be equal on the features.

Exact: every row gets a 64-bit hash of its feature values
(:func:`shipyard.data.rows.row_hashes`); only rows whose hash occurs in two sets are
candidates, and candidates are grouped again on their actual values, so a hash
collision can never produce a finding. Nulls in the same column compare equal.

Rows equal on the features are either one event copied (same id or same time) or
other events alike (other id and other time); see ``events``. A row of set B is an
*exact duplicate* of set A when some row of A has the same features, the same target
and is the same event; a *conflicting duplicate* when such a copy has another
target. A row of B equal on the features only to rows of A of other events is an
*equal features* row: a fact of data such as hourly readings, not a leak, unless
they make up more than a set share of B (``max_equal_feature_share``).

Near: the same machinery over a normalised copy of the features. Numbers (and
datetimes, as seconds) are standardised with the mean and std of the column over all
sets and rounded to ``near_decimals`` decimals, so with 2 decimals values within
about 1% of a std usually match; constant columns are only centred. Text is NFKC
normalised, casefolded, stripped of punctuation (and ``_``), and its whitespace is
collapsed and trimmed. Rows of B equal to a row of A after normalisation but with no
exact copy in A are near duplicates. Rounding cuts the number line into buckets, so
two values either side of a bucket edge are missed: the count is a lower bound.

Everything is vectorised: hashing, a sort and ``groupby`` on candidates; no pairwise
comparison of rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data import rows as row_module
from shipyard.data.leakage.events import event_codes, event_keys, occurs_in, same_event
from shipyard.data.leakage.report import Finding, Severity, as_float, is_numeric, row_ids
from shipyard.jsonsafe import jsonable

NEAR_METHOD = (
    "Numbers and datetimes are standardised by the column's mean and std over all sets and "
    "rounded to {decimals} decimals (values within about {step} std match); text is NFKC "
    "normalised, casefolded, stripped of punctuation, whitespace collapsed. Rows equal after "
    "that but not exact copies are near duplicates; values straddling a rounding edge are "
    "missed, so the count is a lower bound."
)
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def normalise_text(value: object) -> str:
    """Text as compared for near duplicates.

    >>> normalise_text("  Café\u00a0CRÈME, s'il vous plaît!! ")
    'café crème sil vous plaît'
    """
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return _SPACES.sub(" ", _PUNCTUATION.sub("", text)).strip()


def normalise(frame: pd.DataFrame, decimals: int) -> pd.DataFrame:
    """``frame`` with numbers standardised and rounded and text normalised (see above).

    >>> df = pd.DataFrame({"x": [1.0, 1.001, 5.0], "s": ["A  b", "a b.", "c"]})
    >>> out = normalise(df, 2)
    >>> bool(out["x"].iloc[0] == out["x"].iloc[1]), out["s"].tolist()
    (True, ['a b', 'a b', 'c'])
    """
    out = {name: _normalise_column(frame[name], decimals) for name in frame.columns}
    return pd.DataFrame(out, index=frame.index)


def _is_text(column: pd.Series) -> bool:
    return not pd.api.types.is_bool_dtype(column) and not is_numeric(column)


def _normalise_column(column: pd.Series, decimals: int) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column):
        return column.astype(object).where(column.notna(), None).to_numpy()
    if is_numeric(column):
        values = as_float(column)
        finite = values[np.isfinite(values)]
        mean = float(finite.mean()) if finite.size else 0.0
        std = float(finite.std()) if finite.size else 0.0
        scaled = (values - mean) / std if std > 0 else values - mean
        return np.round(scaled, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    # Normalise each distinct value once: categorical text repeats a lot.
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    texts = np.array([normalise_text(u) for u in np.asarray(uniques, dtype=object)] + [None])
    return texts[codes]  # code -1 (null) picks the trailing None


def near_keys(frame: pd.DataFrame, codes: np.ndarray, decimals: int) -> np.ndarray:
    """:func:`shared_keys` of the normalised ``frame``.

    Text normalisation is Python work per distinct value, so it is done only for rows
    that already match a row of another set on every other column (when there are
    other columns): a near duplicate must match on all of them anyway.
    """
    text = [name for name in frame.columns if _is_text(frame[name])]
    rest = pd.DataFrame(
        {n: _normalise_column(frame[n], decimals) for n in frame.columns if n not in text},
        index=frame.index,
    )
    if not text:
        return shared_keys(rest, codes)
    rows = np.flatnonzero(shared_keys(rest, codes) >= 0) if rest.shape[1] else np.arange(len(frame))
    keys = np.full(len(frame), -1, dtype=np.int64)
    if rows.size:
        subset = rest.iloc[rows].reset_index(drop=True)
        for name in text:
            subset[name] = _normalise_column(frame[name].iloc[rows], decimals)
        keys[rows] = shared_keys(subset, codes[rows])
    return keys


def shared_keys(frame: pd.DataFrame, codes: np.ndarray) -> np.ndarray:
    """Per row, an id shared by rows with equal values, or -1 when no row of another set
    (``codes`` gives each row's set) has the same hash. Ids are verified on values.
    """
    keys = np.full(len(frame), -1, dtype=np.int64)
    if len(frame) == 0:
        return keys
    hashes = row_module.row_hashes(frame)
    order = np.argsort(hashes, kind="stable")
    sorted_hashes, sorted_codes = hashes[order], codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_hashes[1:] != sorted_hashes[:-1]])
    lengths = np.diff(np.r_[starts, len(order)])
    mixed = np.minimum.reduceat(sorted_codes, starts) != np.maximum.reduceat(sorted_codes, starts)
    candidates = np.sort(order[np.repeat(mixed, lengths)])
    if candidates.size:
        # Group on the values themselves: equal hashes alone are not proof.
        subset = frame.iloc[candidates]
        groups = subset.groupby(list(subset.columns), dropna=False, sort=False, observed=True)
        keys[candidates] = groups.ngroup().to_numpy()
    return keys


@dataclass(frozen=True)
class _Pair:
    """One pair of sets (A, B) being compared, and how findings about it are written."""

    a: str
    b: str
    from_training: bool
    sets: Mapping[str, pd.DataFrame]
    bounds: Mapping[str, tuple[int, int]]
    features: tuple[str, ...]
    target: str | None
    id_columns: Sequence[str]
    max_examples: int

    def part(self, values: np.ndarray, name: str) -> np.ndarray:
        lo, hi = self.bounds[name]
        return values[lo:hi]

    def parts(self, values: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return [self.part(v, self.a) for v in values], [self.part(v, self.b) for v in values]

    def examples(self, rows_b: np.ndarray, keys: list[np.ndarray]) -> list[dict[str, Any]]:
        """The first rows of B, each with a row of A it matches on one of ``keys``."""
        keys_a, keys_b = self.parts(keys)
        shown = []
        for position in rows_b[: self.max_examples]:
            p = int(position)
            partner = np.zeros(keys_a[0].size, dtype=bool)
            for ka, kb in zip(keys_a, keys_b, strict=True):
                if kb[p] >= 0:
                    partner |= ka == kb[p]
            pos_a = int(np.flatnonzero(partner)[0])
            ids_a = row_ids(self.sets[self.a], [pos_a], self.id_columns)[0]
            ids_b = row_ids(self.sets[self.b], [p], self.id_columns)[0]
            shown.append({"rows": {self.a: ids_a, self.b: ids_b}, "_a": pos_a, "_b": p})
        return shown


def duplicate_findings(
    sets: Mapping[str, pd.DataFrame],
    *,
    pairs: Sequence[tuple[str, str]],
    training: str,
    features: Sequence[str],
    target: str | None,
    id_columns: Sequence[str],
    time_column: str | None = None,
    decimals: int,
    max_equal_share: float = 0.01,
    max_examples: int,
) -> list[Finding]:
    """Exact, conflicting and near copies, and rows of other events with equal features,
    for each pair ``(a, b)`` of set names.

    Severity: copies between training and another set are errors, between two
    evaluation sets warnings; conflicting and near copies are warnings (near copies
    between evaluation sets: info). Rows equal to a training row on the features but
    of another event (see ``events``) are an error above ``max_equal_share`` of the
    evaluation set, info at or below it (between evaluation sets: warning or info).
    """
    names = list(dict.fromkeys(name for pair in pairs for name in pair))
    if not names:
        return []
    sizes = [len(sets[n]) for n in names]
    ends = np.cumsum(sizes)
    bounds = {n: (int(e - s), int(e)) for n, s, e in zip(names, sizes, ends, strict=True)}
    codes = np.repeat(np.arange(len(names)), sizes)
    combined = pd.concat([sets[n][list(features)] for n in names], ignore_index=True)
    exact = shared_keys(combined, codes)
    near = near_keys(combined, codes, decimals)
    labels = np.zeros(len(combined), dtype=np.int64)
    if target is not None:
        targets = pd.concat([sets[n][target] for n in names], ignore_index=True)
        labels = pd.factorize(targets, use_na_sentinel=False)[0].astype(np.int64)
    # Key of (features, target): equal only when both are equal.
    n_labels = int(labels.max()) + 1 if labels.size else 1
    exact_labelled = np.where(exact >= 0, exact * n_labels + labels, -1)
    # A time column may also be an id column: take each column once.
    roles = list(dict.fromkeys([*id_columns, *([time_column] if time_column else [])]))
    events = event_codes(
        pd.concat([sets[n][roles] for n in names], ignore_index=True), id_columns, time_column
    )
    # Keys equal only for equal rows of the same event: copies (see ``events``).
    copies = {
        "exact": event_keys(exact, events),
        "labelled": event_keys(exact_labelled, events),
        "near": event_keys(near, events),
    }
    findings: list[Finding] = []
    for a, b in pairs:
        pair = _Pair(a, b, a == training, sets, bounds, tuple(features), target, id_columns,
                     max_examples)  # fmt: skip
        equal_b = occurs_in(pair.part(exact, b), pair.part(exact, a))
        other_event_b = equal_b & ~same_event(*pair.parts(copies["exact"]))
        near_b = occurs_in(pair.part(near, b), pair.part(near, a)) & ~equal_b
        near_copy_b = near_b & same_event(*pair.parts(copies["near"]))
        findings += _copies(
            pair, same_event(*pair.parts(copies["labelled"])), copies["labelled"],
            events_known=bool(events),
        )  # fmt: skip
        if target is not None:
            findings += _conflicting(pair, labels, copies["exact"], events_known=bool(events))
        findings += _near(pair, near_copy_b, copies["near"], decimals)
        same_target_b = occurs_in(pair.part(exact_labelled, b), pair.part(exact_labelled, a))
        findings += _equal_features(
            pair, other_event_b, near_b & ~near_copy_b, same_target_b, exact, max_equal_share
        )
    return findings


def _copies(
    pair: _Pair, rows_b: np.ndarray, keys: list[np.ndarray], *, events_known: bool
) -> list[Finding]:
    n = int(rows_b.sum())
    if not n:
        return []
    a, b = pair.a, pair.b
    keys_a, keys_b = pair.parts(keys)
    n_a = int(same_event(keys_b, keys_a).sum())
    what = " and target" if pair.target is not None else ""
    event = " and the same id or time" if events_known else ""
    unknown = (
        ""
        if events_known
        else " Give the time column (and id columns) so that other events that happen to "
        "be equal are told apart from copies."
    )
    why = (
        "A model can memorise them, so scores on that set overstate how it does on unseen "
        "data. Fix: remove the copies from the data before splitting (deduplicate on the id "
        "columns, or on all columns). A random split with dedupe: true also keeps rows equal "
        "on the features in one set; time windows and time_ordered splits cannot, as each "
        f"row goes where its time puts it.{unknown}"
        if pair.from_training
        else "The two evaluation sets are less independent than they look. Fix: deduplicate "
        f"before splitting.{unknown}"
    )
    return [Finding(
        "exact_duplicates", "error" if pair.from_training else "warning", (a, b),
        pair.features, n,
        f"{n:,} row(s) of '{b}' ({n / len(pair.sets[b]):.1%}) are copies of rows in '{a}' "
        f"(same features{what}{event}). {why}",
        tuple(_clean(e) for e in pair.examples(np.flatnonzero(rows_b), keys)),
        {"rows_per_set": {a: n_a, b: n}, "fraction": n / len(pair.sets[b])},
    )]  # fmt: skip


def _conflicting(
    pair: _Pair, labels: np.ndarray, keys: list[np.ndarray], *, events_known: bool
) -> list[Finding]:
    """Copies (same features and event) whose target differs: label errors."""
    assert pair.target is not None
    a, b, target = pair.a, pair.b, pair.target
    ta, tb = pair.part(labels, a), pair.part(labels, b)
    keys_a, keys_b = pair.parts(keys)
    rows_b = np.zeros(tb.size, dtype=bool)
    for ka, kb in zip(keys_a, keys_b, strict=True):
        rows_b |= occurs_in(kb, ka) & _conflicts(ka, ta, kb, tb)
    n = int(rows_b.sum())
    if not n:
        return []
    shown = []
    for p in np.flatnonzero(rows_b)[: pair.max_examples]:
        partner = np.zeros(ta.size, dtype=bool)
        for ka, kb in zip(keys_a, keys_b, strict=True):
            if kb[p] >= 0:
                partner |= (ka == kb[p]) & (ta != tb[p])
        pos_a = int(np.flatnonzero(partner)[0])
        shown.append({
            "rows": {a: row_ids(pair.sets[a], [pos_a], pair.id_columns)[0],
                     b: row_ids(pair.sets[b], [int(p)], pair.id_columns)[0]},
            "target": {a: pair.sets[a][target].iloc[pos_a], b: pair.sets[b][target].iloc[p]},
        })  # fmt: skip
    return [Finding(
        "conflicting_duplicates", "warning", (a, b), (*pair.features, target), n,
        f"{n:,} row(s) of '{b}' are copies of rows in '{a}' (same features"
        f"{' and the same id or time' if events_known else ''}) but have a different "
        f"'{target}'. No model can get both right: these are label errors "
        "or the features miss what tells them apart. Fix: review those labels, or add the "
        "feature that separates them.",
        tuple(_clean(e) for e in shown),
        {"rows_per_set": {b: n}},
    )]  # fmt: skip


def _near(pair: _Pair, rows_b: np.ndarray, keys: list[np.ndarray], decimals: int) -> list[Finding]:
    n = int(rows_b.sum())
    if not n:
        return []
    a, b = pair.a, pair.b
    shown = []
    for e in pair.examples(np.flatnonzero(rows_b), keys):
        e["differences"] = _differences(pair.sets[a], e["_a"], pair.sets[b], e["_b"], pair.features)
        shown.append(e)
    step = 10.0**-decimals
    return [Finding(
        "near_duplicates", "warning" if pair.from_training else "info", (a, b),
        pair.features, n,
        f"{n:,} row(s) of '{b}' nearly equal rows in '{a}' without being exact copies "
        f"(numbers within about {step:g} std, text equal after casefolding and removing "
        "punctuation and extra spaces). Near copies leak like exact ones. Fix: deduplicate "
        "on normalised values before splitting.",
        tuple(_clean(e) for e in shown),
        {"rows_per_set": {b: n},
         "method": NEAR_METHOD.format(decimals=decimals, step=f"{step:g}")},
    )]  # fmt: skip


def _equal_features(
    pair: _Pair,
    rows_b: np.ndarray,
    near_b: np.ndarray,
    same_target_b: np.ndarray,
    exact: np.ndarray,
    max_share: float,
) -> list[Finding]:
    """Rows of B equal (or nearly equal) on the features to rows of A of other events."""
    n, n_near = int(rows_b.sum()), int(near_b.sum())
    if not n and not n_near:
        return []
    a, b = pair.a, pair.b
    share = n / len(pair.sets[b])
    above = share > max_share
    severity: Severity = "info"
    if above:
        severity = "error" if pair.from_training else "warning"
    if n:
        near_note = f", and {n_near:,} more nearly equal one (within rounding)" if n_near else ""
        message = (
            f"{n:,} row(s) of '{b}' ({share:.1%}) equal a row of '{a}' on every feature but "
            f"are other events (other id and time){near_note}."
        )
    else:
        message = (
            f"{n_near:,} row(s) of '{b}' nearly equal a row of '{a}' on every feature (within "
            "rounding) but are other events (other id and time)."
        )
    if above:
        allowed = float(np.ceil(share * 100) / 100)  # the next whole percent
        message += (
            f" That is more than max_equal_feature_share ({max_share:g}): a model can score "
            f"on them by recalling '{a}', so the score on '{b}' overstates. Fix: add a "
            "feature that tells these events apart; or, if equal rows are a fact of this "
            f"data, allow their share: leakage: {{max_equal_feature_share: {allowed:g}}} in "
            "pipeline.yaml (LeakageThresholds(max_equal_feature_share=...) in Python). "
            "Deduplicating would drop real events, and a time_ordered or windowed split "
            "keeps each row where its time puts it."
        )
    else:
        message += (
            f" Within max_equal_feature_share ({max_share:g}): events the features do not "
            "tell apart, a fact of the data rather than a leak."
        )
    same_target = int((rows_b & same_target_b).sum())
    if pair.target is not None and n:
        message += f" {same_target:,} of them have the same '{pair.target}' as their match."
    examples = pair.examples(np.flatnonzero(rows_b), [exact]) if n else []
    return [Finding(
        "equal_features", severity, (a, b), pair.features, n + n_near, message,
        tuple(_clean(e) for e in examples),
        {"rows_per_set": {b: n + n_near}, "equal_rows": n, "near_rows": n_near,
         "fraction": share, "max_share": max_share,
         "same_target": same_target if pair.target is not None else None},
    )]  # fmt: skip


def _conflicts(ka: np.ndarray, ta: np.ndarray, kb: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """For rows of B: does some row of A with the same features have another target?"""
    valid = ka >= 0
    pairs = pd.DataFrame({"k": ka[valid], "t": ta[valid]}).drop_duplicates()
    stats = pairs.groupby("k")["t"].agg(["size", "first"])
    n_targets = stats["size"].reindex(kb).to_numpy(dtype="float64", na_value=0)
    first = stats["first"].reindex(kb).to_numpy(dtype="float64", na_value=-1)
    return (n_targets > 1) | ((n_targets == 1) & (first != tb))


def _differences(
    frame_a: pd.DataFrame, pos_a: int, frame_b: pd.DataFrame, pos_b: int, features: Sequence[str]
) -> dict[str, list[Any]]:
    """Up to five features whose raw values differ between two near-duplicate rows."""
    out: dict[str, list[Any]] = {}
    for name in features:
        va, vb = frame_a[name].iloc[pos_a], frame_b[name].iloc[pos_b]
        null_a, null_b = bool(pd.isna(va)), bool(pd.isna(vb))
        if (null_a != null_b) if (null_a or null_b) else bool(va != vb):
            out[name] = [jsonable(va), jsonable(vb)]
            if len(out) == 5:
                break
    return out


def _clean(example: dict[str, Any]) -> dict[str, Any]:
    """An example without its internal positions and with JSON-safe values."""
    return {k: jsonable(v) for k, v in example.items() if k not in ("_a", "_b")}
