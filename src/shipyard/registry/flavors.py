"""Model flavors: how each kind of model is written to a package and read back.

=========  ===========================================  ===================
flavor     models                                        file (serialization)
=========  ===========================================  ===================
sklearn    any scikit-learn estimator or Pipeline        model.skops (skops)
xgboost    XGBClassifier/Regressor/Ranker, Booster        model.json (native)
lightgbm   LGBMClassifier/Regressor/Ranker, Booster       model.txt (native)
python     any object with ``predict``                   model.pkl (pickle)
=========  ===========================================  ===================

Trust model. The native XGBoost and LightGBM formats are data, never code.
``skops`` files are loaded with an explicit list of trusted types: when a model
is saved, the types skops does not trust by default
(:func:`skops.io.get_untrusted_types`) are recorded in the package manifest;
when it is loaded, exactly those types are trusted and a file that needs any
other type is refused. (So trusting a package means trusting the principal who
registered it: the recorded types are whatever that principal's model held.)

A pickle (the ``python`` flavor, and, with a warning, any scikit-learn model
skops cannot save) runs code when it is loaded: whatever it imports, it may call.
So (see :mod:`shipyard.registry.pickles`):

- every import the pickle makes is read from its opcodes, without loading it, and
  checked against a fixed deny list (:mod:`shipyard.registry.pickle_policy`)
  when the model is registered and again before every load; the imports are
  recorded in the manifest, and loading resolves only those;
- loading a pickled package needs ``trust=True`` from the caller
  (:func:`runs_code_when_loaded`), except when the pipeline loads a package it
  registered itself;
- a package is loaded only from the workspace's content-addressed artifact
  store, every file verified against its sha256 and the manifest itself covered
  by the package's address. Never load a package from anywhere else.

The deny list refuses the known ways to run commands or code; it cannot prove a
pickle harmless, which is why trust stays the caller's decision.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import BackendUnavailable, IntegrityError, InvalidInput
from shipyard.registry.boosters import (
    LIGHTGBM_CLASSES,
    XGBOOST_CLASSES,
    load_lightgbm,
    load_xgboost,
)
from shipyard.registry.pickles import (
    dump_pickle,
    load_pickle,
    pickle_globals,
    refuse_denied_imports,
)

SKOPS = "skops"
PICKLE = "pickle"
XGBOOST_JSON = "xgboost-json"
LIGHTGBM_TEXT = "lightgbm-text"


@dataclass(frozen=True)
class SavedModel:
    """What a flavor wrote: the file, its serialization and what loading it must trust."""

    file: str
    serialization: str
    model_class: str
    trusted_types: tuple[str, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "serialization": self.serialization,
            "class": self.model_class,
            "trusted_types": list(self.trusted_types),
            "note": self.note,
        }


class Flavor(ABC):
    """How one kind of model is recognised and saved; loading goes by serialization."""

    name: str
    packages: tuple[str, ...]  # top-level modules whose distributions a loader needs

    @abstractmethod
    def matches(self, model: Any) -> bool:
        """Whether this flavor can save ``model``."""

    @abstractmethod
    def save(self, model: Any, folder: Path) -> SavedModel:
        """Write ``model`` into ``folder``."""


class SklearnFlavor(Flavor):
    name = "sklearn"
    packages = ("sklearn", "skops", "numpy", "scipy", "pandas")

    def matches(self, model: Any) -> bool:
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def save(self, model: Any, folder: Path) -> SavedModel:
        sio = _skops()
        path = folder / "model.skops"
        try:
            sio.dump(model, path)
            trusted = tuple(sio.get_untrusted_types(file=path))
            sio.load(path, trusted=list(trusted))  # a package that saves must load
        except Exception as exc:  # skops refuses some objects: fall back, and say so
            path.unlink(missing_ok=True)
            note = f"skops could not save this model ({type(exc).__name__}: {exc}); pickled."
            warnings.warn(
                f"{note} Loading it runs code, so it will need trust=True.",
                stacklevel=3,
            )
            return save_pickle(model, folder, note=note)
        return SavedModel(path.name, SKOPS, class_path(model), trusted)


class XGBoostFlavor(Flavor):
    name = "xgboost"
    packages = ("xgboost", "numpy", "pandas")

    def matches(self, model: Any) -> bool:
        return _known_class(model, XGBOOST_CLASSES) is not None

    def save(self, model: Any, folder: Path) -> SavedModel:
        path = folder / "model.json"
        model.save_model(str(path))
        return SavedModel(path.name, XGBOOST_JSON, str(_known_class(model, XGBOOST_CLASSES)))


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    packages = ("lightgbm", "numpy", "pandas")

    def matches(self, model: Any) -> bool:
        return _known_class(model, LIGHTGBM_CLASSES) is not None

    def save(self, model: Any, folder: Path) -> SavedModel:
        path = folder / "model.txt"
        booster = getattr(model, "booster_", model)  # the sklearn wrapper holds a Booster
        booster.save_model(str(path))
        return SavedModel(path.name, LIGHTGBM_TEXT, str(_known_class(model, LIGHTGBM_CLASSES)))


class PythonFlavor(Flavor):
    name = "python"
    packages = ("numpy", "pandas")

    def matches(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, folder: Path) -> SavedModel:
        return save_pickle(model, folder)


FLAVORS: dict[str, Flavor] = {
    f.name: f for f in (SklearnFlavor(), XGBoostFlavor(), LightGBMFlavor(), PythonFlavor())
}
# Boosters are scikit-learn estimators too: the native formats are checked first.
_DETECTION_ORDER = ("xgboost", "lightgbm", "sklearn", "python")


def choose_flavor(model: Any, flavor: str | None = None) -> Flavor:
    """The flavor to save ``model`` with: ``flavor`` if given and fitting, else detected."""
    detected = next((FLAVORS[n] for n in _DETECTION_ORDER if FLAVORS[n].matches(model)), None)
    if detected is None or not callable(getattr(model, "predict", None)):
        raise InvalidInput(
            f"A {type(model).__name__} cannot be packaged: it has no predict method.",
            hint="Pass a fitted scikit-learn, XGBoost or LightGBM model, a fitted Shipyard "
            "Experiment, or any object with predict(DataFrame).",
        )
    if flavor is None:
        return detected
    if flavor not in FLAVORS:
        raise InvalidInput(
            f"Unknown model flavor {flavor!r}.", hint=f"Use one of: {', '.join(FLAVORS)}."
        )
    chosen = FLAVORS[flavor]
    if not chosen.matches(model):
        raise InvalidInput(
            f"The {flavor} flavor cannot save a {class_path(model)}.",
            hint=f"Leave flavor unset: this model is detected as {detected.name!r}.",
        )
    return chosen


def load_model(folder: Path, entry: Mapping[str, Any], classes: Sequence[Any] | None) -> Any:
    """Read the model file described by a manifest's ``model`` entry, trusting only what
    the entry records. The file must already be verified against its sha256."""
    path = folder / entry["file"]
    serialization = entry["serialization"]
    trusted = [str(t) for t in entry.get("trusted_types", [])]
    if serialization == SKOPS:
        return _load_skops(path, trusted)
    if serialization == PICKLE:
        return load_pickle(path.read_bytes(), trusted)
    if serialization == XGBOOST_JSON:
        return load_xgboost(path, str(entry["class"]))
    if serialization == LIGHTGBM_TEXT:
        return load_lightgbm(path, str(entry["class"]), classes)
    raise IntegrityError(
        f"The package's model is stored as {serialization!r}, which this Shipyard cannot read.",
        hint="Upgrade Shipyard to the version that wrote the package.",
    )


# -- skops -----------------------------------------------------------------------------


def _skops() -> Any:
    try:
        import skops.io as sio
    except ImportError:
        raise BackendUnavailable(
            "Saving scikit-learn models needs the 'skops' package, which is not installed.",
            hint="pip install skops",
        ) from None
    return sio


def _load_skops(path: Path, trusted: list[str]) -> Any:
    sio = _skops()
    needed = sio.get_untrusted_types(file=path)
    unexpected = sorted(set(needed) - set(trusted))
    if unexpected:
        raise IntegrityError(
            f"The model file needs type(s) its package did not record as trusted: "
            f"{', '.join(unexpected)}. It is not loaded.",
            hint="The file does not match its manifest; if this skops version trusts fewer "
            "types by default than the one that saved it, save the model again.",
        )
    return sio.load(path, trusted=trusted)


def save_pickle(model: Any, folder: Path, *, note: str | None = None) -> SavedModel:
    """Pickle ``model`` into ``folder``, recording every global the pickle references."""
    data = dump_pickle(model)
    imports = pickle_globals(data)
    refuse_denied_imports(imports, registering=True)  # before the round trip loads it
    path = folder / "model.pkl"
    path.write_bytes(data)
    return SavedModel(path.name, PICKLE, class_path(model), tuple(imports), note)


def runs_code_when_loaded(entry: Mapping[str, Any]) -> bool:
    """Whether loading the model a manifest's ``model`` entry describes runs its code."""
    return entry.get("serialization") == PICKLE


# -- helpers -----------------------------------------------------------------------------


def class_path(model: Any) -> str:
    kind = type(model)
    return f"{kind.__module__}.{kind.__qualname__}"


def _known_class(model: Any, known: Mapping[str, str]) -> str | None:
    """The first class in ``model``'s MRO that ``known`` names (subclasses load as it)."""
    for kind in type(model).__mro__:
        path = f"{kind.__module__}.{kind.__qualname__}"
        if path in known:
            return path
    return None
