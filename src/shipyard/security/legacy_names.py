"""Principal and group records stored before names were case-folded.

Before, ``Alice`` and ``alice`` were two principals with records of their own,
and ``Analysts`` a group apart from ``analysts``. Such a record counts for its
folded name until that name has a record of its own: the principal or group then
has the groups and policies of every old spelling together, so an upgrade drops
no Deny that applied to one of them. The first change made through the folded
name writes that union as its own record, which from then on is the state.

Old records are found once per service (new ones are never written): a scan of
the record names, reading only the hashed principal records (whose name does
not say whose they are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.security.names import group_name, principal_key, principal_name

if TYPE_CHECKING:
    from shipyard.stores.metadata import MetadataStore

PRINCIPAL_KIND = "principal"
GROUP_KIND = "group"
HASHED_PREFIX = "principal-"


class LegacyNames:
    """Finds the records that old spellings of a name left, by the name's folded key."""

    def __init__(self, metadata: MetadataStore) -> None:
        self._metadata = metadata
        self._found: dict[str, dict[str, list[str]]] = {}  # kind -> folded key -> record names

    def records(self, kind: str, key: str) -> list[str]:
        """Names of the records of ``kind`` that an old spelling of ``key`` left."""
        if kind not in self._found:
            self._found[kind] = self._scan(kind)
        return self._found[kind].get(key, [])

    def _scan(self, kind: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name in self._metadata.list_names(kind):
            folded = self._folded_key(kind, name)
            if folded is not None and folded != name:
                found.setdefault(folded, []).append(name)
        return found

    def _folded_key(self, kind: str, name: str) -> str | None:
        if kind == GROUP_KIND:
            return group_name(name)
        if not name.startswith(HASHED_PREFIX):
            return principal_key(principal_name(name))
        owner = self._metadata.get_version(kind, name).attributes.get("principal")
        if not isinstance(owner, str) or not owner.strip():
            return None  # not a record this service wrote: leave it alone
        return principal_key(principal_name(owner))
