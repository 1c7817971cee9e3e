"""The enrich stage: a request's entity keys joined with the online store's features.

A model trained through the standard pipeline records in its lineage the feature views
(at their versions) its training set was joined from; its input columns named
``VIEW__FEATURE`` came from them. :func:`plan_enrichment` turns that into an
:class:`EnrichPlan` when the model is loaded for serving: which views to read, which
input columns they fill, and which join keys a request must carry instead. A caller then
sends the entity keys and the request-time values only; sending a column the store fills
is refused, so a caller can never put its own value in place of the served feature.

Each enriched value has a status (:mod:`shipyard.features.online`): ``present``,
``missing`` (never materialized), ``outside_ttl`` (older than the view's ttl at the
request's time) or ``future`` (stamped after the request's time: a replay running behind
the materialization). A value that is not present follows the endpoint's policy for its
column (:class:`OnMissing`):

- ``missing`` (the default): passed to the model as missing (NaN), as the point-in-time
  join gave it in training; the standard pipeline's models impute missing values;
- ``refuse``: the request is refused (422) naming the row, the column and its status;
- ``default:VALUE``: VALUE is used instead.

A present value that is itself null is passed as missing, as in training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.features.online import PRESENT, OnlineView, read_online
from shipyard.serving.inference import InputColumn, InputSchema, InvalidRequest

if TYPE_CHECKING:
    from shipyard.stores.online import OnlineStore
    from shipyard.workspace import Workspace

ACTIONS = ("missing", "refuse", "default")
ANY_COLUMN = "*"  # a policy for every enriched column without one of its own
# A join key's JSON kind (features.key_kinds) -> the input kind that checks it.
_KEY_KINDS = {"integer": "integer", "number": "float", "string": "string", "boolean": "boolean"}
_POLICY_HINT = (
    "Write COLUMN=missing, COLUMN=refuse or COLUMN=default:VALUE (COLUMN is VIEW__FEATURE, "
    "or * for every enriched column), e.g. weather__precip=default:0."
)


@dataclass(frozen=True)
class OnMissing:
    """What to do with an enriched value that is not present."""

    action: str = "missing"
    value: Any = None  # the value used, for "default"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            **({"value": self.value} if self.action == "default" else {}),
        }


def parse_policies(given: Mapping[str, Any] | Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """Policies as an endpoint's spec stores them (column -> {"action", "value"}), from
    ``COLUMN=POLICY`` texts or a mapping of column -> text or dict; InvalidInput if bad."""
    if not given:
        return {}
    pairs: list[tuple[str, Any]] = []
    if isinstance(given, Mapping):
        pairs = [(str(k), v) for k, v in given.items()]
    elif isinstance(given, str) or not isinstance(given, Sequence):
        raise InvalidInput(f"On-missing policies must be a list or a mapping, got {given!r}.")
    else:
        for text in given:
            column, eq, policy = str(text).partition("=")
            if not eq or not column.strip():
                raise InvalidInput(f"{text!r} is not COLUMN=POLICY.", hint=_POLICY_HINT)
            pairs.append((column.strip(), policy.strip()))
    return {column: _policy(column, policy).to_dict() for column, policy in pairs}


def _policy(column: str, given: Any) -> OnMissing:
    if isinstance(given, Mapping):
        action, value = given.get("action"), given.get("value")
    else:
        action, _, rest = str(given).partition(":")
        value = _value(rest) if action == "default" else None
    if action not in ACTIONS:
        raise InvalidInput(f"{given!r} is not a policy for {column!r}.", hint=_POLICY_HINT)
    if action == "default" and (
        value is None or (isinstance(value, float) and not math.isfinite(value))
    ):
        raise InvalidInput(f"The default for {column!r} needs a value.", hint=_POLICY_HINT)
    return OnMissing(action, value)


def _value(text: str) -> Any:
    """A default's text as a number when it reads as one, else the text."""
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text or None


@dataclass(frozen=True)
class Enriched:
    """One request's enriched columns and the status of each value, by column."""

    arrays: dict[str, np.ndarray]
    statuses: dict[str, list[str]]


