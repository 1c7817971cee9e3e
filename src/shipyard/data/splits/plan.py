"""The split plan: which sets, in what fractions, and under which constraints.

A plan is plain data: it can be written as YAML or JSON, stored with a model's
lineage and read back to reproduce the split exactly (with the same data and seed).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from shipyard.data.splits import checks
from shipyard.data.splits.windows import TimeWindow
from shipyard.errors import InvalidInput
from shipyard.yaml_errors import yaml_problem

DEFAULT_FRACTIONS: dict[str, float] = {"training": 0.70, "validation": 0.15, "testing": 0.15}
LARGE_FRACTIONS: dict[str, float] = {"training": 0.90, "validation": 0.05, "testing": 0.05}
MAX_SETS = 127  # set indices are stored as int8


def suggest_fractions(n_rows: int) -> dict[str, float]:
    """Suggested fractions: 70/15/15, or 90/5/5 above 1,000,000 rows.

    With a million rows, 5% is still 50,000 rows: enough for tight estimates,
    so more can go to training.

    >>> suggest_fractions(5_000_000)
    {'training': 0.9, 'validation': 0.05, 'testing': 0.05}
    """
    return dict(LARGE_FRACTIONS if n_rows > 1_000_000 else DEFAULT_FRACTIONS)


@dataclass(frozen=True)
class SplitPlan:
    """How to split a table into named sets. Invalid plans raise ``InvalidInput``.

    Attributes:
        sets: set name -> fraction of the rows outside every time window (sum 1).
        seed: same data + plan + seed -> the same split.
        stratify: a class column; each class's count in each set is then within 1
            of ideal (class rows x fraction). Only without groups: when groups or
            duplicates tie rows together, whole units move and balance is best effort.
        target: the label column (default: ``stratify``): left out of the feature
            columns; its positive rate sizes the slice intervals.
        group: rows sharing this key stay in one set. Fractions are then met as
            nearly as group sizes allow. A row with no key is a group of its own.
        dedupe: rows identical on the feature columns stay in one set; not in a
            time-ordered split, where time decides and the leakage report judges
            duplicates across sets.
        feature_columns: the columns duplicates are judged on (default: all but
            the id, time, label, stratify and group columns).
        id_columns: what identifies a row; hashed per set, and the seed of its
            randomness (row order then does not matter). Default: row positions.
        time_column: event times; naive values are taken to be UTC.
        windows: set name -> :class:`TimeWindow`: sets cut by time from the end of
            the timeline; the fraction sets are drawn from the rows before them.
            Windows are cut by time alone, so a group may have rows on both sides.
        time_ordered: cut the fraction sets in time order (first set earliest)
            instead of at random within the pre-window period (the default). Every
            row of a later set is then at or after every row of an earlier one,
            except that a group (``group``) moves whole, placed by its latest row.
        slices: slice name -> filter such as ``origin == "JFK"``, counted per set.
        min_slice_halfwidth: a slice whose 95% interval on accuracy in a set is
            wider than +/- this warns.

    >>> plan = SplitPlan.from_dict({"stratify": "late", "seed": 7})
    >>> plan.set_names, plan.sets["training"]
    (('training', 'validation', 'testing'), 0.7)
    """

    sets: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FRACTIONS))
    seed: int = 0
    stratify: str | None = None
    target: str | None = None
    group: str | None = None
    dedupe: bool = True
    feature_columns: list[str] | None = None
    id_columns: list[str] = field(default_factory=list)
    time_column: str | None = None
    windows: dict[str, TimeWindow] = field(default_factory=dict)
    time_ordered: bool = False
    slices: dict[str, str] = field(default_factory=dict)
    min_slice_halfwidth: float = 0.05

    def __post_init__(self) -> None:
        # Copy the containers so the caller's dicts and lists cannot change a frozen plan.
        set_ = object.__setattr__
        set_(self, "sets", checks.fractions(self.sets))
        set_(self, "windows", checks.windows(self.windows))
        set_(self, "slices", checks.slices(self.slices))
        set_(self, "id_columns", checks.columns("id_columns", self.id_columns))
        if self.feature_columns is not None:
            set_(self, "feature_columns", checks.columns("feature_columns", self.feature_columns))
            if not self.feature_columns:
                raise InvalidInput(
                    "feature_columns is empty.", hint="List columns, or leave it out (null)."
                )
        for name in ("stratify", "target", "group", "time_column"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidInput(f"{name} must be a column name, got {value!r}.")
        for name in ("dedupe", "time_ordered"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInput(f"{name} must be true or false, got {getattr(self, name)!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidInput(f"seed must be an integer >= 0, got {self.seed!r}.")
        if self.seed >= 2**64:
            raise InvalidInput(f"seed must be below 2**64, got {self.seed}.")
        width = self.min_slice_halfwidth
        if isinstance(width, bool) or not isinstance(width, int | float) or not 0 < width <= 1:
            raise InvalidInput(
                f"min_slice_halfwidth must be a number in (0, 1], got {width!r}.",
                hint="It is the widest acceptable 95% half-width on a slice's accuracy, e.g. 0.05.",
            )
        self._check_combinations()

    def _check_combinations(self) -> None:
        clash = sorted(set(self.sets) & set(self.windows))
        if clash:
            raise InvalidInput(
                f"Set name(s) {', '.join(map(repr, clash))} are both a fraction set and a time "
                "window.",
                hint="Rename the window, e.g. 'recent_testing'.",
            )
        if len(self.set_names) > MAX_SETS:
            raise InvalidInput(
                f"A plan may have at most {MAX_SETS} sets, not {len(self.set_names)}."
            )
        if self.windows and self.time_column is None:
            raise InvalidInput(
                f"Time window(s) {', '.join(map(repr, self.windows))} need a time_column.",
                hint="Name the column holding each row's event time.",
            )
        if self.time_ordered and self.time_column is None:
            raise InvalidInput("time_ordered needs a time_column.")
        if self.time_ordered and self.stratify is not None:
            raise InvalidInput(
                "time_ordered and stratify cannot both hold: cutting at times fixes each set's "
                "class mix.",
                hint="Drop stratify to cut by time, or drop time_ordered to stratify.",
            )

    @property
    def set_names(self) -> tuple[str, ...]:
        """Every set, fraction sets first, in the plan's order: the assignment's codes."""
        return (*self.sets, *self.windows)

    @property
    def label(self) -> str | None:
        """The label column: ``target``, else ``stratify``."""
        return self.target if self.target is not None else self.stratify

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SplitPlan:
        """A plan from plain data (what :meth:`to_dict` returns, or parsed YAML/JSON).

        >>> SplitPlan.from_dict({"sets": {"train": 0.8, "test": 0.2}}).set_names
        ('train', 'test')
        """
        if not isinstance(data, Mapping):
            raise InvalidInput(f"A split plan must be a mapping, got {type(data).__name__}.")
        known = [f.name for f in fields(cls)]
        unknown = sorted(map(str, set(data) - set(known)))
        if unknown:
            close = {u: difflib.get_close_matches(u, known, n=1) for u in unknown}
            guesses = [f"{u!r} -> {m[0]!r}" for u, m in close.items() if m]
            raise InvalidInput(
                f"Unknown split plan key(s): {', '.join(map(repr, unknown))}."
                + (f" Did you mean {', '.join(guesses)}?" if guesses else ""),
                hint=f"Known keys: {', '.join(known)}.",
            )
        values = dict(data)
        for name, empty in (("windows", {}), ("slices", {}), ("id_columns", [])):
            if values.get(name, empty) is None:  # YAML "windows:" with nothing under it
                values[name] = empty
        for name in ("id_columns", "feature_columns"):
            if isinstance(values.get(name), str):  # one column written without a list
                values[name] = [values[name]]
        return cls(**values)

    @classmethod
    def from_yaml(cls, path_or_text: str | Path) -> SplitPlan:
        """A plan from a YAML file path or YAML text.

        >>> SplitPlan.from_yaml("sets: {train: 0.8, test: 0.2}\\nseed: 3").seed
        3
        """
        return cls.from_dict(read_plan_yaml(path_or_text))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain data; ``SplitPlan.from_dict(plan.to_dict()) == plan``."""
        return {
            "sets": dict(self.sets),
            "seed": self.seed,
            "stratify": self.stratify,
            "target": self.target,
            "group": self.group,
            "dedupe": self.dedupe,
            "feature_columns": None if self.feature_columns is None else list(self.feature_columns),
            "id_columns": list(self.id_columns),
            "time_column": self.time_column,
            "windows": {name: w.to_dict() for name, w in self.windows.items()},
            "time_ordered": self.time_ordered,
            "slices": dict(self.slices),
            "min_slice_halfwidth": self.min_slice_halfwidth,
        }

    def to_yaml(self) -> str:
        """The plan as YAML text, readable by :meth:`from_yaml`."""
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))

    def digest(self) -> str:
        """sha256 of the plan's canonical JSON (set order kept: it decides the codes)."""
        text = json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()


def read_plan_yaml(path_or_text: str | Path) -> Any:
    """The plain data of a YAML plan (a file path or YAML text), not yet validated."""
    import yaml

    text = checks.yaml_text(path_or_text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInput(f"The split plan is not valid YAML: {yaml_problem(err)}") from None
    if data is None:
        raise InvalidInput("The split plan YAML is empty.", hint="Give at least 'sets'.")
    return data
