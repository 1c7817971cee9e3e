"""The `shipyard` command: Typer commands, one module per domain, over the services."""
