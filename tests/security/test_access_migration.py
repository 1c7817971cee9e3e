"""Upgrading to revision 0006 moves the principal and group records that earlier versions
of Shipyard wrote into the access tables: the same memberships and attachments, old
spellings of a name folded together, the history kept as events, the records gone."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from alembic.command import upgrade
from alembic.config import Config

from shipyard.errors import AccessDenied
from shipyard.security.policies import Policy, feature_resource
from shipyard.security.service import SecurityService
from shipyard.stores.metadata import open_metadata_store
from shipyard.stores.metadata.migrate import MIGRATIONS
from shipyard.stores.metadata.sql import SqlMetadataStore

READ = "features:ReadOnline"
SSN = feature_resource("customers", "ssn")
AGE = feature_resource("customers", "age")
READ_ALL = {"Statement": {"Effect": "Allow", "Action": "features:Read*", "Resource": "*"}}
NO_SSN = {"Statement": {"Sid": "NoSSN", "Effect": "Deny", "Action": "*", "Resource": SSN}}
HASHED_BOB = "principal-" + hashlib.sha256(b"Bob Smith").hexdigest()[:40]


def upgrade_to(store: SqlMetadataStore, revision: str) -> None:
    with store.transaction() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        upgrade(config, revision)


def old_record(store: SqlMetadataStore, kind: str, name: str, **attributes: Any) -> None:
    """A principal or group record as the security service of revision 0005 wrote it."""
    store.create_version(kind, name, created_by="old-admin", attributes=attributes)


def change(op: str, field: str, value: str) -> dict[str, str]:
    return {"op": op, "field": field, "value": value}


def write_revision_0005_state(store: SqlMetadataStore) -> None:
    for name, document in (("readers", READ_ALL), ("pii-guard", NO_SSN)):
        canonical = Policy.from_document(document).to_document()
        store.create_version("policy", name, created_by="old-admin", attributes=canonical)
    # alice: a record under an old spelling (from before names were folded) and one
    # under the folded name that never took it in: together they are her state.
    old_record(store, "principal", "Alice", principal="Alice", policies=["pii-guard"],
               groups=["Analysts"], change=change("add", "groups", "Analysts"))  # fmt: skip
    old_record(store, "principal", "alice", principal="alice", policies=[], groups=[])
    # The group's own old spelling.
    old_record(store, "group", "Analysts", policies=["readers"],
               change=change("add", "policies", "readers"))  # fmt: skip
    # A principal whose name is not a record name was stored under a hash of it.
    old_record(store, "principal", HASHED_BOB, principal="Bob Smith", policies=["pii-guard"],
               groups=[], change=change("add", "policies", "pii-guard"))  # fmt: skip
    # carol's folded record took her old spelling in and then detached pii-guard: the
    # folded record alone is her state, so the old Deny does not come back.
    old_record(store, "principal", "CAROL", principal="CAROL", policies=["pii-guard"],
               groups=[], change=change("add", "policies", "pii-guard"))  # fmt: skip
    old_record(store, "principal", "carol", principal="carol", policies=["pii-guard"],
               groups=[], folded=True)  # fmt: skip
    old_record(store, "principal", "carol", principal="carol", policies=[], groups=[],
               folded=True, change=change("remove", "policies", "pii-guard"))  # fmt: skip
    # dave's history: joined two groups, left one.
    for op, group, groups in (("add", "g1", ["g1"]), ("add", "g2", ["g1", "g2"]),
                              ("remove", "g1", ["g2"])):  # fmt: skip
        old_record(store, "principal", "dave", principal="dave", policies=[], groups=groups,
                   folded=True, change=change(op, "groups", group))  # fmt: skip


def test_upgrade_moves_principal_and_group_records_into_the_access_tables(
    metadata_url: str,
) -> None:
    store = open_metadata_store(metadata_url)
    try:
        upgrade_to(store, "0005")
        write_revision_0005_state(store)
        store.upgrade()
        assert store.schema_status().up_to_date
        assert store.list_names("principal") == [] and store.list_names("group") == []

        admin = SecurityService(store, principal="admin")
        alice = admin.membership("ALICE")
        assert (alice.groups, alice.policies) == (("analysts",), ("pii-guard",))
        assert admin.group_policies("analysts") == ["readers"]
        assert admin.membership("bob smith").policies == ("pii-guard",)
        assert admin.membership("carol").policies == ()
        assert admin.membership("dave").groups == ("g2",)
        assert admin.members("analysts") == ["alice"]

        # What applied before applies now: alice reads through her old group, and her
        # old spelling's Deny still stops her.
        admin.require(READ, AGE, principal="alice")
        with pytest.raises(AccessDenied, match="NoSSN"):
            admin.require(READ, SSN, principal="alice")
        with pytest.raises(AccessDenied, match="NoSSN"):
            admin.require(READ, SSN, principal="Bob Smith")
        admin.require(READ, SSN, principal="carol")  # unrestricted, as before

        # The history of every change is kept as events, folded, with who and when.
        dave = admin.access_history(principal="dave")
        assert [(e.change, e.subject) for e in dave] == [
            ("join", "g1"), ("join", "g2"), ("leave", "g1"),
        ]  # fmt: skip
        assert {e.by for e in dave} == {"old-admin"}
        assert [(e.change, e.target) for e in admin.access_history(group="analysts")] == [
            ("join", "alice"), ("attach", "analysts"),
        ]  # fmt: skip

        # Changes after the upgrade are rows like any other.
        assert not admin.attach("pii-guard", principal="alice")  # already there
        assert admin.detach("pii-guard", principal="Alice")
        admin.require(READ, SSN, principal="alice")
    finally:
        store.close()
