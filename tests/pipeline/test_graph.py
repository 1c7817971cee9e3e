"""Steps and the pipeline graph: how steps are declared, and every way a graph is refused."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from shipyard.errors import InvalidInput
from shipyard.pipeline import Pipeline, StepContext, step
from shipyard.pipeline.loader import load_pipeline
from shipyard.pipeline.step import as_step


@step
def load(path: str) -> list:
    return [path]


@step
def clean(load: list) -> list:
    return load


@step(outputs=("train", "test"))
def split(clean: list, ratio: float = 0.5) -> tuple:
    return clean, clean


@step
def report(train: list, test: list, context: StepContext) -> None:
    context.logger.info("done")


def test_function_steps_declare_inputs_and_outputs_by_name() -> None:
    assert (load.name, load.inputs, load.outputs) == ("load", ("path",), ("load",))
    assert (split.inputs, split.outputs, split.optional) == (
        ("clean", "ratio"),
        ("train", "test"),
        {"ratio"},
    )
    assert report.outputs == () and report.wants_context and report.inputs == ("train", "test")
    assert load("x") == ["x"]  # a step is still callable like its function


def test_outputs_are_split_from_a_tuple_or_a_dict_and_refused_otherwise() -> None:
    assert split.split_outputs((1, 2)) == {"train": 1, "test": 2}
    assert split.split_outputs({"test": 2, "train": 1}) == {"train": 1, "test": 2}
    assert load.split_outputs((1, 2)) == {"load": (1, 2)}  # one output: the value itself
    with pytest.raises(InvalidInput, match="declares outputs train, test but returned a int"):
        split.split_outputs(3)
    with pytest.raises(InvalidInput, match="keys"):
        split.split_outputs({"train": 1})


def test_class_steps_take_declared_or_signature_inputs_and_their_state() -> None:
    class TrainModel:
        outputs = ("model",)
        version = "3"

        def __init__(self, depth: int = 2) -> None:
            self.depth = depth

        def run(self, train: list, context: StepContext) -> dict:
            return {"depth": self.depth}

    class Declared:
        name = "custom"
        inputs = ("a", "b")

        def run(self, **values: int) -> int:
            return sum(values.values())

    made = as_step(TrainModel(depth=5))
    assert (made.name, made.inputs, made.outputs, made.version) == (
        "train_model",
        ("train",),
        ("model",),
        "3",
    )
    assert made.state == {"depth": 5} and made.wants_context
    assert as_step(TrainModel).state == {"depth": 2}
    declared = as_step(Declared)
    assert (declared.name, declared.inputs, declared.outputs) == ("custom", ("a", "b"), ("custom",))
    assert declared(a=1, b=2) == 3


def test_a_plain_function_is_made_a_step_and_other_things_are_refused() -> None:
    def plain(x: int) -> int:
        return x

    assert as_step(plain).outputs == ("plain",)
    with pytest.raises(InvalidInput, match="is not a step"):
        as_step(42)
    with pytest.raises(InvalidInput, match="positional-only"):
        step(name="po")(lambda x, /: x)
    with pytest.raises(InvalidInput, match="output name 'context'"):
        step(name="b", outputs=("context", "b"))(lambda: None)
    with pytest.raises(InvalidInput, match="Step name"):
        step(name="bad name")(plain)


def test_order_is_topological_and_keeps_the_listed_order_where_free() -> None:
    @step
    def side(path: str) -> int:
        return 1

    pipeline = Pipeline("p", steps=[report, split, side, clean, load], params={"path": "x"})
    assert [s.name for s in pipeline.order] == ["side", "load", "clean", "split", "report"]
    assert pipeline.bindings["split"]["ratio"].source == "default"
    assert pipeline.bindings["load"]["path"].source == "param"
    assert pipeline.bindings["report"]["train"].producer == "split"
    assert pipeline.downstream("clean") == {"split", "report"}
    assert pipeline.upstream("report") == {"split"}


def test_an_input_nothing_gives_is_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        Pipeline("p", steps=[clean, split])
    assert "step 'clean' reads 'load', which no step or parameter gives" in str(caught.value)
    assert "Outputs: clean, test, train" in str(caught.value)


def test_two_producers_of_one_output_are_named() -> None:
    @step(name="load2", outputs=("load",))
    def other(path: str) -> list:
        return []

    with pytest.raises(InvalidInput, match="steps 'load' and 'load2' both produce 'load'"):
        Pipeline("p", steps=[load, other], params={"path": "x"})


def test_names_used_twice_are_refused() -> None:
    with pytest.raises(InvalidInput, match="two steps are called 'load'"):
        Pipeline("p", steps=[load, load], params={"path": "x"})
    with pytest.raises(InvalidInput, match="'load' is both a parameter and an output"):
        Pipeline("p", steps=[load, clean], params={"path": "x", "load": 1})


def test_cycles_are_named() -> None:
    @step
    def a(c: int) -> int:
        return c

    @step
    def b(a: int) -> int:
        return a

    @step
    def c(b: int) -> int:
        return b

    @step
    def selfish(selfish: int) -> int:
        return selfish

    with pytest.raises(InvalidInput, match="cycle: a → b → c → a"):
        Pipeline("p", steps=[a, b, c])
    with pytest.raises(InvalidInput, match="cycle: selfish → selfish"):
        Pipeline("p", steps=[selfish])


def test_names_params_and_empty_pipelines_are_checked() -> None:
    with pytest.raises(InvalidInput, match="Pipeline name"):
        Pipeline("no spaces", steps=[load], params={"path": "x"})
    with pytest.raises(InvalidInput, match="no steps"):
        Pipeline("p", steps=[])
    pipeline = Pipeline("p", steps=[load], params={"path": "x"})
    assert pipeline.resolve_params({"path": "y"}) == {"path": "y"}
    with pytest.raises(InvalidInput, match=r"no parameter 'pth'.*Its parameters: path"):
        pipeline.resolve_params({"pth": "y"})


def test_loader_reads_python_files_and_hands_yaml_to_the_standard_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "good_pipeline.py"
    good.write_text(
        "from shipyard.pipeline import Pipeline, step\n"
        "@step\ndef one(x: int) -> int:\n    return x\n"
        "pipeline = Pipeline('good', steps=[one], params={'x': 1})\n"
    )
    loaded = load_pipeline(good)
    assert loaded.name == "good" and loaded.source == good.resolve()
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(InvalidInput, match="defines no module-level `pipeline`"):
        load_pipeline(empty)
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    with pytest.raises(InvalidInput, match=r"broken\.py, line 1"):
        load_pipeline(broken)
    other = tmp_path / "notes.txt"
    other.write_text("")
    with pytest.raises(InvalidInput, match="neither a Python nor a YAML"):
        load_pipeline(other)

    config = tmp_path / "pipeline.yaml"
    config.write_text("name: std\n")
    monkeypatch.setitem(sys.modules, "shipyard.pipeline.standard", None)
    with pytest.raises(InvalidInput, match="standard pipeline is not available"):
        load_pipeline(config)
    fake = types.ModuleType("shipyard.pipeline.standard")
    fake.from_yaml = lambda path: Pipeline("std", steps=[load], params={"path": str(path)})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "shipyard.pipeline.standard", fake)
    assert load_pipeline(config).params == {"path": str(config.resolve())}
