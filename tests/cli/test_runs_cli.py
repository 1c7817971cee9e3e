"""`shipyard runs` as a user runs it: list, show, compare, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import shipyard

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    return subprocess.run(
        [SHIPYARD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_list_show_compare(tmp_path: Path) -> None:
    with shipyard.connect(tmp_path / ".shipyard") as ws:
        uids = []
        for model, auc in (("hgb", 0.74), ("logistic", 0.72)):
            with ws.runs.start_run("flights", model, record={"seed": 3}) as handle:
                handle.log_params({"model": model, "seed": 3})
                handle.log_metrics({"validation_roc_auc": auc})
            uids.append(handle.uid)
    listed = run("runs", "list", "--order-by", "metrics.validation_roc_auc DESC", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.index("hgb") < listed.stdout.index("logistic")
    shown = run("runs", "show", uids[0][:12], "--json", cwd=tmp_path)
    assert json.loads(shown.stdout)["params"]["model"] == "hgb"
    compared = run("runs", "compare", uids[0][:12], uids[1], cwd=tmp_path)
    assert compared.returncode == 0 and "param model" in compared.stdout
    assert "same in all: seed=3" in compared.stdout.replace("\n", " ")
    filtered = run("runs", "list", "--filter", "params.model = 'logistic'", cwd=tmp_path)
    assert "logistic" in filtered.stdout and "hgb" not in filtered.stdout


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    cases = [
        (("runs", "list", "--filter", "metrics.x >"), 2, "expected a value"),
        (("runs", "show", "feedbeef"), 3, "No run whose id starts with"),
        (("runs", "import-mlflow", "sqlite:///nowhere/at/all.db"), 2, "No MLflow database"),
    ]
    for args, code, fragment in cases:
        done = run(*args, cwd=tmp_path)
        assert done.returncode != 0 and (code is None or done.returncode == code), done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], done.stderr


def test_a_dead_run_lists_as_killed_and_end_records_it(tmp_path: Path) -> None:
    import uuid
    from datetime import UTC, datetime, timedelta

    from shipyard.stores.tracking import NewRun

    with shipyard.connect(tmp_path / ".shipyard") as ws:
        with ws.runs.start_run("flights", "done") as done:
            done.log_metric("loss", 0.2)
        started = datetime.now(UTC) - timedelta(hours=1)
        dead = ws.runs.store.create_run(  # its process stopped beating 59 minutes ago
            NewRun(
                uuid.uuid4().hex,
                ws.runs.experiment_id("flights"),
                "dead",
                started,
                "ana",
                alive_until=started + timedelta(minutes=1),
            )
        )
    listed = run("runs", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("│")[3].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    assert "killed" in rows["dead"] and "finished" in rows["done"]
    killed = run("runs", "list", "--filter", "attributes.status = 'killed'", cwd=tmp_path)
    assert "dead" in killed.stdout and "done" not in killed.stdout
    shown = run("runs", "show", dead.uid[:12], cwd=tmp_path)
    assert "killed" in shown.stdout and "stopped sending heartbeats" in shown.stdout

    ended = run("runs", "end", dead.uid[:12], "--status", "failed", cwd=tmp_path)
    assert ended.returncode == 0, ended.stderr
    assert f"Ended run dead ({dead.uid}) as failed." in ended.stdout
    with shipyard.connect(tmp_path / ".shipyard") as ws:
        assert ws.runs.get_run(dead.uid).status == "failed"
    for args, code, fragment in (
        (("runs", "end", done.uid), 4, "has already ended (finished)"),
        (("runs", "end", dead.uid, "--status", "running"), 2, "cannot end with status"),
    ):
        refused = run(*args, cwd=tmp_path)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == code and len(lines) == 1 and fragment in lines[0], lines
