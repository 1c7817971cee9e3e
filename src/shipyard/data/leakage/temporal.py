"""Leaks through time and through groups.

Time overlap: in a time-aware split every training row comes before the first row of
each evaluation set. Training rows later than that start are counted per evaluation
set, with the largest gap. When ``windows`` names some sets (e.g. ``recent_testing``),
only those are held to time order (error); overlap with the other sets is reported as
info, since they may come from a random split of the same period. Without ``windows``
every evaluation set is treated as a time window. Rows with a null time are ignored.

Shared groups: a value of the group column (a user, a patient, a device) found in two
sets. Null group values are not a group and are ignored. When the split itself grouped
by the column, it kept every group in one of its fraction sets, and only a time
window (cut by time alone) can hold a group seen before it: that is what production
sees too (the same aircraft flies again next month), so it is info, not a leak.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from shipyard.data.leakage.report import Finding, Severity, row_ids
from shipyard.jsonsafe import jsonable


def time_overlap_findings(
    sets: Mapping[str, pd.DataFrame],
    *,
    training: str,
    evaluation: Sequence[str],
    windows: Sequence[str],
    time_column: str,
    id_columns: Sequence[str],
    max_examples: int,
) -> list[Finding]:
    """One finding per evaluation set that starts before training ends.

    >>> t = pd.to_datetime(["2024-01-01", "2024-03-01"])
    >>> sets = {"training": pd.DataFrame({"t": t}),
    ...         "testing": pd.DataFrame({"t": pd.to_datetime(["2024-02-01"])})}
    >>> [f.rows for f in time_overlap_findings(sets, training="training",
    ...     evaluation=["testing"], windows=[], time_column="t", id_columns=[], max_examples=1)]
    [1]
    """
    times = sets[training][time_column].reset_index(drop=True)
    if times.notna().sum() == 0:
        return []
    training_end = times.max()
    findings: list[Finding] = []
    for name in evaluation:
        start = sets[name][time_column].min()
        if pd.isna(start):
            continue
        later = (times > start).to_numpy(dtype=bool, na_value=False)
        count = int(later.sum())
        if count == 0:
            continue
        overlap = training_end - start
        latest = times[later].nlargest(max_examples)
        examples = [
            {"row": rid, "time": jsonable(when), "after_start_by": str(when - start)}
            for rid, when in zip(
                row_ids(sets[training], latest.index.tolist(), id_columns),
                latest.tolist(),
                strict=True,
            )
        ]
        window = not windows or name in windows
        fix = (
            f"A model evaluated on '{name}' must not have seen later data: it learns trends, "
            f"fixes and late-settling labels it is then tested on. Fix: end '{training}' "
            f"before {jsonable(start)}, or move those rows out of it."
            if window
            else f"'{name}' is not listed in windows, so this is expected of a random split; "
            "list it in windows if the split is meant to be ordered in time."
        )
        findings.append(
            Finding(
                "time_overlap",
                "error" if window else "info",
                (training, name),
                (time_column,),
                count,
                f"{count:,} row(s) of '{training}' ({count / len(times):.1%}) are later than "
                f"the first row of '{name}' ({jsonable(start)}); the latest by {overlap}. {fix}",
                tuple(examples),
                {
                    "evaluation_start": jsonable(start),
                    "training_end": jsonable(training_end),
                    "max_overlap": str(overlap),
                    "max_overlap_seconds": overlap.total_seconds(),
                    "window": window,
                },
            )
        )
    return findings


def shared_group_findings(
    sets: Mapping[str, pd.DataFrame],
    *,
    pairs: Sequence[tuple[str, str]],
    training: str,
    group_column: str,
    max_examples: int,
    windows: Sequence[str] = (),
    grouped_by_split: bool = False,
) -> list[Finding]:
    """One finding per pair ``(a, b)`` of sets that share values of ``group_column``.

    Shared with training: error; between two evaluation sets: warning. With
    ``grouped_by_split``, sharing with a set in ``windows`` is info (see above).

    >>> sets = {"training": pd.DataFrame({"g": [1, 2, 2]}), "testing": pd.DataFrame({"g": [2, 3]})}
    >>> f = shared_group_findings(sets, pairs=[("training", "testing")], training="training",
    ...                           group_column="g", max_examples=3)[0]
    >>> f.rows, f.details["groups"], f.examples[0]["group"]
    (1, 1, 2)
    """
    names = list(dict.fromkeys(name for pair in pairs for name in pair))
    values = pd.concat([sets[n][group_column] for n in names], ignore_index=True)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # null -> -1, ignored
    ends = np.cumsum([len(sets[n]) for n in names])
    part = {n: codes[e - len(sets[n]) : e] for n, e in zip(names, ends, strict=True)}
    findings: list[Finding] = []
    for a, b in pairs:
        ga, gb = part[a], part[b]
        shared = np.intersect1d(ga[ga >= 0], gb[gb >= 0])
        if shared.size == 0:
            continue
        rows_a, rows_b = int(np.isin(ga, shared).sum()), int(np.isin(gb, shared).sum())
        examples = tuple(
            {
                "group": jsonable(uniques[g]),
                "rows": {a: int((ga == g).sum()), b: int((gb == g).sum())},
            }
            for g in shared[:max_examples]
        )
        by_time = grouped_by_split and (a in windows or b in windows)
        severity: Severity = "error" if a == training else "warning"
        head = (
            f"{shared.size:,} value(s) of '{group_column}' occur in both '{a}' and '{b}' "
            f"({rows_b:,} row(s) of '{b}'). "
        )
        if by_time:
            severity = "info"
            why = (
                f"The split keeps each '{group_column}' in one set, but time windows are cut "
                "by time alone, so a group seen earlier can come back in a window, as it does "
                "in production. Not a leak; to score on unseen groups only, filter the window "
                f"to values of '{group_column}' absent from '{a}'."
            )
        else:
            why = (
                "Rows of one group are alike, so a model that has seen the group does better "
                "on it than on a new one and the score overstates. Fix: split by "
                f"'{group_column}' (group: {group_column} in the split plan) so each group "
                "falls in one set."
            )
        findings.append(
            Finding(
                "shared_groups", severity, (a, b), (group_column,), rows_b, head + why,
                examples,
                {"groups": int(shared.size), "rows_per_set": {a: rows_a, b: rows_b},
                 "grouped_by_split": grouped_by_split, "window": by_time},
            )
        )  # fmt: skip
    return findings
