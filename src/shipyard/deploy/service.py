"""Deployments (``ws.deployments``): a candidate model version rolled out on an endpoint
step by step behind guard alarms, as a state machine stored in the control store.

A deployment is ``running`` (``status.step`` -1 while the candidate warms at weight 0,
then the index of its plan's step) until it ends ``promoted`` or ``rolled_back``. Each
:meth:`DeploymentService.tick` reads the stored state, never history:

1. it brings the endpoint's variants to what the state says (so a crash between the two
   writes of a transition is repaired by the next tick, whoever runs it);
2. while running, it judges the step's captured traffic with the guard alarms
   (:mod:`shipyard.deploy.guards`): an alarm rolls back at once, recording which and
   the values;
3. it moves to the next step once the bake period has passed with enough candidate
   requests, and promotes after the last step's bake.

The job that runs a deployment (:mod:`shipyard.deploy.job`) calls :meth:`run`, which
ticks every second until the deployment ends; a process that dies mid-way leaves the
job to another worker, which resumes at the stored step with its stored start time.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipyard.deploy.guards import MIN_REQUESTS, Alarm, Traffic, evaluate, parse_alarms
from shipyard.deploy.plan import Plan, make_plan
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.serving.endpoints import EndpointService
from shipyard.stores.control.base import ControlStore, Deployment, Endpoint, Variant

RUNNING, PROMOTED, ROLLED_BACK = "running", "promoted", "rolled_back"
TICK_SECONDS = 1.0
STALL_BAKES = 10  # a step without enough traffic to judge for this many bakes rolls back

Authorize = Callable[[str, "str | Sequence[str]"], None]


@dataclass(frozen=True)
class Sides:
    """The two variants a deployment moves traffic between."""

    stable: Variant
    candidate: Variant

    @classmethod
    def of(cls, spec: dict[str, Any]) -> Sides:
        return cls(Variant(**spec["stable"]), Variant(**spec["candidate"]))


class DeploymentService:
    """Start, advance, roll back and read deployments as a principal."""

    def __init__(
        self,
        control: ControlStore,
        endpoints: EndpointService,
        *,
        home: Path,
        principal: str,
        authorize: Authorize,
    ) -> None:
        self._control = control
        self._endpoints = endpoints
        self._home = Path(home)
        self.principal = principal
        self._authorize = authorize

    # -- starting and reading -----------------------------------------------------------

    def start(
        self,
        endpoint: str,
        model: str,
        *,
        strategy: str = "canary",
        steps: Any = None,
        bake: Any = "5m",
        warm: Any = "5s",
        sample: float = 1.0,
        weight: float | None = None,
        alarms: Sequence[str] | None = None,
        min_requests: int = MIN_REQUESTS,
        force: bool = False,
    ) -> Deployment:
        """Roll ``model`` (``MODEL@VERSION`` or ``MODEL@ALIAS``, resolved now) out on
        ``endpoint`` by ``strategy``. ``alarms`` replace the default guard alarms; a
        deployment with none is refused unless ``force`` (and recorded as forced)."""
        plan = make_plan(strategy, steps, bake, warm, sample, weight)
        shadow = plan.strategy == "shadow"  # answers nobody: nothing to guard
        guards = () if shadow else parse_alarms(alarms)
        if not isinstance(min_requests, int) or min_requests < 1:
            raise InvalidInput(f"min_requests must be 1 or more, got {min_requests!r}.")
        if not guards and not force and not shadow:
            raise InvalidInput(
                "A deployment with no guard alarm cannot roll itself back.",
                hint="Keep the default alarms, give --alarm KIND>THRESHOLD, or pass --force.",
            )
        current = self._endpoints._for_writing(endpoint)  # endpoints:Write, production's too
        self._refuse_if_running(endpoint)
        stable = _the_stable_variant(current)
        version = self._endpoints._resolve(model)
        candidate = Variant(
            "candidate",
            version.name,
            version.version,
            0.0,
            role="shadow" if shadow else "primary",
            spec={"sample": plan.sample} if shadow else {},
        )
        if (candidate.model, candidate.version) == (stable.model, stable.version):
            raise InvalidInput(f"Endpoint {endpoint!r} already serves {version.ref}.")
        if (guards or shadow) and float(current.spec.get("capture_rate", 1.0)) <= 0:
            raise InvalidInput(
                f"Endpoint {endpoint!r} captures no requests, so its guard alarms (or a "
                "shadow's report) would see nothing.",
                hint="Create it with a capture rate above 0, or pass --force with no alarm.",
            )
        spec = {
            **plan.to_spec(),
            "model": str(version.ref),
            "stable": _variant_spec(stable),
            "candidate": _variant_spec(candidate),
            "alarms": [str(a) for a in guards],
            "min_requests": min_requests,
            "forced": bool(force),
        }
        if plan.strategy == "ab":  # the test's own salt: a key's variant is its own per test
            spec["salt"] = uuid.uuid4().hex
        status = {"step": -1, "step_started": _iso(_now()), "steps": []}
        deployment = self._control.create_deployment(
            endpoint, plan.strategy, spec, by=self.principal, state=RUNNING, status=status
        )
        self._converge(deployment)
        return deployment

    def get(self, deployment_id: str) -> Deployment:
        found = self._control.deployment(_check_id(deployment_id))
        self._authorize("endpoints:Read", f"shipyard:endpoint:{found.endpoint}")
        return found

    def list(self, endpoint: str | None = None, *, limit: int = 50) -> builtins.list[Deployment]:
        """Deployments, newest first, of ``endpoint`` or of every endpoint this principal
        may read."""
        if endpoint is not None:
            self._authorize("endpoints:Read", f"shipyard:endpoint:{endpoint}")
        found = self._control.deployments(endpoint, limit=limit)
        return [d for d in found if self._endpoints._may("endpoints:Read", _res(d.endpoint))]

    def history(self, deployment_id: str) -> builtins.list[Any]:
        """Every change of the deployment, oldest first."""
        self.get(deployment_id)
        return self._control.events("deployment", deployment_id)

    def report(self, deployment_id: str) -> dict[str, Any]:
        """How the candidate did beside the stable variant since the deployment started
        (:mod:`shipyard.deploy.report`): per variant, and for a shadow, paired by request."""
        from shipyard.deploy.report import outcome_comparison, paired, variant_summary
        from shipyard.serving.capture import read_capture

        found = self.get(deployment_id)
        sides = Sides.of(dict(found.spec))
        rows = read_capture(self._home, found.endpoint, arrived_since=found.created_at)
        rows = rows.to_pandas()
        stable = rows[rows["variant"] == sides.stable.name] if len(rows) else None
        candidate = rows[rows["variant"] == sides.candidate.name] if len(rows) else None
        report: dict[str, Any] = {
            "deployment": found.id,
            "endpoint": found.endpoint,
            "strategy": found.strategy,
            "state": found.state,
            "stable": {**_variant_spec(sides.stable), **variant_summary(stable)},
            "candidate": {**_variant_spec(sides.candidate), **variant_summary(candidate)},
        }
        if sides.candidate.role == "shadow":
            report["paired"] = paired(stable, candidate)
        elif len(rows):
            report["outcomes"] = outcome_comparison(stable, candidate, self._outcomes(found, rows))
        return report

    def _outcomes(self, found: Deployment, rows: Any) -> Any:
        """The outcomes posted for the deployment's requests, each with its request."""
        import pandas as pd

        from shipyard.monitoring import feedback
        from shipyard.monitoring.joined import match

        since = feedback.earliest_arrival(rows)  # outcomes come after their requests
        posted = feedback.read(Path(self._home), feedback.OUTCOMES, found.endpoint, since)
        posted = posted.to_pandas()
        if posted.empty:
            return pd.DataFrame(columns=["event", "request_id", "variant"])
        return match(rows[["request_id", "key", "time", "variant", "status"]], posted)

    # -- moving -------------------------------------------------------------------------

    def rollback(self, deployment_id: str, reason: str = "rolled back by hand") -> Deployment:
        """End a running deployment now: all traffic back to the stable variant."""
        found = self.get(deployment_id)
        self._endpoints._for_writing(found.endpoint)
        if found.state != RUNNING:
            raise Conflict(
                f"Deployment {deployment_id} has already ended ({found.state}).",
                hint="Start a new deployment to change the endpoint again.",
            )
        ended = self._end(found, ROLLED_BACK, {"reason": reason, "by": self.principal})
        self._converge(ended)
        return ended

    def promote(self, deployment_id: str, reason: str = "promoted by hand") -> Deployment:
        """End a running deployment now with the candidate taking all traffic (how an
        A/B test ends when the candidate wins)."""
        found = self.get(deployment_id)
        self._endpoints._for_writing(found.endpoint)
        if found.state != RUNNING:
            raise Conflict(f"Deployment {deployment_id} has already ended ({found.state}).")
        if found.strategy == "shadow":
            raise InvalidInput(
                "A shadow answered nobody: roll it out with a canary instead of promoting it.",
                hint=f"shipyard deploy {found.endpoint} {found.spec['model']} --strategy canary",
            )
        ended = self._end(found, PROMOTED, {"reason": reason, "by": self.principal})
        self._converge(ended)
        return ended

    def tick(self, deployment_id: str, now: datetime | None = None) -> Deployment:
        """One step of the state machine (see the module); returns the state after it."""
        found = self.get(deployment_id)
        self._converge(found)
        if found.state != RUNNING:
            return found
        now = now or _now()
        plan = Plan.from_spec(dict(found.spec))
        if plan.strategy == "shadow":
            return found  # runs until ended by hand; its report compares the answers
        status = dict(found.status)
        step = int(status["step"])
        started = datetime.fromisoformat(status["step_started"])
        if step >= 0:
            candidate, stable = self._traffic(found, started)
            fired = evaluate(_alarms(found), candidate, stable, int(found.spec["min_requests"]))
            if fired:
                ended = self._end(
                    found,
                    ROLLED_BACK,
                    {
                        "reason": fired[0].message,
                        "alarms": [f.to_dict() for f in fired],
                        "step": step,
                        "requests": {"candidate": candidate.requests, "stable": stable.requests},
                    },
                )
                self._converge(ended)
                return ended
            if plan.strategy == "ab":
                return found  # an A/B test runs until ended by hand: promote or rollback
            baked = now - started >= plan.bake
            enough = candidate.requests >= int(found.spec["min_requests"])
            if not enough and now - started > plan.bake * STALL_BAKES:
                ended = self._end(
                    found,
                    ROLLED_BACK,
                    {
                        "reason": f"the candidate got {candidate.requests} captured requests in "
                        f"{STALL_BAKES} bake periods, fewer than the "
                        f"{found.spec['min_requests']} a step needs to be judged",
                        "step": step,
                    },
                )
                self._converge(ended)
                return ended
            if not (baked and enough):
                return found
            if step == len(plan.shares) - 1:
                ended = self._end(found, PROMOTED, {"reason": "every step baked without alarm"})
                self._converge(ended)
                return ended
        elif now - started < plan.warm:
            return found
        moved = self._move(found, step + 1, now)
        self._converge(moved)
        return moved

    def run(self, deployment_id: str, *, tick_seconds: float = TICK_SECONDS) -> Deployment:
        """Tick until the deployment ends; returns its final state."""
        while True:
            found = self.tick(deployment_id)
            if found.state != RUNNING:
                return found
            time.sleep(tick_seconds)

    # -- internals ----------------------------------------------------------------------

    def _refuse_if_running(self, endpoint: str) -> None:
        for other in self._control.deployments(endpoint, limit=20):
            if other.state == RUNNING:
                raise Conflict(
                    f"Endpoint {endpoint!r} has a running deployment ({other.id}).",
                    hint=f"Wait for it, or `shipyard deployments rollback {other.id}`.",
                )

    def _move(self, found: Deployment, step: int, now: datetime) -> Deployment:
        status = dict(found.status)
        plan = Plan.from_spec(dict(found.spec))
        share = plan.shares[step]
        status["steps"] = [*status.get("steps", []), {"step": step, "share": share,
                                                      "at": _iso(now)}]  # fmt: skip
        status.update(step=step, step_started=_iso(now))
        return self._control.update_deployment(
            found.id,
            expected_revision=found.revision,
            by=self.principal,
            event="step",
            status=status,
            detail={"step": step, "share": share},
        )

    def _end(self, found: Deployment, state: str, why: dict[str, Any]) -> Deployment:
        status = {**found.status, **why, "ended": _iso(_now())}
        return self._control.update_deployment(
            found.id,
            expected_revision=found.revision,
            by=self.principal,
            event=state,
            state=state,
            status=status,
            detail=why,
        )

    def _converge(self, found: Deployment) -> None:
        """Make the endpoint's variants what the deployment's state says (a no-op when
        they already are)."""
        try:
            endpoint = self._control.endpoint(found.endpoint)
        except NotFound:
            return  # deleted under the deployment: nothing to route
        wanted = desired_variants(found, endpoint)
        spec = desired_spec(found, endpoint)
        if _same(wanted, endpoint.variants) and spec == dict(endpoint.spec):
            return
        self._control.update_endpoint(
            endpoint.name,
            expected_revision=endpoint.revision,
            by=self.principal,
            event=f"deployment-{found.state}",
            spec=spec,
            variants=wanted,
            detail={"deployment": found.id, "step": found.status.get("step")},
        )

    def _traffic(self, found: Deployment, since: datetime) -> tuple[Traffic, Traffic]:
        from shipyard.serving.capture import read_capture

        sides = Sides.of(dict(found.spec))
        # By arrival: a replay stating 2013 times still drives a deployment made today.
        rows = read_capture(self._home, found.endpoint, arrived_since=since).to_pandas()
        by_variant = rows.groupby("variant") if len(rows) else None

        def side(name: str) -> Traffic:
            if by_variant is None or name not in by_variant.groups:
                return Traffic.of(None)
            return Traffic.of(by_variant.get_group(name))

        return side(sides.candidate.name), side(sides.stable.name)


