"""Alarms on monitored series: a rule over the latest windows, a state, and actions.

An alarm watches the points of one endpoint that match its ``series`` (a stage, a
metric, and optionally a feature and a variant; ``*`` or absent matches any). Each
window is *breaching* when one of its matching points breaks the rule:

* ``flagged``: the point was flagged by its own test (drift found, a quality drop);
* ``above`` / ``below``: its value is above / below ``threshold``;
* ``change``: its value moved by more than ``threshold`` since the window before.

The state is ``ALARM`` when at least ``n`` of the latest ``m`` windows with data are
breaching (``n = m = 1`` by default; ``n=2, m=3`` waits for two of three),
``INSUFFICIENT_DATA`` when fewer than ``m`` windows have data, and ``OK`` otherwise.
States move by compare-and-set and each change is kept with the values that caused it.

Actions run when the state becomes ``ALARM``: ``log`` (a warning line), ``webhook``
(a JSON POST, retried with backoff, signed with HMAC-SHA256 when ``secret_env`` names an
environment variable holding the secret), ``pipeline`` (a pipeline run job: retraining
on fresh data) and ``rollback`` (roll back the endpoint's running deployment).

>>> spec = parse_spec({"series": {"stage": "input", "metric": "ks"}, "rule": "flagged",
...                    "n": 2, "m": 3, "actions": [{"kind": "log"}]})
>>> spec["rule"], spec["n"], spec["m"]
('flagged', 2, 3)
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.errors import BackendUnavailable, InvalidInput
from shipyard.jobs.webhooks import post_json
from shipyard.stores.monitoring import Alarm, SeriesPoint

if TYPE_CHECKING:
    from shipyard.runtime import Runtime

log = logging.getLogger("shipyard.alarms")

RULES = ("flagged", "above", "below", "change")
ACTIONS = ("log", "webhook", "pipeline", "rollback")
SERIES_KEYS = ("stage", "metric", "feature", "variant")
WEBHOOK_TRIES = 3
_HINT = (
    'An alarm spec looks like {"series": {"stage": "input", "metric": "ks"}, "rule": "flagged", '
    '"n": 1, "m": 1, "actions": [{"kind": "log"}]}.'
)


def parse_spec(spec: Any) -> dict[str, Any]:
    """Check an alarm spec and fill in its defaults; InvalidInput says what is wrong."""
    if not isinstance(spec, Mapping):
        raise InvalidInput("An alarm spec is a mapping.", hint=_HINT)
    unknown = sorted(set(spec) - {"series", "rule", "threshold", "n", "m", "actions"})
    if unknown:
        raise InvalidInput(f"Unknown alarm setting(s): {', '.join(unknown)}.", hint=_HINT)
    series = spec.get("series")
    if not isinstance(series, Mapping) or not series.get("stage") or not series.get("metric"):
        raise InvalidInput("An alarm's series needs a stage and a metric.", hint=_HINT)
    extra = sorted(set(series) - set(SERIES_KEYS))
    if extra or not all(isinstance(v, str) for v in series.values()):
        raise InvalidInput(
            f"An alarm's series has stage, metric, feature and variant (text), got {dict(series)}.",
            hint=_HINT,
        )
    rule = spec.get("rule", "flagged")
    if rule not in RULES:
        raise InvalidInput(f"An alarm's rule is one of {', '.join(RULES)}, got {rule!r}.")
    threshold = spec.get("threshold")
    if rule != "flagged":
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise InvalidInput(f"Rule {rule!r} needs a numeric threshold.", hint=_HINT)
        if not math.isfinite(threshold):
            raise InvalidInput("An alarm's threshold must be finite.")
    n, m = spec.get("n", 1), spec.get("m", spec.get("n", 1))
    for name, value in (("n", n), ("m", m)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
            raise InvalidInput(f"An alarm's {name} is a whole number from 1 to 100, got {value!r}.")
    if n > m:
        raise InvalidInput(f"An alarm needs n <= m (n of the latest m windows), got {n} > {m}.")
    actions = [_action(a) for a in spec.get("actions", [{"kind": "log"}])]
    return {"series": dict(series), "rule": rule, "threshold": threshold, "n": n, "m": m,
            "actions": actions}  # fmt: skip


def evaluate(
    spec: Mapping[str, Any], points: Sequence[SeriesPoint]
) -> tuple[str, str, dict[str, Any]]:
    """The state the latest windows give: (state, reason, detail with the values seen)."""
    series = spec["series"]
    matching = [p for p in points if _matches(series, p)]
    windows = sorted({(p.start, p.end) for p in matching if p.value is not None or p.flagged})
    latest = windows[-spec["m"] :]
    what = _describe(series)
    if len(latest) < spec["m"]:
        return ("INSUFFICIENT_DATA",
                f"{len(latest)} window(s) of {what} with data; the rule needs {spec['m']}.",
                {"windows": len(latest)})  # fmt: skip
    previous = {w: windows[i - 1] if i else None for i, w in enumerate(windows)}
    by_window: dict[tuple[datetime, datetime], list[SeriesPoint]] = {}
    for point in matching:
        by_window.setdefault((point.start, point.end), []).append(point)
    breaches: list[dict[str, Any]] = []
    for window in latest:
        hits = [
            p for p in by_window.get(window, []) if _breaks(spec, p, previous[window], by_window)
        ]
        if hits:
            breaches.append(
                {
                    "start": window[0].isoformat(),
                    "end": window[1].isoformat(),
                    "points": [
                        {
                            "feature": p.feature,
                            "variant": p.variant,
                            "value": p.value,
                            "p_value": p.p_value,
                        }
                        for p in hits[:10]
                    ],
                }
            )
    detail = {"breaching": breaches, "windows": [w[0].isoformat() for w in latest]}
    rule = _rule_text(spec)
    if len(breaches) >= spec["n"]:
        names = sorted(
            {p["feature"] or p["variant"] or what for b in breaches for p in b["points"]}
        )
        return ("ALARM",
                f"{len(breaches)} of the latest {spec['m']} windows broke '{rule}' on {what}: "
                f"{', '.join(names[:5])}.", detail)  # fmt: skip
    return (
        "OK",
        f"{len(breaches)} of the latest {spec['m']} windows broke '{rule}' on {what}.",
        detail,
    )


def evaluate_endpoint(runtime: Runtime, endpoint: str) -> list[dict[str, Any]]:
    """Evaluate ``endpoint``'s alarms on its stored series and run the actions of each
    that enters ALARM (as the system: callers check access first). Returns the changes."""
    store = runtime.monitoring
    changes = []
    for alarm in store.alarms(endpoint):
        series = alarm.spec["series"]
        points = store.points(endpoint, stage=series["stage"], metric=series["metric"])
        state, reason, detail = evaluate(alarm.spec, points)
        if state == alarm.state:
            continue
        planned = [a["kind"] for a in alarm.spec.get("actions", [])] if state == "ALARM" else []
        moved = store.set_alarm_state(
            alarm.name, state, reason, expected_revision=alarm.revision,
            detail={**detail, "actions": planned},
        )  # fmt: skip
        if moved is None:
            continue  # another evaluator recorded this change first; its actions ran there
        done = act(runtime, moved, reason, detail) if state == "ALARM" else []
        change = {"alarm": alarm.name, "old_state": alarm.state, "new_state": state}
        changes.append({**change, "reason": reason, "actions": done})
    return changes


def act(
    runtime: Runtime, alarm: Alarm, reason: str, detail: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Run an alarm's actions; what each did (or why it failed) is returned, never raised:
    one failing action does not stop the others."""
    done = []
    for action in alarm.spec.get("actions", []):
        try:
            done.append({"kind": action["kind"], "ok": True,
                         "result": _run(runtime, alarm, action, reason, detail)})  # fmt: skip
        except Exception as exc:
            log.warning("alarm %s: action %s failed: %s", alarm.name, action["kind"], exc)
            done.append({"kind": action["kind"], "ok": False, "error": str(exc)})
    return done


