"""The postprocess stage: the lossy step from a model's scores to the answer a caller gets.

An endpoint's spec names one (``shipyard endpoints create --postprocess``):

- ``predict`` (the default): the model's own ``predict``; the scores (class
  probabilities) are then computed off the request path, for the capture only;
- ``argmax``: the class with the highest probability;
- ``threshold:T``: for a binary classifier, the second class when its probability is at
  least T, else the first (a threshold below 0.5 trades precision for recall);
- ``top_k:K``: the K most probable classes, each ``{"label", "score"}``, best first.

All but ``predict`` need the model's probabilities on the request path; the capture keeps
them as the scores before the lossy step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput

KINDS = ("predict", "argmax", "threshold", "top_k")
_HINT = "Write predict, argmax, threshold:T (0 < T < 1) or top_k:K (K >= 1), e.g. threshold:0.3."


def parse_postprocess(given: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The postprocess step as an endpoint's spec stores it; InvalidInput if malformed."""
    if given is None:
        return {"kind": "predict"}
    if isinstance(given, Mapping):
        kind = given.get("kind")
        argument = given.get("threshold", given.get("k"))
    else:
        kind, _, text = str(given).strip().partition(":")
        argument = text or None
    if kind not in KINDS:
        raise InvalidInput(f"{given!r} is not a postprocess step.", hint=_HINT)
    if kind in ("predict", "argmax"):
        if argument is not None:
            raise InvalidInput(f"{kind} takes no argument, got {given!r}.", hint=_HINT)
        return {"kind": kind}
    if kind == "threshold":
        threshold = _number(argument, given)
        if not 0 < threshold < 1:
            raise InvalidInput(
                f"The threshold must lie between 0 and 1, got {given!r}.", hint=_HINT
            )
        return {"kind": kind, "threshold": threshold}
    k = _number(argument, given)
    if k != int(k) or k < 1:
        raise InvalidInput(f"top_k needs a whole number K >= 1, got {given!r}.", hint=_HINT)
    return {"kind": kind, "k": int(k)}


def _number(argument: Any, given: Any) -> float:
    try:
        value = float(argument)
    except (TypeError, ValueError):
        raise InvalidInput(f"{given!r} needs a number.", hint=_HINT) from None
    if not math.isfinite(value):
        raise InvalidInput(f"{given!r} needs a finite number.", hint=_HINT)
    return value


def needs_scores(spec: Mapping[str, Any]) -> bool:
    """Whether the endpoint's postprocess step reads the model's probabilities."""
    return (spec.get("postprocess") or {}).get("kind", "predict") != "predict"


def check_model(step: Mapping[str, Any], classes: Any, has_proba: bool, label: str) -> None:
    """Refuse a step the model cannot feed (when the endpoint is created or loads it)."""
    kind = step.get("kind", "predict")
    if kind == "predict":
        return
    if not has_proba or classes is None:
        raise InvalidInput(
            f"Postprocess {kind} needs class probabilities, and {label} gives none.",
            hint="Use --postprocess predict, or serve a classifier with predict_proba.",
        )
    if kind == "threshold" and len(classes) != 2:
        raise InvalidInput(
            f"A threshold needs a binary classifier; {label} has {len(classes)} classes.",
            hint="Use argmax or top_k:K for more than two classes.",
        )


def apply(step: Mapping[str, Any], scores: np.ndarray, classes: Any) -> Any:
    """The answer for ``scores`` (rows x classes) under ``step``."""
    kind = step["kind"]
    labels = np.asarray(classes, dtype=object)
    if kind == "argmax":
        return labels[np.argmax(scores, axis=1)]
    if kind == "threshold":
        return np.where(scores[:, 1] >= step["threshold"], labels[1], labels[0])
    k = min(int(step["k"]), scores.shape[1])
    best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [
        [{"label": _plain(labels[i]), "score": float(row[i])} for i in order]
        for row, order in zip(scores, best, strict=True)
    ]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