@dataclass(frozen=True)
class EnrichPlan:
    """What the enrich stage reads for one model version: built once, when it loads."""

    views: tuple[OnlineView, ...]
    columns: tuple[str, ...]  # the model's input columns the online store fills
    kinds: Mapping[str, str]  # each filled column's input kind (float, string, ...)
    request: InputSchema  # what a request must carry: the other inputs and the join keys

    def check_request(self, columns: Mapping[str, Any]) -> None:
        """Refuse a request that sends a column the store fills."""
        sent = sorted(set(columns) & set(self.columns))
        if sent:
            raise InvalidRequest(
                [
                    f"column {name!r} comes from the online store (view "
                    f"{name.split('__', 1)[0]!r}); send its entity keys, not the feature"
                    for name in sent
                ],
                hint=f"Send: {', '.join(self.request.names)}.",
            )

    def enrich(
        self,
        store: OnlineStore,
        arrays: Mapping[str, np.ndarray],
        rows: int,
        *,
        now: datetime,
        policies: Mapping[str, Mapping[str, Any]],
    ) -> Enriched:
        """The enriched columns for ``arrays`` (checked request columns) as of ``now``,
        under the endpoint spec's on-missing ``policies``; InvalidRequest (422) when a
        ``refuse`` policy is met."""
        keys = sorted({key for view in self.views for key in view.join_keys})
        plain = {key: arrays[key].tolist() for key in keys}
        entities = [{key: plain[key][row] for key in keys} for row in range(rows)]
        found = read_online(store, self.views, entities, now=now)
        problems: list[str] = []
        out: dict[str, np.ndarray] = {}
        statuses: dict[str, list[str]] = {}
        fallback = policies.get(ANY_COLUMN) or {}
        for column in self.columns:
            policy = policies.get(column) or fallback
            action = policy.get("action", "missing")
            values: list[Any] = []
            column_statuses: list[str] = []
            for row, result in enumerate(found.rows):
                status = result.statuses[column]
                value = result.values[column]
                if status != PRESENT:
                    if action == "refuse":
                        problems.append(f"row {row}: {column} is {status.replace('_', ' ')}")
                    value = policy.get("value") if action == "default" else None
                column_statuses.append(status)
                values.append(value)
            out[column] = _array(values, self.kinds.get(column, "float"))
            statuses[column] = column_statuses
        if problems:
            raise InvalidRequest(
                problems,
                hint="Materialize the feature views (shipyard features materialize), or set "
                "another on-missing policy for the endpoint.",
            )
        return Enriched(out, statuses)


def _array(values: list[Any], kind: str) -> np.ndarray:
    if kind in ("float", "integer"):  # integers with gaps travel as floats, as in training
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(values, dtype=object)


def plan_enrichment(
    workspace: Workspace, lineage: Mapping[str, Any], schema: InputSchema
) -> EnrichPlan | None:
    """The plan for a model with ``lineage`` and input ``schema``, or None when none of
    its inputs came from a feature view. The workspace must be allowed
    ``features:ReadOnline`` on every feature read."""
    from shipyard.features.key_kinds import join_key_kinds
    from shipyard.features.model_views import model_views
    from shipyard.features.store import feature_resource

    views = [
        OnlineView(
            found.name, found.features, found.join_keys, found.definition.ttl,
            join_key_kinds(found.definition, found.join_keys, workspace.datasets),
        )
        for found in model_views(workspace.features.registry, lineage, set(schema.names))
    ]  # fmt: skip
    if not views:
        return None
    workspace.authorize(
        "features:ReadOnline", [feature_resource(v.name, f) for v in views for f in v.features]
    )
    filled = tuple(v.output_name(f) for v in views for f in v.features)
    kept = [c for c in schema.columns if c.name not in filled]
    present = {c.name for c in kept}
    for view in views:
        for key in view.join_keys:
            if key not in present:
                kind = _KEY_KINDS.get(view.key_kinds.get(key, ""), "object")
                kept.append(InputColumn(key, kind, False))
                present.add(key)
    kinds = {c.name: c.kind for c in schema.columns if c.name in filled}
    return EnrichPlan(tuple(views), filled, kinds, InputSchema(tuple(kept)))
