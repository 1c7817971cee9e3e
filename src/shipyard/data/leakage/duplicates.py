"""Rows shared across sets: exact copies, copies with a different label, near copies.

Exact: every row gets a 64-bit hash of its feature values
(:func:`shipyard.data.rows.row_hashes`); only rows whose hash occurs in two sets are
candidates, and candidates are grouped again on their actual values, so a hash
collision can never produce a finding. Nulls in the same column compare equal.

A row of set B is an *exact duplicate* of set A when some row of A has the same
features (and, with a target, the same target); it is a *conflicting duplicate* when
some row of A has the same features and a different target.

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
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data import rows as row_module
from shipyard.data.leakage.report import Finding, as_float, is_numeric, row_ids
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


def _in(keys: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Which ``keys`` (-1 = none) occur among ``other``'s valid keys."""
    return (keys >= 0) & np.isin(keys, other[other >= 0])


def duplicate_findings(
    sets: Mapping[str, pd.DataFrame],
    *,
    pairs: Sequence[tuple[str, str]],
    training: str,
    features: Sequence[str],
    target: str | None,
    id_columns: Sequence[str],
    decimals: int,
    max_examples: int,
) -> list[Finding]:
    """Exact, conflicting and near duplicates for each pair ``(a, b)`` of set names.

    Severity: exact copies between training and another set are errors, between two
    evaluation sets warnings; conflicting and near duplicates are warnings (near
    duplicates between evaluation sets: info).
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

    def part(values: np.ndarray, name: str) -> np.ndarray:
        lo, hi = bounds[name]
        return values[lo:hi]

    findings: list[Finding] = []
    for a, b in pairs:
        from_training = a == training
        ka, kb = part(exact, a), part(exact, b)
        ta, tb = part(labels, a), part(labels, b)
        la, lb = part(exact_labelled, a), part(exact_labelled, b)
        same_b, same_a = _in(lb, la), _in(la, lb)
        any_b = _in(kb, ka)
        conflict_b = any_b & _conflicts(ka, ta, kb, tb)
        near_b = _in(part(near, b), part(near, a)) & ~any_b

        def example(pos_b: int, partner: np.ndarray, a: str = a, b: str = b) -> dict[str, Any]:
            pos_a = int(np.flatnonzero(partner)[0])
            ids_a = row_ids(sets[a], [pos_a], id_columns)[0]
            ids_b = row_ids(sets[b], [pos_b], id_columns)[0]
            return {"rows": {a: ids_a, b: ids_b}, "_a": pos_a}

        n_same = int(same_b.sum())
        if n_same:
            shown = [example(int(p), la == lb[p]) for p in np.flatnonzero(same_b)[:max_examples]]
            what = " and target" if target is not None else ""
            why = (
                "A model can memorise them, so scores on that set overstate how it does on "
                "unseen data. Fix: deduplicate before splitting, or split so that identical "
                "rows land in one set (e.g. by row hash)."
                if from_training
                else "The two evaluation sets are less independent than they look. Fix: "
                "deduplicate before splitting."
            )
            findings.append(Finding(
                "exact_duplicates", "error" if from_training else "warning", (a, b),
                tuple(features), n_same,
                f"{n_same:,} row(s) of '{b}' ({n_same / len(sets[b]):.1%}) are exact copies "
                f"of rows in '{a}' (same features{what}). {why}",
                tuple(_clean(e) for e in shown),
                {"rows_per_set": {a: int(same_a.sum()), b: n_same},
                 "fraction": n_same / len(sets[b])},
            ))  # fmt: skip
        n_conflict = int(conflict_b.sum())
        if n_conflict and target is not None:
            shown = []
            for p in np.flatnonzero(conflict_b)[:max_examples]:
                e = example(int(p), (ka == kb[p]) & (ta != tb[p]))
                e["target"] = {a: sets[a][target].iloc[e["_a"]], b: sets[b][target].iloc[p]}
                shown.append(e)
            findings.append(Finding(
                "conflicting_duplicates", "warning", (a, b), (*features, target), n_conflict,
                f"{n_conflict:,} row(s) of '{b}' have the same features as rows in '{a}' but "
                f"a different '{target}'. No model can get both right: these are label errors "
                "or the features miss what tells them apart. Fix: review those labels, or add "
                "the feature that separates them.",
                tuple(_clean(e) for e in shown),
                {"rows_per_set": {b: n_conflict}},
            ))  # fmt: skip
        n_near = int(near_b.sum())
        if n_near:
            na, nb = part(near, a), part(near, b)
            shown = []
            for p in np.flatnonzero(near_b)[:max_examples]:
                e = example(int(p), na == nb[p])
                e["differences"] = _differences(sets[a], e["_a"], sets[b], int(p), features)
                shown.append(e)
            step = 10.0**-decimals
            findings.append(Finding(
                "near_duplicates", "warning" if from_training else "info", (a, b),
                tuple(features), n_near,
                f"{n_near:,} row(s) of '{b}' nearly equal rows in '{a}' without being exact "
                f"copies (numbers within about {step:g} std, text equal after casefolding and "
                "removing punctuation and extra spaces). Near copies leak like exact ones. "
                "Fix: deduplicate on normalised values before splitting.",
                tuple(_clean(e) for e in shown),
                {"rows_per_set": {b: n_near}, "method": NEAR_METHOD.format(
                    decimals=decimals, step=f"{step:g}")},
            ))  # fmt: skip
    return findings


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
    """An example without its internal position and with JSON-safe values."""
    return {k: jsonable(v) for k, v in example.items() if k != "_a"}
