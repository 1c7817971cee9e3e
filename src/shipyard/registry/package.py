"""Model packages: a model, its signature, an input example, its requirements and its
lineage, stored content-addressed and verified on every load.

A package is a folder::

    package.json            the manifest (format shipyard.model.v1), below
    model.skops             the model, by flavor: model.skops | model.json | model.txt | model.pkl
    input_example.parquet   a few rows (JSON when Arrow cannot hold them)
    requirements.txt        the installed versions of what loading needs, plus shipyard

The manifest names the flavor, the model file's serialization and the types
loading it must trust (see :mod:`shipyard.registry.flavors` for the trust model),
the signature, the classes of a classifier, the requirements, the caller's
lineage record and the sha256 of every other file. The folder is stored with
:meth:`ArtifactStore.put_folder`, so its address covers the manifest, and the
manifest covers every file: a package whose bytes changed in any way is refused
with :class:`~shipyard.errors.CorruptArtifact` before anything is loaded.

Before a package is stored, it is loaded back and must predict exactly what the
original model predicts on the input example (a pickle only once its imports
passed the deny list). Loading a stored pickle runs code, so
:func:`load_package` needs ``trust=True`` for one.
"""

from __future__ import annotations

import json
import platform
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard._version import __version__
from shipyard.errors import AccessDenied, IntegrityError, InvalidInput
from shipyard.jsonsafe import jsonable
from shipyard.lineage import hash_file
from shipyard.registry.flavors import choose_flavor, load_model, runs_code_when_loaded
from shipyard.registry.package_files import (
    MANIFEST_FILE,
    PACKAGE_FORMAT,
    parse_manifest,
    read_example,
    read_manifest_file,
    requirements,
    verify_files,
    write_example,
)
from shipyard.registry.signature import Signature, infer_signature
from shipyard.registry.source import (
    Source,
    example_frame,
    label_array,
    reference_predictions,
    same_predictions,
    unwrap,
)

if TYPE_CHECKING:
    from shipyard.stores.artifacts import ArtifactStore


@dataclass(frozen=True)
class StoredPackage:
    """A package in the artifact store: its address and its manifest."""

    digest: str
    size: int
    manifest: Mapping[str, Any]

    @property
    def flavor(self) -> str:
        return str(self.manifest["flavor"])

    @property
    def signature(self) -> Signature:
        return Signature.from_dict(self.manifest["signature"])


