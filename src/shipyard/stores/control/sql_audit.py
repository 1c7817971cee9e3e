"""Placeholder while this part is written (replaced in this change set)."""

from __future__ import annotations

from typing import Any

from shipyard.stores.control.sql_common import SqlPart


class AuditScheduleSql(SqlPart):

    def audit(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def audit_log(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def put_schedule(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def schedules(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def delete_schedule(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def fire_due(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError
