"""Endpoints as a service (``ws.endpoints``): create one from a registered model, change
its variants and their traffic weights, read its effective split and history.

An endpoint lives in the control store's typed tables (revision 0006): a row with a
``revision`` and its variants, replaced as a whole by a compare-and-set on that
revision, each write appending an event. A model named by an alias is resolved to its
version when the endpoint is created or a variant added: the endpoint serves that
version until someone changes it, never whatever the alias points to next.

Access: ``endpoints:Read`` / ``endpoints:Write`` on ``shipyard:endpoint:NAME``. An
endpoint marked production is written under ``shipyard:endpoint:NAME/production``,
which a built-in rule (:mod:`shipyard.security.builtin_rules`) leaves to the pipeline
unless a policy explicitly allows someone else.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.errors import AccessDenied, InvalidInput, NotFound
from shipyard.security.actions import resource_name
from shipyard.serving.asynchronous.config import parse_async_config
from shipyard.serving.enrich import parse_policies
from shipyard.serving.postprocess import check_model, parse_postprocess
from shipyard.stores.control.base import ControlEvent, ControlStore, Endpoint, Variant
from shipyard.types import check_name

if TYPE_CHECKING:
    from shipyard.registry.records import ModelVersion
    from shipyard.registry.service import ModelRegistry

__all__ = ["PRIMARY", "EndpointService", "effective_split", "parse_model_ref"]

Authorize = Callable[[str, "str | Sequence[str]"], None]

PRIMARY = "primary"  # the name of the variant an endpoint is created with
DEFAULT_BUDGET_MB = 1024.0  # a multi-model endpoint's memory for loaded models
ROLES = ("primary", "shadow")
_REF_HINT = "Write MODEL@VERSION or MODEL@ALIAS (or model:MODEL@VERSION), e.g. 'delay@3'."


def parse_model_ref(text: str) -> tuple[str, int | None, str | None]:
    """``model:NAME@V``, ``NAME@V`` or ``NAME@ALIAS`` -> (name, version, alias)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{text!r} does not name a model version.", hint=_REF_HINT)
    body = text.strip()
    kind, colon, rest = body.partition(":")
    if colon:
        if kind != "model":
            raise InvalidInput(f"{text!r} is not a model reference.", hint=_REF_HINT)
        body = rest
    name, at, after = body.partition("@")
    if not at or not after:
        raise InvalidInput(
            f"{text!r} names no version or alias: an endpoint serves one fixed version.",
            hint=_REF_HINT,
        )
    check_name(name, "Model name")
    if after.isdigit():
        return name, int(after), None
    return name, None, after


def effective_split(endpoint: Endpoint) -> dict[str, float]:
    """Each primary variant's share of requests: its weight over the sum of the primaries'
    weights (0 for a weight of 0). Shadows are absent: they get copies, not shares."""
    primaries = [v for v in endpoint.variants if v.role == "primary"]
    total = sum(v.weight for v in primaries if v.weight > 0)
    return {v.name: (v.weight / total if total > 0 and v.weight > 0 else 0.0) for v in primaries}


