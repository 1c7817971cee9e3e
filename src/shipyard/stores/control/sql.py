"""The control store on the metadata database (SQLite or PostgreSQL): one class per part."""

from __future__ import annotations

from shipyard.stores.control.base import ControlStore
from shipyard.stores.control.sql_audit import AuditScheduleSql
from shipyard.stores.control.sql_endpoints import EndpointStateSql
from shipyard.stores.control.sql_models import ModelStateSql


class SqlControlStore(ModelStateSql, EndpointStateSql, AuditScheduleSql, ControlStore):
    """Aliases, approvals, endpoints, deployments, the audit log and schedules."""
