"""The standard pipeline's deploy step on real flights data and a real serving process:
a gate-passing model without approval stops at staging (exit 6), a person may not move
the production endpoint, and once approved the pipeline rolls the model out by canary
under live traffic and moves production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.deploy.test_deploy_http import Traffic
from tests.pipeline.test_standard import config, statuses, tables, ws  # noqa: F401
from tests.serving.test_invocations import start_serving

from shipyard.errors import AccessDenied, GateFailed

WEAK = {"experiments": [{"type": "logistic", "params": {"C": 0.0005}}]}
STRONGER = {"experiments": [{"type": "logistic"}]}
DEPLOY = {"endpoint": "delay-api", "strategy": "canary", "steps": "50,100", "bake": "2s",
          "warm": "1s", "alarms": ["error_rate>0.01"]}  # fmt: skip


class FlightTraffic(Traffic):
    """Steady requests of real flights: the entity keys and the schedule columns."""

    def __init__(self, base: str, rows: pd.DataFrame) -> None:
        super().__init__(base)
        self.rows = rows.to_dict("records")

    def _run(self) -> None:
        import time

        import httpx

        with httpx.Client(timeout=10) as client:
            index = 0
            while not self._stop.is_set():
                row = self.rows[index % len(self.rows)]
                index += 1
                answer = client.post(
                    f"{self.base}/endpoints/delay-api/invocations", json={"records": [row]}
                )
                variant = answer.headers.get("X-Shipyard-Variant", "?")
                self.statuses[(variant, answer.status_code)] += 1
                time.sleep(0.005)


def test_the_pipeline_deploys_only_approved_models(
    ws: Any,  # noqa: F811
    tables: dict[str, pd.DataFrame],  # noqa: F811
) -> None:
    ws.pipelines.run(config(ws, aliases=["staging", "production"], **WEAK)).check()
    pipeline = ws.runtime.workspace("pipeline")
    pipeline.endpoints.create("delay-api", "delay@production", production=True)
    with pytest.raises(AccessDenied):  # a person's own call to change production
        ws.deployments.start("delay-api", "delay@1")

    run = ws.pipelines.run(config(ws, aliases=["staging", "production"], deploy=DEPLOY, **STRONGER))
    assert run.failed_step == "deploy" and run.exit_code == GateFailed.exit_code
    assert "needs an approval" in run.error["message"]
    assert "shipyard models approve delay 2" in run.error["hint"]
    assert ws.models.get("delay", alias="staging").version == 2
    assert ws.models.get("delay", alias="production").version == 1

    ws.models.approve("delay", 2, "read the gate report")
    model = ws.models.load("delay", 1)
    sent = [c for c in model.signature.input_names if "__" not in c]
    rows = tables["flights"][sent].head(300)
    base, proc = start_serving(Path(ws.settings.home), "delay-api")
    try:
        with FlightTraffic(base, rows) as traffic:
            again = ws.pipelines.run(
                config(ws, aliases=["staging", "production"], deploy=DEPLOY, **STRONGER)
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    again.check()
    assert statuses(again)["register"] == "cached" and statuses(again)["deploy"] == "succeeded"
    assert again.outputs["deployment"]["state"] == "promoted"
    assert ws.models.get("delay", alias="production").version == 2
    [variant] = ws.endpoints.get("delay-api").variants
    assert (variant.model, variant.version) == ("delay", 2)
    assert traffic.statuses[("candidate", 200)] > 0
    assert {status for (_, status) in traffic.statuses} == {200}
    trace = ws.lineage("model:delay@2")  # approved, and where it was deployed
    assert trace.approvals and "approved" in trace.approvals[0]
    [deployed] = trace.extra["deployments"]
    assert "canary on endpoint delay-api: promoted" in deployed and "by pipeline" in deployed
