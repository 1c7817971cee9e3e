"""Persistence behind interfaces: metadata (SQL), artifacts (fsspec), online features.

Stores import no service; services reach them through the Workspace.
"""
