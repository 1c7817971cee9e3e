"""The feature store: definitions, offline point-in-time joins, online store, materialization."""
