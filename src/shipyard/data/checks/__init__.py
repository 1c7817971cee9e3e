"""Data unit tests: a table (or its profile) against a baseline, with a report.

Checks: schema (columns present, kinds, unexpected columns), missing fraction,
non-negativity, ranges, categories unseen in the baseline, distinct counts,
distribution against the reference profile (:mod:`shipyard.data.drift`'s rule:
significance after Holm correction *and* an effect size over its threshold),
key uniqueness, and custom checks as DuckDB SQL predicates or Python functions.
Each result is pass, warn or fail, with the observed value, the expected bound
and a sentence saying why.

>>> from shipyard.data.checks import run_checks, SqlCheck  # doctest: +SKIP
>>> report = run_checks(frame, constraints=baseline.constraints, reference=baseline.statistics,
...                     sql=[SqlCheck("positive_distance", "distance > 0")])  # doctest: +SKIP
>>> report.raise_for_failures()  # doctest: +SKIP
"""

from shipyard.data.checks.custom import PythonCheck, SqlCheck
from shipyard.data.checks.result import CheckReport, CheckResult
from shipyard.data.checks.suite import run_checks

__all__ = ["CheckReport", "CheckResult", "PythonCheck", "SqlCheck", "run_checks"]
