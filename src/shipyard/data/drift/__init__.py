"""Has a column's distribution changed? Tests, effect sizes and one decision rule.

Each column of a current table (or monitoring window) is compared with the
same column of a reference: raw values, or a profile summarised once.

**Numeric columns** (:func:`numeric_drift_from_samples`, or
:func:`numeric_drift_from_summaries` for profiles and sketches):

* ``ks`` -- two-sample Kolmogorov-Smirnov. Raw values give the exact
  statistic (scipy's ``ks_2samp`` and its exact p-value up to 10,000 values a
  side; above that the Kolmogorov limit law, see :func:`ks_p_value`). From
  sketches, ``D = max |F_ref - F_cur|`` over the union of both sketches'
  quantiles at 1,001 ranks; each sketched CDF may be off by its
  rank error (about 1% for a KLL sketch with k=200), so D may overstate the
  true distance by up to ``rank_error_ref + rank_error_cur``. The effect is
  ``adjusted D = max(0, D - that sum)`` and the p-value is taken on it, with
  ``n_eff = n_ref * n_cur / (n_ref + n_cur)``. Without this, two sketches of
  the same distribution differ by ~0.01 from sketch error alone, which at
  n = 200,000 has a p-value below 1e-6: a false alarm on every run.
* ``welch`` -- Welch's t-test on the means from n, mean and variance; the
  effect is the standardised mean difference ``(mean_cur - mean_ref) /
  std_ref``. Cohen's d (pooled std) is in the details.
* ``psi`` and ``js`` -- PSI and Jensen-Shannon distance over 10 bins cut at
  reference deciles; reported, not part of the rule.

**Categorical columns** (:func:`categorical_drift`, from category counts):

* ``chi2`` -- chi-square test of homogeneity on the 2 x k table of counts;
  categories unseen in the reference form one "new" bucket; categories with
  an expected count below 5 are pooled. The effect is Cramér's V, computed
  as if both samples had the same size (see :func:`cramers_v_equal_size`).
* ``js`` -- Jensen-Shannon distance (base 2, in [0, 1]) of the category shares.
* ``new_categories`` -- share of current rows in categories the reference
  never saw. ``psi`` is reported too.

**The rule** (:func:`decide`). On large samples every p-value is tiny, so a
p-value alone flags harmless differences; a column is flagged only when a
difference is both *real* and *big enough to matter*:

1. All p-values of one comparison (KS and Welch for each numeric column,
   chi-square for each categorical one) form one family; Holm-Bonferroni
   keeps the chance of any false "significant" at or below ``alpha``
   (default 0.05). A test is *significant* when its adjusted p <= alpha.
2. A numeric column has drifted if
   (KS significant **and** adjusted D >= ``ks_d``, default 0.1) **or**
   (Welch significant **and** ``|SMD|`` >= ``smd``, default 0.2) **or**
   (KS significant **and** the interquartile range grew or shrank by a factor
   of ``spread_ratio``, default 1.25, or more): a change of spread alone moves
   the CDF too little for the D gate (a std 1.34 times larger gives D = 0.07).
3. A categorical column has drifted if
   chi-square is significant **and** (V >= ``cramers_v``, default 0.1, **or**
   JS >= ``js``, default 0.1) -- **or**, as a finding of its own, if at least
   ``new_share`` (default 1%) of current rows fall in unseen categories.

Putting every test in one family is stricter than needed (a numeric column
counts twice) but keeps the promise simple: on unchanged data, the chance
that a comparison flags anything is at most ``alpha``. The gates make it far
smaller, because a real difference must also be large. What the defaults
mean: D = 0.1 is about a 0.25-std shift of a normal, or its std grown 1.6-fold; a
pure change of spread is tested by KS and sized by the interquartile range. PSI floors empty bins at
``PSI_EPSILON`` (1e-4).

Thresholds live in :class:`DriftThresholds`; override them per column with
``decide(..., per_column={"price": {"ks_d": 0.2}})``. Each verdict carries a
sentence saying why (``ColumnDrift.reason``).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> columns = {
    ...     "price": numeric_drift_from_samples(rng.normal(10, 2, 20_000),
    ...                                         rng.normal(11, 2, 20_000)),
    ...     "city": categorical_drift({"Oslo": 600, "Rome": 400}, {"Oslo": 590, "Rome": 410}),
    ... }
    >>> result = decide(columns)
    >>> result.drifted_columns
    ('price',)
    >>> result["price"].reason.split(":")[0], result["city"].drifted
    ('Drifted', False)
"""

from __future__ import annotations

from shipyard.data.drift.categorical import categorical_drift, cramers_v_equal_size
from shipyard.data.drift.decision import (
    ColumnDrift,
    ColumnStats,
    DriftResult,
    DriftThresholds,
    StatResult,
    decide,
    holm,
)
from shipyard.data.drift.divergence import PSI_EPSILON, KSResult, js_distance, ks_p_value, psi
from shipyard.data.drift.numeric import (
    NumericSummary,
    ks_from_cdfs,
    mean_shift,
    numeric_drift_from_samples,
    numeric_drift_from_summaries,
    welch_from_summaries,
)

__all__ = [
    "PSI_EPSILON",
    "ColumnDrift",
    "ColumnStats",
    "DriftResult",
    "DriftThresholds",
    "KSResult",
    "NumericSummary",
    "StatResult",
    "categorical_drift",
    "cramers_v_equal_size",
    "decide",
    "holm",
    "js_distance",
    "ks_from_cdfs",
    "ks_p_value",
    "mean_shift",
    "numeric_drift_from_samples",
    "numeric_drift_from_summaries",
    "psi",
    "welch_from_summaries",
]
