"""Data tooling: checks, transformations and label aggregation for training sets."""
