"""The runner logs each experiment's run as it finishes: a later experiment that crashes the
process, hangs or gets it killed loses none of the runs that finished before it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

import shipyard
from shipyard.training import Experiment, ExperimentData, ExperimentRunner, LogisticExperiment
from shipyard.training.tracking import RunInfo

# The baseline and logistic finish; then "stuck" signals the test and hangs, or kills
# its own process (as a segfault or the out-of-memory killer would).
RUNNER = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    import numpy as np, pandas as pd
    from sklearn.dummy import DummyClassifier
    import shipyard
    from shipyard.training import Experiment, ExperimentData, ExperimentRunner
    from shipyard.training import LogisticExperiment
    from shipyard.training.tracking import Tracker

    home, mode, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])

    class Stuck(Experiment):
        name = "stuck"

        def build(self, X):
            return DummyClassifier()

        def fit(self, X, y):
            marker.touch()
            if mode == "crash":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(600)
            return self

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400)})
    frame["y"] = frame["x"] + rng.normal(size=400) > 0
    data = ExperimentData({"training": frame[:200], "validation": frame[200:]}, ["x"], "y")
    ws = shipyard.connect(home)
    tracker = Tracker(ws.metadata, ws.artifacts, ws.principal, heartbeat_interval=0.2)
    runner = ExperimentRunner(
        LogisticExperiment(), Stuck(), tracker=tracker, experiment_name="live", n_bootstrap=0
    )
    runner.run(data)
    """
)


def small_data() -> ExperimentData:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400)})
    frame["y"] = frame["x"] + rng.normal(size=400) > 0
    return ExperimentData({"training": frame[:200], "validation": frame[200:]}, ["x"], "y")


def runs_by_name(home: Path) -> dict[str, RunInfo]:
    with shipyard.connect(home) as ws:
        return {info.name: info for info in ws.runs.runs("live")}


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_finished_experiments_survive_a_later_one(mode: str, tmp_path: Path) -> None:
    home, marker = tmp_path / "ws", tmp_path / "stuck-started"
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(home), mode, str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the runner never reached the stuck experiment"
            time.sleep(0.1)
        if mode == "hang":
            runs = runs_by_name(home)  # while the process hangs, the finished runs are stored
            assert set(runs) == {"baseline", "logistic"}
            assert runs["logistic"].status == "running"
            assert runs["logistic"].metrics["validation_roc_auc"] > 0.6
            assert runs["logistic"].tags["baseline"] == "false"
            os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.communicate()
    deadline = time.monotonic() + 20
    while {r.status for r in runs_by_name(home).values()} != {"killed"}:
        assert time.monotonic() < deadline, runs_by_name(home)
        time.sleep(0.1)
    runs = runs_by_name(home)
    assert set(runs) == {"baseline", "logistic"}  # "stuck" never finished: no run
    assert runs["logistic"].params["C"] and runs["logistic"].params["seed"] == "0"
    assert runs["logistic"].metrics["validation_roc_auc"] > 0.6
    assert runs["baseline"].metrics["validation_roc_auc"] == pytest.approx(0.5)


class Probe(Experiment):
    """Looks at the tracker while it is being fitted."""

    name = "probe"

    def __init__(self, tracker: Any) -> None:
        super().__init__()
        self._tracker = tracker  # private: params() leaves it out
        self._seen: dict[str, dict[str, float]] = {}

    def build(self, X: pd.DataFrame) -> Any:
        return DummyClassifier()

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Probe:
        self._seen = {info.name: dict(info.metrics) for info in self._tracker.runs("live")}
        return super().fit(X, y)


def test_each_run_is_logged_before_the_next_experiment_starts(tmp_path: Path) -> None:
    with shipyard.connect(tmp_path / "ws") as ws:
        probe = Probe(ws.runs)
        report = ExperimentRunner(
            LogisticExperiment(), probe, tracker=ws.runs, experiment_name="live", n_bootstrap=50
        ).run(small_data())
        assert set(probe._seen) == {"baseline", "logistic"}
        assert probe._seen["logistic"]["validation_roc_auc"] > 0.6
        assert "vs_baseline_validation_roc_auc_difference" not in probe._seen["logistic"]
        runs = {info.name: info for info in ws.runs.runs("live")}
        assert {r.status for r in runs.values()} == {"finished"}
        logistic = runs["logistic"]
        comparison = report.comparison("logistic")
        assert comparison is not None and logistic.tags["vs_baseline"] == comparison.verdict
        assert "vs_baseline_validation_roc_auc_difference" in logistic.metrics
        assert "error_analysis.json" in logistic.artifacts
        assert report.run_ids == {name: info.uid for name, info in runs.items()}
        assert list(report.run_ids) == ["baseline", "logistic", "probe"]


def test_an_interrupted_runner_ends_its_open_runs(tmp_path: Path) -> None:
    class Interrupted(Experiment):
        name = "interrupted"

        def build(self, X: pd.DataFrame) -> Any:
            raise KeyboardInterrupt  # not an experiment failure: it stops the runner

    with shipyard.connect(tmp_path / "ws") as ws:
        runner = ExperimentRunner(
            LogisticExperiment(), Interrupted(), tracker=ws.runs, experiment_name="live"
        )
        with pytest.raises(KeyboardInterrupt):
            runner.run(small_data())
        runs = {info.name: info for info in ws.runs.runs("live")}
        assert {name: r.status for name, r in runs.items()} == {
            "baseline": "killed",
            "logistic": "killed",
        }
        assert runs["logistic"].metrics["validation_roc_auc"] > 0.6