def desired_variants(found: Deployment, endpoint: Endpoint) -> list[Variant]:
    """The endpoint's variants as ``found``'s state wants them: the stable and candidate
    at the step's shares, or the end state; every other variant as it is."""
    sides = Sides.of(dict(found.spec))
    others = [v for v in endpoint.variants if v.name not in (sides.stable.name, "candidate")]
    stable, candidate = sides.stable, sides.candidate
    if found.state == PROMOTED:
        return [*others, replace(stable, model=candidate.model, version=candidate.version,
                                 weight=1.0)]  # fmt: skip
    if found.state != RUNNING:  # rolled back
        return [*others, replace(stable, weight=1.0)]
    step = int(found.status["step"])
    share = 0.0 if step < 0 else Plan.from_spec(dict(found.spec)).shares[step]
    if candidate.role == "shadow":
        return [*others, replace(stable, weight=1.0), candidate]
    return [
        *others,
        replace(stable, weight=1.0 - share),
        replace(candidate, weight=share),
    ]


def desired_spec(found: Deployment, endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint's spec with the A/B test's salt while ``found`` runs one (so routing
    keys stick to their variants), without it otherwise."""
    spec = {k: v for k, v in endpoint.spec.items() if k != "ab"}
    if found.strategy == "ab" and found.state == RUNNING:
        spec["ab"] = {"salt": found.spec["salt"], "deployment": found.id}
    return spec


def _the_stable_variant(endpoint: Endpoint) -> Variant:
    live = [v for v in endpoint.variants if v.role == "primary" and v.weight > 0]
    if endpoint.spec.get("multi_model") or len(live) != 1:
        raise InvalidInput(
            f"Endpoint {endpoint.name!r} must have exactly one primary variant with traffic "
            f"to deploy to (it has {len(live)}).",
            hint="Set the weights so one variant takes all traffic: shipyard endpoints weights.",
        )
    if any(v.name == "candidate" for v in endpoint.variants):
        raise Conflict(
            f"Endpoint {endpoint.name!r} already has a variant named 'candidate'.",
            hint="Remove it (ws.endpoints.remove_variant) before deploying.",
        )
    return live[0]


def _same(wanted: Sequence[Variant], have: Sequence[Variant]) -> bool:
    def key(v: Variant) -> tuple[str, str, int, float, str, str]:
        return (v.name, v.model, v.version, round(v.weight, 9), v.role, repr(v.spec))

    return sorted(map(key, wanted)) == sorted(map(key, have))


def _alarms(found: Deployment) -> tuple[Alarm, ...]:
    return parse_alarms(list(found.spec.get("alarms", [])))


def _variant_spec(variant: Variant) -> dict[str, Any]:
    return {"name": variant.name, "model": variant.model, "version": variant.version,
            "weight": variant.weight, "role": variant.role,
            "spec": dict(variant.spec or {})}  # fmt: skip


def _check_id(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Give a deployment id (shipyard deployments list shows them).")
    return text.strip()


def _res(endpoint: str) -> str:
    return f"shipyard:endpoint:{endpoint}"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()
