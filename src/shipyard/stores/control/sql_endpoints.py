"""Placeholder while this part is written (replaced in this change set)."""

from __future__ import annotations

from typing import Any

from shipyard.stores.control.sql_common import SqlPart


class EndpointStateSql(SqlPart):

    def create_endpoint(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def endpoint(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def endpoints(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def update_endpoint(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def delete_endpoint(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def create_deployment(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def deployment(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def deployments(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def update_deployment(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError

    def events(self, *args: object, **kwargs: object) -> Any:
        raise NotImplementedError
