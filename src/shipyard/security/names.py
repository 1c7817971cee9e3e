"""Principal and group names as Shipyard compares them: case-folded.

``ALICE``, ``Alice`` and ``alice`` are one principal, ``PRODUCTION`` and
``production`` one group, and ``PIPELINE`` is the ``pipeline`` principal. Names
are folded where they enter (the workspace's principal, every principal or group
given to the security service), so every later comparison (attached policies,
group membership, the pipeline principal's rights over protected aliases) sees
one spelling, and no other spelling can get around it.
"""

from __future__ import annotations

import hashlib
import re

from shipyard.errors import InvalidInput
from shipyard.types import NAME_PATTERN, check_name

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
    return principal.strip().casefold()


def group_name(group: str) -> str:
    """The one spelling of a group: a valid name, case-folded.

    >>> group_name("PRODUCTION")
    'production'
    """
    return check_name(group, "Group name").casefold()


def principal_key(principal: str) -> str:
    """The record name of a (folded) principal: itself when it is a valid name, else a
    stable hash of it (``alice@example.com`` is not a valid record name)."""
    if _VALID_NAME.match(principal):
        return principal
    return "principal-" + hashlib.sha256(principal.encode()).hexdigest()[:40]
