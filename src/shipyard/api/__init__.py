"""The HTTP API: FastAPI routers, one per domain, over the same services as the CLI."""
