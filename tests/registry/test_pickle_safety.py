"""Pickled models: imports on the deny list are refused at registration and at load
without running anything, and loading any pickle needs trust=True (except the
pipeline loading its own packages)."""

from __future__ import annotations

import builtins
import json
import os
import pickle
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.errors import AccessDenied, IntegrityError, InvalidInput
from shipyard.lineage import hash_file
from shipyard.registry import load_package, save_package
from shipyard.registry.package import build_package
from shipyard.registry.pickle_policy import refusal
from shipyard.registry.pickles import load_pickle, pickle_globals
from shipyard.registry.records import MODEL_KIND, PIPELINE_PRINCIPAL, RUNS_CODE_WARNING
from shipyard.registry.service import ModelRegistry
from shipyard.stores.artifacts import ArtifactStore

EXAMPLE = pd.DataFrame({"dep_delay": [-3.0, 0.0, 12.0, 45.0, 90.0]})


class DelayRule:
    """An honest hand-written model: late when the departure delay passes a threshold."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (X["dep_delay"] > self.threshold).to_numpy()


class Payload:
    """Pickles as a call of ``function(*args)``: what unpickling it would run."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.function, self.args


class TrojanRule(DelayRule):
    """Predicts like DelayRule, but its pickle runs the payload when loaded."""

    def __init__(self, threshold: float, payload: Payload) -> None:
        super().__init__(threshold)
        self.payload = payload


def touching(sentinel: Path) -> dict[str, Payload]:
    """Payloads that each create ``sentinel`` if they ever run."""
    command = f"touch {sentinel}"
    return {
        "posix:system": Payload(os.system, command),
        "subprocess:Popen": Payload(subprocess.Popen, ["touch", str(sentinel)]),
        "builtins:eval": Payload(builtins.eval, f"open({str(sentinel)!r}, 'w').close()"),
    }


PAYLOADS = ["posix:system", "subprocess:Popen", "builtins:eval"]


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a refused pickle ran its payload"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[shipyard.Workspace]:
    with shipyard.connect(tmp_path / "home") as workspace:
        yield workspace


def registry(ws: shipyard.Workspace, principal: str) -> ModelRegistry:
    return ModelRegistry(ws.metadata, ws.artifacts, principal=principal)


def forged_package(store: ArtifactStore, folder: Path, model_bytes: bytes) -> str:
    """An honest package with its pickle swapped for ``model_bytes``, its manifest updated
    to match (hashes and recorded imports): what someone writing the store by hand could do."""
    folder.mkdir()
    build_package(folder, DelayRule(10.0), input_example=EXAMPLE)
    (folder / "model.pkl").write_bytes(model_bytes)
    manifest = json.loads((folder / "package.json").read_text())
    manifest["model"]["trusted_types"] = pickle_globals(model_bytes)
    manifest["files"]["model.pkl"] = hash_file(folder / "model.pkl")
    (folder / "package.json").write_text(json.dumps(manifest))
    return store.put_folder(folder).digest


# -- registration ---------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_model_whose_pickle_calls_a_denied_function_is_not_registered(
    ws: shipyard.Workspace, sentinel: Path, payload: str
) -> None:
    trojan = TrojanRule(10.0, touching(sentinel)[payload])
    people = registry(ws, "alice")
    with pytest.raises(InvalidInput, match=payload) as refused:
        people.register("delay", trojan, input_example=EXAMPLE)
    assert "refuses" in refused.value.message and "never loaded" in refused.value.message
    assert "__reduce__" in str(refused.value.hint)
    assert ws.models.list() == []