class EndpointService:
    """Create, read, change and delete endpoints, each call checked and recorded."""

    def __init__(
        self,
        control: ControlStore,
        models: ModelRegistry,
        *,
        principal: str,
        authorize: Authorize,
    ) -> None:
        self._control = control
        self._models = models
        self.principal = principal
        self._authorize = authorize

    # -- reading ------------------------------------------------------------------------

    def get(self, name: str) -> Endpoint:
        """The endpoint as it is now (``endpoints:Read``)."""
        self._authorize("endpoints:Read", _resource(check_name(name, "Endpoint name")))
        return self._current(name)

    def list(self) -> builtins.list[Endpoint]:
        """Every endpoint this principal may read, by name (one check when all are)."""
        found = self._control.endpoints()
        if not found:
            return []
        try:
            self._authorize("endpoints:Read", [_resource(e.name) for e in found])
            return found
        except AccessDenied:  # some are denied: keep the ones that are not
            return [e for e in found if self._may("endpoints:Read", _resource(e.name))]

    def history(self, name: str) -> builtins.list[ControlEvent]:
        """Every change of the endpoint, oldest first (kept after it is deleted)."""
        self._authorize("endpoints:Read", _resource(check_name(name, "Endpoint name")))
        events = self._control.events("endpoint", name)
        if not events:
            raise self._unknown(name)
        return events

    def effective_split(self, endpoint: Endpoint | str) -> dict[str, float]:
        """Each primary variant's share of requests (see :func:`effective_split`)."""
        return effective_split(self.get(endpoint) if isinstance(endpoint, str) else endpoint)

    # -- writing ------------------------------------------------------------------------

    def create(
        self,
        name: str,
        model: str | None = None,
        *,
        capture_rate: float = 1.0,
        capture_parsed: bool = False,
        batching: bool = False,
        production: bool = False,
        postprocess: str | Mapping[str, Any] | None = None,
        on_missing: Mapping[str, Any] | Sequence[str] | None = None,
        models: str | None = None,
        memory_budget_mb: float = DEFAULT_BUDGET_MB,
        async_config: Mapping[str, Any] | None = None,
    ) -> Endpoint:
        """A new endpoint serving ``model`` (``MODEL@VERSION``, ``MODEL@ALIAS`` resolved
        now, or ``model:MODEL@VERSION``) as one ``primary`` variant at weight 1.

        ``capture_parsed`` keeps the captured JSON parsed into typed columns beside the
        text, in a helper process (:mod:`shipyard.serving.capture_parse`): monitoring
        runs then read types instead of parsing JSON (about 3x faster), at some
        throughput when every request is captured (see ``docs/operations.md``).

        ``postprocess`` is the lossy step (:mod:`shipyard.serving.postprocess`:
        ``predict``, ``argmax``, ``threshold:T``, ``top_k:K``); ``on_missing`` the
        enrich stage's policy per online feature (:mod:`shipyard.serving.enrich`, e.g.
        ``["weather__precip=default:0", "*=refuse"]``).

        With ``models`` (a glob of model names, e.g. ``"delay-*"``) instead of ``model``,
        a multi-model endpoint: no variants; ``POST /endpoints/NAME/models/MODEL@V/
        invocations`` serves any version of a matching model, loaded on first use and
        evicted least recently used past ``memory_budget_mb``.

        ``async_config`` sets its async invocations' retries, timeout, time-to-live,
        output folder and webhooks (:mod:`shipyard.serving.asynchronous.config`).
        """
        check_name(name, "Endpoint name")
        if (model is None) == (models is None):
            raise InvalidInput(
                "Give exactly one of model (one model version) or models (a multi-model "
                "endpoint's glob of model names).",
                hint="For example model='delay@3', or models='delay-*'.",
            )
        if models is not None and batching:
            raise InvalidInput(
                "A multi-model endpoint does not micro-batch: each request names its own "
                "model, so few would share a predict call.",
                hint="Leave batching off, or serve the model from an endpoint of its own.",
            )
        step = parse_postprocess(postprocess)
        spec: dict[str, Any] = {
            "capture_rate": _capture_rate(capture_rate),
            "capture_parsed": _flag(capture_parsed, "capture_parsed"),
            "batching": _flag(batching, "batching"),
            "production": _flag(production, "production"),
            "postprocess": step,
            "on_missing": parse_policies(on_missing),
            "created_from": model if model is not None else f"models:{models}",
        }
        if async_config is not None:
            spec["async"] = parse_async_config(async_config)
        if models is not None:
            spec["multi_model"] = {
                "models": _pattern(models),
                "memory_budget_mb": _budget(memory_budget_mb),
            }
        self._authorize("endpoints:Write", _write_resource(name, spec))
        if model is None:
            return self._control.create_endpoint(name, spec, [], by=self.principal)
        version = self._resolve(model)
        classes = version.signature.classes  # a classifier's; None for a regressor
        check_model(step, classes, classes is not None, str(version.ref))
        variant = _variant(PRIMARY, version, model, weight=1.0, role="primary")
        return self._control.create_endpoint(name, spec, [variant], by=self.principal)

    def delete(self, name: str, *, expected_revision: int | None = None) -> None:
        """Delete the endpoint and its variants (its history stays)."""
        current = self._for_writing(name)
        revision = current.revision if expected_revision is None else expected_revision
        self._control.delete_endpoint(name, expected_revision=revision, by=self.principal)

    def set_weights(
        self,
        name: str,
        weights: Mapping[str, float],
        *,
        expected_revision: int | None = None,
    ) -> Endpoint:
        """Replace the named variants' weights in one change (the others keep theirs).

        Weights are ratios (finite, >= 0); at least one primary keeps a weight above 0.
        A compare-and-set on the endpoint's revision: ``expected_revision`` (default: the
        revision read now) must still be current, else :class:`Conflict`.
        """
        current = self._for_writing(name)
        if not isinstance(weights, Mapping) or not weights:
            raise InvalidInput(
                "Give at least one weight, as {variant: weight}.",
                hint="For example {'primary': 9, 'challenger': 1}.",
            )
        known = {v.name for v in current.variants}
        unknown = sorted(str(k) for k in weights if k not in known)
        if unknown:
            raise InvalidInput(
                f"Endpoint {name!r} has no variant {', '.join(map(repr, unknown))}.",
                hint=f"Its variants: {', '.join(sorted(known))}.",
            )
        checked = {v: _weight(w, v) for v, w in weights.items()}
        variants = [
            _replace(v, weight=checked[v.name]) if v.name in checked else v
            for v in current.variants
        ]
        return self._update(current, variants, expected_revision, "weights_set", checked)

    def add_variant(
        self,
        name: str,
        variant: str,
        model: str,
        *,
        weight: float = 0.0,
        role: str = "primary",
        expected_revision: int | None = None,
    ) -> Endpoint:
        """Add a variant serving ``model`` (an alias resolved now). At weight 0 (the
        default) a primary gets no traffic until weights are set; a shadow gets a copy of
        every request whatever its weight."""
        current = self._for_writing(name)
        check_name(variant, "Variant name")
        if role not in ROLES:
            raise InvalidInput(
                f"Role {role!r} is not a variant role.",
                hint="A variant is 'primary' (answers requests) or 'shadow' (sees a copy).",
            )
        if any(v.name == variant for v in current.variants):
            raise InvalidInput(
                f"Endpoint {name!r} has a variant {variant!r} already.",
                hint="Pick another name, or remove that variant first.",
            )
        added = _variant(
            variant, self._resolve(model), model, weight=_weight(weight, variant), role=role
        )
        detail = {"variant": variant, "model": model}
        return self._update(
            current, [*current.variants, added], expected_revision, "variant_added", detail
        )

    def remove_variant(
        self, name: str, variant: str, *, expected_revision: int | None = None
    ) -> Endpoint:
        """Remove a variant; the last primary with traffic cannot be removed."""
        current = self._for_writing(name)
        if not any(v.name == variant for v in current.variants):
            raise InvalidInput(
                f"Endpoint {name!r} has no variant {variant!r}.",
                hint=f"Its variants: {', '.join(v.name for v in current.variants)}.",
            )
        kept = [v for v in current.variants if v.name != variant]
        return self._update(
            current, kept, expected_revision, "variant_removed", {"variant": variant}
        )

    # -- internals ----------------------------------------------------------------------

    def _current(self, name: str) -> Endpoint:
        try:
            return self._control.endpoint(name)
        except NotFound:
            raise self._unknown(name) from None

    def _for_writing(self, name: str) -> Endpoint:
        """The endpoint, once ``endpoints:Write`` on it (production's resource if it is
        marked production) is allowed."""
        check_name(name, "Endpoint name")
        self._authorize("endpoints:Read", _resource(name))
        current = self._current(name)
        self._authorize("endpoints:Write", _write_resource(name, current.spec))
        return current

    def _update(
        self,
        current: Endpoint,
        variants: Sequence[Variant],
        expected_revision: int | None,
        event: str,
        detail: Mapping[str, Any],
    ) -> Endpoint:
        _require_traffic(current.name, variants)
        return self._control.update_endpoint(
            current.name,
            expected_revision=current.revision if expected_revision is None else expected_revision,
            by=self.principal,
            event=event,
            variants=variants,
            detail=detail,
        )

    def _resolve(self, text: str) -> ModelVersion:
        """The registered version ``text`` names (an alias resolved now), with a package
        the serving side can load."""
        name, version, alias = parse_model_ref(text)
        found = self._models.get(name, version, alias=alias)
        if not found.package or not found.flavor:
            raise InvalidInput(
                f"{found.ref} has no loadable package recorded.",
                hint="Register the model again with `shipyard models register` (or ws.models).",
            )
        return found

    def _unknown(self, name: str) -> NotFound:
        names = [e.name for e in self._control.endpoints()]
        known = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
        none_yet = (
            "There are no endpoints yet: create one with "
            "`shipyard endpoints create NAME --model MODEL@VERSION`."
        )
        return NotFound(
            f"Endpoint {name!r} does not exist.",
            hint=f"Known endpoints: {known}." if names else none_yet,
        )

    def _may(self, action: str, resource: str) -> bool:
        try:
            self._authorize(action, resource)
        except AccessDenied:
            return False
        return True

    def __repr__(self) -> str:
        return f"EndpointService(principal={self.principal!r})"


