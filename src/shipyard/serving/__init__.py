"""Real-time serving (the data plane): endpoints' invocations, input checks, routing."""
