"""Tracking checks runs:Read and runs:Write on each run's experiment: a principal sees and
writes the experiments its policies allow, searches and lists cover only those, and the
rest is refused before anything is read or written."""

from __future__ import annotations

import pytest

import shipyard
from shipyard.errors import AccessDenied

CHURN_ONLY = {
    "Statement": {
        "Effect": "Allow",
        "Action": ["runs:Read", "runs:Write"],
        "Resource": "shipyard:experiment:churn",
    }
}


def test_runs_are_read_and_written_per_experiment(workspace: shipyard.Workspace) -> None:
    owner = workspace.runs
    with owner.start_run("churn", name="hgb") as churn:
        churn.log_metric("auc", 0.9)
    with owner.start_run("fraud", name="secret") as fraud:
        fraud.log_metric("auc", 0.99)
    workspace.security.put_policy("churn-team", CHURN_ONLY)
    workspace.security.attach("churn-team", principal="carl")
    carl = workspace.as_principal("carl").runs

    # What the policy allows works...
    assert carl.get_run(churn.uid).metrics == {"auc": 0.9}
    assert [r.uid for r in carl.search()] == [churn.uid]  # fraud's runs are left out
    assert [r.uid for r in carl.search("metrics.auc > 0.5")] == [churn.uid]
    assert [e.name for e in carl.experiments()] == ["churn"]
    assert [r.uid for r in carl.runs("churn")] == [churn.uid]
    carl.set_tags(churn.uid, {"reviewed": "yes"})
    with carl.start_run("churn", name="mine") as mine:
        mine.log_param("lr", "0.1")
    assert carl.get_run(mine.uid).params == {"lr": "0.1"}

    # ...and nothing else, before anything is read or written.
    refused = [
        (lambda: carl.get_run(fraud.uid), "runs:Read on experiment fraud"),
        (lambda: carl.search(experiment="fraud"), "runs:Read on experiment fraud"),
        (lambda: carl.runs("fraud"), "runs:Read on experiment fraud"),
        (lambda: carl.experiment("fraud"), "runs:Read on experiment fraud"),
        (lambda: carl.compare([churn.uid, fraud.uid]), "runs:Read on experiment fraud"),
        (lambda: carl.metric_history(fraud.uid, "auc"), "runs:Read on experiment fraud"),
        (lambda: carl.artifact_bytes(fraud.uid, "x"), "runs:Read on experiment fraud"),
        (lambda: carl.start_run("fraud"), "runs:Write on experiment fraud"),
        (lambda: carl.create_experiment("new"), "runs:Write on experiment new"),
        (lambda: carl.set_tags(fraud.uid, {"x": "1"}), "runs:Write on experiment fraud"),
        (lambda: carl.note(fraud.uid, "hello"), "runs:Write on experiment fraud"),
        (lambda: carl.end_run(fraud.uid, "failed"), "runs:Read on experiment fraud"),
    ]
    for call, fragment in refused:
        with pytest.raises(AccessDenied, match=fragment):
            call()
    secret = owner.get_run(fraud.uid)
    assert (secret.tags.get("x"), secret.notes, secret.status) == (None, "", "finished")
    assert [e.name for e in owner.experiments()] == ["churn", "fraud"]
