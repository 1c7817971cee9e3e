"""The standard pipeline's last step: roll the registered model out on the endpoint its
``deploy`` section names, behind the guard alarms, and move ``production`` once the
deployment is promoted. An endpoint that does not exist yet is created serving the
version, as a production endpoint: its first model has nothing to be compared with.

The pipeline principal is the only one that may change a production endpoint, so this
step is how a model reaches production; people approve. ``require_approval`` (on by
default for a production endpoint) stops the run before the deployment, with exit 6 and
the command that approves, until someone with ``models:Approve`` has approved the
version; run the pipeline again then (its cached steps are not redone). The step is
never cached: whether it may deploy depends on the approval, not on its inputs.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import GateFailed
from shipyard.pipeline.step import StepContext, step


@step(outputs=("deployment",), cache=False)
def deploy(
    model_version: dict[str, Any],
    config: dict[str, Any],
    rollout: dict[str, Any],
    context: StepContext,
) -> Any:
    """Deploy the registered version (see the module); nothing without a deploy section
    (``rollout``, kept apart from ``config`` so that it is no input of the other steps)."""
    settings = rollout
    if not settings:
        return {"deployed": False}
    from shipyard.deploy.job import launch

    ws = context.workspace
    name, version = model_version["model"], int(model_version["version"])
    endpoint = _existing(ws, settings["endpoint"])
    required = settings.get("require_approval")
    if required is None:
        required = endpoint is None or bool(endpoint.spec.get("production"))
    approval = ws.models.approval(name, version)
    if required and approval.status != "approved":
        raise GateFailed(
            f"model:{name}@{version} passed the gate and is at "
            f"{', '.join(model_version.get('aliases') or ['no alias'])}; deploying it to "
            f"endpoint {settings['endpoint']!r} needs an approval (it is {approval.status}).",
            hint=f"shipyard models approve {name} {version} --comment '...', then run the "
            "pipeline again.",
        )
    if endpoint is None:  # the endpoint's first model: nothing to roll out beside
        ws.endpoints.create(settings["endpoint"], f"{name}@{version}", production=True)
        context.logger.info("endpoint %s created serving model:%s@%d", settings["endpoint"],
                            name, version)  # fmt: skip
        _promote_alias(ws, config, name, version)
        return {"deployed": True, "deployment": None, "state": "created"}
    serving = [(v.model, v.version) for v in endpoint.variants if v.weight > 0]
    if serving == [(name, version)]:  # a rerun after it was promoted: nothing to move
        context.logger.info("endpoint %s serves model:%s@%d already", endpoint.name, name, version)
        _promote_alias(ws, config, name, version)
        return {"deployed": True, "deployment": None, "state": "promoted"}
    found = ws.deployments.start(
        endpoint.name,
        f"{name}@{version}",
        strategy=settings.get("strategy", "canary"),
        steps=settings.get("steps"),
        bake=settings.get("bake", "5m"),
        warm=settings.get("warm", "5s"),
        alarms=settings.get("alarms"),
        min_requests=int(settings.get("min_requests", 20)),
        force=bool(settings.get("force", False)),
    )
    context.logger.info("deployment %s: model:%s@%d on %s", found.id, name, version,
                        endpoint.name)  # fmt: skip
    ended = launch(ws.runtime, found.id, ws.principal, wait=True)
    if ended.state != "promoted":
        raise GateFailed(
            f"Deployment {ended.id} of model:{name}@{version} on {endpoint.name!r} was rolled "
            f"back: {ended.status.get('reason')}",
            hint=f"shipyard deployments show {ended.id} has the alarm and its values.",
        )
    _promote_alias(ws, config, name, version)
    return {"deployed": True, "deployment": ended.id, "state": ended.state}


def _existing(ws: Any, name: str) -> Any:
    """The endpoint named ``name``, or None when there is none yet."""
    from shipyard.errors import NotFound

    try:
        return ws.endpoints.get(name)
    except NotFound:
        return None


def _promote_alias(ws: Any, config: dict[str, Any], name: str, version: int) -> None:
    if "production" in config.get("aliases", []):
        ws.models.set_alias(name, "production", version)
