"""Small types shared by many parts: references to versioned things.

Everything stored has a kind, a human name and an integer version that only
grows: ``dataset:flights@3``, ``model:delay@7``; without ``@V`` a reference
means the latest version (or, for kinds without versions such as endpoints,
the thing itself).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.errors import InvalidInput

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}"
_NAME = re.compile(rf"^{NAME_PATTERN}$")
_REF = re.compile(rf"^(?P<kind>[a-z][a-z_]*):(?P<name>{NAME_PATTERN})(?:@(?P<version>\d+))?$")


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a valid name, else raise InvalidInput saying why."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"{what} {name!r} is not valid.",
            hint="Use 1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit.",
        )
    return name


@dataclass(frozen=True, order=True)
class Ref:
    """A reference such as ``model:delay@7``.

    >>> Ref.parse("model:delay@7")
    Ref(kind='model', name='delay', version=7)
    >>> str(Ref("dataset", "flights"))
    'dataset:flights'
    """

    kind: str
    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str, *, kind: str | None = None) -> Ref:
        """Parse ``kind:name[@version]``; with ``kind`` given, ``name[@version]`` also works."""
        if kind is not None and isinstance(text, str) and ":" not in text:
            text = f"{kind}:{text}"
        match = _REF.match(text) if isinstance(text, str) else None
        if match is None:
            example = f"{kind or 'model'}:delay@7"
            raise InvalidInput(
                f"{text!r} is not a valid reference.",
                hint=f"Write kind:name or kind:name@version, for example {example!r}.",
            )
        if kind is not None and match["kind"] != kind:
            raise InvalidInput(f"Expected a {kind} reference, got {text!r}.")
        version = int(match["version"]) if match["version"] else None
        if version == 0:
            raise InvalidInput(f"{text!r}: versions start at 1.")
        return cls(match["kind"], match["name"], version)

    def __str__(self) -> str:
        base = f"{self.kind}:{self.name}"
        return base if self.version is None else f"{base}@{self.version}"