def test_save_package_refuses_before_storing_anything(tmp_path: Path, sentinel: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    with pytest.raises(InvalidInput, match="posix:system"):
        save_package(
            store, TrojanRule(1.0, touching(sentinel)["posix:system"]), input_example=EXAMPLE
        )
    assert not [p for p in Path(store.root).rglob("*") if p.is_file()]


# -- loading a package written by hand --------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_stored_pickle_calling_a_denied_function_is_refused_even_when_trusted(
    ws: shipyard.Workspace, tmp_path: Path, sentinel: Path, payload: str
) -> None:
    data = pickle.dumps(TrojanRule(10.0, touching(sentinel)[payload]), protocol=5)
    digest = forged_package(ws.artifacts, tmp_path / "forged", data)
    with pytest.raises(IntegrityError, match=payload) as refused:
        load_package(ws.artifacts, digest, trust=True)
    assert "nothing in it was executed" in refused.value.message
    # The same through the registry, as a version someone recorded by hand.
    ws.metadata.create_version(
        MODEL_KIND, "forged", created_by=PIPELINE_PRINCIPAL, content_hash=digest,
        attributes={"flavor": "python", "package": digest, "serialization": "pickle"},
    )  # fmt: skip
    with pytest.raises(IntegrityError, match=payload):
        registry(ws, "alice").load("forged", 1, trust=True)
    with pytest.raises(IntegrityError, match=payload):
        registry(ws, PIPELINE_PRINCIPAL).load("forged", 1)


def test_without_trust_a_pickle_is_refused_before_it_is_inspected(
    ws: shipyard.Workspace, tmp_path: Path, sentinel: Path
) -> None:
    data = pickle.dumps(touching(sentinel)["posix:system"], protocol=5)
    digest = forged_package(ws.artifacts, tmp_path / "forged", data)
    with pytest.raises(AccessDenied):  # untrusted: the pickle is never opened
        load_package(ws.artifacts, digest)
    with pytest.raises(IntegrityError, match="posix:system"):
        load_package(ws.artifacts, digest, trust=True)


# -- imports hidden from a naive reader ---------------------------------------------------


def stack_global(module: str, name: str, *, decoy: bool = False) -> bytes:
    """A protocol-4 pickle calling ``module.name("x")``, optionally with a popped decoy
    string between the module and the name (a naive reader takes the decoy as the module)."""

    def text(value: str) -> bytes:
        raw = value.encode()
        return b"\x8c" + bytes([len(raw)]) + raw

    middle = text(module) + (text("decoy") + b"0" if decoy else b"") + text(name)
    return b"\x80\x04" + middle + b"\x93" + text("x") + b"\x85R."


def test_a_decoy_on_the_stack_does_not_hide_the_import() -> None:
    assert pickle_globals(stack_global("os", "system", decoy=True)) == ["os:system"]
    with pytest.raises(IntegrityError, match="os:system"):
        load_pickle(stack_global("os", "system", decoy=True), ["decoy:system", "os:system"])


def test_memoized_names_are_followed() -> None:
    data = pickle.dumps([os.system, os.system], protocol=5)
    assert pickle_globals(data) == ["posix:system"]


def test_a_computed_name_is_refused_unread() -> None:
    # The module name is the result of a call: nobody can say what it imports unloaded.
    module = b"\x8c\x08builtins\x8c\x03str\x93\x8c\x02os\x85R"  # str("os"), a call's result
    computed = b"\x80\x04" + module + b"\x8c\x06system\x93\x8c\x01x\x85R."
    with pytest.raises(IntegrityError, match="computes the name"):
        pickle_globals(computed)


