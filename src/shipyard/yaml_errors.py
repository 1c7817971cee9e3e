"""YAML syntax errors in one line: where, and what is wrong (the CLI promises one line)."""

from __future__ import annotations


def yaml_problem(exc: Exception) -> str:
    """``line L, column C: problem`` from a PyYAML error (1-based, as editors count).

    >>> import yaml
    >>> try:
    ...     yaml.safe_load("a: [1, 2\\nb: 3")
    ... except yaml.YAMLError as err:
    ...     print(yaml_problem(err))
    line 2, column 2: expected ',' or ']', but got ':'
    """
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(problem).split())