def _run(
    runtime: Runtime,
    alarm: Alarm,
    action: Mapping[str, Any],
    reason: str,
    detail: Mapping[str, Any],
) -> Any:
    kind = action["kind"]
    if kind == "log":
        log.warning("ALARM %s on endpoint %s: %s", alarm.name, alarm.endpoint, reason)
        return "logged"
    if kind == "webhook":
        body = {"alarm": alarm.name, "endpoint": alarm.endpoint, "state": "ALARM"}
        return _webhook(action, {**body, "reason": reason, "detail": dict(detail)})
    if kind == "pipeline":
        from shipyard.pipeline.live import RUN_JOB_KIND

        who = f"alarm:{alarm.name}"
        payload = {"path": action["path"], "params": dict(action.get("params", {}))}
        payload.update(schedule=f"alarm-{alarm.name}", requested_by=who)
        job = runtime.jobs.enqueue(
            RUN_JOB_KIND, payload, created_by=f"alarm:{alarm.name}", max_attempts=1
        )
        return {"job": job.id}
    from shipyard.deploy.service import RUNNING
    from shipyard.pipeline import PIPELINE_PRINCIPAL

    ws = runtime.workspace(PIPELINE_PRINCIPAL)
    running = [d for d in ws.deployments.list(alarm.endpoint) if d.state == RUNNING]
    for deployment in running:
        ws.deployments.rollback(deployment.id, reason=f"alarm {alarm.name}: {reason}")
    return {"rolled_back": [d.id for d in running]}


