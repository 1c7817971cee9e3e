"""Principal and group names as Shipyard compares them: case-folded.

``ALICE``, ``Alice`` and ``alice`` are one principal, ``PRODUCTION`` and
``production`` one group, and ``PIPELINE`` is the ``pipeline`` principal. Names
are folded where they enter (the workspace's principal, every principal or group
given to the security service), so every later comparison (attached policies,
group membership, the pipeline principal's rights over ``production``) sees one
spelling, and no other spelling can get around it.
"""

from __future__ import annotations

import hashlib
import re

from shipyard.errors import InvalidInput
from shipyard.types import NAME_PATTERN, check_name

# Every "who did it" column (created_by, by, added_by...) holds this many characters.
MAX_PRINCIPAL_LENGTH = 128
PIPELINE_PRINCIPAL = "pipeline"

_VALID_NAME = re.compile(rf"^{NAME_PATTERN}$")


def principal_name(principal: str) -> str:
    """The one spelling of a principal: case-folded, without surrounding spaces.

    >>> principal_name("  Alice ")
    'alice'
    """
    if not isinstance(principal, str) or not principal.strip():
        raise InvalidInput(
            f"A principal name must be a non-empty string, got {principal!r}.",
            hint="Set SHIPYARD_PRINCIPAL (or principal=) to who acts, such as alice.",
        )
    folded = principal.strip().casefold()
    if len(folded) > MAX_PRINCIPAL_LENGTH or not folded.isprintable():
        raise InvalidInput(
            f"The principal name {principal[:40]!r}... is not valid."
            if len(principal) > 40
            else f"The principal name {principal!r} is not valid.",
            hint=f"Use at most {MAX_PRINCIPAL_LENGTH} printable characters.",
        )
    return folded


def group_name(group: str) -> str:
    """The one spelling of a group: a valid name, case-folded.

    >>> group_name("PRODUCTION")
    'production'
    """
    return check_name(group, "Group name").casefold()


def principal_key(principal: str) -> str:
    """The record name a (folded) principal had before revision 0006: itself when it is
    a valid name, else a stable hash of it (downgrading writes such records again)."""
    if _VALID_NAME.match(principal):
        return principal
    return "principal-" + hashlib.sha256(principal.encode()).hexdigest()[:40]
