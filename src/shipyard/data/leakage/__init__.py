"""The leakage report: what lets information from evaluation sets into training.

Pure domain logic over sets that are already split (pandas DataFrames; no stores).
:func:`leakage_report` looks for

* rows copied across sets (same id or time), copies with conflicting targets, and
  rows of other events that happen to equal them on every feature (judged by share);
* near duplicates (numbers equal after standardising and rounding, text equal after
  casefolding, NFKC, punctuation and whitespace normalisation);
* group keys shared across sets;
* training rows later than the start of an evaluation (window) set;
* features not available at prediction time: declared ``known_after`` columns, and
  single features that predict the target almost perfectly on validation, nearly as
  well as a quick model on all features, or far better than every other feature.

Each problem is a :class:`Finding` with a severity; :meth:`LeakageReport.raise_for_errors`
turns error-level findings into :class:`~shipyard.errors.GateFailed` so a pipeline stops.

Example:
    >>> import pandas as pd
    >>> from shipyard.data.leakage import leakage_report
    >>> train = pd.DataFrame({"id": [1, 2, 3], "x": [0.1, 0.5, 0.9], "fee": [0, 5, 5],
    ...                       "late": [False, True, True]})
    >>> valid = pd.DataFrame({"id": [4, 5, 6], "x": [0.9, 0.8, 0.3], "fee": [5, 0, 5],
    ...                       "late": [True, False, True]})
    >>> report = leakage_report({"training": train, "validation": valid}, target="late",
    ...                         id_columns=["id"], known_after=["fee"])
    >>> [(f.kind, f.severity) for f in report.errors]
    [('exact_duplicates', 'error'), ('known_after_event', 'error'), ('target_proxy', 'error')]
    >>> report.of_kind("exact_duplicates")[0].examples
    ({'rows': {'training': 3, 'validation': 4}},)
"""

from shipyard.data.leakage.check import leakage_report
from shipyard.data.leakage.duplicates import normalise, normalise_text
from shipyard.data.leakage.proxies import feature_scores, roc_auc, target_kind
from shipyard.data.leakage.report import (
    FeatureScore,
    Finding,
    LeakageReport,
    LeakageThresholds,
    ModelScore,
    Severity,
)

__all__ = [
    "FeatureScore",
    "Finding",
    "LeakageReport",
    "LeakageThresholds",
    "ModelScore",
    "Severity",
    "feature_scores",
    "leakage_report",
    "normalise",
    "normalise_text",
    "roc_auc",
    "target_kind",
]