def _webhook(action: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """Posted at once, tried up to WEBHOOK_TRIES times: an alarm's action runs where
    the alarm is evaluated, and its history records how it went."""
    error = ""
    for attempt in range(WEBHOOK_TRIES):
        try:
            status = post_json(action["url"], body, secret_env=action.get("secret_env"))
            return {"status": status, "attempts": attempt + 1}
        except BackendUnavailable as exc:
            error = exc.message
        time.sleep(0.5 * 2**attempt)
    raise RuntimeError(f"The webhook failed {WEBHOOK_TRIES} times: {error}")


def _action(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, Mapping) or value.get("kind") not in ACTIONS:
        raise InvalidInput(
            f"An alarm action is one of {', '.join(ACTIONS)}, got {value!r}.", hint=_HINT
        )
    action = dict(value)
    if action["kind"] == "webhook":
        url = action.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInput("A webhook action needs an http(s) url.")
    if action["kind"] == "pipeline":
        path = action.get("path")
        if not isinstance(path, str) or not path.endswith((".yaml", ".yml")):
            raise InvalidInput(
                "A pipeline action needs the path of a pipeline file (.yaml).",
                hint="The server runs it as the pipeline principal, as a schedule would.",
            )
        action["path"] = os.path.abspath(path)
    return action


def _matches(series: Mapping[str, str], point: SeriesPoint) -> bool:
    for key in SERIES_KEYS:
        wanted = series.get(key)
        if wanted not in (None, "*") and getattr(point, key) != wanted:
            return False
    return True


def _breaks(
    spec: Mapping[str, Any],
    point: SeriesPoint,
    before: tuple[datetime, datetime] | None,
    by_window: Mapping[tuple[datetime, datetime], list[SeriesPoint]],
) -> bool:
    rule, threshold = spec["rule"], spec["threshold"]
    if rule == "flagged":
        return point.flagged
    if point.value is None:
        return False
    if rule == "above":
        return point.value > threshold
    if rule == "below":
        return point.value < threshold
    if before is None:
        return False
    key = (point.feature, point.variant)
    same = [p for p in by_window.get(before, []) if (p.feature, p.variant) == key]
    same = [p for p in same if p.value is not None]
    return bool(same) and abs(point.value - float(same[0].value or 0.0)) > threshold


def _describe(series: Mapping[str, str]) -> str:
    parts = [series["stage"], series["metric"]]
    parts += [series[k] for k in ("feature", "variant") if series.get(k) not in (None, "*", "")]
    return "/".join(parts)


def _rule_text(spec: Mapping[str, Any]) -> str:
    rule = spec["rule"]
    if rule == "flagged":
        return "flagged by its test"
    symbol = {"above": ">", "below": "<", "change": "changed by more than"}[rule]
    return f"{symbol} {spec['threshold']:g}"