class LoadedModel:
    """A verified, loaded package: predict with input checked against the signature.

    >>> model = load_package(ws.artifacts, digest)  # doctest: +SKIP
    >>> model.predict(frame)[:3]  # doctest: +SKIP
    array([False, True, False])
    """

    def __init__(
        self, model: Any, manifest: Mapping[str, Any], example: pd.DataFrame, digest: str
    ) -> None:
        self.model = model  # the flavor's own object, for what the package does not wrap
        self.manifest = manifest
        self.digest = digest
        self.example_frame = example
        self.signature = Signature.from_dict(manifest["signature"])
        classes = manifest.get("classes")
        self._classes = None if classes is None else label_array(classes)

    @property
    def flavor(self) -> str:
        return str(self.manifest["flavor"])

    @property
    def input_example(self) -> pd.DataFrame:
        return self.example_frame.copy()

    @property
    def requirements(self) -> list[str]:
        return list(self.manifest["requirements"])

    @property
    def lineage(self) -> dict[str, Any]:
        return dict(self.manifest.get("lineage") or {})

    @property
    def classes(self) -> tuple[Any, ...] | None:
        return self.signature.classes

    @property
    def supports_proba(self) -> bool:
        return bool(self.manifest.get("predict_proba"))

    def predict(self, data: Any) -> np.ndarray:
        """Predictions for ``data`` (a DataFrame with the signature's columns)."""
        raw = np.asarray(self.model.predict(self.signature.check(data)))
        if self.manifest.get("decode_labels") and self._classes is not None:
            # The stored model predicts class indices; the caller trained on labels.
            return np.asarray(self._classes[raw.astype(int)])
        return raw

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, one column per class in :attr:`classes` order."""
        if not self.supports_proba:
            raise InvalidInput(
                f"This {self.flavor} model gives no probabilities (it is not a classifier "
                "with predict_proba).",
                hint="Use predict().",
            )
        return np.asarray(self.model.predict_proba(self.signature.check(data)))

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.flavor!r}, package='sha256:{self.digest[:12]}...')"


def save_package(
    artifacts: ArtifactStore,
    model: Any,
    *,
    input_example: Any,
    lineage: Mapping[str, Any] | None = None,
    flavor: str | None = None,
) -> StoredPackage:
    """Package ``model`` (a fitted estimator, booster, Experiment or any object with
    ``predict``) and store it; returns its address and manifest.

    >>> stored = save_package(ws.artifacts, model, input_example=X.head())  # doctest: +SKIP
    """
    with tempfile.TemporaryDirectory(prefix="shipyard-package-") as scratch:
        folder = Path(scratch)
        manifest = build_package(
            folder, model, input_example=input_example, lineage=lineage, flavor=flavor
        )
        stored = artifacts.put_folder(folder)
    return StoredPackage(stored.digest, stored.size, manifest)


def build_package(
    folder: Path,
    model: Any,
    *,
    input_example: Any,
    lineage: Mapping[str, Any] | None = None,
    flavor: str | None = None,
) -> dict[str, Any]:
    """Write a package into an empty local ``folder``; returns its manifest."""
    source = unwrap(model)
    example = example_frame(input_example)
    expected = reference_predictions(source.owner, example)
    chosen = choose_flavor(source.estimator, flavor)
    saved = chosen.save(source.estimator, folder)
    example_file = write_example(example, folder)
    needs = requirements([*chosen.packages, *saved.trusted_types, saved.model_class])
    (folder / "requirements.txt").write_text("\n".join(needs) + "\n")
    manifest: dict[str, Any] = {
        "format": PACKAGE_FORMAT,
        "flavor": chosen.name,
        "model": saved.to_dict(),
        "input_example": {"file": example_file, "rows": len(example)},
        "signature": infer_signature(example, expected, source.classes).to_dict(),
        "classes": jsonable(source.classes),
        "decode_labels": source.decode_labels,
        "source": source.description,
        "requirements": needs,
        "lineage": jsonable(dict(lineage or {})),
        "python": platform.python_version(),
        "shipyard": __version__,
    }
    loaded = LoadedModel(load_model(folder, manifest["model"], source.classes), manifest,
                         example, digest="")  # fmt: skip
    manifest["predict_proba"] = _check_round_trip(loaded, source, example, expected)
    manifest["files"] = {
        p.name: hash_file(p) for p in sorted(folder.iterdir()) if p.name != MANIFEST_FILE
    }
    body = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
    (folder / MANIFEST_FILE).write_text(body + "\n", encoding="utf-8")
    return manifest


def load_package(
    artifacts: ArtifactStore, digest: str, *, trust: bool = False, label: str | None = None
) -> LoadedModel:
    """Load a stored package, every file verified first; CorruptArtifact if any differs.

    A pickled model runs code when it is loaded: it is loaded only with ``trust=True``
    (AccessDenied otherwise). ``label`` names the package in that error.
    """
    with tempfile.TemporaryDirectory(prefix="shipyard-model-") as scratch:
        folder = artifacts.get_folder(digest, scratch)  # each file checked against its sha256
        manifest = read_manifest_file(folder)
        verify_files(folder, manifest)
        if runs_code_when_loaded(manifest["model"]) and not trust:
            named = label or f"Package sha256:{digest.removeprefix('sha256:')}"
            raise _untrusted(named, str(manifest["flavor"]))
        model = load_model(folder, manifest["model"], manifest.get("classes"))
        example = read_example(folder, manifest)
    return LoadedModel(model, manifest, example, digest.removeprefix("sha256:"))


def read_package(artifacts: ArtifactStore, digest: str) -> StoredPackage:
    """A stored package's manifest (verified), without loading the model."""
    listing = artifacts.read_manifest(digest)
    entry = listing["files"].get(MANIFEST_FILE)
    if entry is None:
        raise InvalidInput(f"Artifact {digest} is a folder but not a model package.")
    manifest = parse_manifest(artifacts.get_bytes(entry["digest"]))
    size = sum(int(f["size"]) for f in listing["files"].values())
    return StoredPackage(digest.removeprefix("sha256:"), size, manifest)


def _untrusted(label: str, flavor: str) -> AccessDenied:
    return AccessDenied(
        f"{label} is a pickled {flavor} model: loading it runs code from the package, so it "
        "is not loaded unless you say you trust it.",
        hint="If you trust whoever registered it (shipyard models show says who), load it "
        "with trust=True, e.g. ws.models.load(name, version=..., trust=True).",
    )


def _check_round_trip(
    loaded: LoadedModel, source: Source, example: pd.DataFrame, expected: np.ndarray
) -> bool:
    """Refuse a package that predicts differently; return whether it gives probabilities."""
    if not same_predictions(loaded.predict(example), expected):
        raise IntegrityError(
            f"The saved {loaded.flavor} model predicts differently from the original on the "
            "input example, so it is not stored.",
            hint="Save it with flavor='python' (pickle) instead.",
        )
    proba = getattr(loaded.model, "predict_proba", None)
    original = getattr(source.owner, "predict_proba", None)
    if not callable(proba) or not callable(original):
        return False
    try:
        reference = np.asarray(original(example))
    except Exception:  # a regression Experiment, or an estimator without probabilities
        return False
    if not same_predictions(np.asarray(proba(example)), reference):
        raise IntegrityError(
            f"The saved {loaded.flavor} model's probabilities differ from the original's.",
            hint="Save it with flavor='python' (pickle) instead.",
        )
    return True
