"""Deployments: strategies, guard alarms, the state machine and the job that runs it."""
