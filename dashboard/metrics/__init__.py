"""Every number the panels see, as pure Polars functions of validated frames (no Streamlit).

Pages, the CLI and exports all call these, so a figure is the same wherever it is shown.
"""

from dashboard.dimensions import GROUPS
from dashboard.metrics.catalogue import Metric, catalogue, proportions
from dashboard.metrics.data_quality import (
    data_quality_by_centre,
    followup_completeness,
    last_submission,
)
from dashboard.metrics.early_warning import WATCHED as EARLY_WARNING
from dashboard.metrics.early_warning import series as early_warning_chart
from dashboard.metrics.early_warning import thresholds as early_warning_thresholds
from dashboard.metrics.episodes import episode_table
from dashboard.metrics.headline import headlines, periods
from dashboard.metrics.itu import itu_after_icans2, itu_reasons, itu_timing
from dashboard.metrics.pathway import (
    cytopenia_recovery,
    exception_reasons,
    referral_pipeline,
    referral_to_review,
    ta_outside,
    ta_outside_by_reason,
)
from dashboard.metrics.profiles import by_product, centre_against_england
from dashboard.metrics.rates import COMPLETENESS_THRESHOLD, MetricTable, compute, quarterly
from dashboard.metrics.signals import signals
from dashboard.metrics.usage import exception_episodes, infusions_by, value_counts

# The data-quality page's held rows, decoded where quarantine is owned: the same list as `cartgov quarantine list`.
from dashboard.quarantine import reasons as quarantine_reasons

__all__ = [
    "EARLY_WARNING",
    "early_warning_chart",
    "early_warning_thresholds",
    "headlines",
    "periods",
    "by_product",
    "centre_against_england",
    "episode_table",
    "exception_episodes",
    "infusions_by",
    "itu_after_icans2",
    "itu_reasons",
    "itu_timing",
    "value_counts",
    "COMPLETENESS_THRESHOLD",
    "GROUPS",
    "Metric",
    "MetricTable",
    "catalogue",
    "compute",
    "cytopenia_recovery",
    "data_quality_by_centre",
    "exception_reasons",
    "followup_completeness",
    "last_submission",
    "proportions",
    "quarantine_reasons",
    "quarterly",
    "referral_pipeline",
    "referral_to_review",
    "signals",
    "ta_outside",
    "ta_outside_by_reason",
]
