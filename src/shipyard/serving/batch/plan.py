"""What a batch transform sends to the model and writes, checked before any work starts.

The columns sent to the model (the input filter; by default every input column the
model's signature names) are checked with the serving check
(:meth:`~shipyard.serving.inference.InputSchema.convert`) on the input's first rows, so
a missing or unknown column is refused up front naming it, as an endpoint would. The
output is ``prediction`` and, for a classifier, ``proba_<class>`` per class; with
``join_source`` the input's columns come first; the output filter keeps some of those.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput
from shipyard.serving.batch.parts import (
    PREDICTION,
    TransformSpec,
    proba_columns,
    read_head,
    transform_table,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.serving.batch.enrich import Enrichment
    from shipyard.serving.batch.inputs import BatchInput
    from shipyard.serving.inference import Predictor

FORMAT = 1  # the output layout's version: part of the job key
PROBE_ROWS = 64


def plan_transform(
    predictor: Predictor,
    source: BatchInput,
    *,
    output: str,
    model: dict[str, Any],
    batch_rows: int,
    input_filter: Sequence[str] | None,
    join_source: bool,
    output_filter: Sequence[str] | None,
    proba: bool | None,
    enrichment: Enrichment | None = None,
) -> TransformSpec:
    """The checked spec every part runs with, its output schema found on a probe. With
    ``enrichment``, the columns it fills count as input columns."""
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InvalidInput(f"batch_rows must be a whole number of 1 or more, got {batch_rows!r}.")
    if source.rows == 0:
        raise InvalidInput(f"The input {source.given} has no rows.")
    names = list(source.schema.names)
    available = [*names, *(enrichment.columns if enrichment is not None else ())]
    takes = predictor.request_schema.names
    if input_filter is None:
        sent = tuple(n for n in available if n in takes)
    else:
        sent = tuple(_columns(input_filter, available, "input filter", source.given))
    supports = bool(predictor.loaded.supports_proba and predictor.loaded.classes)
    if proba and not supports:
        raise InvalidInput(
            "The model gives no class probabilities.", hint="Leave out proba (or --proba)."
        )
    proba = supports if proba is None else proba
    predicted = [PREDICTION, *(proba_columns(predictor) if proba else [])]
    joined = tuple(names) if join_source else ()
    clash = sorted(set(joined) & set(predicted))
    if clash:
        raise InvalidInput(
            f"The input has column(s) {', '.join(map(repr, clash))}, which the output's "
            "predictions are named: join_source would write two of each.",
            hint="Rename them in the input, or leave out join_source.",
        )
    kept = None
    if output_filter is not None:
        kept = tuple(_columns(output_filter, [*joined, *predicted], "output filter", "the output"))
    key = {
        "format": FORMAT, "model": model, "input": source.fingerprint, "sent": sent,
        "joined": joined, "kept": kept, "proba": proba,
    }  # fmt: skip
    if enrichment is not None:  # only then: other jobs keep their keys, so they resume
        key["enrichment"] = enrichment.record
    job = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    spec = TransformSpec(
        predictor, sent, joined, kept, proba, batch_rows, output, job, enrichment=enrichment
    )
    return _with_schema(spec, source)


def _with_schema(spec: TransformSpec, source: BatchInput) -> TransformSpec:
    """``spec`` with the output schema of a probe of the first non-empty part's first rows
    (which also refuses a bad column set before any part runs)."""
    import dataclasses

    from shipyard.serving.inference import InvalidRequest

    first = next(part for part in source.parts if part.rows)
    probe: pa.Table = read_head(spec, first, PROBE_ROWS)
    try:
        schema = transform_table(spec, probe).schema
    except InvalidRequest as exc:
        raise InvalidInput(
            f"The input {source.given} does not fit the model: {'; '.join(exc.problems)}.",
            hint=exc.hint,
        ) from None
    return dataclasses.replace(spec, schema=schema)


def _columns(given: Sequence[str], available: Sequence[str], what: str, where: str) -> list[str]:
    if isinstance(given, str):
        given = [c.strip() for c in given.split(",") if c.strip()]
    chosen = list(dict.fromkeys(str(c) for c in given))
    if not chosen:
        raise InvalidInput(f"The {what} names no column.")
    absent = [c for c in chosen if c not in available]
    if absent:
        raise InvalidInput(
            f"The {what} names column(s) {', '.join(map(repr, absent))} that {where} "
            "does not have.",
            hint=f"Its columns: {', '.join(available)}.",
        )
    return chosen