def _resource(name: str) -> str:
    return resource_name("endpoint", name)


def _write_resource(name: str, spec: Mapping[str, Any]) -> str:
    """What a write is checked on: a production endpoint's own resource, so that the
    built-in rule leaves it to the pipeline."""
    return _resource(f"{name}/production" if spec.get("production") else name)


def _variant(name: str, found: ModelVersion, text: str, *, weight: float, role: str) -> Variant:
    spec = {"ref": str(found.ref), "from": text, "flavor": found.flavor}
    return Variant(name, found.name, found.version, weight=weight, role=role, spec=spec)


def _replace(variant: Variant, *, weight: float) -> Variant:
    return Variant(
        variant.name,
        variant.model,
        variant.version,
        weight=weight,
        role=variant.role,
        spec=variant.spec,
    )


def _require_traffic(endpoint: str, variants: Sequence[Variant]) -> None:
    if not any(v.role == "primary" and v.weight > 0 for v in variants):
        raise InvalidInput(
            f"Endpoint {endpoint!r} would have no primary variant with a weight above 0, "
            "so no variant would answer its requests.",
            hint="Keep at least one primary variant at a weight above 0.",
        )


def _weight(value: object, variant: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidInput(
            f"Variant {variant!r}'s weight must be a finite number >= 0, got {value!r}.",
            hint="Weights are ratios: 9 and 1 send 90% and 10% of requests.",
        )
    return float(value)


def _capture_rate(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise InvalidInput(
            f"The capture rate must be a number from 0 to 1, got {value!r}.",
            hint="1 captures every request, 0.1 one in ten, 0 none.",
        )
    return float(value)


def _pattern(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidInput(
            f"models must be a glob of model names, got {value!r}.",
            hint="For example 'delay-*' (every model whose name starts delay-) or '*'.",
        )
    return value.strip()


def _budget(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidInput(
            f"The memory budget must be a number of megabytes above 0, got {value!r}.",
            hint="For example 512.",
        )
    return float(value)


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be True or False, got {value!r}.")
    return value
