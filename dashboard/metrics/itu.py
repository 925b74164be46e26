"""Critical care: why and when patients go to ITU, how long they stay, and ITU use after ICANS grade 2 or more."""

from __future__ import annotations

import polars as pl

from dashboard import stats
from dashboard.filters import Filters
from dashboard.loaders import Dataset
from dashboard.metrics.episodes import in_view


def _admitted(dataset: Dataset, filters: Filters | None) -> pl.LazyFrame:
    return in_view(dataset, filters).filter(pl.col("d30_complete") & pl.col("itu_admitted").fill_null(False))


def itu_reasons(dataset: Dataset, filters: Filters | None = None, by: str = "centre_code") -> pl.DataFrame:
    """ITU admissions per group and reason (CRS, ICANS, infection, other)."""
    return (
        _admitted(dataset, filters)
        .group_by(pl.col(by).alias("group"), pl.col("itu_reason").alias("reason"))
        .agg(pl.len().alias("admissions"))
        .sort("group", "reason")
        .collect()
    )


def itu_timing(dataset: Dataset, filters: Filters | None = None) -> pl.DataFrame:
    """Admissions by day after infusion and by length of stay (two count tables, stacked with a 'measure')."""
    admitted = _admitted(dataset, filters)
    day = admitted.group_by(pl.col("itu_day").alias("days")).agg(pl.len().alias("admissions"))
    stay = (
        admitted.filter(pl.col("itu_length_of_stay_days").is_not_null())
        .group_by(pl.col("itu_length_of_stay_days").alias("days"))
        .agg(pl.len().alias("admissions"))
    )
    return (
        pl.concat(
            [
                day.with_columns(pl.lit("day of admission").alias("measure")),
                stay.with_columns(pl.lit("length of stay").alias("measure")),
            ]
        )
        .sort("measure", "days")
        .collect()
    )


def itu_after_icans2(dataset: Dataset, filters: Filters | None = None, by: str | None = "centre_code") -> pl.DataFrame:
    """Of patients with ICANS grade 2 or more, how many were admitted to ITU (the specification asks that they be
    discussed with critical care)."""
    episodes = in_view(dataset, filters).filter(pl.col("d30_complete") & (pl.col("icans_max_grade") >= 2))
    counts = [pl.col("itu_admitted").fill_null(False).sum().alias("numerator"), pl.len().alias("denominator")]
    table = (
        episodes.group_by(pl.col(by).alias("group")).agg(*counts).sort("group")
        if by
        else episodes.select(pl.lit("England").alias("group"), *counts)
    )
    return stats.with_rate(table.with_columns(pl.col("numerator", "denominator").cast(pl.Int64)).collect())
