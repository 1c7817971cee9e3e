"""Checking and repairing stored state: artifacts against their addresses, records against
the artifacts they name (``shipyard artifacts verify``, ``shipyard db check``)."""
