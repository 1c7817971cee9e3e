"""ws.endpoints on SQLite and PostgreSQL: create from a version or an alias, weights as a
compare-and-set, the effective split, shadows, the production guardrail, bad input."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.errors import AccessDenied, AlreadyExists, Conflict, InvalidInput, NotFound


@pytest.fixture
def ws(workspace: shipyard.Workspace) -> Iterator[shipyard.Workspace]:
    """The workspace with model ``delay`` at versions 1 and 2 (``champion`` -> 2),
    registered by the pipeline."""
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    model = LogisticRegression().fit(X, (X["a"] > 10).to_numpy())
    pipeline = workspace.as_principal("pipeline")
    for _ in range(2):
        pipeline.models.register("delay", model, input_example=X.head())
    pipeline.models.set_alias("delay", "champion", 2)
    yield workspace


def test_create_from_a_version_stores_one_primary_variant(ws: shipyard.Workspace) -> None:
    created = ws.endpoints.create("delay-api", "model:delay@1", capture_rate=0.25)
    assert created.revision == 1
    assert [(v.name, v.model, v.version, v.weight, v.role) for v in created.variants] == [
        ("primary", "delay", 1, 1.0, "primary")
    ]
    assert created.spec["capture_rate"] == 0.25
    assert created.spec["batching"] is False and created.spec["production"] is False
    assert ws.endpoints.get("delay-api") == created
    assert [e.name for e in ws.endpoints.list()] == ["delay-api"]
    assert ws.endpoints.effective_split("delay-api") == {"primary": 1.0}
    assert [e.event for e in ws.endpoints.history("delay-api")] == ["created"]


def test_an_alias_is_resolved_when_the_endpoint_is_created(ws: shipyard.Workspace) -> None:
    created = ws.endpoints.create("e", "delay@champion")
    assert created.variants[0].version == 2
    ws.as_principal("pipeline").models.set_alias("delay", "champion", 1)
    assert ws.endpoints.get("e").variants[0].version == 2  # pinned, not following the alias


def test_weights_are_a_compare_and_set_on_the_revision(ws: shipyard.Workspace) -> None:
    ws.endpoints.create("e", "delay@1")
    added = ws.endpoints.add_variant("e", "challenger", "delay@2")
    assert added.revision == 2
    assert ws.endpoints.effective_split(added) == {"challenger": 0.0, "primary": 1.0}

    changed = ws.endpoints.set_weights("e", {"primary": 3, "challenger": 1}, expected_revision=2)
    assert changed.revision == 3
    assert ws.endpoints.effective_split(changed) == {"challenger": 0.25, "primary": 0.75}

    with pytest.raises(Conflict, match="revision 3, not 2"):
        ws.endpoints.set_weights("e", {"primary": 1}, expected_revision=2)
    assert ws.endpoints.get("e").revision == 3  # the stale write changed nothing
    assert [e.event for e in ws.endpoints.history("e")] == [
        "created",
        "variant_added",
        "weights_set",
    ]


def test_a_shadow_gets_copies_not_a_share(ws: shipyard.Workspace) -> None:
    ws.endpoints.create("e", "delay@1")
    shadowed = ws.endpoints.add_variant("e", "shadow", "delay@champion", weight=5, role="shadow")
    assert {v.name: v.role for v in shadowed.variants} == {"primary": "primary", "shadow": "shadow"}
    assert ws.endpoints.effective_split(shadowed) == {"primary": 1.0}
    removed = ws.endpoints.remove_variant("e", "shadow")
    assert [v.name for v in removed.variants] == ["primary"]


def test_a_production_endpoint_is_the_pipelines(ws: shipyard.Workspace) -> None:
    alice = ws.as_principal("alice")
    with pytest.raises(AccessDenied, match="only the 'pipeline'"):
        alice.endpoints.create("prod", "delay@1", production=True)
    pipeline = ws.as_principal("pipeline")
    pipeline.endpoints.create("prod", "delay@1", production=True)
    pipeline.endpoints.add_variant("prod", "next", "delay@2")
    with pytest.raises(AccessDenied, match="marked production"):
        alice.endpoints.set_weights("prod", {"next": 1})
    with pytest.raises(AccessDenied):
        alice.endpoints.delete("prod")
    assert alice.endpoints.get("prod").revision == 2  # people may still read it
    assert pipeline.endpoints.set_weights("prod", {"next": 1}).revision == 3
    denied = ws.audit_log(principal="alice", action="endpoints:Write")
    assert denied and all(e.outcome == "denied" for e in denied)
    # An ordinary endpoint stays anyone's (no policies: unrestricted).
    alice.endpoints.create("scratch", "delay@1")
    alice.endpoints.delete("scratch")


def test_a_policy_may_let_a_person_change_a_production_endpoint(ws: shipyard.Workspace) -> None:
    ws.as_principal("pipeline").endpoints.create("prod", "delay@1", production=True)
    ws.security.put_policy(
        "release",
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    )
    ws.security.attach("release", principal="carol")
    carol = ws.as_principal("carol")
    assert carol.endpoints.set_weights("prod", {"primary": 2}).revision == 2


def test_bad_input_is_refused_with_a_reason(ws: shipyard.Workspace) -> None:
    ws.endpoints.create("e", "delay@1")
    with pytest.raises(AlreadyExists):
        ws.endpoints.create("e", "delay@1")
    with pytest.raises(NotFound, match="Known endpoints: e"):
        ws.endpoints.get("nope")
    with pytest.raises(NotFound):
        ws.endpoints.create("f", "delay@9")
    with pytest.raises(NotFound, match="no alias"):
        ws.endpoints.create("f", "delay@nothing")
    with pytest.raises(InvalidInput, match="names no version or alias"):
        ws.endpoints.create("f", "delay")
    with pytest.raises(InvalidInput, match="not a model reference"):
        ws.endpoints.create("f", "dataset:delay@1")
    with pytest.raises(InvalidInput, match="capture rate"):
        ws.endpoints.create("f", "delay@1", capture_rate=1.5)
    with pytest.raises(InvalidInput, match="finite number"):
        ws.endpoints.set_weights("e", {"primary": float("nan")})
    with pytest.raises(InvalidInput, match="finite number"):
        ws.endpoints.set_weights("e", {"primary": -1})
    with pytest.raises(InvalidInput, match="no variant 'ghost'"):
        ws.endpoints.set_weights("e", {"ghost": 1})
    with pytest.raises(InvalidInput, match="no primary variant with a weight above 0"):
        ws.endpoints.set_weights("e", {"primary": 0})
    with pytest.raises(InvalidInput, match="no primary variant"):
        ws.endpoints.remove_variant("e", "primary")
    with pytest.raises(InvalidInput, match="role"):
        ws.endpoints.add_variant("e", "x", "delay@1", role="canary")
    assert ws.endpoints.get("e").revision == 1  # nothing above was written
    assert [e.name for e in ws.endpoints.list()] == ["e"]


def test_delete_keeps_the_history(ws: shipyard.Workspace) -> None:
    ws.endpoints.create("e", "delay@1")
    ws.endpoints.delete("e")
    with pytest.raises(NotFound, match="no endpoints yet"):
        ws.endpoints.get("e")
    assert [e.event for e in ws.endpoints.history("e")] == ["created", "deleted"]
    assert ws.endpoints.list() == []


def test_of_two_writers_at_one_revision_exactly_one_wins(ws: shipyard.Workspace) -> None:
    """Eight threads set different weights, each against revision 2: one change lands,
    the others get Conflict, and the endpoint holds the winner's split."""
    from concurrent.futures import ThreadPoolExecutor

    ws.endpoints.create("e", "delay@1")
    ws.endpoints.add_variant("e", "challenger", "delay@2")

    def attempt(weight: int) -> int | None:
        try:
            ws.endpoints.set_weights("e", {"challenger": weight}, expected_revision=2)
        except Conflict:
            return None
        return weight

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(1, 9)))
    winners = [w for w in outcomes if w is not None]
    assert len(winners) == 1
    now = ws.endpoints.get("e")
    assert now.revision == 3
    assert {v.name: v.weight for v in now.variants}["challenger"] == winners[0]
