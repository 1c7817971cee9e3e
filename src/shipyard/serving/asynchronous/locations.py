"""Where an async invocation's input may come from and where its output goes.

Outputs go under the endpoint's ``output_path`` (``<artifact_url>/async`` by default):
``ENDPOINT/INFERENCE_ID.out.json`` and, when it fails for good,
``ENDPOINT/INFERENCE_ID.error.json``. The inference id is the server's (a UUID), never
the caller's text, so no caller names a path.

An input by reference is an artifact (``sha256:...``), a dataset version
(``dataset:NAME@V``), a local file under the workspace's data roots, or a URL under the
artifact store or the endpoint's output path: the server reads it with its own rights,
so a caller may point only where the workspace already reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import InvalidInput
from shipyard.serving.asynchronous.config import AsyncConfig

if TYPE_CHECKING:
    from shipyard.config import Settings

_SCHEME = "://"


@dataclass(frozen=True)
class Locations:
    """Where one invocation's output and error go."""

    output: str
    failure: str


def output_root(settings: Settings, config: AsyncConfig) -> str:
    """The folder or URL the endpoint's async outputs go under."""
    root = config.output_path or f"{str(settings.artifact_url).rstrip('/')}/async"
    return root.rstrip("/")


def locations(settings: Settings, config: AsyncConfig, endpoint: str, inference: str) -> Locations:
    base = f"{output_root(settings, config)}/{endpoint}/{inference}"
    return Locations(f"{base}.out.json", f"{base}.error.json")


def check_reference(settings: Settings, config: AsyncConfig, location: str) -> str:
    """``location`` if the server may read it for a caller; InvalidInput saying why not."""
    text = location.strip()
    if text.startswith(("sha256:", "dataset:")):
        return text
    if _SCHEME in text and not text.startswith("file://"):
        allowed = [str(settings.artifact_url).rstrip("/"), output_root(settings, config)]
        if any(_SCHEME in root and text.startswith(root + "/") for root in allowed):
            return text
        roots = " or ".join(r for r in allowed if _SCHEME in r) or "the artifact store's URL"
        raise InvalidInput(
            f"The input location {text[:200]!r} is outside what this endpoint may read.",
            hint="Upload the input in the body, store it as an artifact (sha256:...), or put "
            f"it under {roots}.",
        )
    path = Path(text.removeprefix("file://")).expanduser().resolve()
    if not any(path.is_relative_to(root.resolve()) for root in settings.data_roots):
        raise InvalidInput(
            f"The input location {text[:200]!r} is outside the workspace's data roots.",
            hint="Move the file under a data root (the data_roots setting), register it as a "
            "dataset, or send it in the body.",
        )
    if not path.is_file():
        raise InvalidInput(f"The input location {text[:200]!r} is not a file.")
    return str(path)
