"""Filtering what a list shows by access, without the noise of denials.

A list leaves out what the principal may not read; that is not an attempt to read
it, so it must not fill the audit log with denials. The workspace's check
(:class:`~shipyard.security.audit.AuditedAuthorize`) offers ``allows``, which
decides without an entry; a bare ``require`` (a service built alone) is asked and
its AccessDenied caught.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shipyard.errors import AccessDenied

Authorize = Callable[[str, "str | Sequence[str]"], None]


def permitted(authorize: Authorize, action: str, resources: str | Sequence[str]) -> bool:
    """Whether ``authorize`` lets ``action`` on every one of ``resources``, quietly."""
    quiet = getattr(authorize, "allows", None)
    if quiet is not None:
        return bool(quiet(action, resources))
    try:
        authorize(action, resources)
    except AccessDenied:
        return False
    return True


def readable(
    authorize: Authorize, action: str, names: Sequence[str], resource: Callable[[str], str]
) -> list[str]:
    """The ``names`` whose ``resource(name)`` allows ``action`` (one check when all do)."""
    if not names or permitted(authorize, action, [resource(n) for n in names]):
        return list(names)
    return [n for n in names if permitted(authorize, action, resource(n))]