def test_a_denied_function_reached_through_another_module_is_refused(sentinel: Path) -> None:
    # logging imports os, so logging:os.system resolves to os.system.
    data = stack_global("logging", "os.system")
    assert refusal("logging", "os.system") is None  # the name alone looks harmless
    with pytest.raises(IntegrityError, match="posix:system"):
        load_pickle(data, ["logging:os.system"])
    with pytest.raises(IntegrityError, match="dunder"):
        load_pickle(stack_global("logging", "Logger.__init__.__globals__"), [])


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os.path", "join"), ("posix", "system"), ("nt", "system"), ("subprocess", "run"),
        ("sys", "modules"), ("shutil", "rmtree"), ("socket", "socket"),
        ("importlib", "import_module"), ("builtins", "exec"), ("builtins", "getattr"),
        ("builtins", "__import__"), ("__builtin__", "eval"), ("pickle", "loads"),
        ("_pickle", "loads"), ("marshal", "loads"), ("types", "CodeType"),
        ("types", "FunctionType"),
        ("ctypes", "CDLL"), ("pty", "spawn"), ("runpy", "run_path"), ("code", "interact"),
        ("codeop", "compile_command"), ("webbrowser", "open"), ("multiprocessing", "Process"),
        ("signal", "signal"), ("io", "open"), ("_io", "FileIO"), ("pathlib", "Path"),
        ("tempfile", "mkstemp"), ("operator", "attrgetter"), ("operator", "methodcaller"),
        ("shipyard.stores.artifacts", "ArtifactStore"), ("shipyard.workspace", "connect"),
    ],
)  # fmt: skip
def test_the_deny_list(module: str, name: str) -> None:
    assert refusal(module, name) is not None


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("numpy", "ndarray"), ("numpy._core.multiarray", "_reconstruct"), ("builtins", "set"),
        ("copyreg", "_reconstructor"), ("functools", "partial"), ("operator", "itemgetter"),
        ("re", "_compile"), ("io", "BytesIO"), ("sklearn.tree._tree", "Tree"),
        ("shipyard.training.features", "ToCategorical"), ("osprey", "Model"),
        ("numpy.random._pickle", "__randomstate_ctor"),
    ],
)  # fmt: skip
def test_what_models_hold_is_allowed(module: str, name: str) -> None:
    assert refusal(module, name) is None


# -- trust ----------------------------------------------------------------------------------------


def test_an_honest_pickle_loads_only_with_trust(ws: shipyard.Workspace) -> None:
    people = registry(ws, "alice")
    version = people.register("delay", DelayRule(10.0), input_example=EXAMPLE).version
    with pytest.raises(AccessDenied, match=f"model:delay@{version}") as denied:
        people.load("delay", version)
    assert "runs code" in denied.value.message and "trust=True" in str(denied.value.hint)
    loaded = people.load("delay", version, trust=True)
    assert np.array_equal(loaded.predict(EXAMPLE), DelayRule(10.0).predict(EXAMPLE))
    # The pipeline did not register it: it needs trust too.
    with pytest.raises(AccessDenied):
        registry(ws, PIPELINE_PRINCIPAL).load("delay", version)


def test_the_pipeline_loads_its_own_packages_without_trust(ws: shipyard.Workspace) -> None:
    pipeline = registry(ws, PIPELINE_PRINCIPAL)
    lineage = {"pipeline_run": "pipeline_run:nightly", "build_id": "build-1"}
    version = pipeline.register("delay", DelayRule(10.0), input_example=EXAMPLE,
                                lineage=lineage).version  # fmt: skip
    assert pipeline.load("delay", version).predict(EXAMPLE).tolist() == [
        False, False, True, True, True
    ]  # fmt: skip
    # A person loading it still says they trust it.
    with pytest.raises(AccessDenied):
        registry(ws, "alice").load("delay", version)


def test_pipeline_lineage_given_by_a_person_grants_nothing(ws: shipyard.Workspace) -> None:
    people = registry(ws, "mallory")
    lineage = {"pipeline_run": "pipeline_run:nightly", "build_id": "build-1"}
    version = people.register("delay", DelayRule(10.0), input_example=EXAMPLE,
                              lineage=lineage).version  # fmt: skip
    with pytest.raises(AccessDenied):
        registry(ws, PIPELINE_PRINCIPAL).load("delay", version)


def test_the_version_says_loading_runs_code(ws: shipyard.Workspace) -> None:
    people = registry(ws, "alice")
    people.register("delay", DelayRule(10.0), input_example=EXAMPLE)
    shown = people.get("delay")
    assert shown.warning == RUNS_CODE_WARNING
    assert shown.to_dict()["warning"] == RUNS_CODE_WARNING
    assert shown.to_dict()["serialization"] == "pickle"
