"""The numerator and denominator of every proportion metric, as Polars expressions over the episode table.

These are the code half of dashboard/metric_catalogue.toml; a test checks that both list the same metrics.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from data_contracts.codes import NEARBY_STAY_MIN_DAYS

D30 = pl.col("d30_complete")
D100 = pl.col("d100_complete")


def definition(metric_id: str, as_of: dt.date) -> tuple[pl.Expr, pl.Expr]:
    """(numerator, denominator) for one metric; rows outside the denominator are not counted at all."""
    died_not_of_progression = (pl.col("status_d100") == "died") & (pl.col("death_cause") != "progression")
    definitions = {
        "crs_any": (pl.col("crs_max_grade") >= 1, D30),
        "crs_severe": (pl.col("crs_max_grade") >= 3, D30),
        "icans_any": (pl.col("icans_max_grade") >= 1, D30),
        "icans_severe": (pl.col("icans_max_grade") >= 3, D30),
        "itu_admission": (pl.col("itu_admitted"), D30),
        "cytopenia_d30_severe": (pl.col("cytopenia_grade_d30") >= 3, D30 & pl.col("cytopenia_grade_d30").is_not_null()),
        "cytopenia_d100_severe": (
            pl.col("cytopenia_grade_d100") >= 3,
            D100 & pl.col("cytopenia_grade_d100").is_not_null(),
        ),
        "nrm_d100": (died_not_of_progression, D100 & (pl.col("status_d100") != "lost_to_follow_up")),
        "ta_outside": (pl.col("ta_outside"), pl.col("episode_id").is_not_null()),  # every infusion
        "travel_exception": (
            pl.col("nearby_stay_days") < NEARBY_STAY_MIN_DAYS,
            pl.col("nearby_stay_days").is_not_null(),
        ),
        "carer_exception": (~pl.col("carer_24h_available"), pl.col("carer_24h_available").is_not_null()),
        "followup_d30_complete": (D30, pl.col("infusion_date") <= as_of - dt.timedelta(days=30)),
        "followup_d100_complete": (D100, pl.col("infusion_date") <= as_of - dt.timedelta(days=100)),
    }
    numerator, denominator = definitions[metric_id]
    return numerator.fill_null(False), denominator.fill_null(False)


PROPORTION_IDS = (
    "crs_any",
    "crs_severe",
    "icans_any",
    "icans_severe",
    "itu_admission",
    "cytopenia_d30_severe",
    "cytopenia_d100_severe",
    "nrm_d100",
    "ta_outside",
    "travel_exception",
    "carer_exception",
    "followup_d30_complete",
    "followup_d100_complete",
)
